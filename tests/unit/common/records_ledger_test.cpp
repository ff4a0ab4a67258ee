#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/records/chain.h"
#include "common/records/event.h"
#include "common/records/ledger.h"

namespace rdiag::records {
namespace {

using nlohmann::json;

const std::string kSessionA = "20261128-060500-7K3Q";
const std::string kSessionB = "20261128-061000-0ZZZ";
const std::string kEngineer = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
const std::string kHashA = std::string(64, 'a');
const std::string kHashB = std::string(64, 'b');

// A ledger built line by line with the writer's own event maker.
class LedgerText {
 public:
  const Event& add(std::string type, json data) {
    const Event* last = events_.empty() ? nullptr : &events_.back();
    const std::string ts = "2026-11-28T06:05:" + std::to_string(10 + events_.size()) + ".000Z";
    auto e = make_next_event(last, kLedgerGenesis, std::move(type), "agent", std::move(data), ts,
                             is_ledger_type);
    EXPECT_TRUE(e) << e.error().message;
    if (e) {
      events_.push_back(*e);
      text_ += event_line(*e) + "\n";
    }
    return events_.back();
  }
  // A checkpoint line that covers the line before it (signature not judged here).
  const Event& checkpoint() {
    const std::int64_t seq = events_.empty() ? 0 : events_.back().seq;
    const std::string hash = events_.empty() ? std::string(kLedgerGenesis) : events_.back().hash;
    return add("checkpoint", {{"covers_seq", seq},
                              {"covers_hash", hash},
                              {"fingerprint", kEngineer},
                              {"signature", "x"}});
  }
  const std::string& text() const { return text_; }

