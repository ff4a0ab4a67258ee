// bundle.create and file.read (DESIGN.md "Wire protocol", "Diagnostics"):
// an engineer under a `diagnose` grant has the agent pack a bundle (the same
// diagnosis as diag.run, run in the collector worker), which the MONITOR
// signs with the seal key and keeps as bundle-N.tar.gz in the session's
// record folder (an attachment the seal covers), then fetches it in chunks.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>

#include "agent/rpc.h"
#include "common/result.h"

namespace rdiag::agent {

// {} -> {"worker": job}; the job is diag.run's.
nlohmann::json bundle_create(const RpcContext& ctx, const RpcCaller& caller,
                             const nlohmann::json& params);

// Once the worker ended: writes bundle-N.tar.gz, records bundle.created
// {file, size, sha256} and answers the same, or the error body.
nlohmann::json finish_bundle_create(const RpcContext& ctx, const RpcCaller& caller,
                                    const Result<nlohmann::json>& outcome);

// {file, offset, length} -> {data (base64), eof}: a chunk of one of the
// caller's current session's bundles. Any other name is refused before the
// disk is touched (-32602); a bundle that does not exist is -32005.
nlohmann::json file_read(const RpcContext& ctx, const RpcCaller& caller,
                         const nlohmann::json& params);

inline constexpr std::size_t kMaxReadChunk = std::size_t{4} << 20;
inline constexpr std::size_t kMaxBundles = 99999;  // bundle-N: N has at most 5 digits

}  // namespace rdiag::agent
