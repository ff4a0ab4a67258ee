#include "common/redact/engine.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "common/i18n.h"
#include "common/redact/digit_runs.h"
#include "common/redact/engine_core.h"
#include "common/text_safety.h"

namespace rdiag::redact {
namespace {

using detail::Entry;
using detail::EntryKind;
using detail::HsDatabase;

// Collects patterns for both engines; the first problem wins.
class Builder {
 public:
  Builder() : core_(std::make_shared<detail::EngineCore>()) {}

  void reserve_builtin_ids();
  Result<void> add_builtins();
  struct RedactSpec {
    std::string id;
    std::string regex;
    std::string prefilter;  // for Vectorscan; empty with digit_gated
    bool caseless = false;
    detail::Check check = detail::Check::kNone;
    bool digit_gated = false;
  };
  Result<void> add_redaction(const RedactSpec& spec);
  Result<void> add_scan(const ScanRule& rule);
  Result<std::shared_ptr<const detail::EngineCore>> finish();

 private:
  Error rejected(bool scan, const std::string& id, const std::string& pattern,
                 std::string_view engine, const std::string& message) const;
  Error rejected_entry(std::size_t entry, const std::string& message) const;
  Result<void> check_id(const std::string& id, const std::string& regex,
                        std::set<std::string>* seen, std::string_view duplicate_msg) const;

