// `rdiag diag SITE [--collectors a,b] [--since D]` (DESIGN.md "Command
// lines"): runs a diagnosis on the customer's server under a `diagnose`
// grant and shows it: findings first (coloured by severity on a terminal),
// then each collector and plugin. --json prints the whole report.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "console/cli.h"
#include "console/context.h"

namespace rdiag::console {

int run_diag(const Invocation& inv, Context& ctx);

// Pure pieces of the output, for tests. Every text from the report is made
// terminal-safe; `colour` adds ANSI colours by severity.
std::string render_findings(const nlohmann::json& findings, bool colour);
std::string render_report(const nlohmann::json& report, bool colour);
// The progress line for a progress notification's params ("" if unknown).
std::string progress_text(const nlohmann::json& progress);

}  // namespace rdiag::console
