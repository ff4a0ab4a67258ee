// The built-in redaction rules (DESIGN "Diagnostics": passwords, connection
// strings, tokens, cloud keys, personal data under PIPL). Internal to
// rdiag::redact; the engine compiles them next to the configured ones.
#pragma once

#include <span>
#include <string_view>

namespace rdiag::redact::detail {

// A check the regex cannot express. A candidate that fails it is not a secret
// (just a number), which is different from "no candidate found".
enum class Check { kNone, kIdCard, kLuhn };

struct BuiltinRule {
  std::string_view id;
  // For Vectorscan: flags every line the exact form can match (a superset).
  // Empty: the rule is gated by the digit-run scanner (digit_runs.h) instead,
  // and its PCRE2 form plus check is the whole definition, so a flagged line
  // without a candidate is just a long number, never a fail-closed line.
  std::string_view prefilter;
  // For PCRE2: the exact form; the first set capture group is the secret,
  // else the whole match.
  std::string_view exact;
  bool caseless = false;
  Check check = Check::kNone;
};

// In priority order: where spans of two rules overlap, the earlier rule's id
// names the merged redaction (configured rules rank above all of these).
std::span<const BuiltinRule> builtin_rules();

// PEM private keys are redacted by a state machine across lines, not a span.
inline constexpr std::string_view kPemId = "pem-private-key";
inline constexpr std::string_view kPemBeginPattern =
    R"(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)";
inline constexpr std::string_view kPemEndPattern =
    R"(-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)";

}  // namespace rdiag::redact::detail
