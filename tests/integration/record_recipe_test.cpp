// The by-hand check of docs/record-format.md, run exactly as the page gives
// it: the blocks marked <!-- recipe:NAME --> are taken from the page and run
// with bash, python3, ssh-keygen and sha256sum against records made by the
// real agent and by the records library (common/records). Each step must
// pass on an untouched record and fail on a changed byte, so the page cannot
// drift from what the agent writes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/records/audit.h"
#include "common/records/chain.h"
#include "common/records/journal.h"
#include "common/records/ledger.h"
#include "common/records/seal.h"
#include "common/ssh_key.h"
#include "common/sshsig.h"
#include "tests/support/harness.h"

namespace rdiag::test {
namespace {

namespace rec = rdiag::records;
using nlohmann::json;
using std::chrono::milliseconds;

const std::string& record_format_doc() {
  static const std::string text =
      read_file(std::string(RDIAG_SOURCE_DIR) + "/docs/record-format.md");
  return text;
}

// The body of the fenced block right after "<!-- recipe:NAME -->", or "".
std::string recipe(const std::string& name) {
  const std::string& doc = record_format_doc();
  const std::string marker = "<!-- recipe:" + name + " -->\n";
  const auto at = doc.find(marker);
  if (at == std::string::npos) return "";
  const auto fence = at + marker.size();
  if (doc.compare(fence, 3, "```") != 0) return "";
  const auto body = doc.find('\n', fence) + 1;
  const auto end = doc.find("\n```\n", body - 1);
  if (end == std::string::npos) return "";
  return doc.substr(body, end + 1 - body);
}

std::string dir_of(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

bool have(const std::string& tool) {
  return run({"bash", "-c", "command -v " + tool}).exit_code == 0;
}

// One byte of a file replaced.
void poke(const std::string& path, std::size_t offset, char byte) {
  std::string text = read_file(path);
  ASSERT_LT(offset, text.size()) << path;
  ASSERT_NE(text[offset], byte) << "not a change";
  text[offset] = byte;
  write_file(path, text);
}

// Offset of the first `what` on 1-based line `line` of text.
std::size_t offset_on_line(const std::string& text, int line, const std::string& what) {
  std::size_t pos = 0;
  for (int i = 1; i < line; ++i) pos = text.find('\n', pos) + 1;
  const std::size_t hit = text.find(what, pos);
  EXPECT_LT(hit, text.find('\n', pos)) << "no \"" << what << "\" on line " << line;
  return hit;
}

Ed25519PrivateKey new_seal_key() {
  auto key = generate_ed25519("rdiag-seal");
  EXPECT_TRUE(key) << key.error().message;
  return key ? *key : Ed25519PrivateKey{};
}

std::string fingerprint_of(const Ed25519PrivateKey& key) {
  return fingerprint_sha256(key.public_key().blob);
}

// Text a verifier must carry through untouched: quotes, backslashes, every
// kind of escape the canonical form uses, DEL, U+2028, '/', CJK and
// characters outside the BMP.
const std::string kAwkwardText =
    "重启 ERP 服务前先备份 C:\\ERP\\log/app.log \"quoted\"\ttab\nnew line \x01\x1f\x7f"
    " \u2028\u2029 \U0001F600 \U0001D11E backup";

// The state dir of an agent, written with the records library the way the
// agent writes it (agent/records/store.cpp): a ledger, one session with two
// attachments, a checkpoint, seal-1 by a first seal key, a key rotation to a
// second key, a rating and seal-2 by the second key.
struct LibraryRecord {
  std::string state;
  std::string id;
  std::string genesis;
  std::vector<std::string> trusted;  // old, new
  std::string current_public;        // the new (current) key's OpenSSH public key line

  std::string session_dir() const { return state + "/records/" + id; }
  std::string events() const { return session_dir() + "/events.jsonl"; }
  std::string ledger() const { return state + "/ledger.jsonl"; }
};

class LibraryRecordWriter {
 public:
  explicit LibraryRecordWriter(LibraryRecord* out) : out_(out) {}

  void write() {
    ASSERT_EQ(::mkdir(out_->state.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((out_->state + "/records").c_str(), 0700), 0);
    // rdiag-agent fingerprint reads the current (second) key from here.
    write_file(out_->state + "/seal_ed25519", openssh_private_key_pem(new_key_), 0600);
    out_->trusted = {fingerprint_of(old_key_), fingerprint_of(new_key_)};
    out_->current_public = public_key_line(new_key_.public_key());
    auto ledger =
        rec::Journal::open(out_->ledger(), rec::kLedgerGenesis, nullptr, rec::is_ledger_type);
    ASSERT_TRUE(ledger) << ledger.error().message;
    ledger_ = &*ledger;
    ASSERT_NO_FATAL_FAILURE(open_session());
    auto events = rec::Journal::open(out_->events(), out_->genesis, nullptr);
    ASSERT_TRUE(events) << events.error().message;
    events_ = &*events;
    ASSERT_NO_FATAL_FAILURE(session_events());
    ASSERT_NO_FATAL_FAILURE(seal(old_key_));
    ASSERT_NO_FATAL_FAILURE(ledger_checkpoint(old_key_));
    ASSERT_NO_FATAL_FAILURE(rotate());
    ASSERT_NO_FATAL_FAILURE(ledger_checkpoint(new_key_));
    event("rating", "customer:zhang.wei", {{"score", 5}, {"comment", "很好, 10/10"}});
    ASSERT_NO_FATAL_FAILURE(seal(new_key_));
  }

 private:
  static std::string engineer_fp() { return "SHA256:2Vq0mX3mYh0m7sUo7oN4L7Kc9qZbqGdxT1Zb0bD6e1Q"; }

  std::string ts() const { return rec::format_ts(std::chrono::system_clock::now()); }

  void ledger_line(const std::string& type, json data) {
    auto e = ledger_->append(type, "agent", std::move(data), ts());
    ASSERT_TRUE(e) << type << ": " << e.error().message;
  }

  void event(const std::string& type, const std::string& actor, json data) {
    auto e = events_->append(type, actor, std::move(data), ts());
    ASSERT_TRUE(e) << type << ": " << e.error().message;
  }

  void open_session() {
    out_->id = rec::make_session_id(std::chrono::system_clock::now(), 0x7A3FU);
    ledger_line("agent.started", {{"version", "0.1.0"}, {"pid", 4242}});
    ledger_line("session.opened", {{"session_id", out_->id}, {"engineer", engineer_fp()}});
    out_->genesis = ledger_->last_hash();
    ASSERT_EQ(::mkdir(out_->session_dir().c_str(), 0700), 0);
  }

  void session_events() {
    const std::string engineer = "engineer:" + engineer_fp();
    event("request.created", engineer,
          {{"ticket", "ERP-1024"},
           {"reason", kAwkwardText},
           {"scopes", {"diagnose", "shell"}},
           {"minutes", 60},
           {"engineer", {{"name", "李伟"}, {"id", "E1024"}, {"role", "engineer"}}},
           {"peer", "127.0.0.1:40022"}});
    event("request.approved", "customer:zhang.wei",
          {{"uid", 1000}, {"loginuid", 1000}, {"sudo_user", ""}, {"minutes", 60}});
    event("session.connected", engineer, {{"peer", "127.0.0.1:40022"}});
    event("note", engineer,
          {{"text", kAwkwardText},
           {"limits",
            {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}},
           {"nested", {{"empty", json::object()}, {"list", json::array()}, {"flag", false}}}});
    // A session checkpoint over line 4, as the agent writes it.
    const std::string sig =
        sshsig_sign(old_key_, kSealNamespace,
                    rec::checkpoint_message(out_->id, events_->last_seq(), events_->last_hash()));
    event("checkpoint", "agent",
          {{"covers_seq", events_->last_seq()},
           {"covers_hash", events_->last_hash()},
           {"fingerprint", fingerprint_of(old_key_)},
           {"signature", sig}});
    event("shell.opened", engineer, {{"file", "shell-1.cast"}});
    write_file(out_->session_dir() + "/shell-1.cast",
               "{\"version\":2,\"width\":80,\"height\":24}\n[0.5,\"o\",\"$ systemctl status "
               "erp\\r\\n\"]\n");
    event("shell.closed", engineer, {{"file", "shell-1.cast"}, {"exit_code", 0}});
    write_file(out_->session_dir() + "/report-1.json", "{\"findings\":[]}\n");
    event("diag.run", engineer, {{"report", "report-1.json"}});
    event("session.closed", engineer,
          {{"cause", "磁盘满 / disk full"}, {"solution", "rotated logs"}, {"outcome", "resolved"}});
  }

  // seal-N over the whole chain and the attachments, and its ledger line.
  void seal(const Ed25519PrivateKey& key) {
    const rec::ChainCheck chain = rec::verify_chain(read_file(out_->events()), out_->genesis);
    ASSERT_TRUE(chain.ok) << chain.message;
    auto attachments = rec::list_attachments(out_->session_dir());
    ASSERT_TRUE(attachments) << attachments.error().message;
    auto name = rec::write_seal(out_->session_dir(), key, out_->id, chain, *attachments);
    ASSERT_TRUE(name) << name.error().message;
    ledger_line("session.sealed",
                {{"session_id", out_->id},
                 {"seal", *name},
                 {"last_seq", chain.last_seq},
                 {"last_hash", chain.last_hash},
                 {"bytes", static_cast<std::int64_t>(read_file(out_->events()).size())},
                 {"sha256", sha256_hex(read_file(out_->session_dir() + "/" + *name))}});
  }

  void ledger_checkpoint(const Ed25519PrivateKey& key) {
    const std::string sig =
        sshsig_sign(key, kSealNamespace,
                    rec::checkpoint_message(rec::kLedgerCheckpointId, ledger_->last_seq(),
                                            ledger_->last_hash()));
    ledger_line("checkpoint", {{"covers_seq", ledger_->last_seq()},
                               {"covers_hash", ledger_->last_hash()},
                               {"fingerprint", fingerprint_of(key)},
                               {"signature", sig}});
  }

  void rotate() {
    const std::string old_fp = fingerprint_of(old_key_);
    const std::string new_fp = fingerprint_of(new_key_);
    ledger_line("key.rotated",
                {{"old_fingerprint", old_fp},
                 {"old_public", public_key_line(old_key_.public_key())},
                 {"new_fingerprint", new_fp},
                 {"new_public", public_key_line(new_key_.public_key())},
                 {"signature", sshsig_sign(old_key_, kSealNamespace,
                                           rec::key_rotation_message(old_fp, new_fp))}});
  }

  LibraryRecord* out_;
  Ed25519PrivateKey old_key_ = new_seal_key();
  Ed25519PrivateKey new_key_ = new_seal_key();
  rec::Journal* ledger_ = nullptr;
  rec::Journal* events_ = nullptr;
};

// What someone who can append to ledger.jsonl but does not hold the seal key
// would write to have a session of their own trusted: the session, sealed by
// a key X of theirs, and then, at the end of the ledger with correct chain
// hashes, a key.rotated line "X -> the current key" signed by X (the "old"
// key). The current key never signs anything after it.
class RotationForger {
 public:
  explicit RotationForger(const LibraryRecord& record) : record_(record) {}

  const Ed25519PrivateKey& key() const { return key_; }
  const std::string& session_id() const { return id_; }
  std::size_t rotation_line() const { return rotation_line_; }

  void forge() {
    auto ledger =
        rec::Journal::open(record_.ledger(), rec::kLedgerGenesis, nullptr, rec::is_ledger_type);
    ASSERT_TRUE(ledger) << ledger.error().message;
    id_ = rec::make_session_id(std::chrono::system_clock::now(), 0x0BADU);
    ASSERT_NE(id_, record_.id);
    const std::string engineer_fp = "SHA256:2Vq0mX3mYh0m7sUo7oN4L7Kc9qZbqGdxT1Zb0bD6e1Q";
    ASSERT_NO_FATAL_FAILURE(
        append(*ledger, "session.opened", {{"session_id", id_}, {"engineer", engineer_fp}}));
    const std::string dir = record_.state + "/records/" + id_;
    ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
    {
      auto events = rec::Journal::open(dir + "/events.jsonl", ledger->last_hash(), nullptr);
      ASSERT_TRUE(events) << events.error().message;
      ASSERT_NO_FATAL_FAILURE(
          append(*events, "request.created",
                 {{"ticket", "ERP-1024"},
                  {"reason", "nothing happened here"},
                  {"scopes", {"diagnose"}},
                  {"minutes", 30},
                  {"engineer", {{"name", "李伟"}, {"id", "E1024"}, {"role", "engineer"}}},
                  {"peer", "127.0.0.1:40022"}},
                 "engineer:" + engineer_fp));
      ASSERT_NO_FATAL_FAILURE(
          append(*events, "request.denied", {{"uid", 1000}}, "customer:zhang.wei"));
    }
    const std::string text = read_file(dir + "/events.jsonl");
    const rec::ChainCheck chain = rec::verify_chain(text, ledger->last_hash());
    ASSERT_TRUE(chain.ok) << chain.message;
    auto name = rec::write_seal(dir, key_, id_, chain, {});
    ASSERT_TRUE(name) << name.error().message;
    ASSERT_NO_FATAL_FAILURE(append(*ledger, "session.sealed",
                                   {{"session_id", id_},
                                    {"seal", *name},
                                    {"last_seq", chain.last_seq},
                                    {"last_hash", chain.last_hash},
                                    {"bytes", static_cast<std::int64_t>(text.size())},
                                    {"sha256", sha256_hex(read_file(dir + "/" + *name))}}));
    const std::string forged_fp = fingerprint_of(key_);
    const std::string current_fp = record_.trusted.back();
    ASSERT_NO_FATAL_FAILURE(append(
        *ledger, "key.rotated",
        {{"old_fingerprint", forged_fp},
         {"old_public", public_key_line(key_.public_key())},
         {"new_fingerprint", current_fp},
         {"new_public", record_.current_public},
         {"signature",
          sshsig_sign(key_, kSealNamespace, rec::key_rotation_message(forged_fp, current_fp))}}));
    rotation_line_ = static_cast<std::size_t>(ledger->last_seq());
  }

  // A ledger checkpoint after the rotation, signed by X, not by the new key.
  void checkpoint_by_own_key() {
    auto ledger =
        rec::Journal::open(record_.ledger(), rec::kLedgerGenesis, nullptr, rec::is_ledger_type);
    ASSERT_TRUE(ledger) << ledger.error().message;
    const std::string sig = sshsig_sign(
        key_, kSealNamespace,
        rec::checkpoint_message(rec::kLedgerCheckpointId, ledger->last_seq(), ledger->last_hash()));
    ASSERT_NO_FATAL_FAILURE(append(*ledger, "checkpoint",
                                   {{"covers_seq", ledger->last_seq()},
                                    {"covers_hash", ledger->last_hash()},
                                    {"fingerprint", fingerprint_of(key_)},
                                    {"signature", sig}}));
  }

 private:
  static void append(rec::Journal& journal, const std::string& type, json data,
                     const std::string& actor = "agent") {
    auto e = journal.append(type, actor, std::move(data),
                            rec::format_ts(std::chrono::system_clock::now()));
    ASSERT_TRUE(e) << type << ": " << e.error().message;
  }

  const LibraryRecord& record_;
  Ed25519PrivateKey key_ = new_seal_key();
  std::string id_;
  std::size_t rotation_line_ = 0;
};

class RecordRecipe : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"python3", "ssh-keygen", "sha256sum"}) {
      if (!have(tool)) GTEST_SKIP() << tool << " is not installed; the by-hand check needs it";
    }
    for (const char* name : {"trust.sh", "rotations.sh", "seal.sh", "sums.sh", "chain.sh",
                             "checkpoints.sh", "chain.py", "checkpoints.py"}) {
      ASSERT_FALSE(recipe(name).empty()) << "docs/record-format.md has no block recipe:" << name;
    }
    ASSERT_EQ(::mkdir(work_.c_str(), 0700), 0);
    write_file(work_ + "/chain.py", recipe("chain.py"));
    write_file(work_ + "/checkpoints.py", recipe("checkpoints.py"));
  }

