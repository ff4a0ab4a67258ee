#include "agent/plugins/run.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>  // sigabbrev_np
#include <initializer_list>
#include <optional>

#include "agent/exec/process_runner.h"
#include "agent/plugins/discovery.h"
#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::agent::plugins {
namespace {

using i18n::tr;
using nlohmann::json;

// Enough stderr to show why a plugin failed without flooding the report.
constexpr std::size_t kStderrTail = 2048;

std::string stderr_tail(const std::string& err) {
  std::string_view v = err;
  if (v.size() > kStderrTail) {
    v.remove_prefix(v.size() - kStderrTail);
    // Start on a character boundary rather than with a U+FFFD.
    while (!v.empty() && (static_cast<unsigned char>(v[0]) & 0xC0) == 0x80) v.remove_prefix(1);
  }
  return sanitize_utf8(v);
}

// Error entries have the same keys as good ones minus "data", so a report
// reader can loop over findings without checking "ok" first.
json error_entry(const std::string& name, std::string_view reason, std::string message,
                 const std::string& err, std::int64_t elapsed_ms) {
  return {{"name", name},
          {"ok", false},
          {"error",
           {{"reason", reason}, {"message", std::move(message)}, {"stderr", stderr_tail(err)}}},
          {"findings", json::array()},
          {"elapsed_ms", elapsed_ms}};
}

// All finding errors share the reason the report uses for the entry.
Error bad_finding(std::string message) {
  return make_error(std::move(message), "bad_findings");
}

// Type checks only; severity and id values are checked by the caller.
std::optional<Error> check_finding_strings(const json& f, const std::string& plugin,
                                           std::size_t i) {
  for (const char* key : {"severity", "id", "title", "cause", "remedy"}) {
    const auto it = f.find(key);
    const bool required = std::string_view(key) == "severity" || std::string_view(key) == "id" ||
                          std::string_view(key) == "title";
    if (it == f.end()) {
      if (required) return bad_finding(tr("agent.plugins.finding_missing", plugin, i, key));
    } else if (!it->is_string()) {
      return bad_finding(tr("agent.plugins.finding_want_string", plugin, i, key));
    }
  }
  const auto ev = f.find("evidence");
  if (ev != f.end() && (!ev->is_array() || !std::all_of(ev->begin(), ev->end(), [](const json& e) {
        return e.is_string();
      }))) {
    return bad_finding(tr("agent.plugins.finding_want_strings", plugin, i, "evidence"));
  }
  return std::nullopt;
}

// One finding, checked and put in the report's shape with its source.
Result<json> check_finding(const json& f, const std::string& plugin, std::size_t i) {
  if (!f.is_object()) return bad_finding(tr("agent.plugins.finding_not_object", plugin, i));
  for (const auto& [key, value] : f.items()) {
    static constexpr std::array<std::string_view, 6> kKeys = {"severity", "id",    "title",
                                                              "evidence", "cause", "remedy"};
    // "source" is ours: a plugin must not pass its findings off as built-in.
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      return bad_finding(tr("agent.plugins.finding_unknown", plugin, i, escaped_name(key)));
    }
  }
  if (auto err = check_finding_strings(f, plugin, i)) return *err;
  const std::string severity = f["severity"].get<std::string>();
  if (!valid_severity(severity)) {
    return bad_finding(tr("agent.plugins.finding_severity", plugin, i, escaped_name(severity)));
  }
  const std::string id = f["id"].get<std::string>();
  if (!valid_name(id))
    return bad_finding(tr("agent.plugins.finding_id", plugin, i, escaped_name(id)));
  return json{{"severity", severity},          {"id", id},
              {"title", f["title"]},           {"evidence", f.value("evidence", json::array())},
              {"cause", f.value("cause", "")}, {"remedy", f.value("remedy", "")},
              {"source", "plugin:" + plugin}};
}

// The signal's name ("SIGSEGV") where glibc knows it, else its number.
std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : std::to_string(sig);
}

// Why a run that did not exit 0 failed, as {reason, message}.
std::pair<std::string_view, std::string> failure(const Plugin& p, const exec::RunResult& r,
                                                 const RunOptions& opt) {
  const auto given = std::chrono::duration_cast<std::chrono::seconds>(r.time_given);
  switch (r.outcome) {
    case exec::RunOutcome::kStartFailed:
      return {"start_failed",
              tr("agent.plugins.run_start_failed", p.name, program_path(p), r.error)};
    case exec::RunOutcome::kTimedOut:
      // Cut to what the diagnosis had left, the plugin's own timeout_s is not the culprit.
      if (given < std::chrono::seconds(p.collect->timeout_s)) {
        return {"timeout", tr("agent.plugins.run_timeout_job", p.name, given.count())};
      }
      return {"timeout", tr("agent.plugins.run_timeout", p.name, p.collect->timeout_s)};
    case exec::RunOutcome::kNoTime:
      return {"no_time", tr("agent.plugins.no_time", p.name, given.count())};
    case exec::RunOutcome::kOverflow:
      return {"overflow", tr("agent.plugins.run_overflow", p.name, opt.output_cap)};
    case exec::RunOutcome::kSignaled:
      return {"signal", tr("agent.plugins.run_signal", p.name, signal_name(r.signal))};
    case exec::RunOutcome::kExited:
      break;
  }
  return {"exit_status", tr("agent.plugins.run_exit", p.name, r.exit_code)};
}

