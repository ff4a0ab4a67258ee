#include "common/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/i18n.h"

namespace rdiag {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kFile = "/etc/rdiag/agent.json";
constexpr std::string_view kRequired =
    R"("state_dir": "/var/lib/rdiag", "engineers_file": "/etc/rdiag/engineers")";

// {required keys, extra}: a config that differs from the minimum by `extra`.
std::string with(std::string_view extra) {
  return "{" + std::string(kRequired) + (extra.empty() ? "" : ", ") + std::string(extra) + "}";
}

class Config : public ::testing::Test {
 protected:
  void SetUp() override { i18n::set_lang(i18n::Lang::kEn); }
  void TearDown() override { i18n::set_lang(i18n::Lang::kEn); }

  static Result<AgentConfig> parse(const std::string& text) {
    return parse_agent_config(text, std::string(kFile));
  }
  // The error message for text, which must be refused, after checking that it names the file.
  static std::string error_of(const std::string& text) {
    auto cfg = parse(text);
    EXPECT_FALSE(cfg) << text;
    if (cfg) return "";
    EXPECT_NE(cfg.error().message.find(kFile), std::string::npos) << cfg.error().message;
    return cfg.error().message;
  }
};

::testing::AssertionResult mentions(const char* msg_expr, const char* /*part_expr*/,
                                    const std::string& msg, std::string_view part) {
  if (msg.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << msg_expr << " does not mention " << part << ": " << msg;
}

TEST_F(Config, MinimalConfigGetsDefaults) {
  auto cfg = parse(with(""));
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->source, kFile);
  EXPECT_EQ(cfg->state_dir, "/var/lib/rdiag");
  EXPECT_EQ(cfg->engineers_file, "/etc/rdiag/engineers");
  EXPECT_FALSE(cfg->listen);
  EXPECT_TRUE(cfg->allow_from.empty());
  EXPECT_EQ(cfg->transfer_dir, "/var/lib/rdiag-transfer");
  EXPECT_EQ(cfg->control_socket, "/run/rdiag/control.sock");
  EXPECT_EQ(cfg->admin_group, "rdiag-admin");
  EXPECT_EQ(cfg->limits.max_connections, 128);
  EXPECT_EQ(cfg->limits.max_per_source, 5);
  EXPECT_EQ(cfg->limits.max_startups.start, 10);
  EXPECT_EQ(cfg->limits.max_startups.rate, 30);
  EXPECT_EQ(cfg->limits.max_startups.full, 100);
  EXPECT_EQ(cfg->limits.max_request_bytes, 1048576U);
  EXPECT_EQ(cfg->retention_days, 365);
}

TEST_F(Config, ReadsTheDesignExample) {
  auto cfg = parse(R"({ "listen": "0.0.0.0:2222",
  "allow_from": ["10.0.0.0/8"],
  "state_dir": "/var/lib/rdiag",
  "transfer_dir": "/var/lib/rdiag-transfer",
  "engineers_file": "/etc/rdiag/engineers",
  "control_socket": "/run/rdiag/control.sock",
  "admin_group": "rdiag-admin",
  "plugins_dirs": ["/usr/lib/rdiag/plugins", "/etc/rdiag/plugins.d"],
  "logs": [ { "name": "erp", "paths": ["/var/log/erp/*.log"], "encoding": "auto" } ],
  "redact": [ { "name": "erp-token", "pattern": "ERPTOKEN=[A-Za-z0-9]+" } ],
  "shell": { "user": "erpsupport", "command": ["/bin/bash", "-l"] },
  "limits": { "max_connections": 128, "max_startups": "10:30:100",
              "max_per_source": 10, "max_request_bytes": 1048576,
              "pending_requests_per_key": 1, "requests_per_hour": 20 },
  "policy": { "max_grant_minutes": 240 },
  "retention_days": 365,
  "notify_command": ["/usr/local/bin/notify-it", "--request", "{request_id}"],
  "relay": { "host": "bastion.vendor.example", "port": 22 } })");
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_TRUE(cfg->listen);
  EXPECT_EQ(cfg->listen->host, "0.0.0.0");
  EXPECT_EQ(cfg->listen->port, 2222);
  ASSERT_EQ(cfg->allow_from.size(), 1U);
  EXPECT_EQ(cfg->allow_from[0].prefix, 8);
  EXPECT_EQ(cfg->limits.max_per_source, 10);
  EXPECT_EQ(cfg->plugins_dirs.size(), 2U);
  EXPECT_EQ(cfg->raw["shell"]["user"], "erpsupport");
}

