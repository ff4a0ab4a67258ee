// The records writer and the store verifier agree: whatever agent::Store
// writes (sessions, seals, later seals, checkpoints, key rotations, recovery,
// prunes) passes records::verify_store, and a changed byte does not.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>

#include "agent/records/store.h"
#include "common/records/audit.h"
#include "tests/unit/common/test_util.h"

namespace rdiag::agent {
namespace {

namespace fs = std::filesystem;
using records::StoreAudit;

constexpr const char* kEngineer = "engineer:SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

std::string fp_of(const Ed25519PrivateKey& key) {
  return fingerprint_sha256(key.public_key().blob);
}

std::string dump(const StoreAudit& a) {
  std::string out;
  for (const auto& p : a.problems) {
    out += "  [" + p.reason + "] " + p.file + ":" + std::to_string(p.line) + " " + p.message + "\n";
  }
  return out;
}

class StoreAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k = generate_ed25519("seal");
    ASSERT_TRUE(k);
    key_ = *k;
    options_.checkpoint_every_events = 3;
    auto s = Store::open(dir_.path(), key_, options_, nullptr);
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }

  std::string session(int events) {
    auto s = store_->open_session("request.created", kEngineer, {{"ticket", "T-7"}});
    EXPECT_TRUE(s) << s.error().message;
    if (!s) return {};
    for (int i = 0; i < events; ++i) {
      EXPECT_TRUE(store_->append(s->session_id, "note", kEngineer,
                                 {{"text", "磁盘满 " + std::to_string(i)}}));
    }
    return s->session_id;
  }
  void close_and_seal(const std::string& id) {
    ASSERT_TRUE(store_->append(id, "session.closed", "agent", {{"outcome", "fixed"}}));
    auto sealed = store_->seal(id);
    ASSERT_TRUE(sealed) << sealed.error().message;
  }

  test_util::TempDir dir_{"store-audit"};
  Ed25519PrivateKey key_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreAuditTest, EverythingTheWriterWritesVerifies) {
  const std::string old_fp = fp_of(key_);
  const std::string rated = session(7);  // checkpoints inside the session and the ledger
  close_and_seal(rated);
  ASSERT_TRUE(store_->append(rated, "rating", "customer:erpadmin", {{"stars", 4}}));
  ASSERT_TRUE(store_->seal(rated));

  auto next = generate_ed25519("seal 2");
  ASSERT_TRUE(next);
  ASSERT_TRUE(store_->rotate_seal_key(*next));
  const std::string new_fp = fp_of(*next);
  const std::string after = session(2);
  close_and_seal(after);
  const std::string open = session(1);

  const StoreAudit a = records::verify_store(dir_.path(), {new_fp});
  EXPECT_TRUE(a.ok) << dump(a);
  EXPECT_EQ(a.trusted_fingerprints, (std::vector<std::string>{new_fp, old_fp}));
  ASSERT_EQ(a.sessions.size(), 3U);
  for (const auto& s : a.sessions) {
    EXPECT_TRUE(s.ok) << s.session_id;
    EXPECT_EQ(s.open, s.session_id == open) << s.session_id;
  }

  // A restart seals the open session as interrupted; still all verifies.
  store_.reset();
  StoreRecovery rec;
  auto reopened = Store::open(dir_.path(), *next, options_, &rec);
  ASSERT_TRUE(reopened) << reopened.error().message;
  store_ = std::move(*reopened);
  EXPECT_EQ(rec.interrupted, 1);
  const StoreAudit restarted = records::verify_store(dir_.path(), {new_fp});
  EXPECT_TRUE(restarted.ok) << dump(restarted);

  // Retention: pruned sessions are gone and the ledger says so.
  auto removed =
      store_->prune(180, std::chrono::system_clock::now() + std::chrono::hours(24 * 181));
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(removed->size(), 3U);
  const StoreAudit pruned = records::verify_store(dir_.path(), {new_fp});
  EXPECT_TRUE(pruned.ok) << dump(pruned);
  for (const auto& s : pruned.sessions) EXPECT_TRUE(s.pruned) << s.session_id;
}

TEST_F(StoreAuditTest, AChangedByteInWhatTheWriterWroteIsFound) {
  const std::string id = session(2);
  close_and_seal(id);
  const std::string events = dir_.path() + "/records/" + id + "/events.jsonl";
  std::string text = test_util::read_text(events);
  const std::size_t at = text.find("磁盘满 1");
  ASSERT_NE(at, std::string::npos);
  text[at + std::string("磁盘满 ").size()] = '2';
  test_util::write_text(events, text);
  const StoreAudit a = records::verify_store(dir_.path(), {fp_of(key_)});
  EXPECT_FALSE(a.ok);
  ASSERT_FALSE(a.problems.empty());
  EXPECT_EQ(a.problems.front().file, "records/" + id + "/events.jsonl") << dump(a);
  EXPECT_EQ(a.problems.front().line, 3U) << dump(a);

  // And a seal the ledger registered, removed, is missing.
  fs::remove(dir_.path() + "/records/" + id + "/seal-1.sshsig");
  const StoreAudit b = records::verify_store(dir_.path(), {fp_of(key_)});
  EXPECT_TRUE(std::any_of(b.problems.begin(), b.problems.end(), [&](const auto& p) {
    return p.reason == "missing_seal" && p.file == "records/" + id + "/seal-1.sshsig";
  })) << dump(b);
}

}  // namespace
}  // namespace rdiag::agent
