// What `rdiag diag` prints: findings first and most severe first, colour only
// when asked, numbers as people read them, text from the server made safe
// for the terminal, and its command line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "common/i18n.h"
#include "console/diag_commands.h"
#include "tests/unit/console/parse_helper.h"

namespace rdiag::console {
namespace {

using nlohmann::json;

json finding(const std::string& severity, const std::string& id, const std::string& title) {
  return {{"severity", severity}, {"id", id},      {"title", title},     {"evidence", {"e1"}},
          {"cause", "c"},         {"remedy", "r"}, {"source", "builtin"}};
}

class DiagRender : public ::testing::Test {
 protected:
  void TearDown() override { i18n::set_lang(i18n::Lang::kEn); }
};

TEST_F(DiagRender, FindingsComeMostSevereFirst) {
  const json findings = {finding("info", "a", "note"), finding("warning", "b", "slow"),
                         finding("critical", "c", "disk full"), finding("error", "d", "db down")};
  const std::string out = render_findings(findings, false);
  const auto critical = out.find("disk full");
  const auto error = out.find("db down");
  const auto warning = out.find("slow");
  const auto info = out.find("note");
  ASSERT_NE(info, std::string::npos) << out;
  EXPECT_LT(critical, error);
  EXPECT_LT(error, warning);
  EXPECT_LT(warning, info);
  EXPECT_NE(out.find("cause: c"), std::string::npos);
  EXPECT_NE(out.find("remedy: r"), std::string::npos);
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << "no colour unless on a terminal";
  EXPECT_NE(render_findings(findings, true).find("\x1b[1;31m"), std::string::npos);
}

TEST_F(DiagRender, TextFromTheServerCannotDriveTheTerminal) {
  json f = finding("error", "x", "evil \x1b]0;owned\x07 title");
  f["evidence"] = {"line\x1b[2Jcleared"};
  const std::string out = render_findings(json::array({f}), false);
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
  EXPECT_EQ(out.find('\x07'), std::string::npos) << out;
}

TEST_F(DiagRender, NoFindingsSaysSo) {
  EXPECT_NE(render_findings(json::array(), false).find("No findings"), std::string::npos);
  i18n::set_lang(i18n::Lang::kZhCN);
  EXPECT_NE(render_findings(json::array(), false).find("未发现问题"), std::string::npos);
}

TEST_F(DiagRender, NumbersReadAsSizesSharesAndLoads) {
  const json report = {
      {"report_id", "report-1"},
      {"host", "erp-db-01"},
      {"summary",
       {{"findings", {{"critical", 1}, {"error", 0}, {"warning", 2}, {"info", 0}}},
        {"redactions", 3}}},
      {"findings", json::array()},
      {"collectors",
       {{{"name", "disk"},
         {"ok", true},
         {"data",
          {{"filesystems",
            {{{"mount_point", "/var"}, {"bytes_total", 21474836480LL}, {"used_permille", 931}}}},
           {"load1_x100", 657}}}},
        {{"name", "services"},
         {"ok", false},
         {"error", {{"reason", "no_system_bus"}, {"message", "no D-Bus system bus"}}}}}}};
  const std::string out = render_report(report, false);
  EXPECT_NE(out.find("20.0 GiB"), std::string::npos) << out;
  EXPECT_NE(out.find("93.1 %"), std::string::npos) << out;
  EXPECT_NE(out.find("6.57"), std::string::npos) << out;
  EXPECT_NE(out.find("/var"), std::string::npos) << out;
  EXPECT_NE(out.find("failed: no D-Bus system bus"), std::string::npos) << out;
  EXPECT_NE(out.find("1 critical, 0 errors, 2 warnings, 0 notes; 3 values redacted"),
            std::string::npos)
      << out;
  // The row's subject comes first, before the numbers.
  EXPECT_LT(out.find("mount_point"), out.find("bytes_total")) << out;
}

TEST_F(DiagRender, ProgressLines) {
  EXPECT_EQ(progress_text({{"stage", "plugins"}, {"done", 1}, {"total", 4}}),
            "diagnosing: plugins 1/4");
  i18n::set_lang(i18n::Lang::kZhCN);
  EXPECT_EQ(progress_text({{"stage", "collectors"}}), "正在诊断：采集项");
  EXPECT_EQ(progress_text(json::object()), "");
  EXPECT_EQ(progress_text("junk"), "");
}

TEST_F(DiagRender, CommandLine) {
  auto p = test::parse({"diag", "acme", "--collectors", "disk,memory", "--since", "2h"});
  ASSERT_TRUE(p.outcome.invocation) << p.err;
  EXPECT_EQ(p.outcome.invocation->command, Command::kDiag);
  EXPECT_EQ(p.outcome.invocation->name, "acme");
  EXPECT_EQ(p.outcome.invocation->diag.collectors, (std::vector<std::string>{"disk", "memory"}));
  EXPECT_EQ(p.outcome.invocation->diag.since, "2h");
  auto missing = test::parse({"diag"});
  EXPECT_FALSE(missing.outcome.invocation);
  EXPECT_EQ(missing.outcome.exit_code, 2);
}

}  // namespace
}  // namespace rdiag::console