 private:
  std::vector<Event> events_;
  std::string text_;
};

json sealed(const std::string& id, const std::string& seal, std::int64_t seq) {
  return {{"session_id", id},    {"seal", seal},  {"last_seq", seq},
          {"last_hash", kHashA}, {"bytes", 1234}, {"sha256", kHashB}};
}

void expect_refused(const std::string& text, const std::string& reason, std::size_t line) {
  auto index = index_ledger(text);
  ASSERT_FALSE(index) << "expected " << reason;
  EXPECT_EQ(index.error().reason, reason) << index.error().message;
  EXPECT_TRUE(index.error().message.starts_with("ledger.jsonl line " + std::to_string(line) + ":"))
      << index.error().message;
}

TEST(LedgerIndex, EmptyLedgerIsEmptyIndexAtGenesis) {
  auto index = index_ledger("");
  ASSERT_TRUE(index) << index.error().message;
  EXPECT_TRUE(index->sessions.empty());
  EXPECT_EQ(index->last_seq, 0);
  EXPECT_EQ(index->last_hash, kLedgerGenesis);
  EXPECT_EQ(index->last_checkpoint_ts, "");
}

TEST(LedgerIndex, IndexesSessionsSealsVoidsPrunesAndRotations) {
  LedgerText l;
  l.add("agent.started", {{"version", "0.1.0"}, {"pid", 4242}});
  const Event opened_a =
      l.add("session.opened", {{"session_id", kSessionA}, {"engineer", kEngineer}});
  l.add("session.sealed", sealed(kSessionA, "seal-1.sshsig", 5));
  l.add("session.sealed", sealed(kSessionA, "seal-2.sshsig", 6));
  const Event cp = l.checkpoint();
  l.add("session.opened", {{"session_id", kSessionB}, {"engineer", kEngineer}});
  l.add("session.void", {{"session_id", kSessionB}, {"reason", "disk full"}});
  l.add("session.pruned",
        {{"session_id", kSessionA}, {"last_seq", 6}, {"last_hash", kHashA}, {"seals", 2}});
  l.add("key.rotated", {{"old_fingerprint", "SHA256:old"},
                        {"old_public", "ssh-ed25519 AAAA old"},
                        {"new_fingerprint", "SHA256:new"},
                        {"new_public", "ssh-ed25519 AAAA new"},
                        {"signature", "sig"}});
  const Event last = l.add("auth.failed", {{"peer", "203.0.113.9:4711"}, {"reason", "no key"}});

  auto index = index_ledger(l.text());
  ASSERT_TRUE(index) << index.error().message;
  ASSERT_EQ(index->sessions.size(), 2U);
  const LedgerSession& a = index->sessions.at(kSessionA);
  EXPECT_EQ(a.genesis, opened_a.hash);
  EXPECT_EQ(a.opened_line, 2U);
  EXPECT_EQ(a.opened_ts, opened_a.ts);
  EXPECT_EQ(a.engineer, kEngineer);
  ASSERT_EQ(a.seals.size(), 2U);
  EXPECT_EQ(a.seals[0].file, "seal-1.sshsig");
  EXPECT_EQ(a.seals[0].last_seq, 5);
  EXPECT_EQ(a.seals[0].bytes, 1234);
  EXPECT_EQ(a.seals[0].sha256, kHashB);
  EXPECT_EQ(a.seals[0].line, 3U);
  EXPECT_EQ(a.seals[1].file, "seal-2.sshsig");
  EXPECT_TRUE(a.pruned);
  EXPECT_EQ(a.pruned_line, 8U);
  EXPECT_FALSE(a.voided);
  EXPECT_TRUE(index->sessions.at(kSessionB).voided);
  ASSERT_EQ(index->rotations.size(), 1U);
  EXPECT_EQ(index->rotations[0].old_fingerprint, "SHA256:old");
  EXPECT_EQ(index->rotations[0].new_public, "ssh-ed25519 AAAA new");
  EXPECT_EQ(index->rotations[0].line, 9U);
  EXPECT_EQ(index->last_seq, 10);
  EXPECT_EQ(index->last_hash, last.hash);
  EXPECT_EQ(index->last_checkpoint_ts, cp.ts);
  EXPECT_EQ(index->lines_since_checkpoint, 5);
}

TEST(LedgerIndex, ChainDamageIsRefusedNamingTheLine) {
  LedgerText l;
  l.add("session.opened", {{"session_id", kSessionA}, {"engineer", kEngineer}});
  l.add("session.sealed", sealed(kSessionA, "seal-1.sshsig", 3));
  l.add("agent.started", {{"version", "0.1.0"}, {"pid", 1}});
  std::string text = l.text();
  const std::size_t at = text.find("seal-1");
  text[at + 5] = '2';  // one byte of line 2
  auto index = index_ledger(text);
  ASSERT_FALSE(index);
  EXPECT_EQ(index.error().reason, "bad_hash");
  EXPECT_NE(index.error().message.find("line 2"), std::string::npos) << index.error().message;

  // A session event type is not a ledger type.
  LedgerText other;
  other.add("session.opened", {{"session_id", kSessionA}, {"engineer", kEngineer}});
  auto note = make_next_event(nullptr, kLedgerGenesis, "note", "agent", {{"text", "x"}},
                              "2026-11-28T06:05:00.000Z");
  ASSERT_TRUE(note);
  auto wrong = index_ledger(event_line(*note) + "\n");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().reason, "unknown_type");

  auto cut = index_ledger(l.text().substr(0, l.text().size() - 1));
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().reason, "truncated_tail");
}

