#include "common/records/chain.h"

#include <fmt/format.h>

#include <limits>
#include <utility>

namespace rdiag::records {
namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// Keeps last_hash and last_seq as they were: they describe the good prefix.
bool reject(ChainCheck& check, std::size_t line_no, std::string reason, std::string_view what) {
  check.ok = false;
  check.bad_line = line_no;
  check.reason = std::move(reason);
  check.message = fmt::format("line {}: {}", line_no, what);
  return false;
}

// seq before prev: a reordered or deleted event shows up as a seq gap, which
// says more to a reader than "prev does not match".
bool accept_line(ChainCheck& check, std::string_view line, std::size_t line_no,
                 TypePredicate known_type) {
  auto event = parse_event_line(line, known_type);
  if (!event) return reject(check, line_no, event.error().reason, event.error().message);
  if (check.last_seq == kInt64Max || event->seq != check.last_seq + 1) {
    return reject(check, line_no, "bad_seq",
                  fmt::format("seq is {}, expected {} (an event is missing, repeated or out of "
                              "order)",
                              event->seq, check.last_seq + (check.last_seq == kInt64Max ? 0 : 1)));
  }
  if (event->prev != check.last_hash) {
    const std::string link =
        line_no == 1 ? std::string("the genesis hash") : fmt::format("line {}'s hash", line_no - 1);
    return reject(check, line_no, "bad_prev",
                  fmt::format("prev {} is not {} ({})", event->prev, link, check.last_hash));
  }
  check.last_seq = event->seq;
  check.last_hash = std::move(event->hash);
  return true;
}

}  // namespace

ChainCheck verify_chain(std::string_view jsonl_text, std::string_view genesis_prev,
                        TypePredicate known_type) {
  ChainCheck check;
  check.ok = true;
  check.last_hash = std::string(genesis_prev);
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < jsonl_text.size();) {
    ++line_no;
    const std::size_t end = jsonl_text.find('\n', pos);
    if (end == std::string_view::npos) {
      reject(check, line_no, "truncated_tail",
             fmt::format("the last {} bytes have no newline (a write was cut short)",
                         jsonl_text.size() - pos));
      break;
    }
    if (!accept_line(check, jsonl_text.substr(pos, end - pos), line_no, known_type)) break;
    pos = end + 1;
  }
  return check;
}

Result<Event> make_next_event(const Event* prev_or_null, std::string_view genesis_prev,
                              std::string type, std::string actor, nlohmann::json data,
                              std::string ts, TypePredicate known_type) {
  if (prev_or_null != nullptr && prev_or_null->seq == kInt64Max) {
    return make_error("the chain is at the largest seq and cannot grow", "bad_seq");
  }
  Event e;
  e.seq = prev_or_null != nullptr ? prev_or_null->seq + 1 : 1;
  e.prev = prev_or_null != nullptr ? prev_or_null->hash : std::string(genesis_prev);
  e.ts = std::move(ts);
  e.type = std::move(type);
  e.actor = std::move(actor);
  // `{}` in a call site makes a JSON null, and "no data" means an empty object.
  e.data = data.is_null() ? nlohmann::json::object() : sanitize_strings(std::move(data));
  e.hash = event_hash(e);
  if (auto ok = check_event(e, known_type); !ok) return ok.error();
  return e;
}

}  // namespace rdiag::records
