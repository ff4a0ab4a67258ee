// Service-record events (DESIGN.md "Service records"): the model, the closed
// type list, the actor grammar, the canonical form and the strict line
// verifier. Pure code: no files, no clock.
//
// A stored line must be byte-identical to the canonical dump of its own parse,
// so anything a JSON parser would quietly accept (duplicate keys, \u escapes of
// printable text, spacing, key order, 1.0 for 1) counts as tamper. That keeps
// the by-hand check honest: re-dumping in Python reproduces the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace rdiag::records {

inline constexpr std::int64_t kEventVersion = 1;

// Deeper data is refused: nlohmann's dump() recurses, and no event we write
// nests more than a few levels, so a hostile line cannot exhaust the stack.
inline constexpr int kMaxDataDepth = 32;

// Events are small (output lives in attachments); the bound keeps a hostile
// multi-gigabyte line from costing many times its size in parsed form.
inline constexpr std::size_t kMaxLineBytes = std::size_t{1} << 20;

struct Event {
  std::int64_t v = kEventVersion;
  std::int64_t seq = 0;
  std::string ts;     // YYYY-MM-DDTHH:MM:SS.mmmZ, UTC
  std::string type;   // one of the closed list, see is_known_event_type
  std::string actor;  // see is_valid_actor
  nlohmann::json data = nlohmann::json::object();
  std::string prev;  // 64 lower-case hex: the previous hash, or the genesis
  std::string hash;  // 64 lower-case hex: event_hash(*this)
};

// Which type list a verifier accepts. Events use is_known_event_type; the
// ledger, which has its own lines (key.rotated, ...), passes its own list.
using TypePredicate = bool (*)(std::string_view);

// The closed list from DESIGN.md; a verifier rejects every other type.
bool is_known_event_type(std::string_view type);
// That list, in DESIGN.md's order (for code that must cover every type, such
// as the readable labels of `records show`).
std::span<const std::string_view> known_event_types();

// engineer:SHA256:<43 base64>, customer:<user>, policy:<rule>,
// code:<8-16 lower hex>, agent.
bool is_valid_actor(std::string_view actor);

// YYYY-MM-DDTHH:MM:SS.mmmZ naming a real calendar date and time of day.
bool is_valid_ts(std::string_view ts);

// 64 lower-case hex digits, the form of prev and hash.
bool is_hex_digest(std::string_view s);

// data must be an object holding only strings (valid UTF-8, keys too), int64
// integers, booleans, and objects and arrays of those: no null, no floats, no
// integers past INT64_MAX. Reason "bad_data"; the message names the path.
Result<void> check_event_data(const nlohmann::json& data);

// Every string and key made valid UTF-8 (invalid bytes become U+FFFD) so that
// text from logs, plugins or a GB18030 terminal can always be recorded. Two
// keys that differ only in invalid bytes would collide; the later one gets a
// "#2", "#3", ... suffix rather than silently replacing the first.
nlohmann::json sanitize_strings(nlohmann::json value);

// nlohmann dump of {v,seq,ts,type,actor,data,prev}: sorted keys, no spaces,
// UTF-8 unescaped. This is what event_hash covers.
std::string canonical_without_hash(const Event& event);

// Lower-case hex SHA-256 of canonical_without_hash(event).
std::string event_hash(const Event& event);

// The stored line: the canonical dump with "hash" in sorted position
// (between "data" and "prev"), without the trailing newline.
std::string event_line(const Event& event);

// The strict verifier for one stored line (no trailing newline). Reasons:
// malformed, duplicate_key, unsupported_version, unknown_type, bad_actor,
// bad_data, not_canonical, bad_hash. Never throws.
Result<Event> parse_event_line(std::string_view line,
                               TypePredicate known_type = is_known_event_type);

// Every check parse_event_line makes except the byte comparison (the hash is
// recomputed), for an event about to be written: a writer that appended a
// line its own verifier rejects would turn a bug into permanent "tamper".
Result<void> check_event(const Event& event, TypePredicate known_type = is_known_event_type);

}  // namespace rdiag::records