TEST(LedgerIndex, LineWhoseDataDoesNotFitItsTypeIsBadLedgerData) {
  const std::vector<std::pair<std::string, json>> bad_lines = {
      {"session.opened", {{"session_id", "S-1"}, {"engineer", kEngineer}}},
      {"session.opened", {{"session_id", kSessionB}}},
      {"session.sealed", sealed(kSessionA, "seal-0.sshsig", 3)},
      {"session.sealed", sealed(kSessionA, "../seal-1.sshsig", 3)},
      {"session.sealed", sealed(kSessionA, "seal-1.sshsig", 0)},
      {"session.sealed",
       {{"session_id", kSessionA},
        {"seal", "seal-1.sshsig"},
        {"last_seq", 3},
        {"last_hash", "ABC"},
        {"bytes", 10},
        {"sha256", kHashB}}},
      {"session.sealed",
       {{"session_id", kSessionA},
        {"seal", "seal-1.sshsig"},
        {"last_seq", "3"},
        {"last_hash", kHashA},
        {"bytes", 10},
        {"sha256", kHashB}}},
      {"session.void", {{"session_id", kSessionA}}},
      {"session.pruned", {{"session_id", kSessionA}, {"last_seq", 3}, {"seals", 1}}},
      {"checkpoint", {{"covers_seq", 1}, {"covers_hash", kHashA}}},
      {"key.rotated", {{"old_fingerprint", "SHA256:a"}, {"new_fingerprint", "SHA256:b"}}},
  };
  for (const auto& [type, data] : bad_lines) {
    SCOPED_TRACE(type + " " + data.dump());
    LedgerText l;
    l.add("session.opened", {{"session_id", kSessionA}, {"engineer", kEngineer}});
    l.add(type, data);
    expect_refused(l.text(), "bad_ledger_data", 2);
  }
}

TEST(LedgerIndex, SessionOpenedTwiceOrNeverOpenedIsRefused) {
  LedgerText twice;
  twice.add("session.opened", {{"session_id", kSessionA}, {"engineer", kEngineer}});
  twice.add("session.opened", {{"session_id", kSessionA}, {"engineer", kEngineer}});
  expect_refused(twice.text(), "duplicate_session", 2);

  for (const std::string type : {"session.sealed", "session.void", "session.pruned"}) {
    SCOPED_TRACE(type);
    LedgerText never;
    never.add("session.opened", {{"session_id", kSessionA}, {"engineer", kEngineer}});
    json data =
        type == "session.sealed" ? sealed(kSessionB, "seal-1.sshsig", 2)
        : type == "session.void"
            ? json{{"session_id", kSessionB}, {"reason", "x"}}
            : json{{"session_id", kSessionB}, {"last_seq", 2}, {"last_hash", kHashA}, {"seals", 1}};
    never.add(type, data);
    expect_refused(never.text(), "unknown_session", 2);
  }
}

TEST(LedgerIndex, CheckpointMustCoverTheLineBeforeIt) {
  LedgerText good;
  good.checkpoint();  // the very first line covers the genesis
  good.add("agent.started", {{"version", "0.1.0"}, {"pid", 1}});
  good.checkpoint();
  ASSERT_TRUE(index_ledger(good.text()));

  LedgerText bad;
  bad.add("agent.started", {{"version", "0.1.0"}, {"pid", 1}});
  bad.add("checkpoint", {{"covers_seq", 0},
                         {"covers_hash", std::string(kLedgerGenesis)},
                         {"fingerprint", kEngineer},
                         {"signature", "x"}});
  expect_refused(bad.text(), "bad_checkpoint", 2);
}

TEST(LedgerTypes, ClosedListsOfLedgerAndTerminalTypes) {
  for (const char* t :
       {"agent.started", "session.opened", "session.sealed", "session.void", "session.pruned",
        "checkpoint", "key.rotated", "auth.failed", "control.refused", "record.repaired"}) {
    EXPECT_TRUE(is_ledger_type(t)) << t;
  }
  for (const char* t : {"note", "session.closed", "request.created", "", "Checkpoint"}) {
    EXPECT_FALSE(is_ledger_type(t)) << t;
  }
  for (const char* t : {"request.denied", "request.expired", "session.closed", "grant.revoked",
                        "grant.expired", "session.interrupted"}) {
    EXPECT_TRUE(is_terminal_event_type(t)) << t;
  }
  for (const char* t : {"rating", "customer.confirmed", "checkpoint", "session.disconnected",
                        "request.created", "note", ""}) {
    EXPECT_FALSE(is_terminal_event_type(t)) << t;
  }
}