  // Runs a recipe block with `bash -e`, as the page says, with S, ID, N and W
  // exported and rdiag-agent on PATH.
  ProcResult step(const std::string& name, const std::string& state, const std::string& id,
                  int seal) {
    ProcOptions opts;
    const char* path = std::getenv("PATH");
    opts.env = {
        {"S", state},
        {"ID", id},
        {"N", std::to_string(seal)},
        {"W", work_},
        {"PATH", dir_of(RDIAG_AGENT_BIN) + ":" + (path != nullptr ? path : "/usr/bin:/bin")}};
    opts.timeout = milliseconds(60000);
    return run({"bash", "-e", "-c", recipe(name)}, opts);
  }

  // Every step of the page for seal N; all must pass.
  void expect_recipe_passes(const std::string& state, const std::string& id, int seal) {
    for (const char* name :
         {"trust.sh", "rotations.sh", "seal.sh", "sums.sh", "chain.sh", "checkpoints.sh"}) {
      const ProcResult r = step(name, state, id, seal);
      EXPECT_EQ(r.exit_code, 0) << name << " for seal-" << seal << ":\n"
                                << r.out << r.err << "\nmessage:\n"
                                << read_file(work_ + "/message");
    }
  }

  void make_library_record() {
    record_.state = dir_ / "state";
    LibraryRecordWriter writer(&record_);
    ASSERT_NO_FATAL_FAILURE(writer.write());
    // The fixture is what the C++ verifiers accept, or the test proves nothing.
    const rec::SealCheck check = rec::verify_session_dir(record_.session_dir(), record_.id,
                                                         record_.genesis, record_.trusted);
    ASSERT_TRUE(check.ok) << check.message;
    ASSERT_EQ(check.seals, 2);
    ASSERT_EQ(check.unsealed_events, 0);
    auto index = rec::index_ledger(read_file(record_.ledger()));
    ASSERT_TRUE(index) << index.error().message;
    ASSERT_EQ(index->rotations.size(), 1U);
    // The whole store, trusting only the current key as an auditor would.
    const rec::StoreAudit audit = rec::verify_store(record_.state, {record_.trusted.back()});
    ASSERT_TRUE(audit.ok) << (audit.problems.empty() ? "" : audit.problems.front().message);
  }

