// Verification of a whole records store (`records verify --all`): the ledger
// chain and its checkpoints, every session folder against the ledger (none
// missing, none added, every seal registered and every registered seal
// present and covering what the ledger says), every session's chain, seals,
// checkpoints and attachments, and the seal keys reached through key.rotated
// lines. Read-only: it never repairs, locks or writes anything, so an auditor
// can run it on a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/records/ledger.h"
#include "common/records/seal.h"

namespace rdiag::records {

struct AuditProblem {
  std::string file;  // relative to the state dir: "ledger.jsonl", "records/<id>/seal-2.sshsig", ...
  std::size_t line = 0;  // 1-based when the problem is a line, else 0
  std::string reason;    // a stable word (the verifiers' reasons, plus missing_session,
                         // unexpected_session, unregistered_seal, missing_seal, seal_mismatch,
                         // bad_checkpoint, bad_rotation, pruned_present, void_not_empty,
                         // missing_ledger, unexpected_file, not_found, io_error)
  std::string message;   // English; names file and line
};

struct SessionAudit {
  std::string session_id;
  bool ok = false;
  bool open = false;  // not ended, or events after the latest seal
  bool voided = false;
  bool pruned = false;
  std::int64_t events = 0;
  std::int64_t unsealed_events = 0;  // after the latest seal (when the seals verified)
  int seals = 0;                     // seal files in the folder
};

struct StoreAudit {
  bool ok = false;                     // no problems
  std::vector<AuditProblem> problems;  // in the order found; the first names the first bad place
  std::vector<SessionAudit> sessions;  // sorted by id
  std::vector<std::string> trusted_fingerprints;  // the keys accepted, newest first
  std::int64_t ledger_lines = 0;
  std::uint64_t bytes_checked = 0;  // ledger, events, seals and attachments read
};

// trusted: the fingerprint(s) the caller trusts now (the agent's current seal
// key, or what an auditor pinned). Older keys become trusted only through a
// chain of valid key.rotated lines ending at a trusted key: walking them
// newest first, a rotation makes its old key trusted when its new key is
// trusted, old_public and new_public match their fingerprints, the old key
// signed key_rotation_message(), and a later ledger checkpoint on the intact
// chain is signed by the new key. That last condition matters: the old key's
// signature alone could be made by anyone for a key of their own.
//
// A store with neither ledger.jsonl nor session folders is empty and ok; a
// state dir that does not exist is not (reason not_found). Problems come
// ledger first (by line), then sessions by id, each session's events.jsonl
// lines before its other files. Run against a live agent, a write that lands
// mid-run can look like a missing or unregistered seal; the run is then
// repeated once, so only a store that stays inconsistent is reported.
// Never throws.
StoreAudit verify_store(const std::string& state_dir, const std::vector<std::string>& trusted);

// One session (`records verify ID`): its folder against its ledger entry,
// with the same trust rule. The ledger chain is verified too (it is the
// session's anchor), but other sessions are not read. An id that the ledger
// never opened and that has no folder is reason not_found.
StoreAudit verify_store_session(const std::string& state_dir, const std::string& session_id,
                                const std::vector<std::string>& trusted);

}  // namespace rdiag::records
