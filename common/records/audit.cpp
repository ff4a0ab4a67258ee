#include "common/records/audit.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "common/fs.h"
#include "common/records/chain.h"
#include "common/records/event.h"
#include "common/records/journal.h"
#include "common/ssh_key.h"
#include "common/sshsig.h"
#include "common/text_safety.h"

namespace rdiag::records {
namespace {

namespace fs = std::filesystem;

// records/ may hold anything; names are only listed, but a runaway folder
// must not take all memory.
constexpr std::size_t kMaxRecordsEntries = 1000000;
constexpr std::size_t kReadChunk = 65536;

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::string seal_file_name(std::size_t n) {
  return "seal-" + std::to_string(n) + ".sshsig";
}

// seal-N.sshsig with N written the one way a writer writes it.
bool is_seal_name(std::string_view name) {
  if (!name.starts_with("seal-") || !name.ends_with(".sshsig")) return false;
  const auto digits = name.substr(5, name.size() - 5 - 7);
  return !digits.empty() && digits.size() <= 9 && digits.front() != '0' &&
         std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The type of a line that already verified as canonical: it ends in
// ,"type":"<type>","v":1} and types are plain ASCII, so no parse is needed.
std::string_view type_of(std::string_view line) {
  constexpr std::string_view kKey = R"("type":")";
  const std::size_t at = line.rfind(kKey);
  if (at == std::string_view::npos) return {};
  const std::size_t start = at + kKey.size();
  const std::size_t end = line.find('"', start);
  return end == std::string_view::npos ? std::string_view{} : line.substr(start, end - start);
}

std::optional<std::string> str_of(const nlohmann::json& data, const char* key) {
  auto it = data.find(key);
  if (it == data.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<std::int64_t> int_of(const nlohmann::json& data, const char* key) {
  auto it = data.find(key);
  if (it == data.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int64_t>();
}

// A file of the store, whole: never through a symlink, never blocking on a
// FIFO (verification must finish whatever the folder holds), bounded.
// Reasons: missing, unexpected_file, io_error.
Result<std::string> read_regular(const std::string& path, const std::string& shown_as,
                                 std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) {
    const int err = errno;
    return make_error(shown_as + ": " + errno_text(err), err == ENOENT ? "missing" : "io_error");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error(shown_as + ": " + errno_text(errno), "io_error");
  }
  if (!S_ISREG(st.st_mode)) return make_error(shown_as + ": not a regular file", "unexpected_file");
  std::string text;
  std::array<char, kReadChunk> buf{};
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(shown_as + ": " + errno_text(errno), "io_error");
    if (n == 0) return text;
    if (text.size() + static_cast<std::size_t>(n) > max_bytes) {
      return make_error(shown_as + ": larger than " + std::to_string(max_bytes) + " bytes",
                        "io_error");
    }
    text.append(buf.data(), static_cast<std::size_t>(n));
  }
}

// "ledger.jsonl line 7: ..." -> 7; 0 when the message names no line.
std::size_t line_named_in(std::string_view message) {
  const std::string prefix = std::string(kLedgerFile) + " line ";
  if (!message.starts_with(prefix)) return 0;
  std::size_t n = 0;
  const char* begin = message.data() + prefix.size();
  (void)std::from_chars(begin, message.data() + message.size(), n);
  return n;
}

// A checkpoint (ledger line or session event) on its own: fields, cover and
// signature. Whether its signer is trusted is for the caller to say.
struct CheckpointCheck {
  std::string signer;  // the fingerprint that signed it, when it holds
  std::string fault;   // why it does not hold, when it does not
};

CheckpointCheck check_checkpoint(const Event& e, std::string_view id) {
  const auto seq = int_of(e.data, "covers_seq");
  const auto hash = str_of(e.data, "covers_hash");
  const auto fp = str_of(e.data, "fingerprint");
  const auto sig = str_of(e.data, "signature");
  if (!seq || !hash || !fp || !sig) return {"", "checkpoint has missing or bad fields"};
  if (*seq != e.seq - 1 || *hash != e.prev) {
    return {"", "checkpoint does not cover the line before it"};
  }
  auto info = sshsig_verify(*sig, kSealNamespace, checkpoint_message(id, *seq, *hash));
  if (!info) return {"", "checkpoint signature does not verify: " + info.error().message};
  if (info->fingerprint != *fp) {
    return {"", "checkpoint is signed by " + info->fingerprint + " but names " + escaped_name(*fp)};
  }
  return {info->fingerprint, ""};
}

std::optional<std::string> checkpoint_fault(const CheckpointCheck& c,
                                            const std::vector<std::string>& trusted) {
  if (!c.fault.empty()) return c.fault;
  if (!contains(trusted, c.signer)) {
    return "checkpoint is signed by " + c.signer + ", which is not a trusted seal key";
  }
  return std::nullopt;
}

// Why a key.rotated line does not hold, if it does not.
std::optional<std::string> rotation_fault(const KeyRotation& r) {
  for (const auto& [line, fp, which] :
       {std::tuple{&r.old_public, &r.old_fingerprint, "old_public"},
        std::tuple{&r.new_public, &r.new_fingerprint, "new_public"}}) {
    auto key = parse_public_key_line(*line);
    if (!key) return std::string(which) + " is not a public key: " + key.error().message;
    if (fingerprint_sha256(key->blob) != *fp) {
      return std::string(which) + " does not match its fingerprint " + escaped_name(*fp);
    }
  }
  auto info = sshsig_verify_signer(r.signature, r.old_fingerprint, kSealNamespace,
                                   key_rotation_message(r.old_fingerprint, r.new_fingerprint));
  if (!info) return "not signed by the old key: " + info.error().message;
  return std::nullopt;
}

// What a session folder holds besides events.jsonl, as far as the ledger
// cross-check needs it.
struct Folder {
  std::set<std::string> seals;  // seal-N.sshsig names
  std::uint64_t attachment_bytes = 0;
};

Folder list_folder(const std::string& dir) {
  Folder f;
  std::error_code ec;
  std::size_t seen = 0;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    // verify_session_dir names a folder with too many files; stop here too.
    if (++seen > kMaxSealFiles + kMaxAttachments + 1) break;
    const std::string name = it->path().filename().string();
    if (is_seal_name(name)) {
      f.seals.insert(name);
    } else if (name != kEventsFile) {
      std::error_code size_ec;
      if (!fs::is_regular_file(it->symlink_status(size_ec))) continue;
      const auto size = it->file_size(size_ec);
      if (!size_ec) f.attachment_bytes += size;
    }
  }
  return f;
}

class Auditor {
 public:
  Auditor(std::string state_dir, std::vector<std::string> trusted)
      : state_dir_(std::move(state_dir)), given_(std::move(trusted)) {}

