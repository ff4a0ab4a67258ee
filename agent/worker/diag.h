// diag.run's work in the collector worker: the built-in collectors, the
// plugins, the built-in checks and redaction, put together as one report
// (docs/protocol/report.md has its shape).
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>

#include "common/result.h"

namespace rdiag::agent {

// Sends one progress notification to the engineer waiting for the job.
using Progress = std::function<void(const nlohmann::json&)>;

// job: {"kind": "diag", "lang", "collectors"?, "since"?, "plugins_dirs",
// "trusted_uid", "logs", "redact"}, as diag_run() in agent/rpc_diag.cpp
// builds it. The report, or an Error whose reason the monitor maps to a
// JSON-RPC error (unknown_collector, bad_job, ...).
Result<nlohmann::json> run_diag_job(const nlohmann::json& job, const Progress& progress);

// When a job started at `start` must stop working so its answer still
// reaches the monitor in time: the monitor's deadline for it ("budget_ms",
// which Jobs::start adds; 600 s when absent) less a margin for writing the
// answer. Plugins are cut to it and log scans stop at it, so an overdue
// diagnosis still answers with what it has instead of being killed.
std::chrono::steady_clock::time_point job_deadline(const nlohmann::json& job,
                                                   std::chrono::steady_clock::time_point start);

}  // namespace rdiag::agent
