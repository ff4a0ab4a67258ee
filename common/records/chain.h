// The SHA-256 chain of events in one events.jsonl (or the ledger): each line's
// prev is the hash of the line before, the first line's prev is a genesis
// hash given by the caller (for a session, the ledger hash at which it was
// opened). verify_chain names the first bad line; make_next_event is what a
// writer uses so that what it appends always verifies.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/records/event.h"
#include "common/result.h"

namespace rdiag::records {

struct ChainCheck {
  bool ok = false;
  std::size_t bad_line = 0;  // 1-based; 0 when ok
  std::string reason;        // parse_event_line's reasons, or bad_seq, bad_prev, truncated_tail
  std::string message;       // "line 5: ..."
  // The last line that verified, or genesis_prev and 0 when none did: what
  // the next appended event must carry as prev and seq - 1. After a
  // truncated_tail, recovery cuts the tail and appends from here.
  std::string last_hash;
  std::int64_t last_seq = 0;
};

// jsonl_text is whole lines, each ending in '\n' (empty text is an empty,
// valid chain). A final line without '\n' is reported as truncated_tail with
// its line number, whatever it holds: recovery decides what to do with it.
// Never throws.
ChainCheck verify_chain(std::string_view jsonl_text, std::string_view genesis_prev,
                        TypePredicate known_type = is_known_event_type);

// The event that follows prev_or_null (or opens the chain at genesis_prev when
// null): seq, prev and hash filled in, data strings made valid UTF-8 (a null
// data becomes {}). Refuses, with parse_event_line's reasons, an event that
// the verifier would reject, so the caller can refuse the action instead.
Result<Event> make_next_event(const Event* prev_or_null, std::string_view genesis_prev,
                              std::string type, std::string actor, nlohmann::json data,
                              std::string ts, TypePredicate known_type = is_known_event_type);

// Calls f(line_no, line, end) for every '\n'-terminated line of a JSONL text:
// line without its '\n', 1-based line_no, end = the offset just past it. A
// final line without '\n' is not passed (verify_chain reports it). When f
// returns bool, false stops the walk.
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  std::size_t no = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return;
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if constexpr (std::is_same_v<
                      std::invoke_result_t<F&, std::size_t, std::string_view, std::size_t>, bool>) {
      if (!f(++no, line, pos)) return;
    } else {
      f(++no, line, pos);
    }
  }
}

// YYYY-MM-DDTHH:MM:SS.mmmZ in UTC, milliseconds truncated (not rounded, so a
// timestamp never lies in the future of the moment it describes).
std::string format_ts(std::chrono::system_clock::time_point tp);
// A ts (YYYY-MM-DDTHH:MM:SS.mmmZ, a real UTC date and time) as a time
// point; nullopt if malformed.
std::optional<std::chrono::system_clock::time_point> parse_ts(std::string_view ts);

}  // namespace rdiag::records
