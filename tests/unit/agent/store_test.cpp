// The records writer on real files: sessions chained to the ledger, seals
// registered before they are written, recovery after a crash, checkpoints,
// seal key rotation, retention.
#include "agent/records/store.h"

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/records/audit.h"
#include "common/records/seal.h"
#include "common/sshsig.h"
#include "tests/unit/common/test_util.h"

namespace rdiag::agent {
namespace {

namespace fs = std::filesystem;
using records::Event;

constexpr const char* kEngineer = "engineer:SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Event> events_of(const std::string& text, records::TypePredicate known) {
  std::vector<Event> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto e = records::parse_event_line(line, known);
    EXPECT_TRUE(e) << line;
    if (e) out.push_back(*e);
  }
  return out;
}

class StoreTest : public ::testing::Test {
 protected:
  test_util::TempDir dir_{"store"};
  Ed25519PrivateKey key_ = *generate_ed25519("seal");
  StoreOptions options_;

  std::unique_ptr<Store> open(StoreRecovery* rec = nullptr) {
    auto s = Store::open(dir_.path(), key_, options_, rec);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }
  std::string events_path(const std::string& id) const {
    return dir_.path() + "/records/" + id + "/events.jsonl";
  }
  std::vector<Event> ledger() const {
    return events_of(slurp(dir_.file("ledger.jsonl")), records::is_ledger_type);
  }
  std::vector<Event> events(const std::string& id) const {
    return events_of(slurp(events_path(id)), records::is_known_event_type);
  }
  records::SealCheck verify(const Store& store, const std::string& id) const {
    return records::verify_session_dir(dir_.path() + "/records/" + id, id,
                                       store.ledger_session(id)->genesis,
                                       {fingerprint_sha256(key_.public_key().blob)});
  }
  std::string open_one(Store& store) {
    auto s = store.open_session("request.created", kEngineer,
                                {{"ticket", "T-1"}, {"reason", "磁盘满了"}});
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? s->session_id : "";
  }
};

TEST_F(StoreTest, SessionIsChainedToItsLedgerLineAndSealRegisteredFirst) {
  auto store = open();
  const std::string id = open_one(*store);
  ASSERT_TRUE(records::is_valid_session_id(id)) << id;
  ASSERT_TRUE(store->append(id, "note", kEngineer, {{"text", "checked"}}));
  ASSERT_TRUE(store->append(id, "session.closed", kEngineer, {{"outcome", "resolved"}}));
  auto seal = store->seal(id);
  ASSERT_TRUE(seal) << seal.error().message;
  EXPECT_EQ(*seal, "seal-1.sshsig");

  const auto lines = ledger();
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0].type, "session.opened");
  EXPECT_EQ(lines[0].data["session_id"], id);
  EXPECT_EQ(lines[1].type, "session.sealed");
  EXPECT_EQ(lines[1].data["seal"], "seal-1.sshsig");
  EXPECT_EQ(lines[1].data["last_seq"], 3);
  EXPECT_EQ(lines[1].data["bytes"], static_cast<std::int64_t>(fs::file_size(events_path(id))));
  EXPECT_EQ(lines[1].data["sha256"],
            sha256_hex(slurp(dir_.path() + "/records/" + id + "/seal-1.sshsig")));

  const auto evs = events(id);
  ASSERT_EQ(evs.size(), 3U);
  EXPECT_EQ(evs[0].prev, lines[0].hash);  // the session hangs on its ledger line
  EXPECT_EQ(evs[0].data["reason"], "磁盘满了");
  const auto check = verify(*store, id);
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_EQ(check.covered_seq, 3);
}

TEST_F(StoreTest, ASecondWriterIsRefusedWhileTheFirstHoldsTheLedger) {
  auto store = open();
  auto second = Store::open(dir_.path(), key_, options_, nullptr);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().reason, "busy");
  EXPECT_NE(second.error().message.find("ledger.jsonl"), std::string::npos);
}