TEST_F(Config, RelativePathsAreAnchoredAtTheConfigFolder) {
  auto cfg = parse(R"({"state_dir": "state", "engineers_file": "../engineers",
      "transfer_dir": "./xfer", "control_socket": "run/control.sock",
      "plugins_dirs": ["plugins.d", "/usr/lib/rdiag/plugins"]})");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->state_dir, "/etc/rdiag/state");
  EXPECT_EQ(cfg->engineers_file, "/etc/engineers");
  EXPECT_EQ(cfg->transfer_dir, "/etc/rdiag/xfer");
  EXPECT_EQ(cfg->control_socket, "/etc/rdiag/run/control.sock");
  EXPECT_EQ(cfg->plugins_dirs,
            (std::vector<std::string>{"/etc/rdiag/plugins.d", "/usr/lib/rdiag/plugins"}));
}

TEST_F(Config, RelativeConfigPathStartsFromTheWorkingDirectory) {
  auto cfg = parse_agent_config(R"({"state_dir": "state", "engineers_file": "e"})", "conf/a.json");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->state_dir, (fs::current_path() / "conf/state").string());
}

TEST_F(Config, UnknownTopLevelKeyNamesFileKeyAndKnownKeys) {
  std::string msg = error_of(with(R"("lisen": "0.0.0.0:2222")"));
  EXPECT_PRED_FORMAT2(mentions, msg, "'lisen'");
  EXPECT_PRED_FORMAT2(mentions, msg, "listen, allow_from, state_dir");
}

TEST_F(Config, UnknownLimitsKeyNamesItsPath) {
  std::string msg = error_of(with(R"("limits": {"max_conections": 5})"));
  EXPECT_PRED_FORMAT2(mentions, msg, "'limits.max_conections'");
  EXPECT_PRED_FORMAT2(mentions, msg, "max_connections, max_startups");
}

TEST_F(Config, TypeErrorsNameKeyPathAndExpectedType) {
  std::string msg = error_of(with(R"("limits": {"max_connections": "128"})"));
  EXPECT_PRED_FORMAT2(mentions, msg, "'limits.max_connections'");
  EXPECT_PRED_FORMAT2(mentions, msg, "whole number");
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("limits": {"max_per_source": 2.5})")),
                      "'limits.max_per_source'");
  EXPECT_PRED_FORMAT2(mentions, error_of(R"({"state_dir": 5, "engineers_file": "/e"})"),
                      "'state_dir'");
  msg = error_of(with(R"("allow_from": "10.0.0.0/8")"));
  EXPECT_PRED_FORMAT2(mentions, msg, "'allow_from'");
  EXPECT_PRED_FORMAT2(mentions, msg, "list");
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("limits": [])")), "'limits'");
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("shell": ["bash"])")), "'shell'");
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("notify_command": "notify-it")")),
                      "'notify_command'");
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("admin_group": "")")), "'admin_group'");
}

TEST_F(Config, OutOfRangeNumbersNameKeyPath) {
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("limits": {"max_connections": 0})")),
                      "'limits.max_connections'");
  EXPECT_PRED_FORMAT2(mentions,
                      error_of(with(R"("limits": {"max_request_bytes": 18446744073709551615})")),
                      "'limits.max_request_bytes'");
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("limits": {"requests_per_hour": -1})")),
                      "'limits.requests_per_hour'");
}

TEST_F(Config, RequiresStateDirAndEngineersFile) {
  EXPECT_PRED_FORMAT2(mentions, error_of(R"({"state_dir": "/var/lib/rdiag"})"), "'engineers_file'");
  EXPECT_PRED_FORMAT2(mentions, error_of(R"({"engineers_file": "/etc/rdiag/engineers"})"),
                      "'state_dir'");
}

TEST_F(Config, EmptyListenMeansNoInboundPort) {
  auto cfg = parse(with(R"("listen": "")"));
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_FALSE(cfg->listen);
  auto v6 = parse(with(R"("listen": "[::1]:2222")"));
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(v6->listen->host, "::1");
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("listen": "0.0.0.0")")), "'listen'");
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("listen": "0.0.0.0:70000")")), "'listen'");
}

TEST_F(Config, BadAllowFromEntryIsNamed) {
  std::string msg = error_of(with(R"("allow_from": ["10.0.0.0/8", "10.0.0.0/33"])"));
  EXPECT_PRED_FORMAT2(mentions, msg, "'allow_from[1]'");
  EXPECT_PRED_FORMAT2(mentions, msg, "10.0.0.0/33");
}

