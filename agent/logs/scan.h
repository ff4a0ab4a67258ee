// logs.scan and logs.tail over the sources of sources.h, through the one
// redaction and scanning engine (common/redact/engine.h): plugin rules count
// on the decoded text, everything handed out is redacted, and engineer
// patterns only ever see redacted text.
//
// logs.scan result:
// {"sources": [{"name", "kind": "files"|"journal", "origin": "config"|"plugin:<name>",
//               "files": [{"path", "lines", "bytes", "cut"?: true,
//                          "error"?: {reason, message}}],
//               "cut"?: true, "error"?: {reason, message}}],
//  "rules": [{"id", "severity", "title", "cause", "remedy", "source": "plugin:<name>",
//             "count", "first": {"line", "file", "ts"?}, "last": {...},
//             "samples": ["redacted line", ...]}],          only rules with count > 0
//  "matches": [{"source", "file", "line", "text", "patterns": [...]}],  redacted text
//  "redaction": [{"rule", "count"}],
//  "notes": ["..."],                                       name clashes, skipped files
//  "summary": {"sources", "files", "lines", "bytes", "rules_matched", "matches",
//              "redactions", "elapsed_ms", "cut": bool}}
// "lines" counts the lines scanned (after the since cut); "bytes" the bytes
// read (decompressed). "file" is "journal" for journal sources; "line" is the
// line's number in its file (in the journal text for journal sources).
//
// logs.tail result: {"source", "file", "lines": ["redacted line", ...]}.
#pragma once

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/logs/since.h"
#include "agent/logs/sources.h"
#include "agent/plugins/manifest.h"
#include "agent/worker/diag.h"
#include "common/redact/engine.h"
#include "common/result.h"

namespace rdiag::agent::logs {

inline constexpr std::size_t kDefaultMaxMatches = 100;
inline constexpr std::size_t kMaxMatches = 1000;
inline constexpr std::size_t kSamplesPerRule = 5;

// Every plugin scan rule, named "<plugin>:<id>", in the order scan_logs
// hands them to the engine: an engine built from these (build_redactor) may
// be passed in ScanInput::engine.
std::vector<redact::ScanRule> all_scan_rules(const std::vector<plugins::Plugin>& found);

struct ScanInput {
  SourceSet sources;
  std::vector<plugins::Plugin> plugins;
  // Built already (diag.run builds one engine for its whole job) from
  // all_scan_rules(plugins) and `redact`; used when only_rules is empty.
  // Null: scan_logs builds its own.
  const redact::Engine* engine = nullptr;
  nlohmann::json redact = nlohmann::json::array();  // agent.json "redact", raw
  std::vector<std::string> only_sources;            // empty: every source
  std::vector<std::string> only_rules;              // empty: every plugin rule; "id" or "plugin:id"
  std::vector<std::string> patterns;                // ad-hoc, run on redacted text
  std::optional<EpochMs> since;
  std::size_t max_matches = kDefaultMaxMatches;
  // The job's deadline: files not read by then are marked "cut" with
  // "cut_reason": "time", and a note says so (the journal is bounded by
  // bytes only).
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

// Errors: unknown_source, unknown_rule (naming the id and the known ones),
// bad_pattern, bad_config. A source that cannot be read is an entry with
// "error", never a failed call.
Result<nlohmann::json> scan_logs(const ScanInput& in, const Progress& progress);

// One finding per matched rule of a scan result, for diag.run's report:
// {severity, id, title, evidence: [count text, up to 3 samples], cause, remedy, source}.
nlohmann::json findings_from_scan(const nlohmann::json& scan);

struct TailInput {
  SourceSet sources;
  std::vector<plugins::Plugin> plugins;
  nlohmann::json redact = nlohmann::json::array();
  std::string source;
  std::size_t lines = 100;  // 1..1000
};

// The last lines of the source's newest file (or journal), decoded and
// redacted. Errors: unknown_source, no_journal, unreadable, no_files.
Result<nlohmann::json> tail_log(const TailInput& in);

}  // namespace rdiag::agent::logs