TEST_F(StoreTest, RestartSealsAnOpenSessionAsInterruptedAndLeavesEndedOnesAlone) {
  std::string open_id;
  std::string closed_id;
  {
    auto store = open();
    open_id = open_one(*store);
    closed_id = open_one(*store);
    ASSERT_TRUE(store->append(closed_id, "request.denied", "agent", {{"reason", "no"}}));
    ASSERT_TRUE(store->seal(closed_id));
  }
  const std::string closed_before = slurp(events_path(closed_id));
  StoreRecovery rec;
  auto store = open(&rec);
  EXPECT_EQ(rec.interrupted, 1);
  EXPECT_EQ(rec.sealed, 1);
  EXPECT_TRUE(rec.tampered.empty());
  const auto evs = events(open_id);
  ASSERT_EQ(evs.size(), 2U);
  EXPECT_EQ(evs[1].type, "session.interrupted");
  EXPECT_TRUE(verify(*store, open_id).ok);
  EXPECT_EQ(verify(*store, open_id).covered_seq, 2);
  EXPECT_EQ(slurp(events_path(closed_id)), closed_before);

  // A second restart finds nothing to do.
  store.reset();
  StoreRecovery again;
  store = open(&again);
  EXPECT_EQ(again.interrupted + again.sealed + again.repaired + again.voided, 0);
}

TEST_F(StoreTest, AnUnterminatedLastLineIsCutAndRecordedButOtherDamageIsLeftAlone) {
  std::string cut_id;
  std::string bad_id;
  {
    auto store = open();
    cut_id = open_one(*store);
    bad_id = open_one(*store);
  }
  {
    std::ofstream(events_path(cut_id), std::ios::app) << "{\"v\":1,\"seq\":2,\"ts\":";
    std::ofstream(dir_.file("ledger.jsonl"), std::ios::app) << "{\"v\":1,";
  }
  std::string bad = slurp(events_path(bad_id));
  bad[bad.find("T-1") + 2] = '2';  // one byte of a middle field
  { std::ofstream(events_path(bad_id), std::ios::trunc | std::ios::binary) << bad; }

  StoreRecovery rec;
  auto store = open(&rec);
  ASSERT_TRUE(store);
  EXPECT_EQ(rec.repaired, 2);  // the ledger and one session
  ASSERT_EQ(rec.tampered.size(), 1U);
  EXPECT_EQ(rec.tampered[0], bad_id);
  EXPECT_EQ(slurp(events_path(bad_id)), bad);  // never "repaired"
  const auto evs = events(cut_id);
  ASSERT_GE(evs.size(), 3U);
  EXPECT_EQ(evs[1].type, "record.repaired");
  EXPECT_EQ(evs[2].type, "session.interrupted");
  EXPECT_TRUE(verify(*store, cut_id).ok);
  bool ledger_repaired = false;
  for (const auto& l : ledger()) ledger_repaired |= l.type == "record.repaired";
  EXPECT_TRUE(ledger_repaired);
}

TEST_F(StoreTest, ATamperedLedgerStopsTheWriterWithAnInstruction) {
  {
    auto store = open();
    open_one(*store);
    open_one(*store);
  }
  std::string text = slurp(dir_.file("ledger.jsonl"));
  text[text.find("session.opened") + 3] = 'X';
  { std::ofstream(dir_.file("ledger.jsonl"), std::ios::trunc | std::ios::binary) << text; }
  auto store = Store::open(dir_.path(), key_, options_, nullptr);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().reason, "tamper");
  EXPECT_NE(store.error().message.find("line 1"), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("records verify --all"), std::string::npos);
  EXPECT_EQ(slurp(dir_.file("ledger.jsonl")), text);
}

TEST_F(StoreTest, OpenedButNeverWrittenSessionIsVoidedInTheLedger) {
  std::string id;
  {
    auto store = open();
    id = open_one(*store);
  }
  fs::remove_all(dir_.path() + "/records/" + id);  // as if the crash came before mkdir
  StoreRecovery rec;
  auto store = open(&rec);
  EXPECT_EQ(rec.voided, 1);
  EXPECT_TRUE(store->ledger_session(id)->voided);
  EXPECT_EQ(ledger().back().type, "session.void");
}

