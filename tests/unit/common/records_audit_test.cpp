#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/records/audit.h"
#include "common/records/journal.h"
#include "common/records/ledger.h"
#include "common/records/seal.h"
#include "common/sshsig.h"
#include "tests/unit/common/test_util.h"

namespace rdiag::records {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace test_util;  // NOLINT(google-build-using-namespace)

const std::string kEngineer = "engineer:SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

std::string fingerprint(const Ed25519PrivateKey& key) {
  return fingerprint_sha256(key.public_key().blob);
}

Ed25519PrivateKey new_key() {
  auto key = generate_ed25519("rdiag seal");
  EXPECT_TRUE(key) << key.error().message;
  return key ? *key : Ed25519PrivateKey{};
}

// One chain file written the way the agent writes it: through a Journal, or
// (for the big timing fixture, where 7000 fdatasyncs would dominate) with the
// same event maker and a plain append.
class ChainFile {
 public:
  ChainFile(std::string path, std::string genesis, TypePredicate known, bool durable)
      : path_(std::move(path)), genesis_(std::move(genesis)), known_(known) {
    if (!durable) return;
    auto j = Journal::open(path_, genesis_, nullptr, known_);
    EXPECT_TRUE(j) << j.error().message;
    if (j) journal_.emplace(std::move(*j));
  }

  Event append(const std::string& type, const std::string& actor, json data) {
    const std::string ts = format_ts(std::chrono::system_clock::now());
    if (journal_) {
      auto e = journal_->append(type, actor, std::move(data), ts);
      EXPECT_TRUE(e) << e.error().message;
      if (e) last_ = *e;
      return last_;
    }
    auto e = make_next_event(last_.seq == 0 ? nullptr : &last_, genesis_, type, actor,
                             std::move(data), ts, known_);
    EXPECT_TRUE(e) << e.error().message;
    if (!e) return last_;
    last_ = *e;
    std::ofstream(path_, std::ios::binary | std::ios::app) << event_line(last_) << "\n";
    return last_;
  }

  std::int64_t last_seq() const { return last_.seq; }
  std::string last_hash() const { return last_.seq == 0 ? genesis_ : last_.hash; }

 private:
  std::string path_;
  std::string genesis_;
  TypePredicate known_;
  std::optional<Journal> journal_;
  Event last_;
};

// A state dir with a ledger and session folders, built line by line exactly
// as ledger.h describes (what agent/records/store.cpp writes).
class StoreBuilder {
 public:
  explicit StoreBuilder(bool durable = true)
      : durable_(durable),
        key_(new_key()),
        ledger_(dir_.file(std::string(kLedgerFile)), std::string(kLedgerGenesis), is_ledger_type,
                durable) {
    fs::create_directories(dir_.file(std::string(kRecordsDir)));
  }

  const std::string& dir() const { return dir_.path(); }
  std::string fp() const { return fingerprint(key_); }
  const Ed25519PrivateKey& key() const { return key_; }
  std::string path(const std::string& rel) const { return dir_.file(rel); }
  std::string session_dir(const std::string& id) const {
    return dir_.file(std::string(kRecordsDir) + "/" + id);
  }
  std::string events(const std::string& id) const { return session_dir(id) + "/events.jsonl"; }
  std::int64_t ledger_lines() const { return ledger_.last_seq(); }

  Event ledger_add(const std::string& type, json data) {
    return ledger_.append(type, "agent", std::move(data));
  }

  // session.opened, the folder and request.created.
  std::string open_session() {
    using namespace std::chrono;
    const auto n = static_cast<std::uint32_t>(++opened_);
    std::string id = make_session_id(sys_days{year{2026} / November / 28} + seconds{n}, n * 7919U);
    const Event opened =
        ledger_add("session.opened", {{"session_id", id}, {"engineer", kEngineer.substr(9)}});
    fs::create_directories(session_dir(id));
    genesis_[id] = opened.hash;
    sessions_.emplace(id, ChainFile(events(id), opened.hash, is_known_event_type, durable_));
    append(id, "request.created", kEngineer, {{"ticket", "T-" + std::to_string(n)}});
    return id;
  }

  Event append(const std::string& id, const std::string& type, const std::string& actor,
               json data) {
    return sessions_.at(id).append(type, actor, std::move(data));
  }

  // A whole session: approved, a diagnostic with its report, closed, sealed.
  std::string closed_session() {
    std::string id = open_session();
    append(id, "request.approved", "customer:erpadmin", {{"uid", 1001}});
    append(id, "diag.run", kEngineer, {{"collector", "disk"}, {"report", "report-1.json"}});
    write_text(session_dir(id) + "/report-1.json", "{\"disk\":\"full\"}\n");
    append(id, "session.closed", "agent", {{"outcome", "fixed"}});
    seal(id);
    return id;
  }

