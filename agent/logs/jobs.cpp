#include "agent/logs/jobs.h"

#include <sys/types.h>

#include <exception>
#include <string>
#include <vector>

#include "agent/logs/scan.h"
#include "agent/plugins/discovery.h"
#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::agent::logs {
namespace {

using json = nlohmann::json;

Error bad_job(std::string message) {
  return make_error(std::move(message), "bad_job");
}

Result<std::vector<std::string>> strings(const json& job, const char* field) {
  std::vector<std::string> out;
  if (!job.contains(field)) return out;
  const json& v = job[field];
  if (!v.is_array()) return bad_job(i18n::tr("agent.logs.want_strings", field));
  for (const json& s : v) {
    if (!s.is_string()) return bad_job(i18n::tr("agent.logs.want_strings", field));
    out.push_back(s.get<std::string>());
  }
  return out;
}

// A whole number lo..hi, or fallback when the job does not say.
Result<std::size_t> count(const json& job, const char* field, std::size_t lo, std::size_t hi,
                          std::size_t fallback) {
  if (!job.contains(field)) return fallback;
  const json& v = job[field];
  const auto n = v.is_number_integer() ? v.get<std::int64_t>() : 0;
  if (n < static_cast<std::int64_t>(lo) || n > static_cast<std::int64_t>(hi)) {
    return bad_job(i18n::tr("agent.logs.want_count", field, lo, hi, sanitize_utf8(v.dump())));
  }
  return static_cast<std::size_t>(n);
}

struct Common {
  SourceSet sources;
  std::vector<plugins::Plugin> plugins;
  json redact;
};

// Plugins, agent.json's sources and the plugins' sources, as every log job needs them.
Result<Common> load(const json& job, const plugins::Discovery& found) {
  auto config = parse_config_logs(job.value("logs", json::array()));
  if (!config) return config.error();
  Common c{merge_sources(std::move(*config), found.plugins), found.plugins,
           job.value("redact", json::array())};
  // A refused plugin's logs are missing from the scan: say why.
  for (const Error& e : found.refused) c.sources.notes.push_back(e.message);
  return c;
}

Result<json> scan_job(const json& job, const plugins::Discovery& found,
                      const redact::Engine* engine, std::chrono::steady_clock::time_point deadline,
                      const Progress& progress) {
  auto c = load(job, found);
  if (!c) return c.error();
  ScanInput in;
  in.sources = std::move(c->sources);
  in.plugins = std::move(c->plugins);
  in.engine = engine;
  in.deadline = deadline;
  in.redact = std::move(c->redact);
  auto sources = strings(job, "sources");
  auto rules = strings(job, "rules");
  auto patterns = strings(job, "patterns");
  auto max = count(job, "max_matches", 1, kMaxMatches, kDefaultMaxMatches);
  for (const Error* e : {sources ? nullptr : &sources.error(), rules ? nullptr : &rules.error(),
                         patterns ? nullptr : &patterns.error(), max ? nullptr : &max.error()}) {
    if (e != nullptr) return *e;
  }
  in.only_sources = std::move(*sources);
  in.only_rules = std::move(*rules);
  in.patterns = std::move(*patterns);
  in.max_matches = *max;
  if (job.contains("since")) {
    auto since = job["since"].is_string() ? parse_since(job["since"].get<std::string>())
                                          : parse_since(job["since"].dump());
    if (!since) return since.error();
    in.since = *since;
  }
  return scan_logs(in, progress);
}

Result<json> tail_job(const json& job) {
  auto c = load(job, plugins::discover_for_job(job));
  if (!c) return c.error();
  if (!job.contains("source") || !job["source"].is_string()) {
    return bad_job(i18n::tr("agent.logs.want_source"));
  }
  auto lines = count(job, "lines", 1, 1000, 100);
  if (!lines) return lines.error();
  TailInput in{std::move(c->sources), std::move(c->plugins), std::move(c->redact),
               job["source"].get<std::string>(), *lines};
  return tail_log(in);
}

// Nothing may unwind out of a job: nlohmann and the standard library throw.
template <typename F>
Result<json> guarded(const json& job, F&& run) {
  try {
    if (!job.is_object()) return bad_job(i18n::tr("agent.logs.want_object_job"));
    return run();
  } catch (const std::exception& e) {
    return make_error(i18n::tr("agent.logs.internal", e.what()), "internal");
  }
}

}  // namespace

Result<json> run_logs_scan_job(const json& job, const Progress& progress) {
  const auto deadline = job_deadline(job, std::chrono::steady_clock::now());
  return guarded(job, [&] {
    return scan_job(job, plugins::discover_for_job(job), nullptr, deadline, progress);
  });
}

Result<json> run_logs_scan_with(const json& job, const plugins::Discovery& found,
                                const redact::Engine* engine,
                                std::chrono::steady_clock::time_point deadline,
                                const Progress& progress) {
  return guarded(job, [&] { return scan_job(job, found, engine, deadline, progress); });
}

Result<json> run_logs_tail_job(const json& job, const Progress& /*progress*/) {
  return guarded(job, [&] { return tail_job(job); });
}

}  // namespace rdiag::agent::logs
