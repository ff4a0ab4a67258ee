#include "console/cli.h"

#include <gtest/gtest.h>

#include <sstream>

#include "common/i18n.h"
#include "tests/unit/console/parse_helper.h"

namespace rdiag::console {
namespace {

using test::parse;

TEST(Cli, SitesAddWithTags) {
  auto p = parse({"sites", "add", "erp01", "10.0.0.5:2200", "--tag", "prod", "--tag", "华东"});
  ASSERT_TRUE(p.outcome.invocation) << p.err;
  const auto& inv = *p.outcome.invocation;
  EXPECT_EQ(inv.command, Command::kSitesAdd);
  EXPECT_EQ(inv.name, "erp01");
  EXPECT_EQ(inv.address, "10.0.0.5:2200");
  EXPECT_EQ(inv.tags, (std::vector<std::string>{"prod", "华东"}));
}

TEST(Cli, TagBeforePositionalsTakesOneValue) {
  auto p = parse({"sites", "add", "--tag", "prod", "erp01", "host"});
  ASSERT_TRUE(p.outcome.invocation) << p.err;
  EXPECT_EQ(p.outcome.invocation->tags, std::vector<std::string>{"prod"});
  EXPECT_EQ(p.outcome.invocation->name, "erp01");
  EXPECT_EQ(p.outcome.invocation->address, "host");
}

TEST(Cli, GlobalOptionsBeforeOrAfterTheSubcommand) {
  auto before = parse({"--data-dir", "/d", "--json", "--key", "/k", "info", "erp01"});
  auto after = parse({"info", "erp01", "--data-dir", "/d", "--json", "--key", "/k"});
  auto nested = parse({"sites", "list", "--data-dir", "/d", "--json", "--accept-new"});
  for (const auto* p : {&before, &after}) {
    ASSERT_TRUE(p->outcome.invocation) << p->err;
    const auto& inv = *p->outcome.invocation;
    EXPECT_EQ(inv.command, Command::kInfo);
    EXPECT_EQ(inv.name, "erp01");
    EXPECT_EQ(inv.global.data_dir, "/d");
    EXPECT_EQ(inv.global.key_file, "/k");
    EXPECT_TRUE(inv.global.json);
    EXPECT_FALSE(inv.global.accept_new);
  }
  ASSERT_TRUE(nested.outcome.invocation) << nested.err;
  EXPECT_EQ(nested.outcome.invocation->command, Command::kSitesList);
  EXPECT_TRUE(nested.outcome.invocation->global.accept_new);
}

TEST(Cli, RemoveAndInfo) {
  auto rm = parse({"sites", "remove", "erp01"});
  ASSERT_TRUE(rm.outcome.invocation);
  EXPECT_EQ(rm.outcome.invocation->command, Command::kSitesRemove);
  EXPECT_EQ(rm.outcome.invocation->name, "erp01");
}

TEST(Cli, UsageErrorsExitTwo) {
  i18n::set_lang(i18n::Lang::kEn);
  for (const auto& args : std::vector<std::vector<std::string>>{{},
                                                                {"sites"},
                                                                {"sites", "add", "erp01"},
                                                                {"info"},
                                                                {"info", "a", "b"},
                                                                {"bogus"},
                                                                {"sites", "list", "--no-such-flag"},
                                                                {"info", "a", "--key"}}) {
    auto p = parse(args);
    EXPECT_FALSE(p.outcome.invocation);
    EXPECT_EQ(p.outcome.exit_code, 2);
    EXPECT_EQ(p.err.rfind("rdiag: ", 0), 0U) << p.err;
  }
}

TEST(Cli, HelpExitsZeroInTheChosenLanguage) {
  i18n::set_lang(i18n::Lang::kZhCN);
  auto p = parse({"sites", "add", "--help"});
  i18n::set_lang(i18n::Lang::kEn);
  EXPECT_FALSE(p.outcome.invocation);
  EXPECT_EQ(p.outcome.exit_code, 0);
  EXPECT_NE(p.out.find("用法"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("--tag"), std::string::npos);
}

TEST(Cli, VersionExitsZero) {
  auto p = parse({"--version"});
  EXPECT_EQ(p.outcome.exit_code, 0);
  EXPECT_NE(p.out.find("rdiag "), std::string::npos);
}

TEST(Cli, FindsTheLangFlagEarly) {
  EXPECT_EQ(find_lang_flag({"info", "x", "--lang", "zh_CN"}), "zh_CN");
  EXPECT_EQ(find_lang_flag({"--lang=en", "info"}), "en");
  EXPECT_FALSE(find_lang_flag({"info", "x"}));
  EXPECT_FALSE(find_lang_flag({"--lang"}));
}

}  // namespace
}  // namespace rdiag::console
