#include "agent/logs/scan.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "agent/logs/feed.h"
#include "agent/logs/journal.h"
#include "agent/worker/redactor.h"
#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::agent::logs {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using Feeder = std::function<Result<FeedStats>(redact::Engine::Scan&)>;

struct RuleRef {
  const plugins::Plugin* plugin;
  const plugins::RuleSpec* spec;
};

struct RuleAgg {
  std::uint64_t count = 0;
  json first, last;
  json samples = json::array();
};

// One located ad-hoc match: its redacted text and the patterns that hit it.
struct Match {
  std::string text;
  json patterns = json::array();
};

json seen_json(const std::string& file, const redact::Seen& s) {
  json out = {{"line", s.line}, {"file", file}};
  if (!s.timestamp.empty()) out["ts"] = s.timestamp;
  return out;
}

json error_json(const Error& e) {
  return {{"reason", e.reason}, {"message", e.message}};
}

Result<std::vector<RuleRef>> select_rules(const std::vector<plugins::Plugin>& found,
                                          const std::vector<std::string>& only) {
  std::vector<RuleRef> all;
  std::string known;
  for (const auto& p : found) {
    for (const auto& r : p.rules) {
      all.push_back({&p, &r});
      known += (known.empty() ? "" : ", ") + r.id;
    }
  }
  if (only.empty()) return all;
  std::vector<RuleRef> picked;
  for (const std::string& id : only) {
    const auto before = picked.size();
    for (const RuleRef& r : all) {
      if (r.spec->id == id || r.plugin->name + ":" + r.spec->id == id) picked.push_back(r);
    }
    if (picked.size() == before) {
      return make_error(
          i18n::tr("agent.logs.unknown_rule", sanitize_utf8(id), known.empty() ? "(none)" : known),
          "unknown_rule");
    }
  }
  return picked;
}

std::vector<redact::ScanRule> scan_rules_of(const std::vector<RuleRef>& rules) {
  std::vector<redact::ScanRule> out;
  out.reserve(rules.size());
  for (const RuleRef& r : rules)
    out.push_back({r.plugin->name + ":" + r.spec->id, r.spec->pattern});
  return out;
}

class Scanner {
 public:
  Scanner(const ScanInput& in, const redact::Engine& engine, const redact::AdHoc& adhoc,
          std::vector<RuleRef> rules)
      : in_(in), engine_(engine), adhoc_(adhoc), rules_(std::move(rules)), aggs_(rules_.size()) {}

  json scan_source(const Source& s);
  json finish(Clock::time_point t0, std::size_t sources);
  bool out_of_time() const { return out_of_time_; }

 private:
  std::optional<redact::ScanResult> run(const Feeder& feed, redact::Encoding enc, json& entry,
                                        std::uint64_t& budget);
  void absorb(const std::string& source, const std::string& file, const redact::ScanResult& r,
              const Feeder& feed, redact::Encoding enc);
  void fold_rules(const std::string& file, const redact::ScanResult& r);
  void add_matches(const std::string& source, const std::string& file, const redact::ScanResult& r,
                   const Feeder& feed, redact::Encoding enc);
  void locate(const redact::ScanResult& r, const Feeder& feed, redact::Encoding enc,
              std::map<std::uint64_t, Match>& out) const;
  Feeder file_feeder(const LogFile& f, std::uint64_t budget) const;
  Feeder journal_feeder(const Source& s, std::uint64_t budget) const;
  void mark_out_of_time(json& entry) {
    entry["cut_reason"] = "time";
    out_of_time_ = true;
  }

  const ScanInput& in_;
  const redact::Engine& engine_;
  const redact::AdHoc& adhoc_;
  std::vector<RuleRef> rules_;
  std::vector<RuleAgg> aggs_;
  json matches_ = json::array();
  bool cut_ = false;
  bool out_of_time_ = false;
  redact::Summary redactions_;
  std::uint64_t files_ = 0, lines_ = 0, bytes_ = 0;
};