  ProcResult library_step(const std::string& name, int seal = 2) {
    return step(name, record_.state, record_.id, seal);
  }

  TempDir dir_;
  std::string work_ = dir_ / "work";
  LibraryRecord record_;
};

TEST_F(RecordRecipe, EveryStepPassesOnARecordWrittenByTheRecordsLibrary) {
  ASSERT_NO_FATAL_FAILURE(make_library_record());
  for (int seal : {1, 2}) expect_recipe_passes(record_.state, record_.id, seal);

  const ProcResult sealed = library_step("seal.sh", 2);
  EXPECT_NE(sealed.out.find("Good \"rdiag-seal-v1@rdiag\" signature for rdiag-seal"),
            std::string::npos)
      << sealed.out << sealed.err;
  // The message the page builds with printf is the library's seal message.
  auto attachments = rec::list_attachments(record_.session_dir());
  ASSERT_TRUE(attachments);
  const rec::ChainCheck chain = rec::verify_chain(read_file(record_.events()), record_.genesis);
  auto message = rec::seal_message(record_.id, chain.last_seq, chain.last_hash, *attachments);
  ASSERT_TRUE(message);
  EXPECT_EQ(read_file(work_ + "/message"), *message);

  // A seal that does not exist is named, not silently replaced by another.
  const ProcResult missing = library_step("seal.sh", 3);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("the ledger has no session.sealed line for seal-3"), std::string::npos)
      << missing.err;

  // chain.py ends where the C++ verifier ends.
  const ProcResult chained = library_step("chain.sh");
  EXPECT_NE(chained.out.find("events.jsonl: " + std::to_string(chain.last_seq) +
                             " lines, chain intact, last hash " + chain.last_hash),
            std::string::npos)
      << chained.out;
}

