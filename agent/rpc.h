// The monitor's JSON-RPC methods: every method but agent.info reaches the
// monitor as one MonType::kCall from an authenticated connection process and
// is dispatched here through a closed table. The connection process never
// decides what a caller may do; these handlers do, with the identity the
// monitor bound at authentication.
//
// A handler's answer is the body of the kCall answer frame:
// {"result": ...} or {"error": {"code", "reason", "message"}}, with the codes
// of DESIGN.md ("Wire protocol") and a message in the agent's language.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/engineers.h"
#include "common/result.h"

namespace rdiag::agent {

class Store;
namespace consent {
class Consent;
}

// Who is calling, as the monitor knows them.
struct RpcCaller {
  const Engineer& engineer;
  const std::string& peer;  // "127.0.0.1:51234"
};

// What a method may touch. store is null only where no records were opened
// (unit tests of the monitor); then every method that records refuses.
struct RpcContext {
  Store* store;
  const AgentConfig& config;
  consent::Consent* consent = nullptr;  // null with store: nothing can be granted
};

// Runs method for caller after checking the grant or scope it needs (-32002,
// -32003, -32004); unknown methods get -32601 method_not_found.
nlohmann::json call_method(const RpcContext& ctx, const RpcCaller& caller, std::string_view method,
                           const nlohmann::json& params);

// A method whose work runs in the collector worker answers {"worker": job}
// from call_method (after its checks); the monitor runs the job
// (agent/worker/jobs.h) and, when it ends, this turns its outcome into the
// answer body, recording what the method records.
nlohmann::json finish_worker_call(const RpcContext& ctx, const RpcCaller& caller,
                                  std::string_view method, const Result<nlohmann::json>& outcome);

// session.request params after validation (DESIGN.md "Requests, grants,
// approval"). Exposed so the rules can be tested without a store.
struct SessionRequestParams {
  std::string ticket;
  std::string reason;
  std::vector<std::string> scopes;
  std::int64_t minutes = 0;
  std::optional<std::string> code;  // as given; checked by the consent flow
};

// nullopt with *error set to the error body ({code, reason, message}) naming
// the field and the rule it broke.
std::optional<SessionRequestParams> parse_session_request(const nlohmann::json& params,
                                                          nlohmann::json* error);

}  // namespace rdiag::agent
