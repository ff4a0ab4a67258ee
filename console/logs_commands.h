// `rdiag logs SITE (--scan [--since D] [--rule ID] [--pattern RE] | --tail
// SOURCE [-n N])` (DESIGN.md "Command lines"): the plugins' log rules over
// the customer's log sources, or the last lines of one source. Everything
// shown was redacted on the server; --json prints the agent's answer.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "console/cli.h"
#include "console/context.h"

namespace rdiag::console {

int run_logs(const Invocation& inv, Context& ctx);

// Pure pieces of the output, for tests (text made terminal-safe).
std::string render_scan(const nlohmann::json& scan, bool colour);
std::string render_tail(const nlohmann::json& tail);

}  // namespace rdiag::console