TEST_F(RecordRecipe, SealsBeforeARotationNeedTheRotationStep) {
  ASSERT_NO_FATAL_FAILURE(make_library_record());
  // Trusting only the current key: seal-2 (new key) verifies, seal-1 (old
  // key) does not until rotations.sh has vouched for the old key.
  ASSERT_EQ(library_step("trust.sh").exit_code, 0);
  EXPECT_EQ(library_step("seal.sh", 2).exit_code, 0);
  const ProcResult old = library_step("seal.sh", 1);
  EXPECT_NE(old.exit_code, 0) << old.out << old.err;
  ASSERT_EQ(library_step("rotations.sh").exit_code, 0);
  const ProcResult after = library_step("seal.sh", 1);
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err;

  // A rotation line whose new key is not the trusted one vouches for nothing.
  ASSERT_EQ(library_step("trust.sh").exit_code, 0);
  const std::string other = public_key_line(new_seal_key().public_key());
  write_file(work_ + "/allowed_signers", "rdiag-seal " + other + "\n");
  const ProcResult untrusted = library_step("rotations.sh");
  EXPECT_NE(untrusted.exit_code, 0);
  EXPECT_NE(untrusted.out.find("rotation 1: its new key is not trusted"), std::string::npos)
      << untrusted.out << untrusted.err;
}

