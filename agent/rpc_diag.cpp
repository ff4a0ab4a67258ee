#include "agent/rpc_diag.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>

#include "agent/consent/consent.h"
#include "agent/records/store.h"
#include "agent/records/summary.h"
#include "agent/rpc_params.h"
#include "agent/rpc_worker.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/i18n.h"
#include "common/jsonrpc.h"
#include "common/records/event.h"

namespace rdiag::agent {
namespace {

using json = nlohmann::json;
using namespace rpcp;  // NOLINT(google-build-using-namespace): the method toolkit

constexpr std::size_t kMaxCollectorNames = 32;
constexpr std::size_t kMaxReportBytes = std::size_t{64} << 20;

bool valid_part_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// collectors: a list of names; whether each exists is the worker's to say
// (it holds the registry), so only the shape is checked here.
std::optional<json> check_collectors(const json& v, json* out) {
  if (!v.is_array() || v.empty() || v.size() > kMaxCollectorNames) {
    return invalid(i18n::tr("agent.diag.collectors_shape", kMaxCollectorNames));
  }
  std::set<std::string> seen;
  for (const json& name : v) {
    if (!name.is_string() || !valid_part_name(name.get_ref<const std::string&>()) ||
        !seen.insert(name.get<std::string>()).second) {
      return invalid(i18n::tr("agent.diag.collector_name", echoed(name.dump())));
    }
  }
  *out = v;
  return std::nullopt;
}

// The report's counts, as diag.run answers them and the event records them.
json summary_of(const json& report) {
  json s = report.value("summary", json::object());
  return s.is_object() ? s : json::object();
}

// report.get's part: a top-level list ("findings", "redaction") or one entry
// of "collectors" / "plugins" by name.
std::optional<json> pick_part(const json& report, const std::string& part) {
  if (part == "summary" || part == "findings" || part == "redaction") {
    if (!report.contains(part)) return std::nullopt;
    return json{{part, report[part]}};
  }
  for (const char* list : {"collectors", "plugins"}) {
    const std::string prefix = std::string(list) + ":";
    if (part.rfind(prefix, 0) != 0 || !report.contains(list)) continue;
    for (const json& entry : report[list]) {
      if (entry.is_object() && entry.value("name", "") == part.substr(prefix.size())) {
        return json{{list, json::array({entry})}};
      }
    }
  }
  return std::nullopt;
}

json part_names(const json& report) {
  json names = json::array({"summary", "findings", "redaction"});
  for (const char* list : {"collectors", "plugins"}) {
    if (!report.contains(list) || !report[list].is_array()) continue;
    for (const json& entry : report[list]) {
      if (entry.is_object()) names.push_back(std::string(list) + ":" + entry.value("name", ""));
    }
  }
  return names;
}

}  // namespace

std::optional<json> make_diag_job(const AgentConfig& config, const json& params, json* error) {
  const json p = params.is_null() ? json::object() : params;
  auto refuse = [error](json body) {
    *error = std::move(body);
    return std::nullopt;
  };
  if (auto bad = check_keys(p, {"collectors", "since"})) return refuse(std::move(*bad));
  json job = base_job(config, "diag");
  if (auto it = p.find("collectors"); it != p.end()) {
    json names;
    if (auto bad = check_collectors(*it, &names)) return refuse(std::move(*bad));
    job["collectors"] = std::move(names);
  }
  if (auto it = p.find("since"); it != p.end()) {
    if (!it->is_string()) return refuse(invalid(i18n::tr("agent.diag.since", echoed(it->dump()))));
    auto since = parse_since(it->get<std::string>(), std::chrono::system_clock::now());
    if (!since) return refuse(invalid(since.error().message));
    job["since"] = records::format_ts(*since);
  }
  return job;
}

json diag_run(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  json error;
  auto job = make_diag_job(ctx.config, params, &error);
  if (!job) return failed(std::move(error));
  if (grant_for(ctx, caller) == nullptr) return no_grant();
  return {{"worker", std::move(*job)}};
}

json finish_diag_run(const RpcContext& ctx, const RpcCaller& caller, const Result<json>& outcome) {
  if (!outcome) return job_failed(outcome.error());
  if (!outcome->is_object()) {
    return job_failed(make_error(i18n::tr("agent.worker.bad_line"), "worker_output"));
  }
  return record_result(ctx, caller, "report", "diag.run", *outcome, summary_of(*outcome));
}

json report_get(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  if (auto bad = check_keys(params, {"report_id", "part"})) return failed(std::move(*bad));
  if (auto bad = check_required(params, {"report_id"})) return failed(std::move(*bad));
  const consent::Grant* g = grant_for(ctx, caller);
  if (g == nullptr || ctx.store == nullptr) return no_grant();
  const json& id = params["report_id"];
  std::size_t n = 0;
  const std::string text = id.is_string() ? id.get<std::string>() : std::string();
  if (text.rfind("report-", 0) == 0 && text.size() <= 12 &&
      text.find_first_not_of("0123456789", 7) == std::string::npos && text.size() > 7) {
    n = std::stoul(text.substr(7));
  }
  auto not_found = [&] {
    return fail(rpc::kNotFound, "not_found", i18n::tr("agent.diag.no_report", echoed(id.dump())));
  };
  if (n == 0) return not_found();
  ReadFileHooks hooks;
  hooks.io_error = [](int err) { return make_error(errno_text(err)); };
  auto bytes =
      read_file_bounded(result_path(ctx, g->session_id, "report", n), kMaxReportBytes, hooks);
  if (!bytes) return not_found();
  json report = json::parse(*bytes, nullptr, false);
  if (!report.is_object()) return not_found();
  if (auto part = params.find("part"); part != params.end()) {
    std::optional<json> picked;
    if (part->is_string()) picked = pick_part(report, part->get<std::string>());
    if (!picked) return failed(invalid(i18n::tr("agent.diag.no_part", echoed(part->dump()))));
    (*picked)["report_id"] = text;
    return ok(std::move(*picked));
  }
  if (bytes->size() <= kReportPageBytes) return ok(std::move(report));
  return ok({{"report_id", text},
             {"paged", true},
             {"summary", summary_of(report)},
             {"parts", part_names(report)}});
}

}  // namespace rdiag::agent
