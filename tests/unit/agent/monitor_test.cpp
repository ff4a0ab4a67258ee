// The monitor's closed request list: what each phase permits, how frames are
// decoded, and OpenSSH's random early drop arithmetic.
#include "agent/monitor.h"

#include <gtest/gtest.h>

#include "agent/listener.h"
#include "agent/monitor_proto.h"
#include "common/ssh_key.h"

namespace rdiag::agent {
namespace {

class MonitorPermits : public ::testing::Test {
 protected:
  MonitorPermits() {
    auto eng = generate_ed25519("alice");
    alice_ = eng->public_key();
    AgentKeys keys{*generate_ed25519("host"), *generate_ed25519("seal"), {}};
    keys.host_pem = openssh_private_key_pem(keys.host);
    AgentConfig cfg;
    cfg.state_dir = "/nonexistent";
    monitor_.emplace(
        cfg, std::move(keys),
        parse_engineers("rdiag-name=\"Alice\" " + public_key_line(alice_) + "\n", "engineers"));
    conn_.peer = *parse_ip("127.0.0.1");
  }
  std::string key_b64() const { return base64_encode(alice_.blob.data(), alice_.blob.size()); }
  std::optional<std::string> ask(MonType type, const nlohmann::json& body) {
    return monitor_->answer(conn_, MonMessage{static_cast<std::uint8_t>(type), body});
  }
  PublicKey alice_;
  std::optional<Monitor> monitor_;
  ConnState conn_;
};

nlohmann::json decode_one(const std::string& frame) {
  MonDecoder d;
  std::vector<MonMessage> out;
  EXPECT_TRUE(d.feed(frame.data(), frame.size(), out));
  EXPECT_EQ(out.size(), 1U);
  return out.empty() ? nlohmann::json() : out[0].body;
}

TEST_F(MonitorPermits, AgentInfoBeforeAuthenticationIsAViolation) {
  EXPECT_FALSE(ask(MonType::kAgentInfo, nlohmann::json::object()).has_value());
}

TEST_F(MonitorPermits, UnknownTypeIsAViolation) {
  EXPECT_FALSE(monitor_->answer(conn_, MonMessage{0x42, nlohmann::json::object()}).has_value());
  EXPECT_FALSE(ask(MonType::kInit, nlohmann::json::object()).has_value());
}

TEST_F(MonitorPermits, KeyWithoutKeyFieldIsAViolation) {
  EXPECT_FALSE(ask(MonType::kKeyAllowed, {{"key", 7}}).has_value());
}

TEST_F(MonitorPermits, EnrolledKeyAuthenticatesOnceThenGetsInfo) {
  auto probe = ask(MonType::kKeyAllowed, {{"key", key_b64()}});
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(decode_one(*probe)["allowed"], true);
  auto ok = ask(MonType::kAuthSucceeded, {{"key", key_b64()}, {"user", "root"}});
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(decode_one(*ok)["name"], "Alice");
  // A second sign-in on the same connection is out of order.
  EXPECT_FALSE(ask(MonType::kAuthSucceeded, {{"key", key_b64()}, {"user", "x"}}).has_value());
  auto info = ask(MonType::kAgentInfo, nlohmann::json::object());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(decode_one(*info)["engineer"]["name"], "Alice");
}

TEST_F(MonitorPermits, UnknownKeyIsRefusedNotAuthenticated) {
  auto other = generate_ed25519("mallory")->public_key();
  auto r = ask(MonType::kAuthSucceeded,
               {{"key", base64_encode(other.blob.data(), other.blob.size())}, {"user", "x"}});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(decode_one(*r).contains("error"));
  EXPECT_EQ(conn_.phase, ConnState::Phase::kPreauth);
}

TEST_F(MonitorPermits, SeventhFailureIsAViolation) {
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(ask(MonType::kAuthFailed, {{"key", key_b64()}, {"why", "bad"}}).has_value());
  }
  EXPECT_FALSE(ask(MonType::kAuthFailed, {{"key", key_b64()}, {"why", "bad"}}).has_value());
}

TEST(MonDecoder, RejectsOversizedAndNonObjectFrames) {
  MonDecoder d;
  std::vector<MonMessage> out;
  const char huge[4] = {0x7f, 0, 0, 0};
  EXPECT_FALSE(d.feed(huge, 4, out));
  MonDecoder d2;
  std::string frame = encode_frame(2, nlohmann::json::array());
  EXPECT_FALSE(d2.feed(frame.data(), frame.size(), out));
}

TEST(MonDecoder, ReassemblesFramesSplitAnywhere) {
  std::string two = encode_frame(2, {{"key", "a"}}) + encode_frame(5, nlohmann::json::object());
  MonDecoder d;
  std::vector<MonMessage> out;
  for (char c : two) ASSERT_TRUE(d.feed(&c, 1, out));
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].type, 2);
  EXPECT_EQ(out[0].body["key"], "a");
  EXPECT_EQ(out[1].type, 5);
}

TEST(RandomEarlyDrop, FollowsOpenSshMaxStartups) {
  const MaxStartups m{10, 30, 100};
  EXPECT_FALSE(random_early_drop(m, 9, 0));   // below start: never
  EXPECT_TRUE(random_early_drop(m, 10, 29));  // at start: rate %
  EXPECT_FALSE(random_early_drop(m, 10, 30));
  EXPECT_TRUE(random_early_drop(m, 55, 64));  // halfway: 65 %
  EXPECT_FALSE(random_early_drop(m, 55, 65));
  EXPECT_TRUE(random_early_drop(m, 100, 99));  // at full: always
}

}  // namespace
}  // namespace rdiag::agent