TEST_F(StoreTest, ASealTheLedgerNamesButACrashLostIsRebuiltByteForByte) {
  std::string id;
  {
    auto store = open();
    id = open_one(*store);
    ASSERT_TRUE(store->append(id, "session.closed", kEngineer, {{"outcome", "resolved"}}));
    ASSERT_TRUE(store->seal(id));
  }
  const std::string seal_path = dir_.path() + "/records/" + id + "/seal-1.sshsig";
  const std::string original = slurp(seal_path);
  fs::remove(seal_path);
  { std::ofstream(seal_path + ".tmp.Ab12Cd") << "partial"; }
  StoreRecovery rec;
  auto store = open(&rec);
  EXPECT_TRUE(rec.tampered.empty());
  EXPECT_EQ(slurp(seal_path), original);
  EXPECT_FALSE(fs::exists(seal_path + ".tmp.Ab12Cd"));
  EXPECT_TRUE(verify(*store, id).ok);
}

TEST_F(StoreTest, CheckpointsAreSignedEveryNEventsInSessionAndLedger) {
  options_.checkpoint_every_events = 4;
  auto store = open();
  const std::string id = open_one(*store);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(store->append(id, "note", kEngineer, {{"text", std::to_string(i)}}));
  }
  const std::string fp = fingerprint_sha256(key_.public_key().blob);
  int checkpoints = 0;
  const auto evs = events(id);
  for (std::size_t i = 0; i < evs.size(); ++i) {
    if (evs[i].type != "checkpoint") continue;
    ++checkpoints;
    EXPECT_EQ(evs[i].data["covers_seq"], evs[i - 1].seq);
    EXPECT_EQ(evs[i].data["covers_hash"], evs[i].prev);
    const auto msg = records::checkpoint_message(id, evs[i - 1].seq, evs[i].prev);
    EXPECT_TRUE(
        sshsig_verify_signer(evs[i].data["signature"].get<std::string>(), fp, kSealNamespace, msg));
  }
  EXPECT_EQ(checkpoints, 2);
  for (int i = 0; i < 4; ++i) open_one(*store);
  bool ledger_checkpoint = false;
  for (const auto& l : ledger()) ledger_checkpoint |= l.type == "checkpoint";
  EXPECT_TRUE(ledger_checkpoint);
}

TEST_F(StoreTest, TimedCheckpointsComeFromTick) {
  options_.checkpoint_interval = std::chrono::seconds(0);
  auto store = open();
  const std::string id = open_one(*store);
  ASSERT_TRUE(store->append(id, "note", kEngineer, {{"text", "a live session"}}));
  store->tick();
  EXPECT_EQ(events(id).back().type, "checkpoint");
  EXPECT_EQ(ledger().back().type, "checkpoint");
  const auto count = events(id).size();
  store->tick();  // nothing new: no empty checkpoints
  EXPECT_EQ(events(id).size(), count);
}

TEST_F(StoreTest, RotationIsSignedByTheOldKeyAndOldSealsStillVerify) {
  std::string old_id;
  const std::string old_fp = fingerprint_sha256(key_.public_key().blob);
  auto store = open();
  old_id = open_one(*store);
  ASSERT_TRUE(store->append(old_id, "session.closed", kEngineer, {{"outcome", "resolved"}}));
  ASSERT_TRUE(store->seal(old_id));
  auto next = *generate_ed25519("seal2");
  const std::string new_fp = fingerprint_sha256(next.public_key().blob);
  auto rotated = store->rotate_seal_key(next);
  ASSERT_TRUE(rotated) << rotated.error().message;
  EXPECT_EQ(*rotated, new_fp);
  EXPECT_EQ(store->seal_fingerprint(), new_fp);

  // The key file now holds the new key; the spare is gone.
  auto on_disk = parse_openssh_private_key(slurp(dir_.file("seal_ed25519")));
  ASSERT_TRUE(on_disk);
  EXPECT_EQ(fingerprint_sha256(on_disk->public_key().blob), new_fp);
  EXPECT_FALSE(fs::exists(dir_.file("keys/seal_ed25519.next")));

  Event line;
  for (const auto& l : ledger())
    if (l.type == "key.rotated") line = l;
  EXPECT_EQ(line.data["old_fingerprint"], old_fp);
  EXPECT_TRUE(sshsig_verify_signer(line.data["signature"].get<std::string>(), old_fp,
                                   kSealNamespace, records::key_rotation_message(old_fp, new_fp)));

  const std::string new_id = open_one(*store);
  ASSERT_TRUE(store->append(new_id, "session.closed", kEngineer, {{"outcome", "resolved"}}));
  ASSERT_TRUE(store->seal(new_id));
  const std::string dir = dir_.path() + "/records/";
  EXPECT_TRUE(records::verify_session_dir(dir + old_id, old_id,
                                          store->ledger_session(old_id)->genesis, {old_fp, new_fp})
                  .ok);
  EXPECT_TRUE(records::verify_session_dir(dir + new_id, new_id,
                                          store->ledger_session(new_id)->genesis, {new_fp})
                  .ok);
  EXPECT_FALSE(records::verify_session_dir(dir + new_id, new_id,
                                           store->ledger_session(new_id)->genesis, {old_fp})
                   .ok);
}