// The trust rule's endorsement condition (docs/record-format.md, "Key
// rotation and the trust rule"): a key.rotated line that X signed handing
// over to the current key makes X trusted only once the current key signed a
// ledger checkpoint after it. The checkpoints by the current key that come
// before the forged line do not count.
TEST_F(RecordRecipe, AForgedRotationDoesNotMakeTheForgersKeyTrusted) {
  ASSERT_NO_FATAL_FAILURE(make_library_record());
  RotationForger forger(record_);
  ASSERT_NO_FATAL_FAILURE(forger.forge());
  const std::string forged_fp = fingerprint_of(forger.key());
  const std::string allowed = work_ + "/allowed_signers";

  // The forgery is well made: the ledger chain holds, and without the
  // endorsement check X's seal would pass (as the page's recipe once let it).
  const ProcResult chained = library_step("chain.sh");
  ASSERT_EQ(chained.exit_code, 0) << chained.out << chained.err;
  ASSERT_EQ(library_step("trust.sh").exit_code, 0);
  const std::string trusted_now = read_file(allowed);
  write_file(allowed,
             trusted_now + "rdiag-seal " + public_key_line(forger.key().public_key()) + "\n");
  const ProcResult naive = step("seal.sh", record_.state, forger.session_id(), 1);
  ASSERT_EQ(naive.exit_code, 0) << naive.out << naive.err;

  auto expect_refused = [&](const std::string& when) {
    SCOPED_TRACE(when);
    ASSERT_EQ(library_step("trust.sh").exit_code, 0);
    const ProcResult rot = library_step("rotations.sh");
    EXPECT_NE(rot.exit_code, 0) << rot.out << rot.err;
    // Rotation 1 is the newest: the forged line. X's own signature verified;
    // what is missing is the current key's endorsement.
    EXPECT_NE(rot.out.find("Good \"rdiag-seal-v1@rdiag\" signature for rdiag-seal"),
              std::string::npos)
        << rot.out << rot.err;
    EXPECT_NE(rot.out.find("rotation 1: no later ledger checkpoint is signed by its new key"),
              std::string::npos)
        << rot.out << rot.err;
    EXPECT_EQ(read_file(allowed), trusted_now) << "a key was trusted";

    // So the by-hand seal check refuses the session X sealed.
    const ProcResult seal = step("seal.sh", record_.state, forger.session_id(), 1);
    EXPECT_NE(seal.exit_code, 0) << seal.out << seal.err;
    EXPECT_EQ(seal.out.find("Good "), std::string::npos) << seal.out;

    // And so does the store verifier, naming the forged line.
    const rec::StoreAudit audit = rec::verify_store(record_.state, {record_.trusted.back()});
    EXPECT_FALSE(audit.ok);
    EXPECT_EQ(
        std::count(audit.trusted_fingerprints.begin(), audit.trusted_fingerprints.end(), forged_fp),
        0);
    // The genuine rotation before it still hands over to the old key.
    EXPECT_EQ(audit.trusted_fingerprints,
              (std::vector<std::string>{record_.trusted[1], record_.trusted[0]}));
    auto has = [&](const std::string& file, std::size_t line, const std::string& reason,
                   const std::string& words) {
      return std::any_of(audit.problems.begin(), audit.problems.end(), [&](const auto& p) {
        return p.file == file && (line == 0 || p.line == line) && p.reason == reason &&
               p.message.find(words) != std::string::npos;
      });
    };
    std::string problems;
    for (const auto& p : audit.problems) {
      problems += p.file + ":" + std::to_string(p.line) + " " + p.reason + " " + p.message + "\n";
    }
    EXPECT_TRUE(has("ledger.jsonl", forger.rotation_line(), "bad_rotation",
                    "no checkpoint signed by the new key covers it"))
        << problems;
    EXPECT_TRUE(
        has("records/" + forger.session_id() + "/seal-1.sshsig", 0, "untrusted_signer", forged_fp))
        << problems;
  };
  expect_refused("no checkpoint after the forged rotation");

  // A checkpoint after it signed by X itself vouches for nothing either.
  ASSERT_NO_FATAL_FAILURE(forger.checkpoint_by_own_key());
  ASSERT_EQ(library_step("chain.sh").exit_code, 0);
  expect_refused("a checkpoint by the forger's own key after it");
}

