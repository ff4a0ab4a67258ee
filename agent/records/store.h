// The records writer: the only code that appends to session records and the
// ledger, run by the monitor (which alone holds the seal key) and by the
// offline `rdiag-agent records` commands that write (prune, rotate-key),
// which therefore refuse to run while the agent holds the ledger.
//
// Every append is durable (fdatasync) before it returns, so the caller acts
// (and acknowledges) only after a successful return; on failure the caller
// refuses the action with -32008 recording_failed.
//
// Layout: <state_dir>/ledger.jsonl, <state_dir>/records/<session_id>/
// (events.jsonl, seal-N.sshsig, attachments); see common/records/ledger.h for
// the ledger's lines.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/records/journal.h"
#include "common/records/ledger.h"
#include "common/result.h"
#include "common/ssh_key.h"

namespace rdiag::agent {

struct StoreOptions {
  std::int64_t checkpoint_every_events = 1000;
  std::chrono::seconds checkpoint_interval{15 * 60};
};

// What start-up recovery did (each item also went to the log).
struct StoreRecovery {
  int repaired = 0;                   // cut final lines (record.repaired)
  int interrupted = 0;                // sessions left open, now session.interrupted
  int sealed = 0;                     // seals written or registered in the ledger
  int voided = 0;                     // sessions opened without a durable first event
  std::vector<std::string> tampered;  // session ids left alone: verification failed
  std::vector<std::string> messages;  // one line per action, for the log
};

// A session created by open_session.
struct OpenedSession {
  std::string session_id;
  records::Event first;  // request.created
};

class Store {
 public:
  // Opens <state_dir>/ledger.jsonl (taking its lock: reason "busy" when the
  // agent or another command holds it) and runs recovery: cut final lines,
  // interrupted sessions sealed, unregistered seals registered, seal
  // temporaries removed, an unfinished key rotation finished or undone.
  // A ledger that does not verify is refused (reason "tamper") with a message
  // that says which line and what to do; a tampered session is left as found
  // and listed in recovery->tampered.
  static Result<std::unique_ptr<Store>> open(const std::string& state_dir,
                                             const Ed25519PrivateKey& seal_key,
                                             StoreOptions options, StoreRecovery* recovery);

  // A new session: a session.opened ledger line, then the folder and its
  // first event (type, normally request.created), both durable on return.
  Result<OpenedSession> open_session(const std::string& type, const std::string& actor,
                                     nlohmann::json data);

  // Appends to a session's events.jsonl. A session that is sealed and ended
  // still takes events (a rating); seal() again afterwards.
  Result<records::Event> append(const std::string& session_id, const std::string& type,
                                const std::string& actor, nlohmann::json data);

  // Writes the next seal-N.sshsig over the chain so far and its ledger line.
  // Returns the seal file name.
  Result<std::string> seal(const std::string& session_id);

  // Appends an agent-wide ledger line (auth.failed, control.refused, ...).
  Result<records::Event> ledger_append(const std::string& type, nlohmann::json data);

  // Time-driven checkpoints: call now and then (the listener calls it every
  // few seconds); writes a checkpoint to every live session and the ledger
  // with new events since their last checkpoint older than the interval.
  void tick();

  // Introduces new_key with a key.rotated line signed by the current key,
  // then makes it the seal key (writes <state_dir>/seal_ed25519).
  Result<std::string> rotate_seal_key(const Ed25519PrivateKey& new_key);

  // The sessions prune() would remove, read-only and without the lock (for
  // `records prune --dry-run`): ended, sealed as a whole, verifying under the
  // seal key and the keys it was introduced by, last event older than
  // retention_days. A record that does not verify is never removed.
  static Result<std::vector<std::string>> prune_plan(const std::string& state_dir,
                                                     int retention_days,
                                                     std::chrono::system_clock::time_point now,
                                                     const std::string& seal_fingerprint);
  // Removes what prune_plan names, each after a session.pruned ledger line.
  Result<std::vector<std::string>> prune(int retention_days,
                                         std::chrono::system_clock::time_point now);

  // What the ledger says about a session (nullptr if never opened).
  const records::LedgerSession* ledger_session(const std::string& session_id) const;
  // Ledger lines by 1-based number, as stored (no newline), in the order
  // asked; one read of the ledger however many are asked for.
  Result<std::vector<std::string>> ledger_lines(const std::vector<std::size_t>& lines) const;

  std::string session_dir(const std::string& session_id) const;
  const std::string& state_dir() const { return state_dir_; }
  std::string seal_fingerprint() const;
  // The seal key in use: opening may have finished a rotation, so this, not
  // the key file read before, is what agent.info must announce.
  const Ed25519PrivateKey& seal_key() const { return key_; }
  // The current seal key and the older ones it was introduced by (through
  // key.rotated lines whose signatures verify), newest first: what a reader
  // of this store's records trusts.
  std::vector<std::string> trusted_fingerprints() const;

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

 private:
  struct Live;
  Store(std::string state_dir, const Ed25519PrivateKey& key, StoreOptions options);

  Result<void> recover(StoreRecovery& report);
  void recover_session(records::LedgerSession& s, StoreRecovery& report);
  // Rewrites seals the ledger names but the disk lacks; how many. Reason
  // "tamper" when the rebuilt bytes are not what the ledger recorded.
  Result<int> rebuild_missing_seals(const records::LedgerSession& s);
  Result<void> finish_key_rotation();
  Result<void> reopen_ledger();
  // The open journal of a session, opening it (and repairing a cut final
  // line) when needed.
  Result<Live*> live(const std::string& session_id);
  Result<records::Event> append_to(Live& l, const std::string& type, const std::string& actor,
                                   nlohmann::json data);
  // A signed checkpoint over journal's chain so far (id: the session id, or
  // kLedgerCheckpointId), logged for journald too.
  Result<records::Event> append_checkpoint(records::Journal& journal, const std::string& id);
  void checkpoint(Live& l);
  Result<void> ledger_checkpoint();

  std::string state_dir_;
  Ed25519PrivateKey key_;
  StoreOptions options_;
  std::unique_ptr<records::Journal> ledger_;
  records::LedgerIndex index_;
  std::map<std::string, std::unique_ptr<Live>> live_;  // open journals by session id
  std::chrono::steady_clock::time_point ledger_checkpoint_at_;
};

}  // namespace rdiag::agent