TEST_F(StoreTest, PruneRemovesOnlyEndedSealedSessionsPastRetentionWithALedgerLine) {
  auto store = open();
  const std::string ended = open_one(*store);
  ASSERT_TRUE(store->append(ended, "session.closed", kEngineer, {{"outcome", "resolved"}}));
  ASSERT_TRUE(store->seal(ended));
  const std::string pending = open_one(*store);

  auto now = std::chrono::system_clock::now();
  auto none = store->prune(180, now);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());

  auto removed = store->prune(180, now + std::chrono::hours(24 * 181));
  ASSERT_TRUE(removed);
  ASSERT_EQ(removed->size(), 1U);
  EXPECT_EQ((*removed)[0], ended);
  EXPECT_FALSE(fs::exists(dir_.path() + "/records/" + ended));
  EXPECT_TRUE(fs::exists(events_path(pending)));
  EXPECT_EQ(ledger().back().type, "session.pruned");
  EXPECT_EQ(ledger().back().data["session_id"], ended);

  // The ledger still indexes cleanly after a restart.
  store.reset();
  StoreRecovery rec;
  store = open(&rec);
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->ledger_session(ended)->pruned);
}

TEST_F(StoreTest, InvalidUtf8AndGb18030BytesAreRecordedAsValidText) {
  auto store = open();
  // "磁盘" in GB18030 (not valid UTF-8) and a stray 0xFF.
  const std::string gb = "\xb4\xc5\xc5\xcc \xff end";
  auto s = store->open_session("request.created", kEngineer, {{"reason", gb}});
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(store->append(s->session_id, "note", kEngineer, {{"text", gb}}));
  ASSERT_TRUE(store->append(s->session_id, "session.closed", kEngineer, {{"outcome", "resolved"}}));
  ASSERT_TRUE(store->seal(s->session_id));
  EXPECT_TRUE(verify(*store, s->session_id).ok);
  const auto evs = events(s->session_id);
  EXPECT_NE(evs[1].data["text"].get<std::string>().find("\xef\xbf\xbd"), std::string::npos);
  EXPECT_NE(evs[1].data["text"].get<std::string>().find(" end"), std::string::npos);
}