  // seal-N.sshsig over the chain so far and its session.sealed ledger line.
  std::string seal(const std::string& id) { return seal_with(id, key_); }
  std::string seal_with(const std::string& id, const Ed25519PrivateKey& key) {
    const std::string text = read_text(events(id));
    const ChainCheck chain = verify_chain(text, genesis_of(id));
    auto atts = list_attachments(session_dir(id));
    EXPECT_TRUE(atts) << atts.error().message;
    auto name = durable_ ? write_seal(session_dir(id), key, id, chain,
                                      atts ? *atts : std::vector<Attachment>{})
                         : fast_seal(id, chain);
    EXPECT_TRUE(name) << name.error().message;
    if (!name) return {};
    ledger_add("session.sealed",
               {{"session_id", id},
                {"seal", *name},
                {"last_seq", chain.last_seq},
                {"last_hash", chain.last_hash},
                {"bytes", static_cast<std::int64_t>(text.size())},
                {"sha256", sha256_hex(read_text(session_dir(id) + "/" + *name))}});
    return *name;
  }

  // A checkpoint event; signer and signed id can be chosen to make bad ones.
  Event session_checkpoint(const std::string& id, const Ed25519PrivateKey& signer,
                           const std::string& signed_id) {
    ChainFile& c = sessions_.at(id);
    const std::int64_t seq = c.last_seq();
    const std::string hash = c.last_hash();
    const std::string sig =
        sshsig_sign(signer, kSealNamespace, checkpoint_message(signed_id, seq, hash));
    return c.append("checkpoint", "agent",
                    {{"covers_seq", seq},
                     {"covers_hash", hash},
                     {"fingerprint", fingerprint(signer)},
                     {"signature", sig}});
  }
  Event session_checkpoint(const std::string& id) { return session_checkpoint(id, key_, id); }

  Event ledger_checkpoint(const Ed25519PrivateKey& signer) {
    const std::int64_t seq = ledger_.last_seq();
    const std::string hash = ledger_.last_hash();
    const std::string sig =
        sshsig_sign(signer, kSealNamespace, checkpoint_message(kLedgerCheckpointId, seq, hash));
    return ledger_add("checkpoint", {{"covers_seq", seq},
                                     {"covers_hash", hash},
                                     {"fingerprint", fingerprint(signer)},
                                     {"signature", sig}});
  }
  Event ledger_checkpoint() { return ledger_checkpoint(key_); }

  // key.rotated signed by `signer` (the current key when honest), then the
  // new key seals from here on.
  Event rotate(const Ed25519PrivateKey& next, const Ed25519PrivateKey* signer = nullptr) {
    const std::string old_fp = fp();
    const std::string new_fp = fingerprint(next);
    const std::string sig = sshsig_sign(signer != nullptr ? *signer : key_, kSealNamespace,
                                        key_rotation_message(old_fp, new_fp));
    Event e = ledger_add("key.rotated", {{"old_fingerprint", old_fp},
                                         {"old_public", public_key_line(key_.public_key())},
                                         {"new_fingerprint", new_fp},
                                         {"new_public", public_key_line(next.public_key())},
                                         {"signature", sig}});
    key_ = next;
    ledger_checkpoint();
    return e;
  }

  // What someone who can write the ledger but holds no seal key might try: a
  // hand-over from a key of their own to the current one, signed by theirs.
  Event forged_rotation(const Ed25519PrivateKey& own) {
    const std::string sig =
        sshsig_sign(own, kSealNamespace, key_rotation_message(fingerprint(own), fp()));
    return ledger_add("key.rotated", {{"old_fingerprint", fingerprint(own)},
                                      {"old_public", public_key_line(own.public_key())},
                                      {"new_fingerprint", fp()},
                                      {"new_public", public_key_line(key_.public_key())},
                                      {"signature", sig}});
  }

  // Opened, but the agent stopped before the first event was durable.
  std::string voided_session() {
    std::string id = open_session_id_only();
    ledger_add("session.void", {{"session_id", id}, {"reason", "disk full"}});
    return id;
  }

  // records prune: the ledger line, then the folder goes.
  void prune(const std::string& id) {
    const Event last = ledger_last_seal(id);
    ledger_add("session.pruned", {{"session_id", id},
                                  {"last_seq", last.seq},
                                  {"last_hash", last.hash},
                                  {"seals", static_cast<std::int64_t>(1)}});
    sessions_.erase(id);
    fs::remove_all(session_dir(id));
  }

  StoreAudit verify() const { return verify_store(dir(), {fp()}); }

  // The session's first prev: the hash of its session.opened line.
  std::string genesis_of(const std::string& id) const { return genesis_.at(id); }

 private:
  // write_seal without its two fsyncs, for the big timing fixture: the same
  // signature over the same message (no attachments there).
  Result<std::string> fast_seal(const std::string& id, const ChainCheck& chain) {
    auto latest = latest_seal_index(session_dir(id));
    auto message = seal_message(id, chain.last_seq, chain.last_hash, {});
    if (!latest || !message) return make_error("cannot seal", "test");
    const std::string name = "seal-" + std::to_string(*latest + 1) + ".sshsig";
    write_text(session_dir(id) + "/" + name, sshsig_sign(key_, kSealNamespace, *message));
    return name;
  }

