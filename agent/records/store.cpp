#include "agent/records/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <random>
#include <utility>

#include "agent/log.h"
#include "common/fs.h"
#include "common/records/seal.h"
#include "common/sshsig.h"
#include "common/version.h"

namespace rdiag::agent {

namespace fs = std::filesystem;
using records::Event;
using records::LedgerSession;

namespace {

constexpr std::string_view kSealKeyFile = "seal_ed25519";
constexpr std::string_view kNextKeyFile = "keys/seal_ed25519.next";
// A ledger or a session that is written to constantly still gets checkpoints.
constexpr int kMaxIdRetries = 16;

std::string join(const std::string& dir, std::string_view name) {
  return dir + "/" + std::string(name);
}

std::string now_ts() {
  return records::format_ts(std::chrono::system_clock::now());
}

ReadFileHooks plain_hooks(const std::string& path) {
  ReadFileHooks hooks;
  hooks.io_error = [path](int err) {
    return make_error(path + ": " + errno_text(err), "io_error");
  };
  return hooks;
}

std::string seal_name(std::size_t n) {
  return "seal-" + std::to_string(n) + ".sshsig";
}

std::string fingerprint_of(const Ed25519PrivateKey& key) {
  return fingerprint_sha256(key.public_key().blob);
}

// The engineer fingerprint an actor names, or "".
std::string engineer_of(const std::string& actor) {
  constexpr std::string_view kPrefix = "engineer:";
  if (actor.rfind(kPrefix, 0) != 0) return {};
  return actor.substr(kPrefix.size());
}

Result<std::int64_t> file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(path + ": " + errno_text(errno), "io_error");
  }
  return static_cast<std::int64_t>(st.st_size);
}

Result<void> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(i18n::tr("store.mkdir_failed", path, errno_text(errno)), "recording_failed");
  }
  if (const int err = fsync_parent_dir(path); err != 0) {
    return make_error(i18n::tr("store.mkdir_failed", path, errno_text(err)), "recording_failed");
  }
  return {};
}

// Leftovers of write_file_atomic (seal-N.sshsig.tmp.XXXXXX) from a crash.
void remove_temporaries(const std::string& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find(".tmp.") != std::string::npos) fs::remove(it->path(), ec);
  }
}

// What recovery needs to know about a session's chain.
struct ChainFacts {
  bool ended = false;
  std::string last_ts;
};

ChainFacts scan_chain(std::string_view text) {
  ChainFacts facts;
  records::for_each_line(text, [&](std::size_t, std::string_view line, std::size_t) {
    auto e = records::parse_event_line(line);
    if (!e) return;  // the journal verified it; cannot happen
    if (records::ends_session(e->type, e->data)) facts.ended = true;
    facts.last_ts = e->ts;
  });
  return facts;
}

// The current seal key and the older ones it was introduced by: key.rotated
// lines whose signature by the old key verifies and which a later ledger
// checkpoint endorses (as the verifier requires, common/records/audit.h).
std::vector<std::string> trusted_keys(const records::LedgerIndex& index,
                                      const std::string& current) {
  std::vector<std::string> trusted{current};
  for (auto it = index.rotations.rbegin(); it != index.rotations.rend(); ++it) {
    if (std::find(trusted.begin(), trusted.end(), it->new_fingerprint) == trusted.end()) continue;
    if (index.last_checkpoint_seq <= static_cast<std::int64_t>(it->line)) continue;
    const std::string message =
        records::key_rotation_message(it->old_fingerprint, it->new_fingerprint);
    if (sshsig_verify_signer(it->signature, it->old_fingerprint, kSealNamespace, message)) {
      trusted.push_back(it->old_fingerprint);
    }
  }
  return trusted;
}

}  // namespace

struct Store::Live {
  Live(std::string session_id, records::Journal j)
      : id(std::move(session_id)), journal(std::move(j)) {}
  std::string id;
  records::Journal journal;
  std::int64_t since_checkpoint = 0;
  std::chrono::steady_clock::time_point checkpoint_at = std::chrono::steady_clock::now();
  bool ended = false;
  records::RecoveryReport cut;  // what opening it repaired
};

Store::Store(std::string state_dir, const Ed25519PrivateKey& key, StoreOptions options)
    : state_dir_(std::move(state_dir)),
      key_(key),
      options_(options),
      ledger_checkpoint_at_(std::chrono::steady_clock::now()) {}

