// Running plugins' collect commands, all at once through the process runner,
// and turning what each printed into one report entry. A plugin that hangs,
// crashes, floods or prints garbage costs its own entry, never the report.
#pragma once

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/plugins/manifest.h"

namespace rdiag::agent::plugins {

struct RunOptions {
  std::size_t parallel = 4;
  std::size_t output_cap = 4U << 20;
  std::string lang;  // LANG and LC_ALL for the plugins; empty: C.UTF-8
  // The job's own limit: when a plugin starts (a 17th when one of the first
  // 16 ends), its timeout_s is cut to the time left, and with less than a
  // second left it is not started (reason "no_time").
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

// One entry per plugin with a collect command, in the order given:
// {"name": "...", "ok": true, "data": <the object printed, minus "findings">,
//  "findings": [...], "elapsed_ms": N}
// or {"name": "...", "ok": false, "error": {"reason": "timeout|overflow|exit_status|
//  signal|bad_json|not_object|bad_findings|start_failed|env_file", "message": "<tr()>",
//  "stderr": "<last 2 KiB, valid UTF-8>"}, "findings": [], "elapsed_ms": N}
// On a non-zero exit the findings of a parseable object are kept (a plugin
// may report "database down" that way). Each finding gets
// "source": "plugin:<name>". Never throws; ends within the longest timeout
// plus about a second.
nlohmann::json run_plugins(const std::vector<Plugin>& plugins, const RunOptions& opt);

// Validates the "findings" member of a plugin's output (absent: none) and adds
// "source". An Error names the finding's index and field.
Result<nlohmann::json> validate_findings(const nlohmann::json& output, const std::string& plugin);

}  // namespace rdiag::agent::plugins
