#include "console/exit_codes.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "common/jsonrpc.h"

namespace rdiag::console {

int exit_code_for(const Error& error, int rpc_code) {
  // The agent's "you may not" codes; its reason words may grow, its codes do not.
  switch (rpc_code) {
    case rpc::kUnauthenticated:
    case rpc::kNoGrant:
    case rpc::kScopeDenied:
    case rpc::kGrantExpired:
      return kExitRefused;
    default:
      break;
  }
  constexpr std::array<std::string_view, 5> kRefused = {"auth_denied", kReasonHostKeyChanged,
                                                        kReasonSealKeyChanged, kReasonUntrusted,
                                                        kReasonAgentInconsistent};
  bool refused = std::find(kRefused.begin(), kRefused.end(), error.reason) != kRefused.end();
  return refused ? kExitRefused : kExitFailed;
}

int consent_exit_code(const Error& error, int rpc_code) {
  switch (rpc_code) {
    case rpc::kNoGrant:
    case rpc::kScopeDenied:
    case rpc::kLimitExceeded:
    case rpc::kConflict:
      return kExitRefused;
    default:
      return exit_code_for(error, rpc_code);
  }
}

}  // namespace rdiag::console
