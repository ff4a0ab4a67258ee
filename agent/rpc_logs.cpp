#include "agent/rpc_logs.h"

#include <chrono>
#include <string>

#include "agent/logs/scan.h"
#include "agent/records/summary.h"
#include "agent/rpc_params.h"
#include "agent/rpc_worker.h"
#include "common/i18n.h"
#include "common/jsonrpc.h"
#include "common/records/chain.h"

namespace rdiag::agent {
namespace {

using json = nlohmann::json;
using namespace rpcp;  // NOLINT(google-build-using-namespace): the method toolkit

constexpr std::size_t kMaxNames = 32;
constexpr std::size_t kMaxNameBytes = 128;
constexpr std::int64_t kMaxTailLines = 1000;
// Well under the monitor's 32 MiB answer frame, escaping included.
constexpr std::size_t kMaxAnswerBytes = std::size_t{16} << 20;

// A list of 1..max strings of 1..max_bytes bytes each; `field` names it in the message.
std::optional<json> check_strings(const json& v, std::string_view field, std::size_t max,
                                  std::size_t max_bytes) {
  bool ok = v.is_array() && !v.empty() && v.size() <= max;
  for (std::size_t i = 0; ok && i < v.size(); ++i) {
    ok = v[i].is_string() && !v[i].get_ref<const std::string&>().empty() &&
         v[i].get_ref<const std::string&>().size() <= max_bytes;
  }
  if (ok) return std::nullopt;
  return invalid(i18n::tr("agent.logs.rpc_strings", field, max, max_bytes));
}

std::optional<json> check_scan(const json& p, json* job) {
  if (auto bad = check_keys(p, {"sources", "rules", "patterns", "since", "max_matches"}))
    return bad;
  const std::pair<const char*, std::pair<std::size_t, std::size_t>> lists[] = {
      {"sources", {kMaxNames, kMaxNameBytes}},
      {"rules", {kMaxNames, kMaxNameBytes}},
      {"patterns", {kMaxPatterns, kMaxPatternBytes}}};
  for (const auto& [field, limits] : lists) {
    if (!p.contains(field)) continue;
    if (auto bad = check_strings(p[field], field, limits.first, limits.second)) return bad;
    (*job)[field] = p[field];
  }
  if (auto it = p.find("since"); it != p.end()) {
    if (!it->is_string()) return invalid(i18n::tr("agent.diag.since", echoed(it->dump())));
    auto since = parse_since(it->get<std::string>(), std::chrono::system_clock::now());
    if (!since) return invalid(since.error().message);
    (*job)["since"] = records::format_ts(*since);
  }
  if (auto it = p.find("max_matches"); it != p.end()) {
    auto n = integer_in(*it, 1, static_cast<std::int64_t>(logs::kMaxMatches));
    if (!n) return invalid(i18n::tr("agent.logs.rpc_max_matches", logs::kMaxMatches));
    (*job)["max_matches"] = *n;
  }
  return std::nullopt;
}

json scan_summary(const json& scan) {
  json s = scan.value("summary", json::object());
  return s.is_object() ? s : json::object();
}

// The stored document's id and session, then the whole result: what the
// engineer sees is exactly what the record keeps. A result too large for one
// answer frame is answered by its id and summary only (it stays in the record).
json answer_with(json recorded, const json& doc) {
  if (!recorded.contains("result")) return recorded;
  if (doc.dump(-1, ' ', false, json::error_handler_t::replace).size() > kMaxAnswerBytes) {
    recorded["result"]["too_large"] = true;
    return recorded;
  }
  json result = doc;
  for (const auto& [k, v] : recorded["result"].items()) result[k] = v;
  return ok(std::move(result));
}

}  // namespace

json logs_scan(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  json job = base_job(ctx.config, "logs.scan");
  if (auto bad = check_scan(params.is_null() ? json::object() : params, &job)) {
    return failed(std::move(*bad));
  }
  if (grant_for(ctx, caller) == nullptr) return no_grant();
  return {{"worker", std::move(job)}};
}

json logs_tail(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  if (auto bad = check_keys(params, {"source", "lines"})) return failed(std::move(*bad));
  if (auto bad = check_required(params, {"source"})) return failed(std::move(*bad));
  json job = base_job(ctx.config, "logs.tail");
  const json& source = params["source"];
  if (!source.is_string() || source.get_ref<const std::string&>().empty() ||
      source.get_ref<const std::string&>().size() > kMaxNameBytes) {
    return failed(invalid(i18n::tr("agent.logs.rpc_source", echoed(source.dump()))));
  }
  job["source"] = source;
  if (auto it = params.find("lines"); it != params.end()) {
    auto n = integer_in(*it, 1, kMaxTailLines);
    if (!n) return failed(invalid(i18n::tr("agent.logs.rpc_lines", kMaxTailLines)));
    job["lines"] = *n;
  }
  if (grant_for(ctx, caller) == nullptr) return no_grant();
  return {{"worker", std::move(job)}};
}

json finish_logs_scan(const RpcContext& ctx, const RpcCaller& caller, const Result<json>& outcome) {
  if (!outcome) return job_failed(outcome.error());
  if (!outcome->is_object()) {
    return job_failed(make_error(i18n::tr("agent.worker.bad_line"), "worker_output"));
  }
  return answer_with(
      record_result(ctx, caller, "scan", "logs.scan", *outcome, scan_summary(*outcome)), *outcome);
}

json finish_logs_tail(const RpcContext& ctx, const RpcCaller& caller, const Result<json>& outcome) {
  if (!outcome) return job_failed(outcome.error());
  if (!outcome->is_object()) {
    return job_failed(make_error(i18n::tr("agent.worker.bad_line"), "worker_output"));
  }
  const json summary = {{"source", outcome->value("source", "")},
                        {"lines", outcome->value("lines", json::array()).size()}};
  return answer_with(record_result(ctx, caller, "tail", "logs.tail", *outcome, summary), *outcome);
}

}  // namespace rdiag::agent
