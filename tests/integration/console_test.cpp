// The engineers' console against a real agent: sites, first contact and
// pinning, changed keys, language, and untrusted text on the terminal.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/i18n.h"
#include "tests/support/harness.h"

namespace rdiag::test {
namespace {

class Console : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(agent_.engineers_path(),
               "rdiag-name=\"李伟\",rdiag-id=\"E1024\" " + key_.public_line + "\n");
    ASSERT_TRUE(agent_.start()) << agent_.log();
    auto add = rdiag({"sites", "add", "acme", "127.0.0.1:" + std::to_string(agent_.port())});
    ASSERT_EQ(add.exit_code, 0) << add.err;
  }
  ProcResult rdiag(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv = {RDIAG_CONSOLE_BIN, "--data-dir", data_.path(), "--key",
                                     key_.path};
    argv.insert(argv.end(), args.begin(), args.end());
    if (env.count("LANG") == 0) env["LANG"] = "C.UTF-8";
    return run(argv, {.env = env, .unset_env = {"SSH_AUTH_SOCK", "LC_ALL", "LC_MESSAGES"}});
  }
  std::string fingerprint(const std::string& state_dir, bool seal) {
    std::vector<std::string> argv = {RDIAG_AGENT_BIN, "--state-dir", state_dir, "fingerprint"};
    if (seal) argv.emplace_back("--seal");
    auto r = run(argv);
    return r.out.substr(0, r.out.find('\n'));
  }
  // Replaces the agent with one that has other keys, on the same port.
  void restart_with_new_state(bool keep_host_key) {
    const int port = agent_.port();
    ASSERT_EQ(agent_.stop(), 0);
    const std::string host = agent_.state_dir() + "/host_ed25519";
    const std::string saved = dir_ / "host_ed25519.saved";
    std::filesystem::copy_file(host, saved);
    std::filesystem::remove_all(agent_.state_dir());
    if (keep_host_key) {
      std::filesystem::create_directory(agent_.state_dir());
      std::filesystem::permissions(agent_.state_dir(), std::filesystem::perms::owner_all);
      std::filesystem::copy_file(saved, host);
    }
    ASSERT_TRUE(agent_.start({}, "127.0.0.1:" + std::to_string(port))) << agent_.log();
  }
  TempDir dir_;
  TempDir data_;
  Key key_ = make_key(dir_.path(), "engineer");
  Agent agent_{dir_.path()};
};

TEST_F(Console, FirstContactNeedsConsentThenPins) {
  auto refused = rdiag({"info", "acme"});  // no terminal, no --accept-new
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  const std::string host_fp = fingerprint(agent_.state_dir(), false);
  const std::string seal_fp = fingerprint(agent_.state_dir(), true);
  EXPECT_NE(refused.err.find(host_fp), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find(seal_fp), std::string::npos) << refused.err;
  EXPECT_TRUE(refused.out.empty()) << "nothing from an untrusted agent is shown as fact";

  auto first = rdiag({"--accept-new", "info", "acme"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find(host_fp), std::string::npos);
  EXPECT_NE(first.out.find("李伟"), std::string::npos);
  auto again = rdiag({"info", "acme"});  // pinned now: no question asked
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(read_file(data_ / "known_hosts").find("[127.0.0.1]:"), std::string::npos);
}

TEST_F(Console, ChangedHostKeyIsRefusedWithBothFingerprints) {
  ASSERT_EQ(rdiag({"--accept-new", "info", "acme"}).exit_code, 0);
  const std::string old_fp = fingerprint(agent_.state_dir(), false);
  restart_with_new_state(/*keep_host_key=*/false);
  const std::string new_fp = fingerprint(agent_.state_dir(), false);
  ASSERT_NE(old_fp, new_fp);
  auto r = rdiag({"--accept-new", "info", "acme"});  // --accept-new never accepts a change
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("acme"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(old_fp), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(new_fp), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(Console, ChangedSealKeyIsRefusedWithBothFingerprints) {
  ASSERT_EQ(rdiag({"--accept-new", "info", "acme"}).exit_code, 0);
  const std::string old_seal = fingerprint(agent_.state_dir(), true);
  restart_with_new_state(/*keep_host_key=*/true);
  const std::string new_seal = fingerprint(agent_.state_dir(), true);
  ASSERT_NE(old_seal, new_seal);
  auto r = rdiag({"info", "acme"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find(old_seal), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(new_seal), std::string::npos) << r.err;
}

TEST_F(Console, SpeaksChineseUnderAChineseLocale) {
  ASSERT_EQ(rdiag({"--accept-new", "info", "acme"}).exit_code, 0);
  auto zh = rdiag({"info", "acme"}, {{"LANG", "zh_CN.UTF-8"}});
  ASSERT_EQ(zh.exit_code, 0) << zh.err;
  for (const char* id :
       {"console.info.host_key", "console.info.seal_key", "console.info.hostname"}) {
    EXPECT_NE(zh.out.find(std::string(i18n::text_in(i18n::Lang::kZhCN, id))), std::string::npos)
        << id << " missing from:\n"
        << zh.out;
    EXPECT_EQ(zh.out.find(std::string(i18n::text_in(i18n::Lang::kEn, id))), std::string::npos);
  }
  auto flag = rdiag({"--lang", "zh_CN", "info", "acme"});
  EXPECT_EQ(flag.out, zh.out);
}

TEST_F(Console, EngineerNameWithEscapeSequencesPrintsEscaped) {
  write_file(agent_.engineers_path(),
             "rdiag-name=\"\x1b]0;pwned\x07\x1b[2JEvil\u202e\" " + key_.public_line + "\n");
  agent_.reload();
  ASSERT_TRUE(wait_until([&] { return agent_.log().find("reloaded") != std::string::npos; },
                         std::chrono::seconds(5)));
  auto r = rdiag({"--accept-new", "info", "acme"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "raw ESC reached the terminal";
  EXPECT_EQ(r.out.find('\x07'), std::string::npos);
  EXPECT_EQ(r.out.find("\u202e"), std::string::npos) << "bidi override reached the terminal";
  EXPECT_NE(r.out.find("\\x1b]0;pwned"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Evil"), std::string::npos);
}

TEST_F(Console, UnknownKeyExitsThreeNamingTheFingerprint) {
  Key stranger = make_key(dir_.path(), "stranger");
  ASSERT_EQ(rdiag({"--accept-new", "info", "acme"}).exit_code, 0);
  std::vector<std::string> argv = {RDIAG_CONSOLE_BIN, "--data-dir", data_.path(), "--key",
                                   stranger.path,     "info",       "acme"};
  auto r = run(argv, {.unset_env = {"SSH_AUTH_SOCK"}});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find(stranger.fingerprint), std::string::npos) << r.err;
}

TEST_F(Console, JsonInfoIsTheAgentsResult) {
  auto r = rdiag({"--accept-new", "--json", "info", "acme"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["host_key"]["fingerprint"], fingerprint(agent_.state_dir(), false));
  EXPECT_EQ(j["engineer"]["id"], "E1024");
}

}  // namespace
}  // namespace rdiag::test
