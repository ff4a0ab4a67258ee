#include "agent/worker/diag.h"

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <future>
#include <string>
#include <thread>
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

// The monitor's deadline when a job does not say (JobOptions::deadline).
constexpr std::chrono::milliseconds kDefaultBudget{600'000};
// Time kept back to write the answer: the report's checks, redaction and
// JSON of a large report take seconds, not more.
constexpr std::chrono::seconds kAnswerMargin{15};
// What the plugins leave the log scan, at least, when they would run long.
constexpr std::chrono::seconds kScanReserve{60};

constexpr std::chrono::hours kDefaultLogWindow{24};
// Between the two CPU samples: long enough for a busy/idle share to mean
// something, short enough that a whole diagnosis stays well under a second.
constexpr std::chrono::milliseconds kCpuSample{300};
constexpr std::array<const char*, 4> kSeverities = {"critical", "error", "warning", "info"};

// Every key and string in v redacted, in place. A string member is redacted
// together with its key, as "key=value" (so "db_password": "..." is caught as
// a config line would be). Plugin output is free text from programs that
// read configs and databases: nothing in it is trusted to be clean.
void redact_strings(json& v, const redact::Engine& engine, redact::Summary& summary) {
  if (v.is_string()) {
    v = engine.redact_text(v.get_ref<const std::string&>(), &summary);
  } else if (v.is_array()) {
    for (auto& child : v) redact_strings(child, engine, summary);
  } else if (v.is_object()) {
    json out = json::object();
    for (auto& [key, child] : v.items()) {
      if (child.is_string()) {
        const std::string prefix = key + "=";
        const std::string joined = prefix + child.get_ref<const std::string&>();
        const std::string cut = engine.redact_text(joined, &summary);
        // A cut that reached into the key keeps the whole redacted text.
        if (cut != joined) child = cut.rfind(prefix, 0) == 0 ? cut.substr(prefix.size()) : cut;
      } else {
        redact_strings(child, engine, summary);
      }
      out[engine.redact_text(key, &summary)] = std::move(child);
    }
    v = std::move(out);
  }
}

// The strings of a job's list field (absent or not a list: none).
std::vector<std::string> strings_of(const json& job, const char* field) {
  std::vector<std::string> out;
  if (!job.contains(field) || !job[field].is_array()) return out;
  for (const json& v : job[field]) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
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

// Whether diag.run scans logs at all: some plugin names log folders, or
// agent.json lists sources. Nothing to read: no rules to compile either.
bool scans_logs(const json& job, const std::vector<plugins::Plugin>& found) {
  const bool plugin_logs = std::any_of(found.begin(), found.end(),
                                       [](const plugins::Plugin& p) { return !p.logs.empty(); });
  return plugin_logs || !job.value("logs", json::array()).empty();
}

// The plugins' log rules over every log source since `since` (default: the
// last day), through the same code logs.scan runs: counts, first and last
// seen, redacted samples. `engine` holds the rules already (null: the scan
// builds its own). A scan that cannot run is noted, not fatal.
json scan_logs_for(const json& job, const plugins::Discovery& found, const redact::Engine* engine,
                   Clock::time_point deadline, const Progress& progress) {
  if (!scans_logs(job, found.plugins)) {
    return {{"sources", json::array()}, {"rules", json::array()}, {"summary", {{"sources", 0}}}};
  }
  json scan_job = job;
  scan_job["kind"] = "logs.scan";
  scan_job.erase("collectors");
  if (!scan_job.contains("since")) {
    scan_job["since"] = records::format_ts(std::chrono::system_clock::now() - kDefaultLogWindow);
  }
  auto scan = logs::run_logs_scan_with(scan_job, found, engine, deadline, progress);
  if (!scan)
    return {{"error", {{"reason", scan.error().reason}, {"message", scan.error().message}}}};
  json out = std::move(*scan);
  out["since"] = scan_job["since"];
  return out;
}

// One engine for the whole job: the redactions and, when logs are scanned,
// the plugins' scan rules, compiled once. A scan rule that does not compile
// must not cost the diagnosis its redaction: then the engine is built
// without the rules, and the log scan reports the bad rule itself.
struct JobEngine {
  Result<redact::Engine> engine = make_error("", "");
  bool scans = false;  // built from all_scan_rules: the log scan can use it
};

JobEngine build_job_engine(const json& job, const plugins::Discovery& found) {
  const json redact_config = job.value("redact", json::array());
  if (scans_logs(job, found.plugins)) {
    const auto rules = logs::all_scan_rules(found.plugins);
    auto with_rules = build_redactor(redact_config, found.plugins, rules);
    if (with_rules) return {std::move(with_rules), true};
    if (rules.empty()) return {std::move(with_rules), false};  // the redactions failed
  }
  return {build_redactor(redact_config, found.plugins), false};
}

struct CollectorsRun {
  Result<json> parts = json();
  redact::Summary redactions;  // this thread's own: merged after the join
};

// The collectors' thread: nothing it throws may cross into the other.
void run_collectors_with(const std::vector<std::string>& names,
                         const std::shared_future<const redact::Engine*>& engine,
                         CollectorsRun& out) {
  collect::CollectContext ctx;
  ctx.sample = kCpuSample;
  ctx.redact = [&engine, &out](std::string_view text) -> std::string {
    const redact::Engine* e = engine.get();
    return e == nullptr ? std::string("[REDACTED:unavailable]")
                        : e->redact_text(text, &out.redactions);
  };
  try {
    out.parts = collect::run_collectors(names, ctx);
  } catch (const std::exception& e) {
    out.parts = make_error(i18n::tr("agent.worker.exception", e.what()), "worker_failed");
  }
}

json run_plugins_redacted(const json& job, const plugins::Discovery& found,
                          const redact::Engine& engine, Clock::time_point deadline,
                          redact::Summary& redactions) {
  plugins::RunOptions opt;
  opt.deadline = deadline;
  // All at once (up to 16): the slowest plugin, not the sum, bounds the run.
  opt.parallel = 16;
  opt.lang = job.value("lang", "") == "zh_CN" ? "zh_CN.UTF-8" : "C.UTF-8";
  json entries = plugins::run_plugins(found.plugins, opt);
  add_refused(entries, found.refused);
  redact_strings(entries, engine, redactions);
  return entries;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

}  // namespace

Result<json> run_diag_job(const json& job, const Progress& progress) {
  const auto t0 = Clock::now();
  const auto deadline = job_deadline(job, t0);
  const std::vector<std::string> names = strings_of(job, "collectors");
  // Unknown collector names are refused before anything runs.
  if (auto known = collect::check_names(names); !known) return known.error();
  plugins::Discovery found = plugins::discover_for_job(job);

  // The collectors wait out their CPU sample on a thread of their own while
  // this one builds the redaction engine, runs the plugins and scans the
  // logs: the run takes about the longest of these, not their sum. Command
  // lines wait for the engine (never unredacted: fail closed without one).
  progress({{"stage", "collectors"}});
  std::promise<const redact::Engine*> ready;
  std::shared_future<const redact::Engine*> engine_ready = ready.get_future().share();
  CollectorsRun collected;
  std::thread collectors(
      [&names, &engine_ready, &collected] { run_collectors_with(names, engine_ready, collected); });
  JobEngine built = build_job_engine(job, found);
  auto& engine = built.engine;
  ready.set_value(engine ? &*engine : nullptr);
  redact::Summary redactions;
  json entries = json::array();
  json log_scan = json::object();
  if (engine) {
    progress({{"stage", "plugins"}, {"done", 0}, {"total", found.plugins.size()}});
    // The plugins leave the log scan a share of the time (they rarely need it).
    entries = run_plugins_redacted(job, found, *engine, deadline - kScanReserve, redactions);
    progress({{"stage", "logs"}});
    log_scan = scan_logs_for(job, found, built.scans ? &*engine : nullptr, deadline, progress);
    add_scan_redactions(redactions, log_scan);
  }
  collectors.join();
  if (!engine) return engine.error();
  if (!collected.parts) return collected.parts.error();
  redactions.merge(collected.redactions);

  progress({{"stage", "checks"}});
  json report = {{"format", "rdiag-report-v1"},
                 {"created", records::format_ts(std::chrono::system_clock::now())},
                 {"host", host_name()},
                 {"agent_version", kVersion},
                 {"collectors", std::move(*collected.parts)},
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

Clock::time_point job_deadline(const json& job, Clock::time_point start) {
  std::chrono::milliseconds budget = kDefaultBudget;
  if (auto it = job.find("budget_ms"); it != job.end() && it->is_number_integer()) {
    // Bounded, so the sum below cannot overflow: no job is given a day.
    budget = std::chrono::milliseconds(
        std::clamp<std::int64_t>(it->get<std::int64_t>(), 0, kDefaultBudget.count() * 144));
  }
  return start + std::max<std::chrono::milliseconds>(budget - kAnswerMargin, {});
}

}  // namespace rdiag::agent