  StoreAudit run(const std::string* only);
  // Whether a writer changed the store while this run read it: the ledger
  // grew, or a file found missing has appeared (the agent writes the ledger
  // line before the folder or seal it names).
  bool raced(const StoreAudit& audit) const;

 private:
  void add(std::string file, std::size_t line, std::string reason, std::string message) {
    out_.problems.push_back({std::move(file), line, std::move(reason), std::move(message)});
  }
  void add_ledger(std::size_t line, const std::string& reason, const std::string& what) {
    add(std::string(kLedgerFile), line, reason,
        std::string(kLedgerFile) + " line " + std::to_string(line) + ": " + what);
  }

  bool read_ledger();
  void index_ledger_text();
  void walk_ledger(std::size_t bad_line);
  void apply_loose(const Event& e, std::size_t line, bool report);
  void establish_trust();
  std::map<std::string, bool> list_records();
  void audit_session(const std::string& name, const LedgerSession* s, std::optional<bool> is_dir);
  void check_void(const std::string& rel);
  void audit_folder(const LedgerSession& s, const std::string& rel, SessionAudit& sa);
  void report_seal_check(const std::string& rel, const LedgerSession& s, const SealCheck& sc);
  void cross_check_seals(const std::string& rel, const LedgerSession& s, const Folder& f,
                         const std::string* text, const SealCheck& sc, std::size_t first);
  std::optional<std::string> seal_fault(const std::string& rel, const LedgerSession::Seal& r,
                                        const std::string* text, const SealCheck& sc);
  void scan_events(const std::string& rel, const std::string& id, std::string_view text,
                   SessionAudit& sa);