// Exit 0: the output decides. Exceptions are nlohmann's own way of saying
// where the JSON broke, and they stop here.
json parse_output(const Plugin& p, const exec::RunResult& r) {
  json out;
  try {
    out = json::parse(r.out);
  } catch (const json::parse_error& e) {
    std::string msg = r.out.empty() ? tr("agent.plugins.run_no_output", p.name)
                                    : tr("agent.plugins.run_bad_json", p.name, e.byte);
    return error_entry(p.name, "bad_json", std::move(msg), r.err, r.elapsed_ms);
  }
  if (!out.is_object()) {
    return error_entry(p.name, "not_object",
                       tr("agent.plugins.run_not_object", p.name, out.type_name()), r.err,
                       r.elapsed_ms);
  }
  auto findings = validate_findings(out, p.name);
  if (!findings)
    return error_entry(p.name, "bad_findings", findings.error().message, r.err, r.elapsed_ms);
  out.erase("findings");
  return {{"name", p.name},
          {"ok", true},
          {"data", std::move(out)},
          {"findings", std::move(*findings)},
          {"elapsed_ms", r.elapsed_ms}};
}

json entry_for(const Plugin& p, const exec::RunResult& r, const RunOptions& opt) {
  if (r.outcome == exec::RunOutcome::kExited && r.exit_code == 0) return parse_output(p, r);
  auto [reason, message] = failure(p, r, opt);
  json entry = error_entry(p.name, reason, std::move(message), r.err, r.elapsed_ms);
  if (r.outcome == exec::RunOutcome::kExited) {
    // A plugin may exit non-zero and still say why ("database down") in
    // well-formed findings: keep them; the entry stays an error.
    const json out = json::parse(r.out, nullptr, false);
    if (out.is_object()) {
      if (auto findings = validate_findings(out, p.name)) entry["findings"] = std::move(*findings);
    }
  }
  return entry;
}

// The whole environment a plugin gets. env_file lines come last and replace
// a default of the same name (a plugin may need its own PATH).
std::vector<std::string> plugin_env(const Plugin& p, const RunOptions& opt,
                                    const std::vector<std::string>& extra) {
  const std::string lang = opt.lang.empty() ? "C.UTF-8" : opt.lang;
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=" + lang,
                                  "LC_ALL=" + lang, "RDIAG_PLUGIN_DIR=" + p.dir};
  for (const auto& kv : extra) {
    const std::string key = kv.substr(0, kv.find('=') + 1);
    std::erase_if(env, [&](const std::string& e) { return e.compare(0, key.size(), key) == 0; });
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// The runner's spec for one plugin, or the env_file error that stops it.
Result<exec::RunSpec> spec_for(const Plugin& p, const RunOptions& opt) {
  std::vector<std::string> extra;
  struct stat st {};
  // No env_file at all is the state of a fresh install: the plugin runs with
  // its defaults and can say what to configure (an unreachable database's
  // remedy names the file). One that exists must pass every check.
  const bool missing = !p.collect->env_file.empty() &&
                       ::lstat(p.collect->env_file.c_str(), &st) != 0 && errno == ENOENT;
  if (!p.collect->env_file.empty() && !missing) {
    // Read by whoever runs the plugins (the collector worker), trusting its
    // own account as discovery did.
    auto lines = read_env_file(p.collect->env_file, ::geteuid());
    if (!lines) return lines.error();
    extra = std::move(*lines);
  }
  exec::RunSpec s;
  s.argv = p.collect->command;
  s.argv[0] = program_path(p);
  s.env = plugin_env(p, opt, extra);
  if (missing) s.env.push_back("RDIAG_ENV_FILE_MISSING=" + p.collect->env_file);
  s.cwd = p.dir;
  s.timeout = std::chrono::seconds(p.collect->timeout_s);
  s.stdout_cap = opt.output_cap;  // stderr keeps the runner's 16 KiB: only its tail is shown
  s.not_after = opt.deadline;     // the runner cuts or skips at launch
  return s;
}

}  // namespace

Result<json> validate_findings(const json& output, const std::string& plugin) {
  const auto it = output.find("findings");
  if (it == output.end()) return json::array();
  if (!it->is_array()) return bad_finding(tr("agent.plugins.findings_not_array", plugin));
  json out = json::array();
  for (std::size_t i = 0; i < it->size(); ++i) {
    auto f = check_finding((*it)[i], plugin, i);
    if (!f) return f.error();
    out.push_back(std::move(*f));
  }
  return out;
}

// Specs are built first (env files read now, so a bad one costs no run),
// then everything runs in one run_all() so the deadlines overlap.
json run_plugins(const std::vector<Plugin>& plugins, const RunOptions& opt) {
  json entries = json::array();
  try {
    std::vector<const Plugin*> runnable;
    std::vector<std::optional<json>> early;  // env_file errors: entries without a run
    std::vector<exec::RunSpec> specs;
    for (const auto& p : plugins) {
      if (!p.collect) continue;
      runnable.push_back(&p);
      auto spec = spec_for(p, opt);
      const char* reason = !spec && spec.error().reason == "no_time" ? "no_time" : "env_file";
      early.push_back(
          spec ? std::nullopt
               : std::optional(error_entry(p.name, reason, spec.error().message, "", 0)));
      if (spec) specs.push_back(std::move(*spec));
    }
    const auto results = exec::run_all(specs, opt.parallel);
    for (std::size_t i = 0, next = 0; i < runnable.size(); ++i) {
      entries.push_back(early[i] ? std::move(*early[i])
                                 : entry_for(*runnable[i], results[next++], opt));
    }
  } catch (const std::exception&) {
    // Only memory exhaustion gets here; the entries made so far still stand.
  }
  return entries;
}

}  // namespace rdiag::agent::plugins
