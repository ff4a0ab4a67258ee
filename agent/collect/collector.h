// The built-in collectors' registry: what the collector worker runs for a
// `collect` request, and the built-in checks that turn their parts into
// findings (DESIGN.md "Diagnostics").
#pragma once

#include <any>
#include <chrono>
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::agent::collect {

struct CollectContext {
  // Redacts a command line or other free text before it goes into a report;
  // identity when empty (tests). The worker sets it to the redaction engine.
  std::function<std::string(std::string_view)> redact;
  std::size_t top_n = 10;                 // processes: rows per table
  std::chrono::milliseconds sample{500};  // cpu/memory/processes: between two samples
};

using CollectFn = Result<nlohmann::json> (*)(const CollectContext&);
// Two-sample collectors split in two so that a run waits once for all of
// them: `begin` takes the first sample, `finish` the second one after the
// shared wait. Their `collect` does begin, wait, finish on its own.
using BeginFn = std::any (*)(const CollectContext&);
using FinishFn = Result<nlohmann::json> (*)(const CollectContext&, const std::any& first,
                                            std::chrono::milliseconds waited);

struct Collector {
  std::string_view name;
  std::string_view summary_id;  // catalog id of a one-line description
  CollectFn collect;
  BeginFn begin = nullptr;  // both set, or neither
  FinishFn finish = nullptr;
};

// Every built-in collector, sorted by name: cpu disk limits memory network os
// processes services time.
const std::vector<Collector>& registry();

// Ok when every name is a built-in collector; else an Error naming the
// first unknown one and listing the known ones (reason "unknown_collector").
Result<void> check_names(const std::vector<std::string>& names);

// Runs the named collectors (all when names is empty); an unknown name is an Error
// naming it and listing the known ones (reason "unknown_collector"), nothing run.
// One part per collector, in registry order:
//   {"name": "disk", "ok": true, "data": {...}, "elapsed_ms": 3}
//   {"name": "services", "ok": false, "error": {"reason": "...", "message": "..."}, "elapsed_ms":
//   1}
// A collector's failure is an error part, never a failed run. The two-sample
// collectors share ONE wait, so a full run takes about ctx.sample.
Result<nlohmann::json> run_collectors(const std::vector<std::string>& names,
                                      const CollectContext& ctx);

// Built-in checks over the parts run_collectors returned -> findings array:
// {"severity": "info|warning|error|critical", "id": "disk-full", "title": "...",
//  "evidence": ["/var 93 % used (1.2 GiB free of 20 GiB)"], "cause": "...",
//  "remedy": "...", "source": "builtin"}; text in the current language.
// Parts that are missing or errors are skipped.
nlohmann::json builtin_findings(const nlohmann::json& parts);

// A two-sample collector run on its own: begin, sleep ctx.sample, finish.
Result<nlohmann::json> collect_two_samples(const CollectContext& ctx, BeginFn begin,
                                           FinishFn finish);

// What every collector file defines next to its code; registry.cpp lists them.
const Collector& cpu_collector();
const Collector& disk_collector();
const Collector& limits_collector();
const Collector& memory_collector();
const Collector& network_collector();
const Collector& os_collector();
const Collector& processes_collector();
const Collector& services_collector();
const Collector& time_collector();

}  // namespace rdiag::agent::collect