TEST_F(Config, MaxStartupsAsSshd) {
  auto cfg = parse(with(R"("limits": {"max_startups": "5:50:20"})"));
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->limits.max_startups.start, 5);
  EXPECT_EQ(cfg->limits.max_startups.rate, 50);
  EXPECT_EQ(cfg->limits.max_startups.full, 20);
  auto bare = parse(with(R"("limits": {"max_startups": 7})"));
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_EQ(bare->limits.max_startups.start, 7);
  EXPECT_EQ(bare->limits.max_startups.rate, 100);
  EXPECT_EQ(bare->limits.max_startups.full, 7);
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("limits": {"max_startups": "20:30:10"})")),
                      "'limits.max_startups'");
}

TEST(MaxStartups, ParsesAndValidates) {
  auto three = parse_max_startups("10:30:100");
  ASSERT_TRUE(three);
  EXPECT_EQ(three->start, 10);
  auto one = parse_max_startups("12");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->rate, 100);
  EXPECT_EQ(one->full, 12);
  EXPECT_TRUE(parse_max_startups("10:1:10"));
  for (std::string_view bad : {"", "0", "20:30:10", "10:0:100", "10:101:100", "10:30", "a:b:c",
                               "10:30:100:1", "-1:30:100", " 10:30:100", "10::100"}) {
    EXPECT_FALSE(parse_max_startups(bad)) << bad;
  }
}

TEST_F(Config, RetentionBelowLegalMinimumIsRefused) {
  std::string msg = error_of(with(R"("retention_days": 90)"));
  EXPECT_PRED_FORMAT2(mentions, msg, "'retention_days'");
  EXPECT_PRED_FORMAT2(mentions, msg, "180");
  EXPECT_PRED_FORMAT2(mentions, msg, "Article 21");
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("retention_days": -5)")), "180");
  i18n::set_lang(i18n::Lang::kZhCN);
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("retention_days": 90)")), "网络安全法");
  auto ok = parse(with(R"("retention_days": 180)"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->retention_days, 180);
}

TEST_F(Config, MalformedJsonNamesLineAndColumn) {
  std::string msg = error_of("{\n  \"state_dir\": \"/x\",\n  \"engineers_file\": ,\n}\n");
  EXPECT_PRED_FORMAT2(mentions, msg, "line 3, column 21");
  EXPECT_PRED_FORMAT2(mentions, error_of(""), "line 1");
  EXPECT_PRED_FORMAT2(mentions, error_of(with("") + " trailing"), "line 1");
}

TEST_F(Config, DuplicateKeyIsRefused) {
  std::string msg = error_of(with(R"("limits": {"max_connections": 5, "max_connections": 500})"));
  EXPECT_PRED_FORMAT2(mentions, msg, "'max_connections'");
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("state_dir": "/tmp/other")")), "'state_dir'");
}

TEST_F(Config, DocumentMustBeAnObject) {
  EXPECT_FALSE(error_of("[1, 2]").empty());
  EXPECT_FALSE(error_of("\"state_dir\"").empty());
}

TEST_F(Config, MessagesComeInChinese) {
  i18n::set_lang(i18n::Lang::kZhCN);
  EXPECT_PRED_FORMAT2(mentions, error_of(with(R"("lisen": "x")")), "未知的键“lisen”");
}

class ConfigFile : public Config {
 protected:
  void SetUp() override {
    Config::SetUp();
    std::string tmpl = (fs::path(::testing::TempDir()) / "rdiag-cfg-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    Config::TearDown();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(ConfigFile, LoadsAndAnchorsPathsAtItsFolder) {
  std::string path = dir_ + "/agent.json";
  std::ofstream(path) << R"({"state_dir": "state", "engineers_file": "engineers"})";
  auto cfg = load_agent_config(path);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->state_dir, dir_ + "/state");
  EXPECT_EQ(cfg->engineers_file, dir_ + "/engineers");
}

TEST_F(ConfigFile, UnreadableFileNamesPathAndReason) {
  std::string path = dir_ + "/missing.json";
  auto cfg = load_agent_config(path);
  ASSERT_FALSE(cfg);
  EXPECT_PRED_FORMAT2(mentions, cfg.error().message, path);
  EXPECT_PRED_FORMAT2(mentions, cfg.error().message, "No such file or directory");
  auto dir = load_agent_config(dir_);
  ASSERT_FALSE(dir);
  EXPECT_PRED_FORMAT2(mentions, dir.error().message, dir_);
}

}  // namespace
}  // namespace rdiag
