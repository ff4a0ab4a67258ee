// Thin RAII wrappers over the two regex engines (internal to rdiag::redact).
// Vectorscan answers "which patterns occur in this block" at memory speed but
// reports no match starts; PCRE2 (JIT) then finds exact spans on the few lines
// Vectorscan flagged.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs/hs.h>
#include <pcre2.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::redact::detail {

struct Span {
  std::size_t begin = 0;
  std::size_t end = 0;
};

struct Match {
  Span whole;
  Span secret;  // the first set capture group, else the whole match
};

// The next offset at or after pos that starts a UTF-8 character (PCRE2 must
// never be started inside one).
std::size_t next_char(std::string_view text, std::size_t pos);

using MatchData = std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)>;
MatchData make_match_data();

// One compiled PCRE2 pattern (UTF mode, JIT when available). Matching is
// thread-safe: each caller brings its own MatchData.
class Pcre {
 public:
  // nullopt and *error set when the pattern does not compile.
  static std::optional<Pcre> compile(std::string_view pattern, bool caseless, std::string* error);

  // The first match in text at or after from. PCRE2's backtracking limit
  // (10 million steps, its default) bounds a pathological pattern; hitting
  // it, or any other matching error, sets *error, so callers can fail closed.
  std::optional<Match> find(std::string_view text, std::size_t from, MatchData& md,
                            bool* error = nullptr) const;
  bool matches(std::string_view text, MatchData& md) const;

 private:
  std::shared_ptr<pcre2_code> code_;
};

// One Vectorscan block-mode database. Patterns are compiled UTF-8 and
// multi-line (so ^ and $ work per line inside a block of lines); a pattern
// Vectorscan cannot take as written (lookbehind, backreferences) is retried in
// prefilter mode, which may flag more lines but never fewer - PCRE2 decides.
class HsDatabase {
 public:
  struct Expr {
    std::string pattern;
    bool caseless = false;
  };
  struct Failure {
    std::size_t index = 0;  // which expression
    std::string message;    // Vectorscan's own words
    // No one expression's fault: the compiler itself failed; message says
    // how. reason: "too_costly" (out of memory, or the helper hit a limit:
    // the patterns ask too much) or "compile_unavailable" (the helper could
    // not be run or gave no usable answer: an installation problem).
    bool whole = false;
    std::string reason;
  };
  static std::optional<HsDatabase> build(const std::vector<Expr>& exprs, Failure* failure);
  // The error for a failure that names no expression (out of memory, or the
  // compiler as a whole failed); nullopt when one expression is to blame,
  // which the caller words with its own name for it.
  static std::optional<Error> general_error(const Failure& failure);

  // A scratch space for one thread or one scan; nullptr on allocation failure.
  std::shared_ptr<hs_scratch_t> new_scratch() const;

  // Calls on_match(expression index, end offset) for every match end in text.
  // False when Vectorscan could not scan (no scratch, a bug): callers fail closed.
  [[nodiscard]] bool scan(std::string_view text, hs_scratch_t* scratch,
                          const std::function<void(unsigned, unsigned long long)>& on_match) const;

 private:
  std::shared_ptr<hs_database_t> db_;
  std::shared_ptr<hs_scratch_t> prototype_;
};

// Set by compile_in_helper (engine.h); -1: compile in this process.
int compile_helper_fd();
// One compile in `rdiag-compile` (hs_child.h). nullptr and *failure set when
// a pattern was refused or the helper gave no usable answer.
hs_database_t* compile_with_helper(int exe, const std::vector<const char*>& patterns,
                                   const std::vector<unsigned>& flags,
                                   HsDatabase::Failure* failure);

}  // namespace rdiag::redact::detail
