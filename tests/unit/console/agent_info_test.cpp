#include "console/agent_info.h"

#include <gtest/gtest.h>

#include "common/i18n.h"
#include "tests/unit/console/temp_dir.h"

namespace rdiag::console {
namespace {

using nlohmann::json;
using testing::kKeyA;
using testing::kKeyAFingerprint;
using testing::kKeyB;
using testing::kKeyBFingerprint;

json sample_info() {
  return json{
      {"version", "0.1.0"},
      {"hostname", "erp01"},
      {"os", "Debian GNU/Linux 12 (bookworm)"},
      {"host_key", {{"fingerprint", kKeyAFingerprint}, {"public", kKeyA}}},
      {"seal_key", {{"fingerprint", kKeyBFingerprint}, {"public", std::string(kKeyB) + " seal"}}},
      {"engineer",
       {{"fingerprint", "SHA256:x"}, {"name", "李伟"}, {"role", "engineer"}, {"id", "E1024"}}},
      {"plugins", json::array({{{"name", "postgresql"}}})},
      {"collectors", json::array({"os", "cpu"})},
      {"fixes", json::array()},
      {"relay", {{"state", "off"}}},
      {"limits", json::object()}};
}

TEST(AgentInfo, SealKeyIsComputedAndNormalised) {
  auto seal = seal_key_of(sample_info(), "erp01:2222");
  ASSERT_TRUE(seal) << seal.error().message;
  EXPECT_EQ(seal->fingerprint, kKeyBFingerprint);
  EXPECT_EQ(seal->key, kKeyB);  // comment dropped
}

TEST(AgentInfo, RefusesAMissingOrWrongSealKey) {
  auto info = sample_info();
  info.erase("seal_key");
  EXPECT_EQ(seal_key_of(info, "e").error().reason, "agent_inconsistent");
  info["seal_key"] = {{"public", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQ=="}};
  EXPECT_FALSE(seal_key_of(info, "e"));
  info["seal_key"] = {{"public", kKeyB}, {"fingerprint", kKeyAFingerprint}};
  EXPECT_EQ(seal_key_of(info, "e").error().reason, "agent_inconsistent");
}

TEST(AgentInfo, HostKeyClaimMustMatchThePresentedKey) {
  EXPECT_TRUE(check_host_key_claim(sample_info(), kKeyAFingerprint, "e"));
  EXPECT_FALSE(check_host_key_claim(sample_info(), kKeyBFingerprint, "e"));
  auto info = sample_info();
  info.erase("host_key");
  EXPECT_TRUE(check_host_key_claim(info, kKeyBFingerprint, "e"));
}

TEST(AgentInfo, RendersLabelledLines) {
  i18n::set_lang(i18n::Lang::kEn);
  Site site{"erp01", "10.0.0.5", 2222, {}};
  auto info = sample_info();
  std::string text = render_info({site, info, kKeyAFingerprint, kKeyBFingerprint});
  EXPECT_NE(text.find("erp01 (10.0.0.5:2222)"), std::string::npos) << text;
  EXPECT_NE(text.find("Hostname:"), std::string::npos);
  EXPECT_NE(text.find(kKeyAFingerprint), std::string::npos);
  EXPECT_NE(text.find(kKeyBFingerprint), std::string::npos);
  EXPECT_NE(text.find("李伟 (E1024, engineer)"), std::string::npos);
  EXPECT_NE(text.find("1: postgresql"), std::string::npos);
  EXPECT_NE(text.find("2: os, cpu"), std::string::npos);
}

TEST(AgentInfo, RendersChineseLabels) {
  i18n::set_lang(i18n::Lang::kZhCN);
  Site site{"erp01", "10.0.0.5", 2222, {}};
  auto info = sample_info();
  std::string text = render_info({site, info, kKeyAFingerprint, kKeyBFingerprint});
  i18n::set_lang(i18n::Lang::kEn);
  EXPECT_NE(text.find("主机名"), std::string::npos) << text;
  EXPECT_NE(text.find("封签密钥"), std::string::npos);
  EXPECT_EQ(text.find("Hostname"), std::string::npos);
}

TEST(AgentInfo, EscapesControlsFromTheAgent) {
  Site site{"erp01", "10.0.0.5", 2222, {}};
  auto info = sample_info();
  info["engineer"]["name"] = "x\x1b]0;x\x07";
  info["hostname"] = "h\u202eevil";
  info["plugins"] = json::array({"p\x1b[2J"});
  std::string text = render_info({site, info, kKeyAFingerprint, kKeyBFingerprint});
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_EQ(text.find('\x07'), std::string::npos);
  EXPECT_EQ(text.find("\u202e"), std::string::npos);
  EXPECT_NE(text.find("\\x1b"), std::string::npos);
}

TEST(AgentInfo, ToleratesMissingFields) {
  Site site{"erp01", "10.0.0.5", 2222, {}};
  json info = json::object();
  std::string text = render_info({site, info, kKeyAFingerprint, kKeyBFingerprint});
  EXPECT_NE(text.find("-"), std::string::npos);
}

TEST(AgentInfo, FingerprintOfAPinnedLine) {
  EXPECT_EQ(fingerprint_of_line(kKeyA), kKeyAFingerprint);
  EXPECT_EQ(fingerprint_of_line("junk"), "?");
}

}  // namespace
}  // namespace rdiag::console
