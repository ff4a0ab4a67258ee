#include <algorithm>

#include "common/redact/checks.h"
#include "common/redact/engine_core.h"

namespace rdiag::redact::detail {
namespace {

constexpr std::size_t kPemPriority = 0;  // redaction rule i has priority i + 1

bool passes(Check check, std::string_view candidate) {
  switch (check) {
    case Check::kIdCard:
      return valid_id_card(candidate);
    case Check::kLuhn:
      return valid_luhn(candidate);
    case Check::kNone:
      break;
  }
  return true;
}

}  // namespace

void count(Summary* summary, std::string_view id) {
  const auto it = summary->counts.find(id);
  if (it != summary->counts.end()) {
    it->second += 1;
  } else {
    summary->counts.emplace(std::string(id), 1);
  }
}

std::string marker(std::string_view id) {
  std::string m = "[REDACTED:";
  m += id;
  m += ']';
  return m;
}

LineRedactor::LineRedactor(const EngineCore& core)
    : core_(core), md_(make_match_data()), scratch_(core.db.new_scratch()) {}

std::string LineRedactor::redact(std::string_view line, std::span<const std::uint32_t> flags,
                                 Summary* summary) {
  bool begin = false;
  bool end = false;
  for (const std::uint32_t f : flags) {
    begin = begin || core_.entries[f].kind == EntryKind::kPemBegin;
    end = end || core_.entries[f].kind == EntryKind::kPemEnd;
  }
  if (in_pem_ && !end) return {};  // deep inside a key block: nothing survives
  cuts_.clear();
  if ((in_pem_ || begin) && !pem_cuts(line, begin, end, &cuts_)) {
    return fail_closed(kPemId, summary);
  }
  for (const std::uint32_t f : flags) {
    const Entry& e = core_.entries[f];
    std::optional<std::size_t> failed;
    if (e.kind == EntryKind::kDigitRun) {
      // Digit-gated rules fail closed only on a PCRE2 error: a long number
      // without a valid 身份证号, mobile or card in it is just a number.
      failed = digit_cuts(line, &cuts_);
    } else if (e.kind == EntryKind::kRedact) {
      // Vectorscan saw this rule in the line but PCRE2 found nothing: unless
      // the flag came from a match across lines of the block, fail closed.
      const Outcome o = rule_cuts(line, e.index, &cuts_);
      if (o == Outcome::kError || (o == Outcome::kNothing && confirmed_alone(line, f))) {
        failed = e.index;
      }
    }
    if (failed) return fail_closed(core_.redact[*failed].id, summary);
  }
  return apply(line, cuts_, summary);
}

std::string LineRedactor::fail_closed(std::string_view id, Summary* summary) const {
  count(summary, id);
  summary->lines_failed_closed += 1;
  return marker(std::string(id) + ":line");
}

bool LineRedactor::pem_cuts(std::string_view line, bool begin_flagged, bool end_flagged,
                            std::vector<Cut>* cuts) {
  std::size_t pos = 0;
  bool error = false;
  if (in_pem_) {
    // No END found (or an error looking): still inside the block.
    const auto e = end_flagged ? core_.pem_end.find(line, 0, md_, &error) : std::nullopt;
    if (!e) {
      cuts->push_back(Cut{Span{0, line.size()}, kPemPriority, false});
      return true;
    }
    cuts->push_back(Cut{Span{0, e->whole.end}, kPemPriority, false});
    in_pem_ = false;
    pos = e->whole.end;
  }
  // Several blocks may sit on one line (JSON with "\n" escapes); bounded
  // because each pass moves pos forward.
  while (begin_flagged && pos < line.size()) {
    const auto b = core_.pem_begin.find(line, pos, md_, &error);
    if (error) {
      in_pem_ = true;  // cannot tell where a key starts: assume one does
      return false;
    }
    if (!b) return true;
    const auto e = core_.pem_end.find(line, b->whole.end, md_);
    if (!e) {
      cuts->push_back(Cut{Span{b->whole.begin, line.size()}, kPemPriority, true});
      in_pem_ = true;  // unterminated: everything up to an END line (or the end) goes
      return true;
    }
    cuts->push_back(Cut{Span{b->whole.begin, e->whole.end}, kPemPriority, true});
    pos = e->whole.end;
  }
  return true;
}

LineRedactor::Outcome LineRedactor::rule_cuts(std::string_view line, std::size_t rule,
                                              std::vector<Cut>* cuts) {
  const RedactRule& r = core_.redact[rule];
  bool any = false;
  std::size_t from = 0;
  while (from <= line.size()) {
    bool error = false;
    const auto m = r.exact.find(line, from, md_, &error);
    if (error) return Outcome::kError;  // the rest of the line is unknown
    if (!m) break;
    any = true;
    const std::string_view candidate =
        line.substr(m->secret.begin, m->secret.end - m->secret.begin);
    // A failed check digit means "just a number", not a missed secret.
    if (!candidate.empty() && passes(r.check, candidate)) {
      cuts->push_back(Cut{m->secret, rule + 1, true});
    }
    // After an empty match step one character (never into the middle of one).
    from = m->whole.end > m->whole.begin ? m->whole.end : next_char(line, m->whole.end + 1);
  }
  return any ? Outcome::kFound : Outcome::kNothing;
}

std::optional<std::size_t> LineRedactor::digit_cuts(std::string_view line, std::vector<Cut>* cuts) {
  for (std::size_t i = 0; i < core_.redact.size(); ++i) {
    if (core_.redact[i].digit_gated && rule_cuts(line, i, cuts) == Outcome::kError) return i;
  }
  return std::nullopt;
}

bool LineRedactor::confirmed_alone(std::string_view line, std::uint32_t expression) {
  if (!scratch_) return true;  // cannot check: assume the worst
  bool seen = false;
  const bool scanned = core_.db.scan(line, scratch_.get(), [&](unsigned id, unsigned long long) {
    seen = seen || id == expression;
  });
  return seen || !scanned;
}

std::string LineRedactor::apply(std::string_view line, std::vector<Cut>& cuts,
                                Summary* summary) const {
  if (cuts.empty()) return std::string(line);
  // Rules found their cuts independently, so cuts may nest or overlap.
  std::sort(cuts.begin(), cuts.end(),
            [](const Cut& a, const Cut& b) { return a.span.begin < b.span.begin; });
  // Overlapping cuts become one; the highest-priority rule names it.
  std::vector<Cut> merged;
  for (const Cut& c : cuts) {
    if (!merged.empty() && c.span.begin < merged.back().span.end) {
      Cut& m = merged.back();
      m.span.end = std::max(m.span.end, c.span.end);
      if (c.priority < m.priority) {
        m.priority = c.priority;
        m.marker = c.marker;
      }
    } else {
      merged.push_back(c);
    }
  }
  std::string out;
  out.reserve(line.size() + 32 * merged.size());
  std::size_t pos = 0;
  for (const Cut& c : merged) {
    out.append(line.substr(pos, c.span.begin - pos));
    pos = c.span.end;
    if (!c.marker) continue;
    const std::string_view id =
        c.priority == kPemPriority ? kPemId : std::string_view(core_.redact[c.priority - 1].id);
    out += marker(id);
    count(summary, id);
  }
  out.append(line.substr(pos));
  return out;
}

}  // namespace rdiag::redact::detail
