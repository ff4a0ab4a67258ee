// A crash-safe, append-only JSONL journal: events.jsonl of a session and the
// agent-wide ledger (DESIGN.md "Service records"). Every event is written in
// one write() to an O_APPEND descriptor and fdatasync'ed before append()
// returns it, so a caller that acknowledges only after append() returned never
// acknowledges an event a crash could lose.
//
// Recovery at open: a final line without '\n' (a write cut short by a crash)
// is cut and reported so the caller records `record.repaired`; any other
// mismatch is tamper, and then the file is left exactly as it was.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/fs.h"
#include "common/records/chain.h"
#include "common/records/event.h"
#include "common/result.h"

namespace rdiag::records {

// A journal is read whole at open; a record this big is not one we wrote
// (events are at most 1 MiB and sessions are bounded), so it is refused
// rather than read into memory.
inline constexpr std::size_t kMaxJournalBytes = std::size_t{256} << 20;

// What open() repaired. repaired=false: the file was used as found.
struct RecoveryReport {
  bool repaired = false;
  std::uint64_t cut_bytes = 0;  // bytes of the unterminated final line removed
  std::size_t line = 0;         // its 1-based line number
};

class Journal {
 public:
  // Opens (creating it 0600 if missing) and verifies path; the first event's
  // prev is genesis_prev. Error reasons: open_failed, not_regular, busy
  // (another Journal holds it), too_big, read_failed, tamper (the message
  // names the line and the verifier's reason; nothing was modified),
  // repair_failed. report, if not null, says what recovery did.
  static Result<Journal> open(const std::string& path, std::string_view genesis_prev,
                              RecoveryReport* report,
                              TypePredicate known_type = is_known_event_type);

  // Appends the next event and makes it durable. recording_failed: the write
  // or fdatasync failed, the journal tried to cut back to its previous size
  // and refuses every further append until reopened (the on-disk state is
  // uncertain, and recovery at open is what settles it). An event the
  // verifier would reject is refused with the verifier's reason and changes
  // nothing.
  Result<Event> append(std::string type, std::string actor, nlohmann::json data, std::string ts);

  std::int64_t last_seq() const { return last_.seq; }
  // The last event's hash, or genesis_prev while the journal is empty.
  const std::string& last_hash() const { return last_.hash; }
  const std::string& path() const { return path_; }
  // true after a failed append: append() refuses until reopened.
  bool failed() const { return failed_; }

 private:
  Journal(std::unique_ptr<UniqueFd> fd, std::string path, std::string genesis_prev,
          TypePredicate known_type);
  void roll_back();

  std::unique_ptr<UniqueFd> fd_;  // UniqueFd is not movable; Result needs moves
  std::string path_;
  std::string genesis_prev_;
  TypePredicate known_type_;
  // Only seq and hash are meaningful: what make_next_event chains onto.
  Event last_;
  off_t size_ = 0;  // bytes known good and durable
  bool failed_ = false;
};

}  // namespace rdiag::records