Feeder Scanner::file_feeder(const LogFile& f, std::uint64_t budget) const {
  const std::optional<EpochMs> since = in_.since;
  return
      [f, budget, since, deadline = in_.deadline](redact::Engine::Scan& scan) -> Result<FeedStats> {
        auto reader = LogReader::open(f.path, f.gz);
        if (!reader) return reader.error();
        return feed_file(*reader, scan, SinceFilter(since), budget, deadline);
      };
}

Feeder Scanner::journal_feeder(const Source& s, std::uint64_t budget) const {
  const std::optional<EpochMs> since = in_.since;
  return [units = s.units, since, budget](redact::Engine::Scan& scan) -> Result<FeedStats> {
    // The journal's own seek does the since cut.
    auto read =
        read_journal(units, since, budget, [&scan](std::string_view text) { scan.feed(text); });
    if (!read) return read.error();
    return FeedStats{0, read->bytes, read->cut};
  };
}

// One file (or the journal) through the engine; fills entry's counts.
std::optional<redact::ScanResult> Scanner::run(const Feeder& feed, redact::Encoding enc,
                                               json& entry, std::uint64_t& budget) {
  redact::ScanOptions opt;
  const std::size_t left = in_.max_matches - std::min(in_.max_matches, matches_.size());
  opt.max_samples = std::max(kSamplesPerRule, left);
  opt.adhoc = &adhoc_;
  auto scan = engine_.start(enc, opt);
  auto stats = feed(scan);
  if (!stats) {
    entry["error"] = error_json(stats.error());
    return std::nullopt;
  }
  redact::ScanResult r = scan.finish();
  // The journal's text lines are only known to the engine.
  entry["lines"] = entry.value("path", "") == "journal" ? r.lines : stats->lines;
  entry["bytes"] = stats->bytes;
  if (stats->cut) entry["cut"] = true;
  if (stats->out_of_time) mark_out_of_time(entry);
  budget -= std::min(budget, stats->bytes);
  ++files_;
  lines_ += entry["lines"].get<std::uint64_t>();
  bytes_ += stats->bytes;
  redactions_.merge(r.redactions);
  return r;
}

json Scanner::scan_source(const Source& s) {
  json out = {{"name", s.name},
              {"kind", s.kind == SourceKind::kFiles ? "files" : "journal"},
              {"origin", s.origin},
              {"files", json::array()}};
  std::uint64_t budget = kMaxBytesPerSource;
  if (s.kind == SourceKind::kJournal) {
    json entry = {{"path", "journal"}};
    const Feeder feed = journal_feeder(s, budget);
    auto r = run(feed, redact::Encoding::kUtf8, entry, budget);
    if (!r) {
      out["error"] = entry["error"];
      return out;
    }
    absorb(s.name, "journal", *r, feed, redact::Encoding::kUtf8);
    if (entry.value("cut", false)) out["cut"] = true;
    out["files"].push_back(std::move(entry));
    cut_ = cut_ || out.value("cut", false);
    return out;
  }
  FileList list = list_files(s, in_.since);
  for (const auto& [path, e] : list.skipped) {
    out["files"].push_back({{"path", path}, {"error", error_json(e)}});
  }
  for (const LogFile& f : list.files) {
    json entry = {{"path", f.path}};
    if (budget == 0) {
      entry["cut"] = true;
      out["files"].push_back(std::move(entry));
      continue;
    }
    if (in_.deadline && Clock::now() >= *in_.deadline) {
      entry["cut"] = true;
      mark_out_of_time(entry);
      out["files"].push_back(std::move(entry));
      continue;
    }
    const Feeder feed = file_feeder(f, budget);
    if (auto r = run(feed, s.encoding, entry, budget)) absorb(s.name, f.path, *r, feed, s.encoding);
    out["files"].push_back(std::move(entry));
  }
  if (list.cut || budget == 0) out["cut"] = true;
  cut_ = cut_ || out.value("cut", false);
  return out;
}

