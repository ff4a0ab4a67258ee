#include "console/known_hosts.h"

#include <gtest/gtest.h>

#include "tests/unit/console/temp_dir.h"

namespace rdiag::console {
namespace {

using testing::kKeyA;
using testing::kKeyAFingerprint;
using testing::kKeyB;
using testing::kKeyBFingerprint;

TEST(KnownHosts, NamesAsLibsshDoes) {
  EXPECT_EQ(known_hosts_name("erp01", 22), "erp01");
  EXPECT_EQ(known_hosts_name("erp01", 2222), "[erp01]:2222");
}

TEST(KnownHosts, FindsThePinnedFingerprint) {
  std::string text = std::string("[erp01]:2222 ") + kKeyA + "\n[erp02]:2222 " + kKeyB + "\n";
  EXPECT_EQ(pinned_fingerprints(text, "erp01", 2222), std::vector<std::string>{kKeyAFingerprint});
  EXPECT_EQ(pinned_fingerprints(text, "erp02", 2222), std::vector<std::string>{kKeyBFingerprint});
  EXPECT_TRUE(pinned_fingerprints(text, "erp01", 2200).empty());
}

TEST(KnownHosts, MatchesOneNameInAList) {
  std::string text = std::string("erp01,[erp01]:2222,10.0.0.5 ") + kKeyA + " comment\n";
  EXPECT_EQ(pinned_fingerprints(text, "erp01", 2222).size(), 1U);
  EXPECT_EQ(pinned_fingerprints(text, "erp01", 22).size(), 1U);
  EXPECT_TRUE(pinned_fingerprints(text, "erp0", 22).empty());
}

TEST(KnownHosts, SkipsCommentsHashedAndBrokenLines) {
  std::string text = std::string("# [erp01]:2222 ") + kKeyA + "\n|1|abc=|def= " + kKeyA +
                     "\n[erp01]:2222 ssh-ed25519 !!!\n[erp01]:2222\n";
  EXPECT_TRUE(pinned_fingerprints(text, "erp01", 2222).empty());
}

}  // namespace
}  // namespace rdiag::console
