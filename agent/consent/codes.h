// One-time grant codes (DESIGN.md "Requests, grants, approval"): customer IT
// runs `rdiag-agent grant-code`, reads a code such as `7KQ2-M9XD` to the
// engineer, and the engineer's `session.request` carrying it is granted at
// once. Pure code: time and randomness come in, nothing is read or written
// here; the monitor persists the book (to_json) before it acts on a change.
//
// Rules, and the choices this module makes where DESIGN.md is silent:
// - A code is 40 random bits as 8 Crockford base32 characters, shown
//   XXXX-XXXX. Input is trimmed, case-insensitive, hyphens and spaces are
//   ignored, I/L read as 1 and O as 0, and full-width forms (typed with a
//   Chinese input method) count as their ASCII letters and digits.
// - Single use, valid 15 minutes, stored only as scrypt(code, salt). One salt
//   per book (drawn afresh whenever the book is empty), not per code, so a
//   redeem costs one scrypt however many codes are live; 2^40 scrypt runs
//   remain far beyond the 15 minutes a stolen state file would be useful.
// - Every well-formed code that does not grant counts toward the key's
//   lockout: wrong, expired, used and not_for_you (each of the last three also
//   tells the caller that a code exists, so each is a guess that hit).
//   Malformed input is a typing error, not a guess, and does not count;
//   attempts while locked are refused without counting.
// - The lockout window is fixed: it opens at the key's first counted failure
//   and lasts 10 minutes; the 5th failure in it locks the key out of codes
//   (a right code too) until the window ends.
// - Used and expired codes are remembered for an hour after their expiry, so
//   a late engineer hears "expired" or "used" rather than "wrong"; purge()
//   drops them after that. They grant nothing while remembered.
// - Deadlines are on CLOCK_BOOTTIME (BootClock). A book saved under another
//   boot id is loaded without its codes and lockouts: their deadlines meant
//   nothing after a reboot, and dropping them fails closed.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

namespace rdiag::agent::consent {

// CLOCK_BOOTTIME as a chrono clock: counts suspend, ignores wall-clock changes.
struct BootClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<BootClock>;
  static constexpr bool is_steady = true;  // NOLINT(readability-identifier-naming): std name
  static time_point now() noexcept;
};

// A BootClock time as a count of nanoseconds, for state files (with the
// boot id they belong to), and back.
std::int64_t boot_ns(BootClock::time_point t);
BootClock::time_point from_boot_ns(std::int64_t ns);

inline constexpr std::size_t kCodeChars = 8;
inline constexpr std::chrono::minutes kCodeLifetime{15};
inline constexpr std::chrono::minutes kLockoutWindow{10};
inline constexpr int kMaxFailures = 5;
inline constexpr std::chrono::hours kRememberAfterExpiry{1};
// Entries a book holds (live and remembered): far above what people issue by
// hand, low enough that a runaway script cannot grow the state file for ever.
inline constexpr std::size_t kMaxCodes = 100;
// A sanity bound only; the monitor applies policy.max_grant_minutes.
inline constexpr int kMaxCodeMinutes = 7 * 24 * 60;
// scrypt parameters, named in the saved book so a later change is detected.
inline constexpr std::string_view kKdf = "scrypt:N=16384,r=8,p=1";

// 8 random Crockford characters (no hyphen) from RAND_bytes.
Result<std::string> generate_code();
// "7KQ2M9XD" -> "7KQ2-M9XD".
std::string format_code(std::string_view code8);
// What a person typed -> the 8 canonical characters, or an error (reason
// "malformed") whose message says what is wrong with it.
Result<std::string> normalize_code(std::string_view input);

enum class Refusal { kMalformed, kWrong, kExpired, kUsed, kLocked, kNotForYou, kUnavailable };
inline constexpr Refusal kAllRefusals[] = {
    Refusal::kMalformed, Refusal::kWrong,     Refusal::kExpired,    Refusal::kUsed,
    Refusal::kLocked,    Refusal::kNotForYou, Refusal::kUnavailable};