TEST_F(RecordRecipe, OneChangedByteInEventsFailsTheChainScriptOnThatLine) {
  ASSERT_NO_FATAL_FAILURE(make_library_record());
  expect_recipe_passes(record_.state, record_.id, 2);
  const std::string original = read_file(record_.events());

  // A letter in line 4's note: the seal (over the last line) still verifies,
  // the chain does not. Both steps are needed.
  poke(record_.events(), offset_on_line(original, 4, "backup"), 'B');
  EXPECT_EQ(library_step("seal.sh").exit_code, 0);
  ProcResult r = library_step("chain.sh");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("events.jsonl line 4: hash does not match the line"), std::string::npos)
      << r.out << r.err;
  EXPECT_EQ(rec::verify_chain(read_file(record_.events()), record_.genesis).bad_line, 4U);

  // The same JSON spelled differently ("/" as "\\/") is tamper too.
  std::string escaped = original;
  escaped.insert(offset_on_line(original, 4, "/app.log"), "\\");
  write_file(record_.events(), escaped);
  r = library_step("chain.sh");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("events.jsonl line 4: not canonical"), std::string::npos) << r.err;

  // What Python would read without complaint but rdiag never writes: a null
  // (canonical as Python dumps it) and a key given twice.
  std::string with_null = original;
  with_null.replace(offset_on_line(original, 4, R"("flag":false)"), 12, R"("flag":null)");
  write_file(record_.events(), with_null);
  r = library_step("chain.sh");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("events.jsonl line 4: holds null"), std::string::npos) << r.err;
  std::string twice = original;
  twice.insert(offset_on_line(original, 4, R"("flag":false)"), R"("flag":false,)");
  write_file(record_.events(), twice);
  r = library_step("chain.sh");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("events.jsonl line 4: ValueError: a key appears twice"), std::string::npos)
      << r.err;

  // A cut final line.
  write_file(record_.events(), original.substr(0, original.size() - 1));
  r = library_step("chain.sh");
  EXPECT_EQ(r.exit_code, 1);
  const int lines = static_cast<int>(std::count(original.begin(), original.end(), '\n'));
  EXPECT_NE(r.err.find("events.jsonl line " + std::to_string(lines) + ": no newline at the end"),
            std::string::npos)
      << r.err;

  // The ledger is checked the same way: a changed byte in session.opened.
  write_file(record_.events(), original);
  const std::string ledger = read_file(record_.ledger());
  poke(record_.ledger(), offset_on_line(ledger, 2, R"("engineer":"SHA256:)") + 20, 'Z');
  r = library_step("chain.sh");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("ledger.jsonl line 2: hash does not match the line"), std::string::npos)
      << r.err;
}

