// What every command that talks to one site shares: finding the site,
// opening the verified session, and long calls that show the agent's
// progress notifications as one line on stderr.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/result.h"
#include "console/cli.h"
#include "console/context.h"
#include "console/ssh_client.h"

namespace rdiag::console {

// How long a diagnosis-sized call may take: the agent stops its collector
// worker at 600 s, so the answer (or its error) comes within this.
inline constexpr std::chrono::seconds kWorkerCallTimeout{660};

// Prints "rdiag: <message>" and returns the exit code: the agent refusing
// (no grant, scope, limits) is 3, as for the consent commands.
int report_failure(Context& ctx, const Error& e, int rpc_code = 0);

// Finds the site inv.name, opens its session (host and seal keys checked)
// and runs body with the client; a failure on the way is reported.
int with_site(const Invocation& inv, Context& ctx, const std::function<int(SshClient&)>& body);

// One call during which the agent's `progress` notifications are shown: one
// line redrawn on a terminal, plain lines otherwise; the line is cleared
// when the answer comes.
Result<nlohmann::json> call_with_progress(SshClient& client, Context& ctx, std::string_view method,
                                          const nlohmann::json& params,
                                          std::chrono::milliseconds timeout);

}  // namespace rdiag::console