// Folds one file's counts into the per-rule totals and locates its ad-hoc matches.
void Scanner::absorb(const std::string& source, const std::string& file,
                     const redact::ScanResult& r, const Feeder& feed, redact::Encoding enc) {
  fold_rules(file, r);
  add_matches(source, file, r, feed, enc);
}

void Scanner::fold_rules(const std::string& file, const redact::ScanResult& r) {
  for (std::size_t i = 0; i < r.rules.size() && i < aggs_.size(); ++i) {
    const redact::RuleStats& st = r.rules[i];
    if (st.count == 0) continue;
    RuleAgg& a = aggs_[i];
    if (a.count == 0) a.first = seen_json(file, st.first);
    a.count += st.count;
    a.last = seen_json(file, st.last);
    for (const auto& sample : st.samples) {
      if (a.samples.size() < kSamplesPerRule) a.samples.push_back(sample);
    }
  }
}

// The file's ad-hoc hits, in line order, until the match budget is spent.
void Scanner::add_matches(const std::string& source, const std::string& file,
                          const redact::ScanResult& r, const Feeder& feed, redact::Encoding enc) {
  bool any = false;
  bool few = true;  // at most two hits per pattern: first and last say where
  for (const auto& st : r.adhoc) {
    any = any || st.count > 0;
    few = few && st.count <= 2;
    // More hits than samples: the sample cap (the match budget) left some out.
    if (st.count > st.samples.size()) cut_ = true;
  }
  if (!any || matches_.size() >= in_.max_matches) {
    if (any) cut_ = true;
    return;
  }
  std::map<std::uint64_t, Match> found;
  if (few) {
    for (std::size_t p = 0; p < r.adhoc.size(); ++p) {
      const auto& st = r.adhoc[p];
      if (st.count >= 1) found[st.first.line].text = st.samples.front();
      if (st.count >= 1) found[st.first.line].patterns.push_back(st.id);
      if (st.count == 2) found[st.last.line].text = st.samples.back();
      if (st.count == 2) found[st.last.line].patterns.push_back(st.id);
    }
  } else {
    locate(r, feed, enc, found);
  }
  for (auto& [line, m] : found) {
    if (matches_.size() >= in_.max_matches) {
      cut_ = true;
      break;
    }
    matches_.push_back({{"source", source},
                        {"file", file},
                        {"line", line},
                        {"text", std::move(m.text)},
                        {"patterns", std::move(m.patterns)}});
  }
}

// The engine counts ad-hoc hits per pattern but says where only for the
// first and last; the samples are the redacted lines, in order. A second,
// redaction-only pass finds which line numbers those samples are - the
// patterns still never see anything but redacted text.
void Scanner::locate(const redact::ScanResult& r, const Feeder& feed, redact::Encoding enc,
                     std::map<std::uint64_t, Match>& out) const {
  std::vector<std::size_t> next(r.adhoc.size(), 0);
  redact::ScanOptions opt;
  opt.max_samples = 0;
  opt.on_line = [&](std::uint64_t line, std::string_view text) {
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    text = text.substr(0, redact::utf8_prefix(text, opt.max_sample_bytes));
    for (std::size_t p = 0; p < r.adhoc.size(); ++p) {
      const auto& samples = r.adhoc[p].samples;
      if (next[p] < samples.size() && samples[next[p]] == text) {
        out[line].text = std::string(text);
        out[line].patterns.push_back(r.adhoc[p].id);
        ++next[p];
      }
    }
  };
  auto scan = engine_.start(enc, opt);
  if (feed(scan)) (void)scan.finish();
}

