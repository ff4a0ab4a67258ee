// The agent-wide ledger (<state_dir>/ledger.jsonl, DESIGN.md "Service
// records"): a chain of its own lines, in the event format, that links every
// session folder to one place in agent history. Verifying it proves that no
// session folder is missing, none was added, and no seal was taken away.
//
// Ledger line types (a closed list of their own; data fields in brackets):
//   agent.started    {version, pid}
//   session.opened   {session_id, engineer}  the next session's first event
//                    carries this line's hash as its prev
//   session.sealed   {session_id, seal, last_seq, last_hash, bytes, sha256}
//                    one per seal-N.sshsig: its name, what it covers, the size
//                    of events.jsonl it covers and the seal file's SHA-256
//   session.void     {session_id, reason}  opened, but the agent stopped
//                    before the first event was durable (never acknowledged)
//   session.pruned   {session_id, last_seq, last_hash, seals}  folder removed
//                    by `records prune` after retention_days
//   checkpoint       {covers_seq, covers_hash, fingerprint, signature}
//   key.rotated      {old_fingerprint, old_public, new_fingerprint,
//                     new_public, signature}  signed by the old key
//   auth.failed      {peer, fingerprint, reason}; past the per-minute budget
//                    one summary line {peer "*", fingerprint "*", reason
//                    "rate_limited", count, peers {address: count}}
//   control.refused  {uid, pid, command}
//   record.repaired  {file, line, cut_bytes}  a cut final line of the ledger
//                    itself (sessions record their own repairs)
//
// Signatures are SSHSIG armour (`ssh-keygen -Y sign` format) in namespace
// kSealNamespace. A checkpoint signs checkpoint_message(); a session
// checkpoint event signs the same message with the session id; key.rotated
// signs key_rotation_message().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/records/event.h"
#include "common/result.h"

namespace rdiag::records {

inline constexpr std::string_view kLedgerFile = "ledger.jsonl";
inline constexpr std::string_view kRecordsDir = "records";
// The ledger's first prev: 64 zeros.
inline constexpr std::string_view kLedgerGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";
// The id a ledger checkpoint signs under (never a valid session id).
inline constexpr std::string_view kLedgerCheckpointId = "ledger";

// The ledger's closed type list.
bool is_ledger_type(std::string_view type);

// Event types after which a session has ended (it is sealed then; later
// events such as a rating get a further seal).
bool is_terminal_event_type(std::string_view type);

// Whether an event ends its session: a terminal type, except a denied or
// expired extension or join request (data.kind "extend" or "join"), which
// ends only that request while the session goes on.
bool ends_session(std::string_view type, const nlohmann::json& data);
// The same for a stored line (parsed only when its type needs it).
bool line_ends_session(std::string_view type, std::string_view line);

// YYYYMMDD-HHMMSS-xxxx: a real UTC date and time, 4 Crockford base32 chars
// (0-9 A-Z without I L O U). Also what makes a safe folder name.
bool is_valid_session_id(std::string_view id);

// A new session id for the moment tp (UTC); random supplies the 4 chars (its
// low 20 bits are used).
std::string make_session_id(std::chrono::system_clock::time_point tp, std::uint32_t random);

// "rdiag-seal-v1\n<id>\n<seq>\n<hash>\n": seal_message with no attachments,
// what a checkpoint signs (id = session id, or kLedgerCheckpointId).
std::string checkpoint_message(std::string_view id, std::int64_t covers_seq,
                               std::string_view covers_hash);

// "rdiag-key-rotated-v1\n<old fingerprint>\n<new fingerprint>\n".
std::string key_rotation_message(std::string_view old_fingerprint,
                                 std::string_view new_fingerprint);

// What the ledger says about one session.
struct LedgerSession {
  std::string session_id;
  std::string genesis;          // hash of its session.opened line
  std::size_t opened_line = 0;  // 1-based line of session.opened
  std::string opened_ts;
  std::string engineer;  // fingerprint from session.opened
  struct Seal {
    std::string file;  // seal-N.sshsig
    std::int64_t last_seq = 0;
    std::string last_hash;
    std::int64_t bytes = 0;
    std::string sha256;
    std::size_t line = 0;
  };
  std::vector<Seal> seals;  // in ledger order
  bool voided = false;
  bool pruned = false;
  std::size_t pruned_line = 0;
};

struct KeyRotation {
  std::string old_fingerprint;
  std::string old_public;  // OpenSSH public key line
  std::string new_fingerprint;
  std::string new_public;
  std::string signature;
  std::size_t line = 0;
};

// The ledger read into an index. Built from lines that already verified as a
// chain (verify_chain with is_ledger_type); a line whose data does not fit
// its type is reported (reason "bad_ledger_data", the message names the
// line), as is a session opened twice or a seal/void/prune line for a
// session never opened ("unknown_session").
struct LedgerIndex {
  std::map<std::string, LedgerSession> sessions;  // by session id
  std::vector<KeyRotation> rotations;             // in order
  std::int64_t last_seq = 0;
  std::string last_hash;  // kLedgerGenesis when empty
  std::int64_t lines_since_checkpoint = 0;
  std::string last_checkpoint_ts;        // "" when none
  std::int64_t last_checkpoint_seq = 0;  // the line of the last checkpoint, 0 when none
};

Result<LedgerIndex> index_ledger(std::string_view jsonl_text);

}  // namespace rdiag::records
