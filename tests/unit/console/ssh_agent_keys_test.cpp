#include "console/ssh_agent_keys.h"

#include <gtest/gtest.h>

#include "common/ssh_key.h"
#include "tests/unit/console/temp_dir.h"

namespace rdiag::console {
namespace {

using testing::kKeyA;
using testing::kKeyAFingerprint;

std::string u32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
          static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}

std::string str(const std::string& s) {
  return u32(static_cast<std::uint32_t>(s.size())) + s;
}

std::string blob_a() {
  auto key = parse_public_key_line(kKeyA);
  return {key->blob.begin(), key->blob.end()};
}

TEST(SshAgentKeys, ParsesAnIdentitiesAnswer) {
  std::string body = std::string(1, '\x0c') + u32(2) + str(blob_a()) + str("li.wei@laptop") +
                     str("not a key blob") + str("skipped");
  auto ids = parse_identities_answer(body);
  ASSERT_TRUE(ids);
  ASSERT_EQ(ids->size(), 1U);
  EXPECT_EQ((*ids)[0].fingerprint, kKeyAFingerprint);
  EXPECT_EQ((*ids)[0].public_line, kKeyA);
  EXPECT_EQ((*ids)[0].comment, "li.wei@laptop");
}

TEST(SshAgentKeys, RefusesTruncatedOrWrongAnswers) {
  EXPECT_FALSE(parse_identities_answer(""));
  EXPECT_FALSE(parse_identities_answer(std::string(1, '\x05')));  // SSH_AGENT_FAILURE
  EXPECT_FALSE(parse_identities_answer(std::string(1, '\x0c') + u32(1)));
  EXPECT_FALSE(parse_identities_answer(std::string(1, '\x0c') + u32(1) + u32(100) + "short"));
}

TEST(SshAgentKeys, NoAgentIsAnError) {
  EXPECT_FALSE(list_agent_identities("/nonexistent/agent.sock"));
}

}  // namespace
}  // namespace rdiag::console
