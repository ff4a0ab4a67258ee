// Internals shared by engine.cpp, line_redactor.cpp, scan.cpp and adhoc.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/redact/builtin_rules.h"
#include "common/redact/engine.h"
#include "common/redact/regex.h"

namespace rdiag::redact::detail {

struct RedactRule {
  std::string id;
  Pcre exact;
  Check check = Check::kNone;
  bool digit_gated = false;  // flagged by the digit-run scanner, not Vectorscan
};

struct CountRule {
  std::string id;
  Pcre exact;
};

// What a Vectorscan expression id stands for.
// kDigitRun has no Vectorscan expression: it is the digit-run scanner's flag,
// the one entry after all Vectorscan ones.
enum class EntryKind : std::uint8_t { kRedact, kPemBegin, kPemEnd, kScan, kDigitRun };
struct Entry {
  EntryKind kind = EntryKind::kRedact;
  std::size_t index = 0;  // into redact or scan
};

struct EngineCore {
  HsDatabase db;
  std::vector<Entry> entries;   // by Vectorscan expression id, then kDigitRun
  std::size_t expressions = 0;  // how many of the entries Vectorscan has
  std::optional<std::uint32_t> digit_entry;
  std::vector<RedactRule> redact;  // priority order: configured, then built-in
  std::vector<CountRule> scan;     // the scan rules, in the caller's order
  Pcre pem_begin;
  Pcre pem_end;
};

struct AdHocCore {
  HsDatabase db;
  std::vector<Pcre> exact;
  std::vector<std::string> patterns;
};

// Which Vectorscan expressions matched which line of a block. Lines are the
// pieces between '\n's; hits are (line, expression) pairs, sorted, unique.
struct LineFlags {
  std::vector<std::size_t> starts;  // offset of each line; one past the end last
  std::vector<std::pair<std::uint32_t, std::uint32_t>> hits;

  // The last line has no '\n' after it: the sentinel is block.size() + 1.
  std::size_t line_count() const { return starts.size() - 1; }
  std::string_view line(std::string_view block, std::size_t i) const {
    return block.substr(starts[i], starts[i + 1] - starts[i] - 1);
  }
};
// False when the block could not be scanned: then every line must be treated
// as failed closed.
[[nodiscard]] bool flag_lines(const HsDatabase& db, hs_scratch_t* scratch, std::string_view block,
                              std::size_t expressions, LineFlags* out,
                              std::optional<std::uint32_t> digit_entry = std::nullopt);

// Redacts one line at a time, carrying the PEM state between lines.
class LineRedactor {
 public:
  explicit LineRedactor(const EngineCore& core);

  // flags: the expression ids Vectorscan reported for this line (sorted).
  // Returns the redacted line; updates summary.
  std::string redact(std::string_view line, std::span<const std::uint32_t> flags, Summary* summary);
  bool in_pem() const { return in_pem_; }
  hs_scratch_t* scratch() const { return scratch_.get(); }

 private:
  struct Cut {
    Span span;
    std::size_t priority = 0;  // index into core_.redact; pem first
    bool marker = true;        // false: the rest of a PEM block (no text at all)
  };
  enum class Outcome { kFound, kNothing, kError };  // kNothing: no candidate at all

  // False when PCRE2 failed looking for a BEGIN marker (fail closed).
  bool pem_cuts(std::string_view line, bool begin_flagged, bool end_flagged,
                std::vector<Cut>* cuts);
  Outcome rule_cuts(std::string_view line, std::size_t rule, std::vector<Cut>* cuts);
  // The first digit-gated rule PCRE2 failed on, if any.
  std::optional<std::size_t> digit_cuts(std::string_view line, std::vector<Cut>* cuts);
  std::string fail_closed(std::string_view id, Summary* summary) const;
  bool confirmed_alone(std::string_view line, std::uint32_t expression);
  std::string apply(std::string_view line, std::vector<Cut>& cuts, Summary* summary) const;

  const EngineCore& core_;
  MatchData md_;
  std::shared_ptr<hs_scratch_t> scratch_;
  bool in_pem_ = false;
  std::vector<Cut> cuts_;
};

// The id for lines redacted whole because Vectorscan could not scan at all.
inline constexpr std::string_view kUnavailableId = "unavailable";

std::string marker(std::string_view id);
void count(Summary* summary, std::string_view id);

}  // namespace rdiag::redact::detail