  std::string open_session_id_only() {
    using namespace std::chrono;
    const auto n = static_cast<std::uint32_t>(++opened_);
    std::string id = make_session_id(sys_days{year{2026} / November / 28} + seconds{n}, n * 7919U);
    ledger_add("session.opened", {{"session_id", id}, {"engineer", kEngineer.substr(9)}});
    return id;
  }
  Event ledger_last_seal(const std::string& id) const {
    const ChainCheck chain = verify_chain(read_text(events(id)), genesis_of(id));
    Event e;
    e.seq = chain.last_seq;
    e.hash = chain.last_hash;
    return e;
  }

  TempDir dir_{"rdiag-audit"};
  bool durable_;
  Ed25519PrivateKey key_;
  ChainFile ledger_;
  std::map<std::string, ChainFile> sessions_;
  std::map<std::string, std::string> genesis_;
  int opened_ = 0;
};

// ---------------------------------------------------------------------------
// Helpers for tampering and for reading the result

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(read_text(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  write_text(path, text);
}

// Replaces the first `from` in 1-based line n of path.
void edit_line(const std::string& path, std::size_t n, const std::string& from,
               const std::string& to) {
  auto lines = lines_of(path);
  ASSERT_LE(n, lines.size());
  const std::size_t at = lines[n - 1].find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in " << lines[n - 1];
  lines[n - 1].replace(at, from.size(), to);
  write_lines(path, lines);
}

std::string dump(const StoreAudit& a) {
  std::string out;
  for (const auto& p : a.problems) {
    out += "  [" + p.reason + "] " + p.file + ":" + std::to_string(p.line) + " " + p.message + "\n";
  }
  return out;
}

void expect_first(const StoreAudit& a, const std::string& file, std::size_t line,
                  const std::string& reason) {
  EXPECT_FALSE(a.ok);
  ASSERT_FALSE(a.problems.empty());
  const AuditProblem& p = a.problems.front();
  EXPECT_EQ(p.file, file) << dump(a);
  EXPECT_EQ(p.line, line) << dump(a);
  EXPECT_EQ(p.reason, reason) << dump(a);
  // The message names the file and the line too, for a person reading it.
  EXPECT_NE(p.message.find(file), std::string::npos) << p.message;
  if (line != 0) {
    EXPECT_NE(p.message.find("line " + std::to_string(line)), std::string::npos) << p.message;
  }
}

const AuditProblem* find_problem(const StoreAudit& a, const std::string& file,
                                 const std::string& reason) {
  auto it = std::find_if(a.problems.begin(), a.problems.end(), [&](const AuditProblem& p) {
    return p.file == file && p.reason == reason;
  });
  return it == a.problems.end() ? nullptr : &*it;
}

// The first problem's message, "" when there is none (the test fails then
// anyway, through expect_first).
std::string first_message(const StoreAudit& a) {
  return a.problems.empty() ? std::string() : a.problems.front().message;
}

bool has_problem(const StoreAudit& a, const std::string& file, const std::string& reason) {
  return find_problem(a, file, reason) != nullptr;
}

const SessionAudit* session_of(const StoreAudit& a, const std::string& id) {
  for (const auto& s : a.sessions) {
    if (s.session_id == id) return &s;
  }
  return nullptr;
}

std::string rel(const std::string& id, const std::string& file = "") {
  return "records/" + id + (file.empty() ? "" : "/" + file);
}

// Three finished sessions (the middle one rated after close, so sealed
// twice), checkpoints in a session and in the ledger.
class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = store_.closed_session();
    b_ = store_.closed_session();
    store_.append(b_, "rating", "customer:erpadmin", {{"stars", 5}});
    store_.seal(b_);
    store_.ledger_checkpoint();
    c_ = store_.open_session();
    store_.append(c_, "note", kEngineer, {{"text", "库存模块 磁盘满"}});
    store_.session_checkpoint(c_);
    store_.append(c_, "session.closed", "agent", {{"outcome", "fixed"}});
    store_.seal(c_);
  }

  StoreBuilder store_;
  std::string a_, b_, c_;
};

// ---------------------------------------------------------------------------