// A full disk: the request that cannot be recorded is refused and leaves no
// session behind; once there is room again the same writer records again,
// without a restart, and everything verifies.
TEST_F(StoreTest, AFullDiskRefusesTheEventAndRecoversWhenThereIsRoom) {
  const std::string mnt = dir_.file("small");
  fs::create_directory(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k,mode=0700") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs here (needs root): " << std::strerror(errno);
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  StoreRecovery rec;
  auto opened = Store::open(mnt, key_, options_, &rec);
  ASSERT_TRUE(opened) << opened.error().message;
  auto& store = *opened;
  const std::string ok_id = open_one(*store);
  {
    std::ofstream filler(mnt + "/filler", std::ios::binary);
    const std::string block(4096, 'x');
    for (int i = 0; i < 64 && filler; ++i) filler << block << std::flush;
  }
  int refused = 0;
  for (int i = 0; i < 20; ++i) {
    auto s = store->open_session("request.created", kEngineer,
                                 {{"ticket", "T-2"}, {"reason", std::string(2000, 'r')}});
    if (s) continue;  // a little room was left
    ++refused;
    EXPECT_EQ(s.error().reason, "recording_failed") << s.error().message;
  }
  EXPECT_GT(refused, 0);
  // Whatever was refused left no folder behind: every folder has a ledger
  // line and a first event.
  std::size_t folders = 0;
  for (const auto& entry : fs::directory_iterator(mnt + "/records")) {
    ++folders;
    EXPECT_GT(fs::file_size(entry.path() / "events.jsonl"), 0U) << entry.path();
  }
  EXPECT_EQ(folders, 21U - static_cast<std::size_t>(refused));
  fs::remove(mnt + "/filler");
  const std::string later = open_one(*store);
  ASSERT_FALSE(later.empty());
  store.reset();
  auto again = Store::open(mnt, key_, options_, &rec);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(rec.tampered.empty());
  const auto audit = records::verify_store(mnt, {fingerprint_sha256(key_.public_key().blob)});
  EXPECT_TRUE(audit.ok) << (audit.problems.empty() ? "" : audit.problems[0].message);
  for (const auto& id : {ok_id, later}) {
    EXPECT_TRUE(records::verify_session_dir(mnt + "/records/" + id, id,
                                            (*again)->ledger_session(id)->genesis,
                                            {fingerprint_sha256(key_.public_key().blob)})
                    .ok)
        << id;
  }
}

TEST_F(StoreTest, ATornFirstLineMeansTheRequestWasNeverAcknowledged) {
  std::string id;
  {
    auto store = open();
    id = open_one(*store);
  }
  // As if the crash came in the middle of writing request.created.
  { std::ofstream(events_path(id), std::ios::trunc) << "{\"v\":1,\"seq\":1,\"ts\""; }
  StoreRecovery rec;
  auto store = open(&rec);
  EXPECT_EQ(rec.voided, 1);
  EXPECT_TRUE(store->ledger_session(id)->voided);
  EXPECT_FALSE(fs::exists(dir_.path() + "/records/" + id));
}

TEST_F(StoreTest, ASessionThatCannotBeSealedIsReportedAndTheAgentStillStarts) {
  std::string bad_id;
  std::string good_id;
  {
    auto store = open();
    bad_id = open_one(*store);
    good_id = open_one(*store);
  }
  // A symlink is never an attachment: sealing this folder must fail.
  fs::create_symlink("/etc/passwd", dir_.path() + "/records/" + bad_id + "/passwd");
  StoreRecovery rec;
  auto store = open(&rec);
  ASSERT_TRUE(store);
  ASSERT_EQ(rec.tampered.size(), 1U);
  EXPECT_EQ(rec.tampered[0], bad_id);
  EXPECT_TRUE(verify(*store, good_id).ok);
  EXPECT_EQ(events(good_id).back().type, "session.interrupted");
}

TEST_F(StoreTest, ARotationLineNoCheckpointEndorsesStopsTheWriter) {
  {
    auto store = open();
    open_one(*store);
  }
  // Someone with write access but not the seal key hands over to a key of
  // their own: a correctly chained key.rotated line, and no checkpoint.
  auto x = *generate_ed25519("intruder");
  const std::string cur = fingerprint_sha256(key_.public_key().blob);
  const std::string xfp = fingerprint_sha256(x.public_key().blob);
  {
    records::RecoveryReport cut;
    auto ledger = records::Journal::open(dir_.file("ledger.jsonl"), records::kLedgerGenesis, &cut,
                                         records::is_ledger_type);
    ASSERT_TRUE(ledger);
    ASSERT_TRUE(ledger->append(
        "key.rotated", "agent",
        {{"old_fingerprint", xfp},
         {"old_public", public_key_line(x.public_key())},
         {"new_fingerprint", cur},
         {"new_public", public_key_line(key_.public_key())},
         {"signature", sshsig_sign(x, kSealNamespace, records::key_rotation_message(xfp, cur))}},
        records::format_ts(std::chrono::system_clock::now())));
  }
  auto store = Store::open(dir_.path(), key_, options_, nullptr);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().reason, "tamper");
}

TEST_F(StoreTest, UnknownSessionsAreNotFound) {
  auto store = open();
  auto r = store->append("20261128-000000-ZZZZ", "note", kEngineer, {{"text", "x"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "not_found");
}

}  // namespace
}  // namespace rdiag::agent
