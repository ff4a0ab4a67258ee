// logs.scan and logs.tail as collector-worker jobs (agent/worker/jobs.h):
// the monitor builds the job from the RPC params and agent.json, the worker
// runs it as the `rdiag` account and answers with the result.
#pragma once

#include <nlohmann/json.hpp>

#include "agent/plugins/discovery.h"
#include "agent/worker/diag.h"
#include "common/redact/engine.h"
#include "common/result.h"

namespace rdiag::agent::logs {

// job: {"kind": "logs.scan", "lang", "logs" (agent.json "logs", raw),
// "redact" (agent.json "redact", raw), "plugins_dirs", "trusted_uid",
// "sources"?: [names], "rules"?: [ids], "patterns"?: [regexes],
// "since"?: RFC 3339, "max_matches"?: 1..1000 (default 100)}.
// Result: the logs.scan document of agent/logs/scan.h. Progress: {"stage":
// "logs", "done", "total", "name"} before each source. Errors: bad_job,
// bad_config (naming logs[i].field), unknown_source, unknown_rule, bad_pattern.
Result<nlohmann::json> run_logs_scan_job(const nlohmann::json& job, const Progress& progress);

// The same over plugins discovered already and, when not null, an engine
// built from all_scan_rules (agent/logs/scan.h): diag.run's log scan, which
// would otherwise discover the plugins and compile the rules a second time.
Result<nlohmann::json> run_logs_scan_with(const nlohmann::json& job,
                                          const plugins::Discovery& found,
                                          const redact::Engine* engine,
                                          std::chrono::steady_clock::time_point deadline,
                                          const Progress& progress);

// job: {"kind": "logs.tail", "lang", "logs", "redact", "plugins_dirs",
// "trusted_uid", "source": name, "lines"?: 1..1000 (default 100)}.
// Result: {"source", "file", "lines": [...]}. Errors: bad_job, bad_config,
// unknown_source, no_journal, no_files, unreadable.
Result<nlohmann::json> run_logs_tail_job(const nlohmann::json& job, const Progress& progress);

}  // namespace rdiag::agent::logs