TEST_F(AuditTest, UntouchedStoreVerifies) {
  const StoreAudit a = store_.verify();
  EXPECT_TRUE(a.ok) << dump(a);
  EXPECT_TRUE(a.problems.empty());
  ASSERT_EQ(a.sessions.size(), 3U);
  EXPECT_EQ(a.sessions[0].session_id, a_);
  EXPECT_EQ(a.sessions[1].session_id, b_);
  EXPECT_EQ(a.sessions[2].session_id, c_);
  for (const auto& s : a.sessions) {
    EXPECT_TRUE(s.ok) << s.session_id;
    EXPECT_FALSE(s.open) << s.session_id;
  }
  EXPECT_EQ(a.sessions[0].events, 4);
  EXPECT_EQ(a.sessions[0].seals, 1);
  EXPECT_EQ(a.sessions[1].events, 5);
  EXPECT_EQ(a.sessions[1].seals, 2);
  EXPECT_EQ(a.sessions[2].events, 4);
  EXPECT_EQ(a.ledger_lines, store_.ledger_lines());
  EXPECT_EQ(a.trusted_fingerprints, std::vector<std::string>{store_.fp()});
  EXPECT_GT(a.bytes_checked, 0U);

  // The same through the one-session entry point.
  const StoreAudit one = verify_store_session(store_.dir(), b_, {store_.fp()});
  EXPECT_TRUE(one.ok) << dump(one);
  ASSERT_EQ(one.sessions.size(), 1U);
  EXPECT_EQ(one.sessions[0].session_id, b_);
}

TEST_F(AuditTest, OpenSessionsAreOkAndMarkedOpen) {
  const std::string d = store_.open_session();
  store_.append(d, "note", kEngineer, {{"text", "still working"}});
  store_.append(b_, "customer.confirmed", "customer:erpadmin", {});  // after the last seal
  const StoreAudit a = store_.verify();
  EXPECT_TRUE(a.ok) << dump(a);
  const SessionAudit* open = session_of(a, d);
  ASSERT_NE(open, nullptr);
  EXPECT_TRUE(open->open);
  EXPECT_EQ(open->seals, 0);
  const SessionAudit* tail = session_of(a, b_);
  ASSERT_NE(tail, nullptr);
  EXPECT_TRUE(tail->open) << "events after the latest seal";
  EXPECT_EQ(tail->unsealed_events, 1);
  EXPECT_FALSE(session_of(a, a_)->open);
}

TEST_F(AuditTest, OneByteChangeInAnEventNamesFileAndLine) {
  edit_line(store_.events(b_), 2, "1001", "1002");
  const StoreAudit a = store_.verify();
  expect_first(a, rel(b_, "events.jsonl"), 2, "bad_hash");
  EXPECT_TRUE(session_of(a, a_)->ok);
  EXPECT_FALSE(session_of(a, b_)->ok);
  EXPECT_TRUE(session_of(a, c_)->ok) << "the sessions after the damaged one are still checked";
}

TEST_F(AuditTest, DamageInSeveralSessionsIsAllListed) {
  edit_line(store_.events(a_), 3, "disk", "DISK");
  edit_line(store_.events(c_), 2, "磁盘满", "磁盘空");
  const StoreAudit a = store_.verify();
  expect_first(a, rel(a_, "events.jsonl"), 3, "bad_hash");
  EXPECT_TRUE(has_problem(a, rel(c_, "events.jsonl"), "bad_hash")) << dump(a);
  EXPECT_TRUE(session_of(a, b_)->ok);
}

TEST_F(AuditTest, ReorderedEventsAreRefused) {
  auto lines = lines_of(store_.events(a_));
  std::swap(lines[1], lines[2]);
  write_lines(store_.events(a_), lines);
  expect_first(store_.verify(), rel(a_, "events.jsonl"), 2, "bad_seq");
}

TEST_F(AuditTest, DeletedMiddleEventIsRefused) {
  auto lines = lines_of(store_.events(a_));
  lines.erase(lines.begin() + 1);
  write_lines(store_.events(a_), lines);
  expect_first(store_.verify(), rel(a_, "events.jsonl"), 2, "bad_seq");
}

TEST_F(AuditTest, DuplicatedJsonKeyIsRefused) {
  edit_line(store_.events(a_), 2, R"("data":{"uid":1001})", R"("data":{"uid":1001,"uid":0})");
  expect_first(store_.verify(), rel(a_, "events.jsonl"), 2, "duplicate_key");
}

TEST_F(AuditTest, ChangedAttachmentFailsItsSeal) {
  write_text(store_.session_dir(a_) + "/report-1.json", "{\"disk\":\"fine\"}\n");
  const StoreAudit a = store_.verify();
  expect_first(a, rel(a_, "seal-1.sshsig"), 0, "bad_seal");
  EXPECT_TRUE(session_of(a, b_)->ok);
}

TEST_F(AuditTest, SealByAnotherKeyIsAnUntrustedSigner) {
  const Ed25519PrivateKey other = new_key();
  const std::string dir = store_.session_dir(a_);
  fs::remove(dir + "/seal-1.sshsig");
  const ChainCheck chain = verify_chain(read_text(store_.events(a_)), store_.genesis_of(a_));
  auto atts = list_attachments(dir);
  ASSERT_TRUE(atts);
  ASSERT_TRUE(write_seal(dir, other, a_, chain, *atts));
  const StoreAudit a = store_.verify();
  expect_first(a, rel(a_, "seal-1.sshsig"), 0, "untrusted_signer");
  EXPECT_NE(first_message(a).find(fingerprint(other)), std::string::npos);
  // Also not the file the ledger registered.
  EXPECT_TRUE(has_problem(a, rel(a_, "seal-1.sshsig"), "seal_mismatch")) << dump(a);
}

