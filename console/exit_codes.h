// Exit codes of `rdiag` (DESIGN.md "Command lines").
#pragma once

#include "common/result.h"

namespace rdiag::console {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,   // the operation failed; the message says why
  kExitUsage = 2,    // the command line was wrong
  kExitRefused = 3,  // denied or refused: authentication, a changed or untrusted key
};

// Error reasons that mean "refused" rather than "failed".
inline constexpr const char* kReasonHostKeyChanged = "host_key_changed";
inline constexpr const char* kReasonSealKeyChanged = "seal_key_changed";
inline constexpr const char* kReasonUntrusted = "untrusted";
inline constexpr const char* kReasonAgentInconsistent = "agent_inconsistent";

// rpc_code: the JSON-RPC error code when the error came from the agent, else 0.
int exit_code_for(const Error& error, int rpc_code = 0);

// For request, extend, join and close: the agent refusing the ask itself (no
// grant or a code that does not grant, scope, a limit, a conflicting grant)
// is "refused" as well; anything else as exit_code_for.
int consent_exit_code(const Error& error, int rpc_code);

}  // namespace rdiag::console