  std::shared_ptr<detail::EngineCore> core_;
  std::vector<HsDatabase::Expr> exprs_;
  std::vector<std::string> patterns_;  // as written, for messages
  std::set<std::string> redaction_ids_;
  std::set<std::string> scan_ids_;
};

Error Builder::rejected(bool scan, const std::string& id, const std::string& pattern,
                        std::string_view engine, const std::string& message) const {
  return make_error(i18n::tr(scan ? "common.redact.bad_scan_rule" : "common.redact.bad_redaction",
                             sanitize_utf8(id), sanitize_utf8(pattern), engine, message),
                    "bad_pattern");
}

// Vectorscan names the expression by its id, which is the entry's index.
Error Builder::rejected_entry(std::size_t entry, const std::string& message) const {
  const Entry& e = core_->entries[entry];
  const bool scan = e.kind == EntryKind::kScan;
  const std::string& id = scan ? core_->scan[e.index].id : core_->redact[e.index].id;
  return rejected(scan, id, patterns_[entry], "Vectorscan", message);
}

Result<void> Builder::check_id(const std::string& id, const std::string& regex,
                               std::set<std::string>* seen, std::string_view duplicate_msg) const {
  if (id.empty()) {
    return make_error(i18n::tr("common.redact.empty_id", sanitize_utf8(regex)), "bad_pattern");
  }
  // Built-in names are taken too: two rules called "password" would make the
  // summary ambiguous.
  if (!seen->insert(id).second) {
    return make_error(i18n::tr(duplicate_msg, sanitize_utf8(id)), "duplicate_id");
  }
  return {};
}

Result<void> Builder::add_redaction(const RedactSpec& spec) {
  if (auto ok = check_id(spec.id, spec.regex, &redaction_ids_, "common.redact.duplicate_redaction");
      !ok) {
    return ok.error();
  }
  std::string why;
  auto pcre = detail::Pcre::compile(spec.regex, spec.caseless, &why);
  if (!pcre) return rejected(false, spec.id, spec.regex, "PCRE2", why);
  core_->redact.push_back(
      detail::RedactRule{spec.id, std::move(*pcre), spec.check, spec.digit_gated});
  if (spec.digit_gated) return {};  // no Vectorscan expression: digit_runs.h flags it
  core_->entries.push_back(Entry{EntryKind::kRedact, core_->redact.size() - 1});
  patterns_.push_back(spec.regex);
  exprs_.push_back(HsDatabase::Expr{spec.prefilter, spec.caseless});
  return {};
}

Result<void> Builder::add_scan(const ScanRule& rule) {
  if (auto ok = check_id(rule.id, rule.regex, &scan_ids_, "common.redact.duplicate_scan_rule");
      !ok) {
    return ok.error();
  }
  std::string why;
  auto pcre = detail::Pcre::compile(rule.regex, false, &why);
  if (!pcre) return rejected(true, rule.id, rule.regex, "PCRE2", why);
  core_->scan.push_back(detail::CountRule{rule.id, std::move(*pcre)});
  core_->entries.push_back(Entry{EntryKind::kScan, core_->scan.size() - 1});
  patterns_.push_back(rule.regex);
  exprs_.push_back(HsDatabase::Expr{rule.regex, false});
  return {};
}

Result<void> Builder::add_builtins() {
  std::string why;
  // The PEM markers are fixed strings of ours; they cannot fail to compile.
  core_->pem_begin = *detail::Pcre::compile(detail::kPemBeginPattern, false, &why);
  core_->pem_end = *detail::Pcre::compile(detail::kPemEndPattern, false, &why);
  for (const auto& [kind, pattern] : {std::pair{EntryKind::kPemBegin, detail::kPemBeginPattern},
                                      std::pair{EntryKind::kPemEnd, detail::kPemEndPattern}}) {
    core_->entries.push_back(Entry{kind, 0});
    patterns_.emplace_back(pattern);
    exprs_.push_back(HsDatabase::Expr{std::string(pattern), false});
  }
  for (const auto& b : detail::builtin_rules()) {
    redaction_ids_.erase(std::string(b.id));  // reserved for exactly this rule
    auto ok =
        add_redaction(RedactSpec{std::string(b.id), std::string(b.exact), std::string(b.prefilter),
                                 b.caseless, b.check, b.prefilter.empty()});
    if (!ok) return ok;
  }
  return {};
}

void Builder::reserve_builtin_ids() {
  redaction_ids_.insert(std::string(detail::kPemId));
  for (const auto& b : detail::builtin_rules()) redaction_ids_.insert(std::string(b.id));
}

Result<std::shared_ptr<const detail::EngineCore>> Builder::finish() {
  HsDatabase::Failure failure;
  auto db = HsDatabase::build(exprs_, &failure);
  if (!db) {
    if (auto general = HsDatabase::general_error(failure)) return *general;
    return rejected_entry(failure.index, failure.message);
  }
  core_->db = std::move(*db);
  // The digit-run entry goes last, so Vectorscan ids and entry indices agree.
  core_->expressions = exprs_.size();
  core_->digit_entry = static_cast<std::uint32_t>(core_->entries.size());
  core_->entries.push_back(Entry{EntryKind::kDigitRun, 0});
  return std::shared_ptr<const detail::EngineCore>(core_);
}

}  // namespace

void Summary::merge(const Summary& other) {
  for (const auto& [id, n] : other.counts) counts[id] += n;
  lines_failed_closed += other.lines_failed_closed;
}

Result<Engine> Engine::build(const std::vector<ScanRule>& rules,
                             const std::vector<Pattern>& extra_redactions) {
  Builder b;
  b.reserve_builtin_ids();
  // Configured rules come first: where one overlaps a built-in, its (more
  // specific) name is the one the summary shows.
  for (const Pattern& p : extra_redactions) {
    if (auto ok = b.add_redaction({p.id, p.regex, p.regex}); !ok) {
      return ok.error();
    }
  }
  if (auto ok = b.add_builtins(); !ok) return ok.error();
  for (const ScanRule& r : rules) {
    if (auto ok = b.add_scan(r); !ok) return ok.error();
  }
  auto core = b.finish();
  if (!core) return core.error();
  return Engine(std::move(*core));
}

// The same block path as a log scan, so a string and a log line are redacted
// identically (PEM blocks in a multi-line string included).
std::string Engine::redact_text(std::string_view text, Summary* summary) const {
  const std::string clean = is_valid_utf8(text) ? std::string(text) : sanitize_utf8(text);
  detail::LineRedactor redactor(*core_);
  detail::LineFlags flags;
  Summary local;
  if (!detail::flag_lines(core_->db, redactor.scratch(), clean, core_->expressions, &flags,
                          core_->digit_entry)) {
    // Nothing can be known about this text: none of it goes out.
    detail::count(&local, detail::kUnavailableId);
    local.lines_failed_closed += 1;
    if (summary != nullptr) summary->merge(local);
    return detail::marker(std::string(detail::kUnavailableId) + ":line");
  }
  std::string out;
  out.reserve(clean.size());
  std::vector<std::uint32_t> ids;
  auto hit = flags.hits.begin();
  for (std::size_t i = 0; i < flags.line_count(); ++i) {
    ids.clear();
    for (; hit != flags.hits.end() && hit->first == i; ++hit) ids.push_back(hit->second);
    if (i > 0) out += '\n';
    out += redactor.redact(flags.line(clean, i), ids, &local);
  }
  if (summary != nullptr) summary->merge(local);
  return out;
}

namespace detail {

bool flag_lines(const HsDatabase& db, hs_scratch_t* scratch, std::string_view block,
                std::size_t expressions, LineFlags* out, std::optional<std::uint32_t> digit_entry) {
  out->starts.clear();
  out->hits.clear();
  out->starts.push_back(0);
  const char* const end = block.data() + block.size();
  for (const char* p = block.data(); p < end;) {
    const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
    if (nl == nullptr) break;
    p = static_cast<const char*>(nl) + 1;
    out->starts.push_back(static_cast<std::size_t>(p - block.data()));
  }
  out->starts.push_back(block.size() + 1);
  // Vectorscan reports each match end; one hit per (line, expression) is enough.
  std::vector<std::uint32_t> last(expressions, std::numeric_limits<std::uint32_t>::max());
  std::size_t cur = 0;
  const auto& starts = out->starts;
  const bool scanned = db.scan(block, scratch, [&](unsigned id, unsigned long long to) {
    const std::size_t at = static_cast<std::size_t>(to) - 1;  // the match's last byte
    // Matches mostly arrive in end-offset order, so the current line usually
    // still holds; otherwise a binary search over line starts.
    if (at < starts[cur] || at >= starts[cur + 1]) {
      cur = static_cast<std::size_t>(std::upper_bound(starts.begin(), starts.end(), at) -
                                     starts.begin()) -
            1;
    }
    if (last[id] == cur) return;
    last[id] = static_cast<std::uint32_t>(cur);
    out->hits.emplace_back(static_cast<std::uint32_t>(cur), id);
  });
  if (digit_entry) {
    for_each_digit_run(block, [&](std::size_t pos) {
      cur = static_cast<std::size_t>(std::upper_bound(starts.begin(), starts.end(), pos) -
                                     starts.begin()) -
            1;
      out->hits.emplace_back(static_cast<std::uint32_t>(cur), *digit_entry);
      return starts[cur + 1];  // one flag per line is enough
    });
  }
  std::sort(out->hits.begin(), out->hits.end());
  out->hits.erase(std::unique(out->hits.begin(), out->hits.end()), out->hits.end());
  return scanned;
}

}  // namespace detail
}  // namespace rdiag::redact