TEST_F(AuditTest, RemovedSessionFolderIsMissingPerLedger) {
  fs::remove_all(store_.session_dir(b_));
  const StoreAudit a = store_.verify();
  expect_first(a, rel(b_), 0, "missing_session");
  EXPECT_NE(first_message(a).find("ledger.jsonl line"), std::string::npos);
  EXPECT_EQ(a.problems.size(), 1U) << dump(a);
}

TEST_F(AuditTest, AddedFolderAndStrayNamesAreUnexpected) {
  // A complete-looking session the ledger never opened.
  const std::string fake = "20261128-070000-FAKE";
  fs::create_directories(store_.session_dir(fake));
  fs::copy_file(store_.events(a_), store_.events(fake));
  write_text(store_.path("records/notes.txt"), "x");
  fs::create_directories(store_.path("records/.hidden"));
  const StoreAudit a = store_.verify();
  EXPECT_FALSE(a.ok);
  EXPECT_TRUE(has_problem(a, rel(fake), "unexpected_session")) << dump(a);
  EXPECT_TRUE(has_problem(a, "records/notes.txt", "unexpected_session")) << dump(a);
  EXPECT_TRUE(has_problem(a, "records/.hidden", "unexpected_session")) << dump(a);
  EXPECT_EQ(a.problems.size(), 3U) << dump(a);
  EXPECT_TRUE(session_of(a, a_)->ok);
}

TEST_F(AuditTest, DeletedSealFilesAreMissingSeals) {
  // The latest seal: the folder alone would only look like an open session.
  const std::string seal2 = store_.session_dir(b_) + "/seal-2.sshsig";
  const std::string kept = read_text(seal2);
  fs::remove(seal2);
  const StoreAudit latest = store_.verify();
  expect_first(latest, rel(b_, "seal-2.sshsig"), 0, "missing_seal");
  EXPECT_NE(first_message(latest).find("ledger.jsonl line"), std::string::npos);
  EXPECT_EQ(latest.problems.size(), 1U) << dump(latest);
  write_text(seal2, kept);
  ASSERT_TRUE(store_.verify().ok);

  // The first of two, and a session's only seal.
  fs::remove(store_.session_dir(b_) + "/seal-1.sshsig");
  fs::remove(store_.session_dir(c_) + "/seal-1.sshsig");
  const StoreAudit first = store_.verify();
  expect_first(first, rel(b_, "seal-1.sshsig"), 0, "missing_seal");
  EXPECT_TRUE(has_problem(first, rel(c_, "seal-1.sshsig"), "missing_seal")) << dump(first);
  EXPECT_EQ(first.problems.size(), 2U) << dump(first);
}

TEST_F(AuditTest, ExtraSealNotInTheLedgerIsUnregistered) {
  const std::string dir = store_.session_dir(a_);
  const ChainCheck chain = verify_chain(read_text(store_.events(a_)), store_.genesis_of(a_));
  auto atts = list_attachments(dir);
  ASSERT_TRUE(atts);
  auto name = write_seal(dir, store_.key(), a_, chain, *atts);
  ASSERT_TRUE(name);
  EXPECT_EQ(*name, "seal-2.sshsig");
  const StoreAudit a = store_.verify();
  expect_first(a, rel(a_, "seal-2.sshsig"), 0, "unregistered_seal");
  EXPECT_EQ(a.problems.size(), 1U) << dump(a);
}

TEST_F(AuditTest, SealLineThatDisagreesWithTheFolderIsSealMismatch) {
  const std::string d = store_.open_session();
  store_.append(d, "session.closed", "agent", {});
  const std::string text = read_text(store_.events(d));
  // Register seal-1 by hand with a wrong byte count, as a lying ledger would.
  const std::string name = store_.seal(d);
  auto lines = lines_of(store_.path("ledger.jsonl"));
  ASSERT_NE(lines.back().find("\"seal\":\"seal-1.sshsig\""), std::string::npos);
  lines.pop_back();
  write_lines(store_.path("ledger.jsonl"), lines);
  // Rebuild the sealed line through a fresh chain continuation.
  auto index = index_ledger(read_text(store_.path("ledger.jsonl")));
  ASSERT_TRUE(index);
  Event prev;
  prev.seq = index->last_seq;
  prev.hash = index->last_hash;
  const ChainCheck chain = verify_chain(text, index->sessions.at(d).genesis);
  auto e = make_next_event(&prev, kLedgerGenesis, "session.sealed", "agent",
                           {{"session_id", d},
                            {"seal", name},
                            {"last_seq", chain.last_seq},
                            {"last_hash", chain.last_hash},
                            {"bytes", static_cast<std::int64_t>(text.size()) - 1},
                            {"sha256", sha256_hex(read_text(store_.session_dir(d) + "/" + name))}},
                           format_ts(std::chrono::system_clock::now()), is_ledger_type);
  ASSERT_TRUE(e) << e.error().message;
  lines.push_back(event_line(*e));
  write_lines(store_.path("ledger.jsonl"), lines);
  const StoreAudit a = store_.verify();
  expect_first(a, rel(d, "seal-1.sshsig"), 0, "seal_mismatch");
  EXPECT_NE(first_message(a).find("bytes"), std::string::npos) << dump(a);
}