json Scanner::finish(Clock::time_point t0, std::size_t sources) {
  json rules = json::array();
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    if (aggs_[i].count == 0) continue;
    const plugins::RuleSpec& s = *rules_[i].spec;
    rules.push_back({{"id", s.id},
                     {"severity", s.severity},
                     {"title", s.title.empty() ? s.id : s.title},
                     {"cause", s.cause},
                     {"remedy", s.remedy},
                     {"source", "plugin:" + rules_[i].plugin->name},
                     {"count", aggs_[i].count},
                     {"first", aggs_[i].first},
                     {"last", aggs_[i].last},
                     {"samples", aggs_[i].samples}});
  }
  json redaction = json::array();
  std::uint64_t redacted = 0;
  for (const auto& [rule, n] : redactions_.counts) {
    redaction.push_back({{"rule", rule}, {"count", n}});
    redacted += n;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  json summary = {{"sources", sources},
                  {"files", files_},
                  {"lines", lines_},
                  {"bytes", bytes_},
                  {"rules_matched", rules.size()},
                  {"matches", matches_.size()},
                  {"redactions", redacted},
                  {"elapsed_ms", ms.count()},
                  {"cut", cut_}};
  return {{"rules", std::move(rules)},
          {"matches", std::move(matches_)},
          {"redaction", std::move(redaction)},
          {"summary", std::move(summary)}};
}

Result<std::vector<const Source*>> pick_sources(const ScanInput& in) {
  std::vector<const Source*> out;
  for (const Source& s : in.sources.sources) out.push_back(&s);
  if (in.only_sources.empty()) return out;
  out.clear();
  for (const std::string& name : in.only_sources) {
    const Source* s = find_source(in.sources, name);
    if (s == nullptr) {
      return make_error(
          i18n::tr("agent.logs.unknown_source", sanitize_utf8(name), source_names(in.sources)),
          "unknown_source");
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace

Result<json> scan_logs(const ScanInput& in, const Progress& progress) {
  const auto t0 = Clock::now();
  auto sources = pick_sources(in);
  if (!sources) return sources.error();
  auto rules = select_rules(in.plugins, in.only_rules);
  if (!rules) return rules.error();
  const redact::Engine* engine = in.only_rules.empty() ? in.engine : nullptr;
  std::optional<redact::Engine> own;
  if (engine == nullptr) {
    auto built = build_redactor(in.redact, in.plugins, scan_rules_of(*rules));
    if (!built) return built.error();
    engine = &own.emplace(std::move(*built));
  }
  auto adhoc = redact::compile_adhoc(in.patterns);
  if (!adhoc) return adhoc.error();
  Scanner scanner(in, *engine, *adhoc, std::move(*rules));
  json out = {{"sources", json::array()}, {"notes", in.sources.notes}};
  for (std::size_t i = 0; i < sources->size(); ++i) {
    const Source& s = *(*sources)[i];
    if (progress) {
      progress({{"stage", "logs"}, {"done", i}, {"total", sources->size()}, {"name", s.name}});
    }
    out["sources"].push_back(scanner.scan_source(s));
  }
  out.update(scanner.finish(t0, sources->size()));
  if (scanner.out_of_time()) out["notes"].push_back(i18n::tr("agent.logs.out_of_time"));
  return out;
}

std::vector<redact::ScanRule> all_scan_rules(const std::vector<plugins::Plugin>& found) {
  auto rules = select_rules(found, {});  // never fails when nothing is picked by name
  return rules ? scan_rules_of(*rules) : std::vector<redact::ScanRule>{};
}

json findings_from_scan(const json& scan) {
  json out = json::array();
  if (!scan.is_object() || !scan.contains("rules") || !scan["rules"].is_array()) return out;
  for (const json& r : scan["rules"]) {
    const std::string where = r.contains("first") ? r["first"].value("file", "") : "";
    json evidence = {i18n::tr("agent.logs.evidence", r.value("count", 0), where)};
    const json samples = r.value("samples", json::array());
    for (std::size_t i = 0; i < samples.size() && i < 3; ++i) evidence.push_back(samples[i]);
    out.push_back({{"severity", r.value("severity", "info")},
                   {"id", r.value("id", "")},
                   {"title", r.value("title", "")},
                   {"evidence", std::move(evidence)},
                   {"cause", r.value("cause", "")},
                   {"remedy", r.value("remedy", "")},
                   {"source", r.value("source", "")}});
  }
  return out;
}

}  // namespace rdiag::agent::logs