TEST_F(RecordRecipe, ChangedAttachmentFailsSha256sumAndTheSeal) {
  ASSERT_NO_FATAL_FAILURE(make_library_record());
  expect_recipe_passes(record_.state, record_.id, 2);  // leaves the trusted sums in W
  const std::string cast = record_.session_dir() + "/shell-1.cast";
  poke(cast, offset_on_line(read_file(cast), 2, "erp"), 'E');

  const ProcResult sums = library_step("sums.sh");
  EXPECT_NE(sums.exit_code, 0);
  EXPECT_NE(sums.out.find("shell-1.cast: FAILED"), std::string::npos) << sums.out << sums.err;
  EXPECT_NE(sums.out.find("report-1.json: OK"), std::string::npos) << sums.out;

  // Rebuilt from the changed file, the message no longer matches the seal.
  const ProcResult seal = library_step("seal.sh");
  EXPECT_NE(seal.exit_code, 0);
  EXPECT_NE((seal.out + seal.err).find("Signature verification failed"), std::string::npos)
      << seal.out << seal.err;
  // And the C++ verifier names the earliest seal that covers it.
  const rec::SealCheck check =
      rec::verify_session_dir(record_.session_dir(), record_.id, record_.genesis, record_.trusted);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.file, "seal-1.sshsig");
}

TEST_F(RecordRecipe, SshKeygenRejectsAChangedMessage) {
  ASSERT_NO_FATAL_FAILURE(make_library_record());
  ASSERT_EQ(library_step("trust.sh").exit_code, 0);
  ASSERT_EQ(library_step("seal.sh").exit_code, 0);
  const std::string message = read_file(work_ + "/message");
  auto verify = [&](const std::string& text) {
    ProcOptions opts;
    opts.stdin_data = text;
    return run({"ssh-keygen", "-Y", "verify", "-f", work_ + "/allowed_signers", "-I", "rdiag-seal",
                "-n", "rdiag-seal-v1@rdiag", "-s", record_.session_dir() + "/seal-2.sshsig"},
               opts);
  };
  ASSERT_EQ(verify(message).exit_code, 0) << "the unchanged message must verify";

  // The message's lines: magic, id, seq, hash, then one per attachment.
  std::vector<std::string> lines;
  for (std::size_t pos = 0; pos < message.size(); pos = message.find('\n', pos) + 1) {
    lines.push_back(message.substr(pos, message.find('\n', pos) - pos));
  }
  ASSERT_EQ(lines.size(), 6U) << message;
  auto joined = [](const std::vector<std::string>& ls) {
    std::string out;
    for (const auto& l : ls) out += l + "\n";
    return out;
  };
  auto with_line = [&](std::size_t i, const std::string& text) {
    std::vector<std::string> ls = lines;
    ls[i] = text;
    return joined(ls);
  };
  std::vector<std::string> swapped = lines;
  std::swap(swapped[4], swapped[5]);
  std::string hash = lines[3];
  hash[10] = hash[10] == '0' ? '1' : '0';
  const std::vector<std::string> changed = {
      with_line(2, std::to_string(std::stoll(lines[2]) - 1)),  // an earlier seq
      with_line(3, hash),                                      // one hex digit
      with_line(1, record_.id.substr(0, 19) + (record_.id[19] == 'A' ? "B" : "A")),
      joined(swapped),                                       // attachment lines swapped
      message.substr(0, message.size() - 1),                 // no final newline
      message + "\n",                                        // a blank line added
      message + "extra.txt " + std::string(64, '0') + "\n",  // an attachment added
  };
  for (const std::string& text : changed) {
    ASSERT_NE(text, message);
    const ProcResult r = verify(text);
    EXPECT_NE(r.exit_code, 0) << "accepted:\n" << text;
    EXPECT_NE((r.out + r.err).find("Signature verification failed"), std::string::npos) << r.err;
  }
  // The right message under another namespace is refused too.
  const ProcResult ns =
      run({"ssh-keygen", "-Y", "verify", "-f", work_ + "/allowed_signers", "-I", "rdiag-seal", "-n",
           "rdiag-bundle-v1@rdiag", "-s", record_.session_dir() + "/seal-2.sshsig"},
          {.stdin_data = message});
  EXPECT_NE(ns.exit_code, 0);
}