TEST_F(AuditTest, ChangedLedgerLineNamesTheLineAndSessionsAreStillChecked) {
  // Line 2 is a's session.sealed; change what it says the seal covers.
  const auto lines = lines_of(store_.path("ledger.jsonl"));
  ASSERT_NE(lines[1].find("session.sealed"), std::string::npos);
  edit_line(store_.path("ledger.jsonl"), 2, "\"last_seq\":4", "\"last_seq\":3");
  edit_line(store_.events(c_), 1, "T-3", "T-9");
  const StoreAudit a = store_.verify();
  expect_first(a, "ledger.jsonl", 2, "bad_hash");
  // Sessions opened after the bad line are still verified, not all called
  // unexpected: the later lines still verify one by one.
  EXPECT_TRUE(has_problem(a, rel(c_, "events.jsonl"), "bad_hash")) << dump(a);
  EXPECT_TRUE(session_of(a, b_)->ok) << dump(a);
  for (const auto& p : a.problems) EXPECT_NE(p.reason, "unexpected_session") << dump(a);
}

TEST_F(AuditTest, DeletedLedgerLineIsABadSeq) {
  auto lines = lines_of(store_.path("ledger.jsonl"));
  lines.erase(lines.begin() + 3);
  write_lines(store_.path("ledger.jsonl"), lines);
  expect_first(store_.verify(), "ledger.jsonl", 4, "bad_seq");
}

TEST_F(AuditTest, SealsFromBeforeAKeyRotationStillVerifyAfterIt) {
  const std::string old_fp = store_.fp();
  store_.rotate(new_key());
  const std::string d = store_.closed_session();
  const StoreAudit a = verify_store(store_.dir(), {store_.fp()});
  EXPECT_TRUE(a.ok) << dump(a);
  EXPECT_EQ(a.trusted_fingerprints, (std::vector<std::string>{store_.fp(), old_fp}));
  EXPECT_TRUE(session_of(a, a_)->ok);
  EXPECT_TRUE(session_of(a, d)->ok);

  // An auditor who pinned only the old key does not get the new one for free.
  const StoreAudit pinned_old = verify_store(store_.dir(), {old_fp});
  expect_first(pinned_old, "ledger.jsonl", static_cast<std::size_t>(store_.ledger_lines() - 2),
               "bad_checkpoint");
  EXPECT_TRUE(has_problem(pinned_old, rel(d, "seal-1.sshsig"), "untrusted_signer"))
      << dump(pinned_old);
}

TEST_F(AuditTest, RotationWithABadSignatureIsRefusedAndHandsOverNoTrust) {
  const Ed25519PrivateKey next = new_key();
  const Ed25519PrivateKey wrong = new_key();
  const Event rotated = store_.rotate(next, &wrong);  // not signed by the old key
  const StoreAudit a = verify_store(store_.dir(), {store_.fp()});
  const AuditProblem* p = find_problem(a, "ledger.jsonl", "bad_rotation");
  ASSERT_NE(p, nullptr) << dump(a);
  EXPECT_EQ(p->line, static_cast<std::size_t>(rotated.seq));
  EXPECT_NE(p->message.find("line " + std::to_string(rotated.seq)), std::string::npos);
  // The first bad line: the old key's checkpoint, which nothing vouches for now.
  expect_first(a, "ledger.jsonl", 6, "bad_checkpoint");
  EXPECT_EQ(a.trusted_fingerprints, std::vector<std::string>{store_.fp()});
  // The old seals are no longer vouched for.
  EXPECT_TRUE(has_problem(a, rel(a_, "seal-1.sshsig"), "untrusted_signer")) << dump(a);
  EXPECT_FALSE(session_of(a, a_)->ok);
}

