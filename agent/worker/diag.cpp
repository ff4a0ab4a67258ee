#include "agent/worker/diag.h"

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <vector>

#include "agent/collect/collector.h"
#include "agent/logs/jobs.h"
#include "agent/logs/scan.h"
#include "agent/plugins/discovery.h"
#include "agent/plugins/run.h"
#include "agent/worker/redactor.h"
#include "common/i18n.h"
#include "common/records/chain.h"
#include "common/redact/engine.h"
#include "common/version.h"

namespace rdiag::agent {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::hours kDefaultLogWindow{24};
constexpr std::array<const char*, 4> kSeverities = {"critical", "error", "warning", "info"};

// Every string in v, redacted in place: plugin output is free text from
// programs that read configs and databases, so nothing in it is trusted to
// be clean.
void redact_strings(json& v, const redact::Engine& engine, redact::Summary& summary) {
  if (v.is_string()) {
    v = engine.redact_text(v.get_ref<const std::string&>(), &summary);
  } else if (v.is_array() || v.is_object()) {
    for (auto& child : v) redact_strings(child, engine, summary);
  }
}

std::vector<std::string> names_of(const json& job) {
  std::vector<std::string> names;
  if (job.contains("collectors") && job["collectors"].is_array()) {
    for (const json& n : job["collectors"]) {
      if (n.is_string()) names.push_back(n.get<std::string>());
    }
  }
  return names;
}

// A plugin refused at discovery (ownership, a bad plugin.json) is listed
// with the others, as an error entry naming the file and the fix.
void add_refused(json& entries, const std::vector<Error>& refused) {
  for (const Error& e : refused) {
    entries.push_back(
        {{"name", ""},
         {"ok", false},
         {"error", {{"reason", e.reason.empty() ? "refused" : e.reason}, {"message", e.message}}},
         {"findings", json::array()},
         {"elapsed_ms", 0}});
  }
}

std::size_t severity_rank(const json& finding) {
  const std::string s = finding.value("severity", "info");
  for (std::size_t i = 0; i < kSeverities.size(); ++i) {
    if (s == kSeverities[i]) return i;
  }
  return kSeverities.size();
}

// Built-in checks and plugin findings, the most severe first.
json findings_of(const json& parts, const json& plugin_entries, const json& log_findings) {
  std::vector<json> all;
  for (const json& f : collect::builtin_findings(parts)) all.push_back(f);
  for (const json& f : log_findings) all.push_back(f);
  for (const json& entry : plugin_entries) {
    if (!entry.contains("findings") || !entry["findings"].is_array()) continue;
    for (const json& f : entry["findings"]) all.push_back(f);
  }
  std::stable_sort(all.begin(), all.end(), [](const json& a, const json& b) {
    return severity_rank(a) < severity_rank(b);
  });
  return all;
}

json count_parts(const json& parts) {
  int ok = 0;
  int failed = 0;
  for (const json& p : parts) (p.value("ok", false) ? ok : failed)++;
  return {{"ok", ok}, {"failed", failed}};
}

json summary_of(const json& report, const redact::Summary& redactions, Clock::time_point t0) {
  json by_severity = json::object();
  for (const char* s : kSeverities) by_severity[s] = 0;
  for (const json& f : report["findings"]) {
    const std::string s = f.value("severity", "info");
    if (by_severity.contains(s)) by_severity[s] = by_severity[s].get<int>() + 1;
  }
  std::uint64_t redacted = 0;
  for (const auto& [rule, n] : redactions.counts) redacted += n;
  return {{"findings", by_severity},
          {"collectors", count_parts(report["collectors"])},
          {"plugins", count_parts(report["plugins"])},
          {"redactions", redacted},
          {"elapsed_ms",
           std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()}};
}

// The scan's redactions join the collectors' and plugins' ones: one count per rule.
void add_scan_redactions(redact::Summary& s, const json& scan) {
  for (const json& r : scan.value("redaction", json::array())) {
    if (r.is_object() && r["rule"].is_string() && r["count"].is_number_unsigned()) {
      s.counts[r["rule"].get<std::string>()] += r["count"].get<std::uint64_t>();
    }
  }
}

json redaction_list(const redact::Summary& s) {
  json out = json::array();
  for (const auto& [rule, n] : s.counts) out.push_back({{"rule", rule}, {"count", n}});
  return out;
}

// The plugins' log rules over every log source since `since` (default: the
// last day), through the same job logs.scan runs: counts, first and last
// seen, redacted samples. A scan that cannot run is noted, not fatal.
json scan_logs_for(const json& job, const Progress& progress) {
  json scan_job = job;
  scan_job["kind"] = "logs.scan";
  scan_job.erase("collectors");
  if (!scan_job.contains("since")) {
    scan_job["since"] = records::format_ts(std::chrono::system_clock::now() - kDefaultLogWindow);
  }
  auto scan = logs::run_logs_scan_job(scan_job, progress);
  if (!scan)
    return {{"error", {{"reason", scan.error().reason}, {"message", scan.error().message}}}};
  json out = std::move(*scan);
  out["since"] = scan_job["since"];
  return out;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

}  // namespace

Result<json> run_diag_job(const json& job, const Progress& progress) {
  const auto t0 = Clock::now();
  std::vector<std::string> dirs;
  if (job.contains("plugins_dirs") && job["plugins_dirs"].is_array()) {
    for (const json& d : job["plugins_dirs"]) {
      if (d.is_string()) dirs.push_back(d.get<std::string>());
    }
  }
  const uid_t trusted = job.value("trusted_uid", uid_t{0});
  plugins::Discovery found = plugins::discover(dirs, trusted);
  auto engine = build_redactor(job.value("redact", json::array()), found.plugins);
  if (!engine) return engine.error();
  redact::Summary redactions;

  progress({{"stage", "collectors"}});
  collect::CollectContext ctx;
  ctx.redact = [&engine, &redactions](std::string_view text) {
    return engine->redact_text(text, &redactions);
  };
  auto parts = collect::run_collectors(names_of(job), ctx);
  if (!parts) return parts.error();

  progress({{"stage", "plugins"}, {"done", 0}, {"total", found.plugins.size()}});
  plugins::RunOptions opt;
  opt.lang = job.value("lang", "") == "zh_CN" ? "zh_CN.UTF-8" : "C.UTF-8";
  json entries = plugins::run_plugins(found.plugins, opt);
  add_refused(entries, found.refused);
  redact_strings(entries, *engine, redactions);

  progress({{"stage", "logs"}});
  json log_scan = scan_logs_for(job, progress);
  add_scan_redactions(redactions, log_scan);

  progress({{"stage", "checks"}});
  json report = {{"format", "rdiag-report-v1"},
                 {"created", records::format_ts(std::chrono::system_clock::now())},
                 {"host", host_name()},
                 {"agent_version", kVersion},
                 {"collectors", std::move(*parts)},
                 {"plugins", std::move(entries)}};
  if (job.contains("since")) report["since"] = job["since"];
  report["logs"] = std::move(log_scan);
  report["findings"] = findings_of(
      report["collectors"], report["plugins"],
      report["logs"].contains("error") ? json::array() : logs::findings_from_scan(report["logs"]));
  report["redaction"] = redaction_list(redactions);
  report["summary"] = summary_of(report, redactions, t0);
  return report;
}

}  // namespace rdiag::agent
