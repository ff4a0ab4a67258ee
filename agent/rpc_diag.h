// The diagnose methods (DESIGN.md "Diagnostics"): diag.run and report.get.
// diag.run does its work in the collector worker (agent/worker/jobs.h): the
// handler only checks the parameters and answers {"worker": job}; the monitor
// starts the job and, when it ends, finish_diag_run() stores the report
// beside the session's record, as an attachment the seal will cover, records
// a diag.run event with the report's hash, and answers the engineer.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "agent/rpc.h"
#include "common/result.h"

namespace rdiag::agent {

// The collector worker's diag job for params {collectors?, since?}: what
// diag.run and bundle.create hand the monitor and `rdiag-agent collect` runs.
// nullopt with *error set to the error body ({code, reason, message}) when a
// parameter is wrong. trusted_uid is this process's euid.
std::optional<nlohmann::json> make_diag_job(const AgentConfig& config, const nlohmann::json& params,
                                            nlohmann::json* error);

// Both need the `diagnose` scope; call_method checks it before these run.
nlohmann::json diag_run(const RpcContext& ctx, const RpcCaller& caller,
                        const nlohmann::json& params);
nlohmann::json report_get(const RpcContext& ctx, const RpcCaller& caller,
                          const nlohmann::json& params);

// The answer to diag.run once its worker ended with `outcome` (the report or
// why there is none): {"result": {report_id, summary}} or {"error": ...}.
nlohmann::json finish_diag_run(const RpcContext& ctx, const RpcCaller& caller,
                               const Result<nlohmann::json>& outcome);

// Reports are kept as report-N.json in the session folder; a report id is
// "report-N". A page of report.get is at most this many bytes of JSON; a
// larger report is fetched a part at a time.
inline constexpr std::size_t kReportPageBytes = std::size_t{1} << 20;

}  // namespace rdiag::agent
