// What the methods that run in the collector worker share (diag.run,
// logs.scan, logs.tail, bundle.create): the fields every job carries, the
// answer when a job fails, and keeping a result in the session's record.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agent/rpc.h"
#include "common/result.h"

namespace rdiag::agent {

namespace consent {
struct Grant;
}

// {"kind", "lang", "plugins_dirs", "trusted_uid", "logs", "redact"}: what
// every job needs to find plugins, log sources and redaction rules.
nlohmann::json base_job(const AgentConfig& config, std::string_view kind);

// The error answer for a job that ended without a result: the worker's own
// refusals of the parameters are -32602, the agent's limits -32006, anything
// else -32603 with the worker's message.
nlohmann::json job_failed(const Error& e);

// The caller's grant session, or null (then the answer is no_grant()).
const consent::Grant* grant_for(const RpcContext& ctx, const RpcCaller& caller);
nlohmann::json no_grant();

// Keeps `doc` as <prefix>-N.json in the caller's grant session (N one past
// the highest, never reused), durably, then records `event` with the file's
// SHA-256, size and `summary` as an attachment the seal will cover. Returns
// {"result": {"<prefix>_id": "<prefix>-N", "session_id", "summary"}} or an
// error body; a file whose event could not be written is removed.
nlohmann::json record_result(const RpcContext& ctx, const RpcCaller& caller,
                             std::string_view prefix, std::string_view event, nlohmann::json doc,
                             const nlohmann::json& summary);

// The path of <prefix>-N.json in session `sid` (for report.get and tests).
std::string result_path(const RpcContext& ctx, const std::string& sid, std::string_view prefix,
                        std::size_t n);

}  // namespace rdiag::agent