// A denied or expired extension or join ends that request, not the session
// it asked about; everything else terminal ends the session.
TEST(RecordsLedger, EndsSessionKnowsExtensionAndJoinRequests) {
  using nlohmann::json;
  EXPECT_TRUE(ends_session("request.denied", json::object()));
  EXPECT_TRUE(ends_session("request.denied", {{"kind", "request"}}));
  EXPECT_FALSE(ends_session("request.denied", {{"kind", "extend"}}));
  EXPECT_FALSE(ends_session("request.expired", {{"kind", "join"}}));
  EXPECT_TRUE(ends_session("grant.revoked", {{"kind", "join"}}));
  EXPECT_FALSE(ends_session("request.created", {{"kind", "request"}}));
  EXPECT_FALSE(
      line_ends_session("request.denied", R"({"data":{"kind":"extend"},"type":"request.denied"})"));
  EXPECT_TRUE(line_ends_session("request.denied", R"({"data":{},"type":"request.denied"})"));
  EXPECT_TRUE(line_ends_session("session.closed", "not even json"));
}

TEST(SessionId, ValidIdsAreRealUtcTimesWithCrockfordSuffix) {
  for (const char* id : {"20261128-060500-7K3Q", "20240229-235959-0000", "19700101-000000-ZZZZ",
                         "20261231-120000-ABYX"}) {
    EXPECT_TRUE(is_valid_session_id(id)) << id;
  }
  for (const char* id : {
           "",
           "20261128-060500-7K3",      // short
           "20261128-060500-7K3QQ",    // long
           "20261128_060500-7K3Q",     // separator
           "20261128-060500_7K3Q",     // separator
           "20230229-060500-7K3Q",     // no 29 February in 2023
           "20261131-060500-7K3Q",     // no 31 November
           "20261128-240000-7K3Q",     // hour 24
           "20261128-066000-7K3Q",     // minute 60
           "20261128-060500-7k3q",     // lower case
           "20261128-060500-7I3Q",     // I is not Crockford
           "20261128-060500-7L3Q",     // L
           "20261128-060500-7O3Q",     // O
           "20261128-060500-7U3Q",     // U
           "2026112a-060500-7K3Q",     // not a digit
           "../../../../../etc/pass",  // not an id at all
           "20261128-060500-7K3\n",    // control character
       }) {
    EXPECT_FALSE(is_valid_session_id(id)) << id;
  }
}

TEST(SessionId, MakeSessionIdRoundTrips) {
  using namespace std::chrono;
  const sys_seconds tp = sys_days{year{2026} / November / 28} + hours{6} + minutes{5} + seconds{9};
  EXPECT_EQ(make_session_id(tp + milliseconds{999}, 0), "20261128-060509-0000");
  EXPECT_EQ(make_session_id(tp, 0xFFFFF), "20261128-060509-ZZZZ");
  // Only the low 20 bits count, 5 bits a character, most significant first.
  EXPECT_EQ(make_session_id(tp, 0xFFF00000U | (1U << 15) | (10U << 10) | (18U << 5) | 31U),
            "20261128-060509-1AJZ");
  for (std::uint32_t r = 0; r < (1U << 20); r += 7919) {
    const std::string id = make_session_id(tp, r);
    ASSERT_TRUE(is_valid_session_id(id)) << id;
  }
  const std::string now = make_session_id(system_clock::now(), 12345);
  EXPECT_TRUE(is_valid_session_id(now)) << now;
}

TEST(LedgerMessages, CheckpointAndRotationMessagesHaveTheirExactLayout) {
  EXPECT_EQ(checkpoint_message(kLedgerCheckpointId, 42, kHashA),
            "rdiag-seal-v1\nledger\n42\n" + kHashA + "\n");
  EXPECT_EQ(checkpoint_message(kSessionA, 0, kHashB),
            "rdiag-seal-v1\n" + kSessionA + "\n0\n" + kHashB + "\n");
  EXPECT_EQ(key_rotation_message("SHA256:old", "SHA256:new"),
            "rdiag-key-rotated-v1\nSHA256:old\nSHA256:new\n");
  EXPECT_FALSE(is_valid_session_id(kLedgerCheckpointId));
}

}  // namespace
}  // namespace rdiag::records
