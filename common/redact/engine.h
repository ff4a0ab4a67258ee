// The redaction and log-scanning engine (DESIGN "Diagnostics" -> "Scanning
// and redaction").
//
// One Vectorscan database holds every scan rule, every redaction prefilter
// and the PEM markers; it flags lines of a large block in one pass (the
// personal-data rules are flagged by a digit-run scanner instead, see
// digit_runs.h). PCRE2 then finds exact spans on flagged lines only. When a
// redaction rule flags a line but PCRE2 finds no candidate in it (or fails),
// the whole line is redacted as "[REDACTED:<id>:line]" (fail closed). Secrets
// become "[REDACTED:<id>]".
//
// Built-in ids, highest priority first (where cuts overlap, the highest
// names the merged one; configured rules rank above all built-ins):
// pem-private-key, jdbc-odbc, cli-password, url-password, cloud-secret,
// aws-key, aliyun-key, tencent-key, bearer, jwt, password, id-card,
// bank-card, mobile; "unavailable" when a block could not be scanned at all.
//
// Scan rules match the original decoded text (so a rule for "password
// authentication failed" still counts); every text the engine hands out -
// samples, on_line, redact_text - is redacted. Ad-hoc patterns from an
// engineer see the redacted text only, so they cannot probe for a secret.
//
// An Engine is immutable and may be shared between threads; each Scan and
// each redact_text call has its own scratch and state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/redact/encoding.h"
#include "common/result.h"

namespace rdiag::redact {

namespace detail {
struct EngineCore;
struct AdHocCore;
}  // namespace detail

// A configured or plugin redaction ("redact": {name, pattern}); the whole
// match is redacted as [REDACTED:<id>].
struct Pattern {
  std::string id;
  std::string regex;
};

// A scan rule from a plugin or the config; findings (severity, cause, remedy)
// are the caller's business, the engine only counts.
struct ScanRule {
  std::string id;
  std::string regex;
};

// Redactions made, per rule id (built-in ids such as "password", "id-card",
// "pem-private-key", or the configured names).
struct Summary {
  std::map<std::string, std::uint64_t, std::less<>> counts;
  std::uint64_t lines_failed_closed = 0;  // lines redacted whole, included in counts
  void merge(const Summary& other);
};

struct Seen {
  std::uint64_t line = 0;  // 1-based; 0 = never
  std::string timestamp;   // the line's leading timestamp as written, or empty
};

struct RuleStats {
  std::string id;
  std::uint64_t count = 0;  // matching lines
  Seen first;
  Seen last;
  std::vector<std::string> samples;  // redacted lines, at most ScanOptions::max_samples
};

struct ScanResult {
  std::uint64_t lines = 0;
  std::vector<RuleStats> rules;  // in the order the rules were given to build()
  std::vector<RuleStats> adhoc;  // id = the pattern itself, in the order given
  Summary redactions;
};

// Engineer-supplied patterns (logs.scan "patterns"), compiled on their own;
// pass them to Engine::start through ScanOptions::adhoc.
class AdHoc {
 public:
  // There is deliberately no match() on raw text: the patterns run inside
  // Engine::Scan, after redaction, and nowhere else.
  std::size_t size() const;
  // For Engine::Scan.
  const std::shared_ptr<const detail::AdHocCore>& core() const { return core_; }

 private:
  friend Result<AdHoc> compile_adhoc(const std::vector<std::string>& patterns);
  std::shared_ptr<const detail::AdHocCore> core_;
};

// From now on every Vectorscan compile of this process (Engine::build,
// compile_adhoc) runs in a fresh `rdiag-compile` helper, executed through
// helper_exe_fd (an O_PATH descriptor is enough), under CPU and memory
// limits; see hs_child.h. The collector worker calls this first thing.
void compile_in_helper(int helper_exe_fd);

// Errors name the pattern's position (1-based), the pattern and the compiler's message.
Result<AdHoc> compile_adhoc(const std::vector<std::string>& patterns);

struct ScanOptions {
  std::size_t max_samples = 5;
  std::size_t max_sample_bytes = 2048;  // longer lines are cut at a character boundary
  const AdHoc* adhoc = nullptr;         // must outlive the Scan
  // Every line, redacted, with its 1-based number. Lines inside a PEM block
  // after its BEGIN line come out empty (the block is one redaction; the
  // numbering stays true).
  std::function<void(std::uint64_t line, std::string_view redacted)> on_line;
};

class Engine {
 public:
  class Scan;

  // Compiles the built-in redactions, extra_redactions and rules into one
  // database. A bad pattern is an error naming its id and what Vectorscan or
  // PCRE2 said; so is an id used twice.
  static Result<Engine> build(const std::vector<ScanRule>& rules,
                              const std::vector<Pattern>& extra_redactions);

  // Redacts one text (a command line, a plugin's output field, a config
  // excerpt); lines are split on '\n' and joined again, PEM blocks included.
  // Input that is not valid UTF-8 is sanitized first (U+FFFD).
  std::string redact_text(std::string_view text, Summary* summary = nullptr) const;

  // A scan over one source's bytes.
  Scan start(Encoding enc, ScanOptions options = {}) const;

 private:
  explicit Engine(std::shared_ptr<const detail::EngineCore> core) : core_(std::move(core)) {}
  std::shared_ptr<const detail::EngineCore> core_;
};

// Feed bytes in chunks of any size (lines may straddle chunks), then finish.
// Lines are scanned in blocks of about 1 MiB; a line longer than 4 MiB is cut.
class Engine::Scan {
 public:
  ~Scan();
  Scan(Scan&& other) noexcept;
  Scan& operator=(Scan&& other) noexcept;

  void feed(std::string_view bytes);
  ScanResult finish();

 private:
  friend class Engine;
  struct State;
  explicit Scan(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace rdiag::redact