Store::~Store() = default;

std::string Store::session_dir(const std::string& session_id) const {
  return join(join(state_dir_, records::kRecordsDir), session_id);
}

std::string Store::seal_fingerprint() const {
  return fingerprint_of(key_);
}

std::vector<std::string> Store::trusted_fingerprints() const {
  return trusted_keys(index_, seal_fingerprint());
}

const LedgerSession* Store::ledger_session(const std::string& session_id) const {
  auto it = index_.sessions.find(session_id);
  return it == index_.sessions.end() ? nullptr : &it->second;
}

Result<std::vector<std::string>> Store::ledger_lines(const std::vector<std::size_t>& lines) const {
  const std::string path = join(state_dir_, records::kLedgerFile);
  auto text = read_file_bounded(path, records::kMaxJournalBytes, plain_hooks(path));
  if (!text) return text.error();
  std::map<std::size_t, std::string> found;
  for (std::size_t n : lines) found.emplace(n, std::string());
  records::for_each_line(*text, [&](std::size_t n, std::string_view line, std::size_t) {
    if (auto it = found.find(n); it != found.end()) it->second = line;
  });
  std::vector<std::string> out;
  for (std::size_t n : lines) {
    if (found[n].empty()) return make_error(path + ": no line " + std::to_string(n), "not_found");
    out.push_back(found[n]);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Ledger

Result<void> Store::reopen_ledger() {
  ledger_.reset();  // releases the lock first
  const std::string path = join(state_dir_, records::kLedgerFile);
  records::RecoveryReport cut;
  auto journal =
      records::Journal::open(path, records::kLedgerGenesis, &cut, records::is_ledger_type);
  if (!journal) return journal.error();
  ledger_ = std::make_unique<records::Journal>(std::move(*journal));
  // What reached the disk decides: the index follows the file.
  index_.last_seq = ledger_->last_seq();
  index_.last_hash = ledger_->last_hash();
  if (cut.repaired) {
    auto r = ledger_->append("record.repaired", "agent",
                             {{"file", std::string(records::kLedgerFile)},
                              {"line", static_cast<std::int64_t>(cut.line)},
                              {"cut_bytes", static_cast<std::int64_t>(cut.cut_bytes)}},
                             now_ts());
    if (!r) return r.error();
    index_.last_seq = r->seq;
    index_.last_hash = r->hash;
  }
  return {};
}

Result<Event> Store::ledger_append(const std::string& type, nlohmann::json data) {
  // After a failed write (a full disk, say) the journal refuses everything
  // until reopened; reopening settles what is on disk, so the agent records
  // again as soon as there is room, without a restart.
  if (!ledger_ || ledger_->failed()) {
    if (auto r = reopen_ledger(); !r) return Error{r.error().message, "recording_failed"};
  }
  auto e = ledger_->append(type, "agent", std::move(data), now_ts());
  if (!e) return Error{e.error().message, "recording_failed"};
  index_.last_seq = e->seq;
  index_.last_hash = e->hash;
  ++index_.lines_since_checkpoint;
  if (type != "checkpoint" && index_.lines_since_checkpoint >= options_.checkpoint_every_events) {
    (void)ledger_checkpoint();  // logged; the line itself is durable
  }
  return e;
}

// ---------------------------------------------------------------------------
// Sessions

Result<Store::Live*> Store::live(const std::string& session_id) {
  if (auto it = live_.find(session_id); it != live_.end()) return it->second.get();
  const LedgerSession* s = ledger_session(session_id);
  if (s == nullptr || s->voided || s->pruned) {
    return make_error(i18n::tr("store.no_session", session_id), "not_found");
  }
  const std::string path = join(session_dir(session_id), records::kEventsFile);
  records::RecoveryReport report;
  auto journal = records::Journal::open(path, s->genesis, &report);
  if (!journal) return journal.error();
  auto l = std::make_unique<Live>(session_id, std::move(*journal));
  Live* raw = l.get();
  live_.emplace(session_id, std::move(l));
  if (report.repaired) {
    raw->cut = report;
    (void)append_to(*raw, "record.repaired", "agent",
                    {{"file", std::string(records::kEventsFile)},
                     {"line", static_cast<std::int64_t>(report.line)},
                     {"cut_bytes", static_cast<std::int64_t>(report.cut_bytes)}});
  }
  return raw;
}

Result<Event> Store::append_to(Live& l, const std::string& type, const std::string& actor,
                               nlohmann::json data) {
  const bool ends = records::ends_session(type, data);
  auto e = l.journal.append(type, actor, std::move(data), now_ts());
  if (!e) return e;
  if (ends) l.ended = true;
  if (type == "checkpoint") return e;
  if (++l.since_checkpoint >= options_.checkpoint_every_events) checkpoint(l);
  return e;
}

Result<Event> Store::append_checkpoint(records::Journal& journal, const std::string& id) {
  const std::int64_t seq = journal.last_seq();
  const std::string hash = journal.last_hash();
  const std::string sig =
      sshsig_sign(key_, kSealNamespace, records::checkpoint_message(id, seq, hash));
  Result<Event> cp = make_error("signing the checkpoint failed", "recording_failed");
  if (!sig.empty()) {
    cp = journal.append("checkpoint", "agent",
                        {{"covers_seq", seq},
                         {"covers_hash", hash},
                         {"fingerprint", seal_fingerprint()},
                         {"signature", sig}},
                        now_ts());
  }
  if (!cp) {
    log_error("store.checkpoint_failed", id, cp.error().message);
    return Error{cp.error().message, "recording_failed"};
  }
  // Checkpoints also reach journald (stderr under systemd), outside the
  // state dir: a copy of the chain's state that deleting records cannot undo.
  log_info("store.checkpoint", id, seq, hash);
  return cp;
}

void Store::checkpoint(Live& l) {
  if (!append_checkpoint(l.journal, l.id)) return;
  l.since_checkpoint = 0;
  l.checkpoint_at = std::chrono::steady_clock::now();
}

Result<OpenedSession> Store::open_session(const std::string& type, const std::string& actor,
                                          nlohmann::json data) {
  std::random_device rd;
  std::string id;
  for (int i = 0; i < kMaxIdRetries; ++i) {
    std::string candidate = records::make_session_id(std::chrono::system_clock::now(), rd());
    std::error_code ec;
    if (!index_.sessions.contains(candidate) && !fs::exists(session_dir(candidate), ec)) {
      id = std::move(candidate);
      break;
    }
  }
  if (id.empty()) return make_error(i18n::tr("store.no_free_id"), "recording_failed");

  auto opened =
      ledger_append("session.opened", {{"session_id", id}, {"engineer", engineer_of(actor)}});
  if (!opened) return opened.error();
  LedgerSession s;
  s.session_id = id;
  s.genesis = opened->hash;
  s.opened_line = static_cast<std::size_t>(opened->seq);
  s.opened_ts = opened->ts;
  s.engineer = engineer_of(actor);
  index_.sessions[id] = s;

  auto fail = [&](const Error& why) -> Result<OpenedSession> {
    // Never acknowledged: say so in the ledger, so the gap is explained.
    (void)ledger_append("session.void", {{"session_id", id}, {"reason", why.message}});
    index_.sessions[id].voided = true;
    live_.erase(id);
    std::error_code ec;
    fs::remove_all(session_dir(id), ec);
    return Error{why.message, "recording_failed"};
  };
  if (auto r = make_dir(session_dir(id)); !r) return fail(r.error());
  auto l = live(id);
  if (!l) return fail(l.error());
  auto first = append_to(**l, type, actor, std::move(data));
  if (!first) return fail(first.error());
  // A request may wait a long time for approval: its journal is reopened
  // when the next event comes, so waiting requests hold no descriptor.
  live_.erase(id);
  return OpenedSession{id, std::move(*first)};
}

Result<Event> Store::append(const std::string& session_id, const std::string& type,
                            const std::string& actor, nlohmann::json data) {
  auto l = live(session_id);
  if (!l) return l.error();
  auto e = append_to(**l, type, actor, std::move(data));
  if (!e) {
    // Reopened on the next use, as the ledger is (see ledger_append).
    if ((*l)->journal.failed()) live_.erase(session_id);
    return Error{e.error().message, "recording_failed"};
  }
  return e;
}

Result<std::string> Store::seal(const std::string& session_id) {
  auto l = live(session_id);
  if (!l) return l.error();
  Live& live_session = **l;
  LedgerSession& s = index_.sessions[session_id];
  const std::string dir = session_dir(session_id);
  remove_temporaries(dir);
  // A seal whose write failed earlier comes back first, or the next one
  // would leave a gap in the numbering.
  if (auto rebuilt = rebuild_missing_seals(s); !rebuilt) return rebuilt.error();
  auto attachments = records::list_attachments(dir);
  if (!attachments) {
    // Something in the folder that no writer of ours puts there.
    if (attachments.error().reason != "io_error") {
      return Error{attachments.error().message, "tamper"};
    }
    return attachments.error();
  }
  const std::int64_t seq = live_session.journal.last_seq();
  const std::string hash = live_session.journal.last_hash();
  auto message = records::seal_message(session_id, seq, hash, *attachments);
  if (!message) return message.error();
  const std::string armor = sshsig_sign(key_, kSealNamespace, *message);
  if (armor.empty()) return make_error("signing the seal failed", "recording_failed");
  auto bytes = file_size(live_session.journal.path());
  if (!bytes) return bytes.error();
  const std::string name = seal_name(s.seals.size() + 1);

  // The ledger line first: a seal file the ledger does not name is tamper,
  // while a named one lost in a crash is rebuilt (Ed25519 is deterministic).
  auto line = ledger_append("session.sealed", {{"session_id", session_id},
                                               {"seal", name},
                                               {"last_seq", seq},
                                               {"last_hash", hash},
                                               {"bytes", *bytes},
                                               {"sha256", sha256_hex(armor)}});
  if (!line) return Error{line.error().message, "recording_failed"};
  s.seals.push_back(LedgerSession::Seal{name, seq, hash, *bytes, sha256_hex(armor),
                                        static_cast<std::size_t>(line->seq)});
  const std::string path = join(dir, name);
  if (const int err = write_file_atomic(path, armor, 0644, IfExists::kKeep); err != 0) {
    return make_error(path + ": " + errno_text(err), "recording_failed");
  }
  if (const int err = fsync_parent_dir(path); err != 0) {
    return make_error(path + ": " + errno_text(err), "recording_failed");
  }
  if (live_session.ended) live_.erase(session_id);
  return name;
}

void Store::tick() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [id, l] : live_) {
    if (l->since_checkpoint > 0 && now - l->checkpoint_at >= options_.checkpoint_interval) {
      checkpoint(*l);
    }
  }
  if (index_.lines_since_checkpoint > 0 &&
      now - ledger_checkpoint_at_ >= options_.checkpoint_interval) {
    (void)ledger_checkpoint();  // logged; retried at the next tick
  }
}