TEST_F(AuditTest, RotationWhosePublicKeyIsNotItsFingerprintIsRefused) {
  const Event rotated = store_.rotate(new_key());
  const std::string other = public_key_line(new_key().public_key());
  auto lines = lines_of(store_.path("ledger.jsonl"));
  // Re-chaining the ledger after the edit is what an attacker would do; the
  // rotation check stands without the chain.
  const auto at = static_cast<std::size_t>(rotated.seq);
  auto e = parse_event_line(lines[at - 1], is_ledger_type);
  ASSERT_TRUE(e);
  e->data["old_public"] = other;
  Event prev;
  prev.seq = e->seq - 1;
  prev.hash = e->prev;
  std::vector<std::string> rebuilt(lines.begin(), lines.begin() + static_cast<long>(at - 1));
  const Event* last = &prev;
  std::vector<Event> made;
  made.reserve(lines.size());
  for (std::size_t i = at - 1; i < lines.size(); ++i) {
    auto orig = parse_event_line(lines[i], is_ledger_type);
    ASSERT_TRUE(orig);
    json data = i == at - 1 ? e->data : orig->data;
    auto next = make_next_event(last, kLedgerGenesis, orig->type, orig->actor, data, orig->ts,
                                is_ledger_type);
    ASSERT_TRUE(next);
    made.push_back(*next);
    last = &made.back();
    rebuilt.push_back(event_line(*next));
  }
  write_lines(store_.path("ledger.jsonl"), rebuilt);
  const StoreAudit a = verify_store(store_.dir(), {store_.fp()});
  const AuditProblem* p = find_problem(a, "ledger.jsonl", "bad_rotation");
  ASSERT_NE(p, nullptr) << dump(a);
  EXPECT_EQ(p->line, at) << dump(a);
  EXPECT_NE(p->message.find("old_public"), std::string::npos) << p->message;
  EXPECT_TRUE(has_problem(a, rel(a_, "seal-1.sshsig"), "untrusted_signer")) << dump(a);
}

TEST_F(AuditTest, HandOverFromAKeyOfOnesOwnGivesNoTrust) {
  const Ed25519PrivateKey own = new_key();
  const Event forged = store_.forged_rotation(own);
  const std::string d = store_.open_session();
  store_.append(d, "session.closed", "agent", {});
  store_.seal_with(d, own);
  const StoreAudit a = store_.verify();
  expect_first(a, "ledger.jsonl", static_cast<std::size_t>(forged.seq), "bad_rotation");
  EXPECT_NE(first_message(a).find("no checkpoint signed by the new key"), std::string::npos)
      << dump(a);
  EXPECT_EQ(a.trusted_fingerprints, std::vector<std::string>{store_.fp()});
  EXPECT_TRUE(has_problem(a, rel(d, "seal-1.sshsig"), "untrusted_signer")) << dump(a);
  EXPECT_TRUE(session_of(a, a_)->ok);
}

TEST_F(AuditTest, CheckpointsWithBadSignaturesAreRefused) {
  const std::string d = store_.open_session();
  const Event bad = store_.session_checkpoint(d, store_.key(), a_);  // signs another session
  store_.append(d, "session.closed", "agent", {});
  store_.seal(d);
  const Ed25519PrivateKey stranger = new_key();
  const Event bad_ledger = store_.ledger_checkpoint(stranger);
  const StoreAudit a = store_.verify();
  expect_first(a, "ledger.jsonl", static_cast<std::size_t>(bad_ledger.seq), "bad_checkpoint");
  EXPECT_NE(first_message(a).find(fingerprint(stranger)), std::string::npos);
  ASSERT_EQ(a.problems.size(), 2U) << dump(a);
  EXPECT_EQ(a.problems[1].file, rel(d, "events.jsonl"));
  EXPECT_EQ(a.problems[1].line, static_cast<std::size_t>(bad.seq));
  EXPECT_EQ(a.problems[1].reason, "bad_checkpoint");
}

TEST_F(AuditTest, InvalidUtf8AndGb18030BytesVerifyAfterSanitizing) {
  const std::string d = store_.open_session();
  // "中文" in GB18030, a lone continuation byte and a truncated sequence.
  const std::string gb18030 = "\xd6\xd0\xce\xc4";
  store_.append(d, "note", kEngineer,
                {{"text", "log: " + gb18030 + " \x80 \xe4\xb8"}, {"k\xff", "v"}, {"k\xfe", "w"}});
  store_.append(d, "session.closed", "agent", {});
  store_.seal(d);
  const std::string stored = read_text(store_.events(d));
  EXPECT_NE(stored.find("\xef\xbf\xbd"), std::string::npos) << "U+FFFD in the record";
  EXPECT_EQ(stored.find(gb18030), std::string::npos);
  const StoreAudit a = store_.verify();
  EXPECT_TRUE(a.ok) << dump(a);
}

TEST_F(AuditTest, VoidedSessionMayLeaveOnlyAnEmptyFolder) {
  const std::string v = store_.voided_session();
  EXPECT_TRUE(store_.verify().ok) << dump(store_.verify());
  fs::create_directories(store_.session_dir(v));
  write_text(store_.events(v), "");
  const StoreAudit empty = store_.verify();
  EXPECT_TRUE(empty.ok) << dump(empty);
  const SessionAudit* s = session_of(empty, v);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->voided);
  fs::copy_file(store_.events(a_), store_.events(v), fs::copy_options::overwrite_existing);
  expect_first(store_.verify(), rel(v, "events.jsonl"), 0, "void_not_empty");
}