  std::string state_dir_;
  std::vector<std::string> given_;
  std::vector<std::string> trusted_;
  StoreAudit out_;
  std::string ledger_text_;
  LedgerIndex index_;
  std::vector<std::pair<std::size_t, Event>> checkpoints_;  // ledger line, event
  std::size_t chain_break_ = 0;  // the first ledger line off the chain, 0 when none
};

// ---------------------------------------------------------------------------
// The ledger

// false: no ledger file (an error reading one is a problem, and counts as none).
bool Auditor::read_ledger() {
  auto text = read_regular(state_dir_ + "/" + std::string(kLedgerFile), std::string(kLedgerFile),
                           kMaxJournalBytes);
  if (!text) {
    if (text.error().reason != "missing") {
      add(std::string(kLedgerFile), 0, text.error().reason, text.error().message);
    }
    return false;
  }
  ledger_text_ = std::move(*text);
  out_.bytes_checked += ledger_text_.size();
  return true;
}

// The index of the longest verified prefix, then (after a bad line) what the
// later lines still say on their own, so that one bad ledger line does not
// turn every later session into an unexpected one.
void Auditor::index_ledger_text() {
  auto whole = index_ledger(ledger_text_);
  std::size_t bad_line = 0;
  if (whole) {
    index_ = std::move(*whole);
  } else {
    const ChainCheck chain = verify_chain(ledger_text_, kLedgerGenesis, is_ledger_type);
    if (!chain.ok) {
      bad_line = chain_break_ = chain.bad_line;
      add(std::string(kLedgerFile), bad_line, chain.reason,
          std::string(kLedgerFile) + " " + chain.message);
    } else {
      bad_line = std::max<std::size_t>(1, line_named_in(whole.error().message));
      add(std::string(kLedgerFile), bad_line, whole.error().reason, whole.error().message);
    }
    std::size_t prefix_end = 0;
    for_each_line(ledger_text_, [&](std::size_t no, std::string_view, std::size_t end) {
      if (no < bad_line) prefix_end = end;
    });
    auto prefix = index_ledger(std::string_view(ledger_text_).substr(0, prefix_end));
    if (prefix) index_ = std::move(*prefix);
  }
  walk_ledger(bad_line);
}

// Collects the checkpoints (verified once the trusted keys are known) and,
// from bad_line on, applies each line that verifies on its own.
void Auditor::walk_ledger(std::size_t bad_line) {
  std::size_t lines = 0;
  for_each_line(ledger_text_, [&](std::size_t no, std::string_view line, std::size_t) {
    lines = no;
    const bool chained = bad_line == 0 || no < bad_line;
    if (chained && type_of(line) != "checkpoint") return;
    auto e = parse_event_line(line, is_ledger_type);
    if (!e) {
      if (!chained && no != bad_line) add_ledger(no, e.error().reason, e.error().message);
      return;
    }
    if (!chained) apply_loose(*e, no, no != bad_line);
    if (e->type == "checkpoint") checkpoints_.emplace_back(no, std::move(*e));
  });
  out_.ledger_lines = static_cast<std::int64_t>(lines);
  if (!ledger_text_.empty() && ledger_text_.back() != '\n' && bad_line != lines + 1) {
    add_ledger(lines + 1, "truncated_tail", "the last line has no newline (a write was cut short)");
  }
}

void Auditor::apply_loose(const Event& e, std::size_t line, bool report) {
  auto bad = [&](const std::string& what, const char* reason) {
    if (report) add_ledger(line, reason, e.type + " " + what);
  };
  const auto id = str_of(e.data, "session_id");
  if (e.type == "session.opened") {
    if (!id || !is_valid_session_id(*id)) {
      return bad("has missing or bad fields", "bad_ledger_data");
    }
    if (index_.sessions.contains(*id)) return bad("opens a session again", "duplicate_session");
    LedgerSession s;
    s.session_id = *id;
    s.genesis = e.hash;
    s.opened_line = line;
    s.opened_ts = e.ts;
    s.engineer = str_of(e.data, "engineer").value_or("");
    index_.sessions.emplace(*id, std::move(s));
  } else if (e.type == "key.rotated") {
    KeyRotation r;
    const std::array<std::pair<std::string*, const char*>, 5> fields{{
        {&r.old_fingerprint, "old_fingerprint"},
        {&r.old_public, "old_public"},
        {&r.new_fingerprint, "new_fingerprint"},
        {&r.new_public, "new_public"},
        {&r.signature, "signature"},
    }};
    for (const auto& [field, key] : fields) *field = str_of(e.data, key).value_or("");
    r.line = line;
    index_.rotations.push_back(std::move(r));
  } else if (e.type == "session.sealed" || e.type == "session.void" || e.type == "session.pruned") {
    auto it = id ? index_.sessions.find(*id) : index_.sessions.end();
    if (it == index_.sessions.end()) return bad("names a session never opened", "unknown_session");
    if (e.type == "session.void") {
      it->second.voided = true;
    } else if (e.type == "session.pruned") {
      it->second.pruned = true;
      it->second.pruned_line = line;
    } else {
      it->second.seals.push_back(
          {str_of(e.data, "seal").value_or(""), int_of(e.data, "last_seq").value_or(0),
           str_of(e.data, "last_hash").value_or(""), int_of(e.data, "bytes").value_or(0),
           str_of(e.data, "sha256").value_or(""), line});
    }
  }
}

// The given keys, then, newest rotation first, each old key handed over to a
// trusted key by a valid rotation. Ledger checkpoints are judged afterwards.
void Auditor::establish_trust() {
  for (const auto& fp : given_) {
    if (!contains(trusted_, fp)) trusted_.push_back(fp);
  }
  std::vector<CheckpointCheck> checks;
  for (const auto& [line, e] : checkpoints_) {
    checks.push_back(check_checkpoint(e, kLedgerCheckpointId));
  }
  const auto on_chain = [&](std::size_t line) { return chain_break_ == 0 || line < chain_break_; };
  for (std::size_t i = index_.rotations.size(); i-- > 0;) {
    const KeyRotation& r = index_.rotations[i];
    auto fault = rotation_fault(r);
    // The old key's signature only says it handed over; anyone can sign a
    // hand-over from a key of their own. What vouches for the old key is the
    // new key signing a checkpoint over the rotation line (the writer does so
    // right after it).
    bool endorsed = false;
    for (std::size_t k = 0; k < checks.size() && on_chain(r.line); ++k) {
      const std::size_t line = checkpoints_[k].first;
      endorsed =
          endorsed || (line > r.line && on_chain(line) && checks[k].signer == r.new_fingerprint);
    }
    if (!fault && !endorsed) fault = "no checkpoint signed by the new key covers it";
    if (fault) {
      add_ledger(r.line, "bad_rotation", "key.rotated: " + *fault);
    } else if (contains(trusted_, r.new_fingerprint) && !contains(trusted_, r.old_fingerprint)) {
      trusted_.push_back(r.old_fingerprint);
    }
  }
  out_.trusted_fingerprints = trusted_;
  for (std::size_t k = 0; k < checks.size(); ++k) {
    if (auto fault = checkpoint_fault(checks[k], trusted_)) {
      add_ledger(checkpoints_[k].first, "bad_checkpoint", *fault);
    }
  }
  // The first problem is the first bad line, whichever check found it.
  std::stable_sort(out_.problems.begin(), out_.problems.end(),
                   [](const AuditProblem& a, const AuditProblem& b) { return a.line < b.line; });
}

// ---------------------------------------------------------------------------
// Session folders

// Every entry of records/: name -> whether it is a real folder (no symlink).
std::map<std::string, bool> Auditor::list_records() {
  std::map<std::string, bool> entries;
  const std::string dir = state_dir_ + "/" + std::string(kRecordsDir);
  std::error_code ec;
  const auto st = fs::symlink_status(dir, ec);
  if (st.type() == fs::file_type::not_found) return entries;
  if (st.type() != fs::file_type::directory) {
    add(std::string(kRecordsDir), 0, "unexpected_file",
        std::string(kRecordsDir) + ": not a folder (a symlink or a file)");
    return entries;
  }
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (entries.size() >= kMaxRecordsEntries) {
      add(std::string(kRecordsDir), 0, "io_error", std::string(kRecordsDir) + ": too many entries");
      return entries;
    }
    std::error_code type_ec;
    const bool is_dir = it->symlink_status(type_ec).type() == fs::file_type::directory;
    entries.emplace(it->path().filename().string(), is_dir);
  }
  if (ec) {
    add(std::string(kRecordsDir), 0, "io_error", std::string(kRecordsDir) + ": " + ec.message());
  }
  return entries;
}

void Auditor::audit_session(const std::string& name, const LedgerSession* s,
                            std::optional<bool> is_dir) {
  const std::size_t before = out_.problems.size();
  SessionAudit sa;
  sa.session_id = escaped_name(name);
  const std::string rel = std::string(kRecordsDir) + "/" + escaped_name(name);
  const std::string opened =
      s != nullptr ? " (opened at ledger.jsonl line " + std::to_string(s->opened_line) + ")" : "";
  if (s == nullptr) {
    add(rel, 0, "unexpected_session", rel + ": no session.opened line in ledger.jsonl names it");
  } else if (is_dir && !*is_dir) {
    add(rel, 0, "unexpected_file", rel + ": not a folder (a symlink or a file)" + opened);
  } else if (s->voided || s->pruned) {
    sa.voided = s->voided;
    sa.pruned = s->pruned;
    if (is_dir && s->voided) check_void(rel);
    if (is_dir && !s->voided) {
      add(rel, 0, "pruned_present",
          rel + ": ledger.jsonl line " + std::to_string(s->pruned_line) +
              " says it was pruned, but the folder is still here");
    }
  } else if (!is_dir) {
    add(rel, 0, "missing_session", rel + ": the folder is missing" + opened);
  } else {
    audit_folder(*s, rel, sa);
  }
  sa.ok = out_.problems.size() == before;
  out_.sessions.push_back(std::move(sa));
}

// A voided session never had a durable event: at most an empty events.jsonl.
void Auditor::check_void(const std::string& rel) {
  std::error_code ec;
  fs::directory_iterator it(state_dir_ + "/" + rel, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code size_ec;
    if (name == kEventsFile && fs::is_regular_file(it->symlink_status(size_ec)) &&
        it->file_size(size_ec) == 0 && !size_ec) {
      continue;
    }
    add(rel + "/" + escaped_name(name), 0, "void_not_empty",
        rel + "/" + escaped_name(name) +
            ": the ledger says this session was voided (never held events)");
    return;
  }
  if (ec) add(rel, 0, "io_error", rel + ": " + ec.message());
}

void Auditor::audit_folder(const LedgerSession& s, const std::string& rel, SessionAudit& sa) {
  const std::string dir = state_dir_ + "/" + rel;
  const std::string events_rel = rel + "/" + std::string(kEventsFile);
  const std::size_t first = out_.problems.size();
  SealCheck sc;
  // verify_session_dir opens events.jsonl plainly: a FIFO there would block it.
  struct stat st {};
  const std::string events_path = dir + "/" + std::string(kEventsFile);
  if (::lstat(events_path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    sc.file = kEventsFile;
    sc.reason = "unexpected_file";
    sc.message = std::string(kEventsFile) + ": not a regular file";
  } else {
    sc = verify_session_dir(dir, s.session_id, s.genesis, trusted_);
  }
  if (!sc.ok) report_seal_check(rel, s, sc);
  std::optional<std::string> text;
  if (sc.ok || (!sc.file.empty() && sc.file != kEventsFile)) {
    auto read = read_regular(events_path, events_rel, kMaxEventsFileBytes);
    if (read) {
      text = std::move(*read);
      out_.bytes_checked += text->size();
    } else {
      add(events_rel, 0, read.error().reason, read.error().message);
    }
  }
  const Folder folder = list_folder(dir);
  out_.bytes_checked += folder.attachment_bytes;
  sa.seals = static_cast<int>(folder.seals.size());
  cross_check_seals(rel, s, folder, text ? &*text : nullptr, sc, first);
  if (text) scan_events(rel, s.session_id, *text, sa);
  if (sc.ok) {
    sa.unsealed_events = sc.unsealed_events;
    sa.open = sa.open || sc.unsealed_events > 0;
  }
  // Reading order: the chain's lines first, then the other files.
  std::stable_sort(out_.problems.begin() + static_cast<std::ptrdiff_t>(first), out_.problems.end(),
                   [&](const AuditProblem& a, const AuditProblem& b) {
                     const bool ea = a.file == events_rel;
                     const bool eb = b.file == events_rel;
                     return ea != eb ? ea : (ea && a.line < b.line);
                   });
}

void Auditor::report_seal_check(const std::string& rel, const LedgerSession& s,
                                const SealCheck& sc) {
  std::string reason = sc.reason;
  const bool registered =
      std::any_of(s.seals.begin(), s.seals.end(), [&](const auto& r) { return r.file == sc.file; });
  if (reason == "seal_gap" && registered) reason = "missing_seal";
  const std::string file = sc.file.empty() ? rel : rel + "/" + escaped_name(sc.file);
  const bool names_file = !sc.file.empty() && sc.message.starts_with(escaped_name(sc.file) + ":");
  add(file, sc.bad_line, reason, names_file ? rel + "/" + sc.message : file + ": " + sc.message);
}

// Every seal file against its session.sealed line and back (problems[first..]
// are this session's so far: a seal already named is not named twice).
void Auditor::cross_check_seals(const std::string& rel, const LedgerSession& s, const Folder& f,
                                const std::string* text, const SealCheck& sc, std::size_t first) {
  const auto named = [&](const std::string& file) {
    return std::any_of(out_.problems.begin() + static_cast<std::ptrdiff_t>(first),
                       out_.problems.end(), [&](const auto& p) { return p.file == file; });
  };
  std::set<std::string> registered;
  for (const auto& r : s.seals) {
    const std::string file = rel + "/" + escaped_name(r.file);
    if (!registered.insert(r.file).second) {
      add_ledger(r.line, "seal_mismatch", "registers " + file + " a second time");
    } else if (!f.seals.contains(r.file)) {
      if (!named(file)) {
        add(file, 0, "missing_seal",
            fmt::format("{}: registered at ledger.jsonl line {} but missing", file, r.line));
      }
    } else if (auto fault = seal_fault(rel, r, text, sc)) {
      add(file, 0, "seal_mismatch",
          fmt::format("{}: {} (ledger.jsonl line {})", file, *fault, r.line));
    }
  }
  for (const auto& name : f.seals) {
    if (registered.contains(name)) continue;
    std::string file = fmt::format("{}/{}", rel, name);
    add(file, 0, "unregistered_seal",
        fmt::format("{}: no session.sealed line in ledger.jsonl names it", file));
  }
}

// What disagrees between a present seal file, its ledger line and the chain.
std::optional<std::string> Auditor::seal_fault(const std::string& rel, const LedgerSession::Seal& r,
                                               const std::string* text, const SealCheck& sc) {
  const std::string path = state_dir_ + "/" + rel + "/" + r.file;
  auto armor = read_regular(path, rel + "/" + r.file, kMaxSealFileBytes);
  if (!armor) return armor.error().message;
  out_.bytes_checked += armor->size();
  if (sha256_hex(*armor) != r.sha256) return "its SHA-256 is not the one the ledger registered";
  if (sc.ok && r.file == seal_file_name(static_cast<std::size_t>(sc.seals)) &&
      sc.covered_seq != r.last_seq) {
    return "it signs the chain up to seq " + std::to_string(sc.covered_seq) + ", the ledger says " +
           std::to_string(r.last_seq);
  }
  if (text == nullptr) return std::nullopt;
  std::optional<std::string> fault =
      "the ledger says it covers seq " + std::to_string(r.last_seq) + ", which events.jsonl lacks";
  for_each_line(*text, [&](std::size_t no, std::string_view line, std::size_t end) {
    if (static_cast<std::int64_t>(no) != r.last_seq) return;
    auto e = parse_event_line(line);
    if (!e || e->hash != r.last_hash) {
      fault = "the ledger's last_hash is not the hash of events.jsonl line " + std::to_string(no);
    } else if (static_cast<std::int64_t>(end) != r.bytes) {
      fault = "the ledger says it covers " + std::to_string(r.bytes) +
              " bytes of events.jsonl, the chain up to seq " + std::to_string(no) + " is " +
              std::to_string(end);
    } else {
      fault.reset();
    }
  });
  return fault;
}

// Counts events, finds the end of the session and checks its checkpoints.
void Auditor::scan_events(const std::string& rel, const std::string& id, std::string_view text,
                          SessionAudit& sa) {
  const std::string file = rel + "/" + std::string(kEventsFile);
  bool ended = false;
  for_each_line(text, [&](std::size_t no, std::string_view line, std::size_t) {
    sa.events = static_cast<std::int64_t>(no);
    const std::string_view type = type_of(line);
    if (line_ends_session(type, line)) ended = true;
    if (type != "checkpoint") return;
    auto e = parse_event_line(line);
    if (!e) return;  // the chain verifier has judged this line already
    if (auto fault = checkpoint_fault(check_checkpoint(*e, id), trusted_)) {
      add(file, no, "bad_checkpoint", file + " line " + std::to_string(no) + ": " + *fault);
    }
  });
  sa.open = !ended;
}

// ---------------------------------------------------------------------------

StoreAudit Auditor::run(const std::string* only) {
  std::error_code ec;
  if (fs::status(state_dir_, ec).type() != fs::file_type::directory) {
    add(".", 0, "not_found", state_dir_ + ": no such folder");
    return std::move(out_);
  }
  const bool have_ledger = read_ledger();
  if (have_ledger) index_ledger_text();
  establish_trust();
  std::map<std::string, bool> folders;
  if (only == nullptr) {
    folders = list_records();
    if (!have_ledger && out_.problems.empty() && !folders.empty()) {
      add(std::string(kLedgerFile), 0, "missing_ledger",
          "ledger.jsonl is missing, but records/ holds " + std::to_string(folders.size()) +
              " entries");
    }
  } else if (is_valid_session_id(*only)) {
    struct stat st {};
    const std::string dir = state_dir_ + "/" + std::string(kRecordsDir) + "/" + *only;
    if (::lstat(dir.c_str(), &st) == 0) folders.emplace(*only, S_ISDIR(st.st_mode));
  }
  std::set<std::string> ids;
  for (const auto& [name, is_dir] : folders) ids.insert(name);
  for (const auto& [id, s] : index_.sessions) {
    if (only == nullptr || id == *only) ids.insert(id);
  }
  if (only != nullptr && ids.empty()) {
    const std::string rel = std::string(kRecordsDir) + "/" + escaped_name(*only);
    add(rel, 0, "not_found", rel + ": the ledger never opened this session and there is no folder");
  }
  for (const auto& id : ids) {
    auto s = index_.sessions.find(id);
    auto folder = folders.find(id);
    audit_session(id, s == index_.sessions.end() ? nullptr : &s->second,
                  folder == folders.end() ? std::nullopt : std::optional<bool>(folder->second));
  }
  out_.ok = out_.problems.empty();
  return std::move(out_);
}

bool Auditor::raced(const StoreAudit& audit) const {
  auto now = read_regular(state_dir_ + "/" + std::string(kLedgerFile), "", kMaxJournalBytes);
  if ((now ? *now : std::string()) != ledger_text_) return true;
  return std::any_of(audit.problems.begin(), audit.problems.end(), [&](const AuditProblem& p) {
    std::error_code ec;
    return (p.reason == "missing_seal" || p.reason == "missing_session") &&
           fs::exists(fs::symlink_status(state_dir_ + "/" + p.file, ec));
  });
}

StoreAudit verify(const std::string& state_dir, const std::vector<std::string>& trusted,
                  const std::string* only) {
  try {
    Auditor first(state_dir, trusted);
    StoreAudit audit = first.run(only);
    if (audit.ok || !first.raced(audit)) return audit;
    // The ledger moved under us (a live agent): one more run on the new state.
    Auditor second(state_dir, trusted);
    return second.run(only);
  } catch (const std::exception& e) {
    StoreAudit audit;
    audit.problems.push_back(
        {".", 0, "io_error", std::string("verification stopped: ") + e.what()});
    return audit;
  }
}

}  // namespace

StoreAudit verify_store(const std::string& state_dir, const std::vector<std::string>& trusted) {
  return verify(state_dir, trusted, nullptr);
}

StoreAudit verify_store_session(const std::string& state_dir, const std::string& session_id,
                                const std::vector<std::string>& trusted) {
  return verify(state_dir, trusted, &session_id);
}

}  // namespace rdiag::records