Result<void> Store::ledger_checkpoint() {
  if (!ledger_ || ledger_->failed()) {
    if (auto r = reopen_ledger(); !r) return r;
  }
  auto cp = append_checkpoint(*ledger_, std::string(records::kLedgerCheckpointId));
  if (!cp) return cp.error();
  index_.last_seq = cp->seq;
  index_.last_hash = cp->hash;
  index_.lines_since_checkpoint = 0;
  index_.last_checkpoint_seq = cp->seq;
  index_.last_checkpoint_ts = cp->ts;
  ledger_checkpoint_at_ = std::chrono::steady_clock::now();
  return {};
}

}  // namespace rdiag::agent

namespace rdiag::agent {

// ---------------------------------------------------------------------------
// Opening and recovery

Result<std::unique_ptr<Store>> Store::open(const std::string& state_dir,
                                           const Ed25519PrivateKey& seal_key, StoreOptions options,
                                           StoreRecovery* recovery) {
  StoreRecovery local;
  StoreRecovery& report = recovery != nullptr ? *recovery : local;
  if (auto r = make_dir(join(state_dir, records::kRecordsDir)); !r) return r.error();
  std::unique_ptr<Store> store(new Store(state_dir, seal_key, options));

  const std::string path = join(state_dir, records::kLedgerFile);
  records::RecoveryReport cut;
  auto journal =
      records::Journal::open(path, records::kLedgerGenesis, &cut, records::is_ledger_type);
  if (!journal) {
    if (journal.error().reason == "tamper") {
      return make_error(i18n::tr("store.ledger_tampered", journal.error().message, path), "tamper");
    }
    if (journal.error().reason == "busy") {
      return make_error(i18n::tr("store.ledger_busy", path), "busy");
    }
    return journal.error();
  }
  store->ledger_ = std::make_unique<records::Journal>(std::move(*journal));
  auto text = read_file_bounded(path, records::kMaxJournalBytes, plain_hooks(path));
  if (!text) return text.error();
  auto index = records::index_ledger(*text);
  if (!index) {
    return make_error(i18n::tr("store.ledger_tampered", index.error().message, path), "tamper");
  }
  store->index_ = std::move(*index);
  if (cut.repaired) {
    ++report.repaired;
    report.messages.push_back(i18n::tr("store.repaired", path, cut.line, cut.cut_bytes));
    auto r = store->ledger_append("record.repaired",
                                  {{"file", std::string(records::kLedgerFile)},
                                   {"line", static_cast<std::int64_t>(cut.line)},
                                   {"cut_bytes", static_cast<std::int64_t>(cut.cut_bytes)}});
    if (!r) return r.error();
  }
  if (auto r = store->finish_key_rotation(); !r) return r.error();
  if (auto r = store->recover(report); !r) return r.error();
  return store;
}

Result<void> Store::recover(StoreRecovery& report) {
  for (auto& [id, s] : index_.sessions) {
    const std::string dir = session_dir(id);
    std::error_code ec;
    if (s.voided || s.pruned) {
      // A void or prune that the ledger already holds but the disk does not.
      if (fs::exists(dir, ec)) fs::remove_all(dir, ec);
      continue;
    }
    recover_session(s, report);
  }
  return {};
}

// A seal the ledger names but the disk lost (the agent stopped, or the
// write failed, between the two) is rebuilt: the same key over the same
// message gives the same bytes, which the ledger's SHA-256 confirms.
Result<int> Store::rebuild_missing_seals(const LedgerSession& s) {
  const std::string dir = session_dir(s.session_id);
  int rebuilt = 0;
  std::error_code ec;
  for (const auto& seal : s.seals) {
    const std::string path = join(dir, seal.file);
    if (fs::exists(path, ec)) continue;
    auto attachments = records::list_attachments(dir);
    if (!attachments) return Error{attachments.error().message, "tamper"};
    auto message = records::seal_message(s.session_id, seal.last_seq, seal.last_hash, *attachments);
    const std::string armor = message ? sshsig_sign(key_, kSealNamespace, *message) : "";
    if (armor.empty() || sha256_hex(armor) != seal.sha256) {
      return Error{i18n::tr("store.seal_missing", seal.file), "tamper"};
    }
    if (const int err = write_file_atomic(path, armor, 0644, IfExists::kKeep); err != 0) {
      return make_error(path + ": " + errno_text(err), "recording_failed");
    }
    (void)fsync_parent_dir(path);
    ++rebuilt;
  }
  return rebuilt;
}

// Never fatal: whatever one session needs that cannot be done now is
// reported, and the agent starts (a later start tries again).
void Store::recover_session(LedgerSession& s, StoreRecovery& report) {
  const std::string& id = s.session_id;
  const std::string dir = session_dir(id);
  const std::string events = join(dir, records::kEventsFile);
  std::error_code ec;
  auto tampered = [&](const std::string& why) {
    report.tampered.push_back(id);
    report.messages.push_back(i18n::tr("store.session_tampered", id, why));
  };
  auto unfinished = [&](const std::string& why) {
    report.messages.push_back(i18n::tr("store.session_unreadable", id, why));
  };
  if (!s.seals.empty()) {
    remove_temporaries(dir);
    auto size = file_size(events);
    auto latest = records::latest_seal_index(dir);
    if (size && latest && *size == s.seals.back().bytes &&
        static_cast<std::size_t>(*latest) == s.seals.size()) {
      return;  // ended and sealed as the ledger says: nothing to do
    }
  }
  // Not one whole line: the first event never became durable (a torn first
  // line is not an event), so the request was never acknowledged.
  auto head = read_file_bounded(events, records::kMaxJournalBytes, plain_hooks(events));
  const bool has_events = head && head->find('\n') != std::string::npos;
  if (!has_events) {
    if (!s.seals.empty()) return tampered(i18n::tr("store.events_missing"));
    auto r = ledger_append("session.void",
                           {{"session_id", id}, {"reason", "no event was written before a stop"}});
    if (!r) return unfinished(r.error().message);
    s.voided = true;
    fs::remove_all(dir, ec);
    ++report.voided;
    report.messages.push_back(i18n::tr("store.voided", id));
    return;
  }
  remove_temporaries(dir);
  auto l = live(id);
  if (!l) {
    if (l.error().reason == "tamper") return tampered(l.error().message);
    return unfinished(l.error().message);
  }
  Live& live_session = **l;
  if (live_session.cut.repaired) {
    ++report.repaired;
    report.messages.push_back(
        i18n::tr("store.repaired", events, live_session.cut.line, live_session.cut.cut_bytes));
  }
  auto rebuilt = rebuild_missing_seals(s);
  if (!rebuilt) {
    live_.erase(id);
    if (rebuilt.error().reason == "tamper") return tampered(rebuilt.error().message);
    return unfinished(rebuilt.error().message);
  }
  if (*rebuilt > 0) report.messages.push_back(i18n::tr("store.seal_rebuilt", id, *rebuilt));
  auto text = read_file_bounded(events, records::kMaxJournalBytes, plain_hooks(events));
  if (!text) {
    live_.erase(id);
    return unfinished(text.error().message);
  }
  const ChainFacts facts = scan_chain(*text);
  live_session.ended = facts.ended;
  if (!facts.ended) {
    auto r = append_to(live_session, "session.interrupted", "agent",
                       {{"reason", "the agent stopped while the session was open"}});
    if (!r) {
      live_.erase(id);
      return unfinished(r.error().message);
    }
    ++report.interrupted;
    report.messages.push_back(i18n::tr("store.interrupted", id));
  }
  const std::int64_t covered = s.seals.empty() ? 0 : s.seals.back().last_seq;
  if (live_session.journal.last_seq() > covered) {
    auto sealed = seal(id);
    if (!sealed) {
      live_.erase(id);
      if (sealed.error().reason == "tamper") return tampered(sealed.error().message);
      return unfinished(sealed.error().message);
    }
    ++report.sealed;
    report.messages.push_back(i18n::tr("store.sealed", id, *sealed));
  }
  live_.erase(id);
}

// ---------------------------------------------------------------------------
// Seal key rotation

Result<void> Store::finish_key_rotation() {
  const std::string next_path = join(state_dir_, kNextKeyFile);
  std::error_code ec;
  const bool endorsed =
      index_.rotations.empty() ||
      index_.last_checkpoint_seq > static_cast<std::int64_t>(index_.rotations.back().line);
  if (!fs::exists(next_path, ec)) {
    // The spare key goes only after the new key's checkpoint is durable, so
    // an unendorsed last rotation without it was not written by this agent.
    if (!endorsed) {
      return make_error(
          i18n::tr("store.ledger_tampered",
                   i18n::tr("store.rotation_unendorsed", index_.rotations.back().line),
                   join(state_dir_, records::kLedgerFile)),
          "tamper");
    }
    return {};
  }
  auto pem = read_file_bounded(next_path, std::size_t{64} * 1024, plain_hooks(next_path));
  if (!pem) return pem.error();
  auto next = parse_openssh_private_key(*pem);
  const bool recorded = next && !index_.rotations.empty() &&
                        index_.rotations.back().new_fingerprint == fingerprint_of(*next);
  if (recorded && index_.rotations.back().old_fingerprint == seal_fingerprint()) {
    const std::string key_path = join(state_dir_, kSealKeyFile);
    if (const int err = write_file_atomic(key_path, *pem, 0600, IfExists::kReplace); err != 0) {
      return make_error(key_path + ": " + errno_text(err), "io_error");
    }
    (void)fsync_parent_dir(key_path);
    key_ = *next;
    log_info("store.rotation_finished", seal_fingerprint());
  }
  // Verifiers trust the new key only once it has signed a checkpoint after
  // the rotation line (common/records/audit.h). The spare file goes last: a
  // stop (or a failed write) before this point comes back here.
  if (recorded && index_.rotations.back().new_fingerprint == seal_fingerprint() &&
      index_.last_checkpoint_seq <= static_cast<std::int64_t>(index_.rotations.back().line)) {
    if (auto r = ledger_checkpoint(); !r) return r;
  }
  if (!recorded && !endorsed) {
    return make_error(i18n::tr("store.ledger_tampered",
                               i18n::tr("store.rotation_unendorsed", index_.rotations.back().line),
                               join(state_dir_, records::kLedgerFile)),
                      "tamper");
  }
  // Finished now, or never recorded: the spare key must not linger.
  fs::remove(next_path, ec);
  return {};
}

Result<std::string> Store::rotate_seal_key(const Ed25519PrivateKey& new_key) {
  const std::string old_fp = seal_fingerprint();
  const std::string new_fp = fingerprint_of(new_key);
  const std::string pem = openssh_private_key_pem(new_key);
  if (auto r = make_dir(join(state_dir_, "keys")); !r) return r.error();
  const std::string next_path = join(state_dir_, kNextKeyFile);
  if (const int err = write_file_atomic(next_path, pem, 0600, IfExists::kReplace); err != 0) {
    return make_error(next_path + ": " + errno_text(err), "io_error");
  }
  (void)fsync_parent_dir(next_path);
  const std::string sig =
      sshsig_sign(key_, kSealNamespace, records::key_rotation_message(old_fp, new_fp));
  if (sig.empty()) return make_error("signing the rotation failed", "sign_failed");
  records::KeyRotation rotation{old_fp, public_key_line(key_.public_key()),
                                new_fp, public_key_line(new_key.public_key()),
                                sig,    0};
  auto line = ledger_append("key.rotated", {{"old_fingerprint", rotation.old_fingerprint},
                                            {"old_public", rotation.old_public},
                                            {"new_fingerprint", rotation.new_fingerprint},
                                            {"new_public", rotation.new_public},
                                            {"signature", rotation.signature}});
  if (!line) return line.error();
  rotation.line = static_cast<std::size_t>(line->seq);
  index_.rotations.push_back(rotation);
  if (auto r = finish_key_rotation(); !r) return r.error();
  return new_fp;
}

// ---------------------------------------------------------------------------
// Retention

Result<std::vector<std::string>> Store::prune_plan(const std::string& state_dir, int retention_days,
                                                   std::chrono::system_clock::time_point now,
                                                   const std::string& seal_fingerprint) {
  const std::string ledger_path = join(state_dir, records::kLedgerFile);
  auto ledger = read_file_bounded(ledger_path, records::kMaxJournalBytes, plain_hooks(ledger_path));
  if (!ledger) return ledger.error();
  auto index = records::index_ledger(*ledger);
  if (!index) return index.error();
  const auto trusted = trusted_keys(*index, seal_fingerprint);
  const std::string cutoff = records::format_ts(now - std::chrono::hours(24) * retention_days);
  const std::string records_dir = join(state_dir, records::kRecordsDir);
  std::vector<std::string> plan;
  for (const auto& [id, s] : index->sessions) {
    if (s.voided || s.pruned || s.seals.empty()) continue;
    const std::string dir = join(records_dir, id);
    const std::string events = join(dir, records::kEventsFile);
    auto text = read_file_bounded(events, records::kMaxJournalBytes, plain_hooks(events));
    if (!text) continue;
    const ChainFacts facts = scan_chain(*text);
    const bool sealed_whole = static_cast<std::int64_t>(text->size()) == s.seals.back().bytes;
    if (!facts.ended || !sealed_whole || facts.last_ts.empty() || facts.last_ts >= cutoff) continue;
    // A record that does not verify is evidence: it is never removed.
    const auto check = records::verify_session_dir(dir, id, s.genesis, trusted);
    if (!check.ok || check.unsealed_events != 0) continue;
    plan.push_back(id);
  }
  return plan;
}

Result<std::vector<std::string>> Store::prune(int retention_days,
                                              std::chrono::system_clock::time_point now) {
  auto plan = prune_plan(state_dir_, retention_days, now, seal_fingerprint());
  if (!plan) return plan.error();
  std::vector<std::string> removed;
  for (const auto& id : *plan) {
    auto it = index_.sessions.find(id);
    if (it == index_.sessions.end() || live_.contains(id)) continue;
    LedgerSession& s = it->second;
    const auto& last = s.seals.back();
    auto line =
        ledger_append("session.pruned", {{"session_id", id},
                                         {"last_seq", last.last_seq},
                                         {"last_hash", last.last_hash},
                                         {"seals", static_cast<std::int64_t>(s.seals.size())}});
    if (!line) return line.error();
    s.pruned = true;
    s.pruned_line = static_cast<std::size_t>(line->seq);
    std::error_code ec;
    fs::remove_all(session_dir(id), ec);
    removed.push_back(id);
  }
  if (!removed.empty()) (void)fsync_parent_dir(session_dir(removed.front()));
  return removed;
}

}  // namespace rdiag::agent