// Section 10 of the page: Python's json.dumps and nlohmann's dump() give the
// same bytes for every Unicode scalar value, as values and as keys.
TEST_F(RecordRecipe, PythonDumpMatchesNlohmannForEveryCodePoint) {
  const std::string genesis(64, 'a');
  std::string text;
  rec::Event prev;
  bool first = true;
  auto add = [&](json data) {
    auto e = rec::make_next_event(first ? nullptr : &prev, genesis, "note", "agent",
                                  std::move(data), "2026-11-28T06:05:00.123Z");
    ASSERT_TRUE(e) << e.error().message;
    text += rec::event_line(*e) + "\n";
    prev = std::move(*e);
    first = false;
  };
  auto utf8 = [](std::uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
  };
  for (std::uint32_t base = 0; base < 0x110000; base += 1024) {
    json data = json::object();
    std::string all;
    for (std::uint32_t cp = base; cp < base + 1024; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      // Keys go through the same escaping as values in both libraries; a
      // sample of them keeps the test quick, every one is in a value.
      if (cp % 16 == 0 || cp < 0x80) data[utf8(cp)] = static_cast<std::int64_t>(cp);
      all += utf8(cp);
    }
    data["all"] = all;
    ASSERT_NO_FATAL_FAILURE(add(std::move(data)));
  }
  json order = json::object();
  for (std::uint32_t cp : {0x7FU, 0x80U, 0x7FFU, 0x800U, 0xD7FFU, 0xE000U, 0xFFFDU, 0xFFFFU,
                           0x10000U, 0x1F600U, 0x10FFFFU}) {
    order[utf8(cp)] = true;
  }
  ASSERT_NO_FATAL_FAILURE(add(std::move(order)));
  ASSERT_NO_FATAL_FAILURE(add({{"s", kAwkwardText}}));

  const std::string file = work_ + "/codepoints.jsonl";
  write_file(file, text);
  const ProcResult r = run({"python3", work_ + "/chain.py", file, genesis});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("chain intact, last hash " + prev.hash), std::string::npos) << r.out;
}

// The same steps on what the real agent writes: a request that was pending
// when the agent stopped is sealed `session.interrupted` at the next start.
TEST_F(RecordRecipe, EveryStepPassesOnARecordWrittenByTheAgent) {
  Key alice = make_key(dir_.path(), "alice");
  Agent agent(dir_ / "agent");
  ASSERT_EQ(::mkdir((dir_ / "agent").c_str(), 0700), 0);
  write_file(agent.engineers_path(),
             "rdiag-name=\"李伟\",rdiag-id=\"E1024\" " + alice.public_line + "\n", 0600);
  ASSERT_TRUE(agent.start()) << agent.log();
  std::string id;
  {
    RpcClient client;
    ASSERT_TRUE(client.connect(agent.port(), alice.path)) << client.error() << agent.log();
    auto answer = client.call(rpc_request(1, "session.request",
                                          {{"ticket", "ERP-1024"},
                                           {"reason", kAwkwardText},
                                           {"scopes", {"diagnose"}},
                                           {"minutes", 30}}));
    ASSERT_TRUE(answer) << agent.log();
    ASSERT_TRUE(answer->contains("result")) << answer->dump() << agent.log();
    id = (*answer)["result"].value("request_id", "");
  }
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(agent.stop(), 0) << agent.log();
  ASSERT_TRUE(agent.start()) << agent.log();  // recovery: session.interrupted and seal-1
  EXPECT_EQ(agent.stop(), 0) << agent.log();

  const std::string state = agent.state_dir();
  const std::string events = state + "/records/" + id + "/events.jsonl";
  const std::string text = read_file(events);
  ASSERT_NE(text.find("\"type\":\"session.interrupted\""), std::string::npos) << text;
  auto latest = rec::latest_seal_index(state + "/records/" + id);
  ASSERT_TRUE(latest);
  ASSERT_GE(*latest, 1) << "the interrupted session was not sealed";
  expect_recipe_passes(state, id, *latest);

  poke(events, offset_on_line(text, 1, "backup"), 'B');
  const ProcResult r = step("chain.sh", state, id, *latest);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("events.jsonl line 1: hash does not match the line"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace rdiag::test
