// What a session's events say, for `rdiag-agent records list` and `records
// export`: state, ticket, engineer, times, outcome, rating. summarize_session
// is pure (events in, facts out) so it is tested on hand-made event lists; a
// fact the events do not hold stays empty (nullopt or ""), never zero, so an
// export never shows a rating or a wait that did not happen.
//
// RecordsReader is the thin I/O beside it: it reads session folders and the
// ledger for display, bounded and read-only (no lock, no repair). It is not a
// verifier: it checks each line and the links between lines so that a damaged
// session shows as "damaged" instead of as plausible figures, and leaves
// seals and the ledger's chain to `records verify`.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/records/chain.h"
#include "common/records/event.h"
#include "common/records/ledger.h"
#include "common/result.h"

namespace rdiag::agent {

struct SessionSummary {
  std::string session_id;
  // pending, open (approved, not ended), closed, denied, expired, revoked,
  // interrupted: from the last terminal event. damaged: set by the reader.
  std::string state;
  std::string ticket;
  std::string reason;
  std::vector<std::string> scopes;  // approved scopes once approved, else requested
  std::optional<std::int64_t> minutes;
  std::string engineer_name;
  std::string engineer_id;
  std::string engineer_role;
  std::string engineer_fingerprint;  // SHA256:... from the request's actor
  std::string opened;                // ts of the first event
  std::string approved;              // ts of the first request.approved
  std::string approver;              // its actor
  std::string closed;                // ts of the last terminal event
  std::string last_ts;               // ts of the last event
  // request.created -> request.approved.
  std::optional<std::int64_t> approval_wait_s;
  // request.created -> end, for sessions that were granted and have ended.
  std::optional<std::int64_t> duration_s;
  std::string outcome;  // session.closed: resolved, escalated, onsite, unresolved
  std::string cause;
  std::string solution;
  bool escalated = false;  // an escalated event, or outcome "escalated"
  std::string escalated_to;
  std::optional<std::int64_t> rating;  // 1..5, the latest rating event
  std::string rating_comment;
  std::string customer;  // confirmed | disputed | "" (the latest of the two)
  std::string customer_reason;
  std::int64_t events = 0;
  std::int64_t last_seq = 0;
};

// Facts from a session's events, in order. Tolerant: a missing or mistyped
// field stays empty.
SessionSummary summarize_session(std::string_view session_id,
                                 const std::vector<records::Event>& events);

// Whether a state is one a session can no longer leave.
bool is_ended_state(std::string_view state);

// The export's summary figures. Rates and averages are nullopt when nothing
// counts towards them.
struct RecordsTotals {
  std::int64_t sessions = 0;
  std::int64_t resolved = 0;                  // outcome "resolved"
  std::optional<double> escalation_rate;      // escalated / granted sessions
  std::optional<double> avg_resolution_s;     // duration_s of resolved sessions
  std::optional<double> avg_approval_wait_s;  // over approved sessions
  std::optional<double> avg_rating;           // over rated sessions
};

RecordsTotals summarize_totals(const std::vector<SessionSummary>& sessions);

// A record ts as a time point (common/records/chain.h).
using records::parse_ts;

// The UTC moment a session id names (YYYYMMDD-HHMMSS-xxxx) as a record ts, or "".
std::string session_id_ts(std::string_view session_id);

// --since: a duration before now (90s, 15m, 2h, 3d) or an RFC 3339 date
// (local midnight) or date-time (local time when it has no offset).
// Error reason "usage".
Result<std::chrono::system_clock::time_point> parse_since(
    std::string_view text, std::chrono::system_clock::time_point now);

// ---------------------------------------------------------------------------
// Reading the store for display.

struct SessionFile {
  std::string session_id;
  std::vector<records::Event> events;  // the lines that read, up to the first that did not
  std::string damage;                  // "" or why reading stopped ("events.jsonl line 4: ...")
  std::int64_t event_bytes = 0;        // size of events.jsonl as read
  int seals = 0;                       // seal-N.sshsig files
  // What the ledger says the latest seal covers; nullopt without a ledger.
  std::optional<std::int64_t> sealed_seq;
  std::optional<std::int64_t> sealed_bytes;
  bool unsealed_tail() const {
    return sealed_seq && !events.empty() && events.back().seq > *sealed_seq;
  }
};

class RecordsReader {
 public:
  // Reads the ledger (best effort: without it, seal coverage is unknown).
  explicit RecordsReader(std::string state_dir);

  // Sessions the folder or the ledger knows (not pruned, not void), sorted
  // (ids sort by time). Error when state_dir holds no records at all.
  Result<std::vector<std::string>> session_ids() const;
  SessionFile read(const std::string& session_id) const;

  bool has_ledger() const { return ledger_.has_value(); }
  const std::string& ledger_problem() const { return ledger_problem_; }
  const std::string& state_dir() const { return state_dir_; }

 private:
  std::string state_dir_;
  std::optional<records::LedgerIndex> ledger_;
  std::string ledger_problem_;
};

// summarize_session over what was read; state "damaged" when reading stopped
// early or the folder is missing.
SessionSummary summarize_file(const SessionFile& file);

}  // namespace rdiag::agent