// Stable words for error.data.reason and code.rejected events:
// malformed, wrong, expired, used, locked, not_for_you, unavailable.
std::string_view refusal_word(Refusal r);
// Whether an attempt refused this way counts toward the key's lockout.
bool counts_toward_lockout(Refusal r);

struct CodeEntry {
  std::string hash;  // 64 lower hex: scrypt(code, the book's salt)
  std::vector<std::string> scopes;
  int minutes = 0;
  std::string engineer;             // "" = any enrolled engineer; else an employee id or SHA256:...
  std::string issued_at;            // wall time (YYYY-MM-DDTHH:MM:SS.mmmZ), display only
  std::string expires_at;           // wall time, display only
  BootClock::time_point expires{};  // what counts
  bool used = false;
  std::string used_by;  // fingerprint of the key that redeemed it

  // code:<first 8 hex of the hash>, the actor of the events it causes.
  std::string actor() const;
};

struct Issued {
  std::string code;  // XXXX-XXXX: shown once to customer IT, never stored
  CodeEntry entry;
};

struct Redeemer {
  std::string fingerprint;  // SHA256:...; the lockout is per key
  std::string id;           // rdiag-id from the engineers file, may be empty
};

struct Redeemed {
  std::vector<std::string> scopes;
  int minutes = 0;
  std::string actor;     // code:<8 hex>
  std::string engineer;  // whom the code named, "" if anyone
};

struct Refused {
  Refusal refusal = Refusal::kWrong;
  std::string message;     // translated; tells the engineer what to do next
  std::string code_actor;  // code:<8 hex> when the input matched a code, else ""
  int failures = 0;        // counted failures of this key in the current window
  std::optional<BootClock::time_point> locked_until;  // set while the key is locked out

  std::string_view reason() const { return refusal_word(refusal); }
};

using Redemption = std::variant<Redeemed, Refused>;

class CodeBook {
 public:
  // An empty book with a fresh random salt.
  static Result<CodeBook> create();
  // Reads a saved book, strictly: an unknown, missing or malformed field is
  // an error naming it (reason "bad_state"). boot_id is the current one
  // (/proc/sys/kernel/random/boot_id), as to_json is given it.
  static Result<CodeBook> from_json(std::string_view text, std::string_view boot_id);
  nlohmann::json to_json(std::string_view boot_id) const;

  // scopes from diagnose, shell, transfer, fix (stored in that order, once
  // each); minutes 1..kMaxCodeMinutes; engineer "" or an employee id or key
  // fingerprint (whether it is enrolled is the caller's check).
  Result<Issued> issue(const std::vector<std::string>& scopes, int minutes,
                       const std::string& engineer, BootClock::time_point now,
                       std::chrono::system_clock::time_point wall_now);

  // A granted code is marked used before this returns; the caller saves the
  // book before it grants. A refusal may change the key's lockout: save then
  // too. Costs one scrypt (~50 ms, 16 MiB) unless locked or malformed; issue
  // costs one too.
  Redemption redeem(std::string_view input, const Redeemer& who, BootClock::time_point now);

  // Drops codes past expiry plus kRememberAfterExpiry and ended lockout
  // windows; returns how many entries went.
  std::size_t purge(BootClock::time_point now);

  const std::vector<CodeEntry>& entries() const { return codes_; }
  // scrypt of 8 canonical characters under this book's salt, as stored.
  Result<std::string> hash_for(std::string_view code8) const;
  // While the key is locked out of codes: until when.
  std::optional<BootClock::time_point> locked_until(std::string_view fingerprint,
                                                    BootClock::time_point now) const;

  struct Lockout {
    BootClock::time_point window_end{};  // the window opened at the first counted failure
    int failures = 0;
  };

 private:
  CodeBook() = default;
  Refused refuse(Refusal r, const Redeemer& who, std::string code_actor, BootClock::time_point now);

  std::string salt_;  // 16 random bytes
  std::vector<CodeEntry> codes_;
  std::map<std::string, Lockout, std::less<>> lockouts_;  // by key fingerprint
};

}  // namespace rdiag::agent::consent