TEST_F(AuditTest, PrunedSessionMustBeGone) {
  store_.prune(a_);
  const StoreAudit a = store_.verify();
  EXPECT_TRUE(a.ok) << dump(a);
  EXPECT_TRUE(session_of(a, a_)->pruned);
  fs::create_directories(store_.session_dir(a_));
  expect_first(store_.verify(), rel(a_), 0, "pruned_present");
}

TEST_F(AuditTest, PlantedFifoAndSymlinkDoNotHangOrFollow) {
  const std::string events = store_.events(a_);
  fs::remove(events);
  ASSERT_EQ(::mkfifo(events.c_str(), 0600), 0);
  fs::remove_all(store_.session_dir(b_));
  fs::create_directory_symlink(store_.session_dir(c_), store_.session_dir(b_));
  const StoreAudit a = store_.verify();  // returns: the FIFO is never opened blocking
  expect_first(a, rel(a_, "events.jsonl"), 0, "unexpected_file");
  EXPECT_TRUE(has_problem(a, rel(b_), "unexpected_file")) << dump(a);
  EXPECT_TRUE(session_of(a, c_)->ok);
}

TEST_F(AuditTest, OneSessionEntryPointReadsOnlyThatSession) {
  edit_line(store_.events(a_), 2, "1001", "1002");
  const StoreAudit b = verify_store_session(store_.dir(), b_, {store_.fp()});
  EXPECT_TRUE(b.ok) << dump(b);
  const StoreAudit a = verify_store_session(store_.dir(), a_, {store_.fp()});
  expect_first(a, rel(a_, "events.jsonl"), 2, "bad_hash");
  ASSERT_EQ(a.sessions.size(), 1U);

  for (const std::string unknown : {"20261128-235959-NONE", "../../etc", ""}) {
    const StoreAudit n = verify_store_session(store_.dir(), unknown, {store_.fp()});
    EXPECT_FALSE(n.ok);
    ASSERT_FALSE(n.problems.empty()) << unknown;
    EXPECT_EQ(n.problems.front().reason, "not_found") << dump(n);
  }
  fs::remove_all(store_.session_dir(c_));
  expect_first(verify_store_session(store_.dir(), c_, {store_.fp()}), rel(c_), 0,
               "missing_session");
}

TEST(AuditStore, EmptyMissingAndLedgerlessStores) {
  TempDir dir{"rdiag-audit"};
  const StoreAudit empty = verify_store(dir.path(), {"SHA256:x"});
  EXPECT_TRUE(empty.ok) << dump(empty);
  EXPECT_TRUE(empty.sessions.empty());
  fs::create_directories(dir.file("records"));
  EXPECT_TRUE(verify_store(dir.path(), {"SHA256:x"}).ok);

  const StoreAudit gone = verify_store(dir.file("nowhere"), {"SHA256:x"});
  EXPECT_FALSE(gone.ok);
  ASSERT_FALSE(gone.problems.empty());
  EXPECT_EQ(gone.problems.front().reason, "not_found");

  fs::create_directories(dir.file("records/20261128-060500-7K3Q"));
  const StoreAudit ledgerless = verify_store(dir.path(), {"SHA256:x"});
  expect_first(ledgerless, "ledger.jsonl", 0, "missing_ledger");
  EXPECT_TRUE(has_problem(ledgerless, "records/20261128-060500-7K3Q", "unexpected_session"));
}

TEST(AuditStore, AThousandSessionsVerifyAndDamageInTheLastIsStillFound) {
  StoreBuilder store(/*durable=*/false);
  constexpr int kSessions = 1000;
  std::vector<std::string> ids;
  for (int i = 0; i < kSessions; ++i) {
    const std::string id = store.open_session();
    store.append(id, "session.closed", "agent", {{"outcome", "fixed"}});
    store.seal(id);
    ids.push_back(id);
  }
  // Speed is measured in bench/, not asserted here (sanitizer builds are many
  // times slower); the figure is printed for a look.
  const std::clock_t cpu_start = std::clock();
  const auto start = std::chrono::steady_clock::now();
  const StoreAudit a = store.verify();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  EXPECT_TRUE(a.ok) << dump(a);
  EXPECT_EQ(a.sessions.size(), static_cast<std::size_t>(kSessions));
  std::cout << "[ audit    ] " << kSessions << " sessions, " << a.ledger_lines
            << " ledger lines verified in " << cpu << " s CPU (" << took.count() << " s wall)\n";
  // And damage in the last one is still found.
  edit_line(store.events(ids.back()), 1, "request.created", "request.approved");
  expect_first(store.verify(), rel(ids.back(), "events.jsonl"), 1, "bad_hash");
}

}  // namespace
}  // namespace rdiag::records
