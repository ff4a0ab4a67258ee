// logs.scan and logs.tail (DESIGN.md "Wire protocol", "Diagnostics"): both
// run in the collector worker (agent/logs/jobs.h); the handlers check the
// parameters and answer {"worker": job}; once the job ends its result is
// kept in the session's record (scan-N.json, tail-N.json, each named with
// its SHA-256 by a logs.scan / logs.tail event) and returned whole.
#pragma once

#include <nlohmann/json.hpp>

#include "agent/rpc.h"
#include "common/result.h"

namespace rdiag::agent {

// {sources?, rules?, patterns?, since?, max_matches?}; needs `diagnose`.
nlohmann::json logs_scan(const RpcContext& ctx, const RpcCaller& caller,
                         const nlohmann::json& params);
// {source, lines?}; needs `diagnose`.
nlohmann::json logs_tail(const RpcContext& ctx, const RpcCaller& caller,
                         const nlohmann::json& params);
// The answers once the worker ended with `outcome`.
nlohmann::json finish_logs_scan(const RpcContext& ctx, const RpcCaller& caller,
                                const Result<nlohmann::json>& outcome);
nlohmann::json finish_logs_tail(const RpcContext& ctx, const RpcCaller& caller,
                                const Result<nlohmann::json>& outcome);

// Ad-hoc patterns an engineer may send in one scan, and their length: each
// becomes a regular expression compiled on the customer's server.
inline constexpr std::size_t kMaxPatterns = 16;
inline constexpr std::size_t kMaxPatternBytes = 256;

}  // namespace rdiag::agent
