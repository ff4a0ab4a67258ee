// What the customer's admin commands print and refuse before asking the agent:
// tables that line up with Chinese names, engineer text that cannot drive the
// terminal, local times with minutes left, and usage errors that say what to do.
#include "agent/control/admin_cli.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <ctime>
#include <sstream>

#include "agent/records/summary.h"
#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::agent {
namespace {

using nlohmann::json;

class AdminRender : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    old_tz_ = tz != nullptr ? std::optional<std::string>(tz) : std::nullopt;
    ::setenv("TZ", "CST-8", 1);  // UTC+8, no daylight saving; needs no tzdata
    ::tzset();
    i18n::set_lang(i18n::Lang::kEn);
  }
  void TearDown() override {
    if (old_tz_) {
      ::setenv("TZ", old_tz_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
    i18n::set_lang(i18n::Lang::kEn);
  }
  static SystemTime at(const char* ts) { return *parse_ts(ts); }

  std::optional<std::string> old_tz_;
};

json sample_requests() {
  return json::parse(R"({"requests": [
    {"request_id": "20260501-063000-AB12", "kind": "request", "state": "pending",
     "ticket": "ERP-1234", "reason": "月末结账失败\u001b[31m, please let me look",
     "scopes": ["diagnose", "shell"], "minutes": 60,
     "engineer": {"fingerprint": "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                  "name": "张三", "id": "E1001", "role": "engineer"},
     "peer": "10.0.0.5:51234", "created_at": "2026-05-01T06:30:00.000Z",
     "session_id": "20260501-063000-AB12"},
    {"request_id": "20260501-050000-CD34.x1", "kind": "extend", "state": "pending",
     "ticket": "T\u0007X", "reason": "need 30 more minutes", "scopes": ["diagnose"],
     "minutes": 30, "engineer": {"fingerprint": "SHA256:zz", "name": "Bob", "id": "", "role": "senior"},
     "peer": "10.0.0.6:40000", "created_at": "2026-05-01T06:40:00.000Z",
     "session_id": "20260501-050000-CD34"}]})");
}

// The terminal column where needle starts on the line that holds it.
std::size_t column_of(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto at = line.find(needle);
    if (at != std::string::npos) return display_width(line.substr(0, at));
  }
  ADD_FAILURE() << needle << " not in\n" << text;
  return 0;
}

TEST_F(AdminRender, RequestsTableLinesUpAndEscapesEngineerText) {
  const std::string out = render_requests(sample_requests(), at("2026-05-01T06:42:00.000Z"));
  EXPECT_NE(out.find("张三 (E1001)"), std::string::npos) << out;
  EXPECT_NE(out.find("Bob"), std::string::npos);
  // Local time (UTC+8) and how long the engineer has waited.
  EXPECT_NE(out.find("2026-05-01 14:30 (12 min ago)"), std::string::npos) << out;
  // Controls from the engineer are shown, never obeyed.
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_EQ(out.find('\x07'), std::string::npos);
  EXPECT_NE(out.find("\\x1b[31m"), std::string::npos) << out;
  EXPECT_NE(out.find("T\\x07X"), std::string::npos) << out;
  // The reason in full, and the words of the wire in the reader's language.
  EXPECT_NE(out.find("please let me look"), std::string::npos);
  EXPECT_NE(out.find("extension"), std::string::npos);
  // Columns line up although a name is two columns per character.
  EXPECT_EQ(column_of(out, "TICKET"), column_of(out, "ERP-1234"));
  EXPECT_EQ(column_of(out, "SCOPES"), column_of(out, "diagnose,shell"));
  EXPECT_EQ(column_of(out, "FROM"), column_of(out, "10.0.0.5:51234"));
  EXPECT_EQ(column_of(out, "FROM"), column_of(out, "10.0.0.6:40000"));
  EXPECT_NE(out.find("rdiag-agent approve"), std::string::npos);
}

TEST_F(AdminRender, RequestsInChineseLineUpToo) {
  i18n::set_lang(i18n::Lang::kZhCN);
  const std::string out = render_requests(sample_requests(), at("2026-05-01T06:42:00.000Z"));
  EXPECT_NE(out.find("工单"), std::string::npos) << out;
  EXPECT_NE(out.find("延期"), std::string::npos);
  EXPECT_NE(out.find("（12 分钟前）"), std::string::npos) << out;
  EXPECT_EQ(column_of(out, "工单"), column_of(out, "ERP-1234"));
  EXPECT_EQ(column_of(out, "来源"), column_of(out, "10.0.0.6:40000"));
}

TEST_F(AdminRender, NoPendingRequestsSaysSo) {
  EXPECT_EQ(render_requests(json{{"requests", json::array()}}, at("2026-05-01T06:42:00.000Z")),
            "No requests are waiting for a decision.\n");
  i18n::set_lang(i18n::Lang::kZhCN);
  EXPECT_EQ(render_requests(json{{"requests", json::array()}}, at("2026-05-01T06:42:00.000Z")),
            "没有等待决定的请求。\n");
}

TEST_F(AdminRender, SessionsShowTimeLeftAndEveryEngineer) {
  const json result = json::parse(R"({"sessions": [
    {"session_id": "20260501-063000-AB12", "state": "active", "ticket": "ERP-1234",
     "scopes": ["diagnose", "shell"], "expires_at": "2026-05-01T08:00:00.000Z", "remaining_s": 5400,
     "engineers": [{"fingerprint": "SHA256:a", "name": "张三", "id": "E1001", "role": "engineer"},
                   {"fingerprint": "SHA256:b", "name": "李四", "id": "E2002", "role": "senior"}],
     "connections": 2, "approved_by": "customer:alice"},
    {"session_id": "20260430-010000-ZZ99", "state": "revoked", "ticket": "OLD-1",
     "scopes": ["diagnose"], "expires_at": "2026-04-30T02:00:00.000Z", "remaining_s": 0,
     "engineers": [], "connections": 0, "approved_by": "policy:weekday"}]})");
  const std::string out = render_sessions(result, at("2026-05-01T06:30:00.000Z"), true);
  EXPECT_NE(out.find("2026-05-01 16:00 (90 min left)"), std::string::npos) << out;
  EXPECT_NE(out.find("张三 (E1001), 李四 (E2002)"), std::string::npos) << out;
  EXPECT_NE(out.find("revoked"), std::string::npos);
  EXPECT_NE(out.find("2026-04-30 10:00"), std::string::npos);
  EXPECT_NE(out.find("customer:alice"), std::string::npos);
  EXPECT_EQ(column_of(out, "STATE"), column_of(out, "active"));
  EXPECT_EQ(column_of(out, "TICKET"), column_of(out, "OLD-1"));

  EXPECT_EQ(
      render_sessions(json{{"sessions", json::array()}}, at("2026-05-01T06:30:00.000Z"), false),
      "No support session is active.\n");
}

TEST_F(AdminRender, ApprovalSaysWhatWasGrantedUntilWhen) {
  const json result = {{"request_id", "R1"},
                       {"session_id", "R1"},
                       {"state", "approved"},
                       {"scopes", {"diagnose"}},
                       {"expires_at", "2026-05-01T07:30:00.000Z"}};
  const std::string out = render_approved(result, at("2026-05-01T06:30:00.000Z"));
  EXPECT_NE(out.find("Approved R1"), std::string::npos) << out;
  EXPECT_NE(out.find("scopes: diagnose"), std::string::npos) << out;
  EXPECT_NE(out.find("2026-05-01 15:30 (60 min left)"), std::string::npos) << out;
  EXPECT_NE(out.find("rdiag-agent revoke R1"), std::string::npos);
  EXPECT_NE(render_denied({{"request_id", "R2"}, {"state", "denied"}}).find("Denied R2"),
            std::string::npos);
}

TEST_F(AdminRender, GrantCodeShowsTheCodeOnceWithWhoAndUntilWhen) {
  const json result = {{"code", "7K3M-9QXZ"},
                       {"scopes", {"diagnose", "shell"}},
                       {"minutes", 60},
                       {"engineer", ""},
                       {"expires_at", "2026-05-01T06:45:00.000Z"}};
  std::string out = render_code(result, at("2026-05-01T06:30:00.000Z"));
  EXPECT_NE(out.find("        7K3M-9QXZ\n"), std::string::npos) << out;
  EXPECT_NE(out.find("diagnose,shell"), std::string::npos);
  EXPECT_NE(out.find("60 minutes from when it is used"), std::string::npos);
  EXPECT_NE(out.find("any engineer in the engineers file"), std::string::npos);
  EXPECT_NE(out.find("2026-05-01 14:45 (15 min left)"), std::string::npos) << out;
  EXPECT_NE(out.find("shown only this once"), std::string::npos);

  json for_one = result;
  for_one["engineer"] = "E1001\x1b]0;x";
  out = render_code(for_one, at("2026-05-01T06:30:00.000Z"));
  EXPECT_NE(out.find("E1001\\x1b]0;x"), std::string::npos) << out;
  EXPECT_EQ(out.find("any engineer"), std::string::npos);
}

TEST_F(AdminRender, RevokeListsWhatEnded) {
  const std::string out = render_revoked({{"revoked", {"S1", "S2"}}});
  EXPECT_NE(out.find("Ended 2 session(s)"), std::string::npos) << out;
  EXPECT_NE(out.find("  S1\n  S2\n"), std::string::npos);
  EXPECT_EQ(render_revoked({{"revoked", json::array()}}),
            "No session was active, so none was ended.\n");
}

TEST(AdminParse, ScopesAreCheckedAndPutInOrder) {
  auto s = parse_scopes_option("shell, diagnose,shell");
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, (std::vector<std::string>{"diagnose", "shell"}));
  auto bad = parse_scopes_option("diagnose,root");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().reason, "usage");
  EXPECT_NE(bad.error().message.find("'root'"), std::string::npos);
  EXPECT_FALSE(parse_scopes_option(""));
  EXPECT_FALSE(parse_scopes_option(" , "));
}

TEST(AdminParse, MinutesFromOneToADay) {
  EXPECT_FALSE(check_minutes_option(0));
  EXPECT_TRUE(check_minutes_option(1));
  EXPECT_TRUE(check_minutes_option(1440));
  EXPECT_FALSE(check_minutes_option(1441));
  EXPECT_FALSE(check_minutes_option(-5));
}

TEST(AdminParse, AnswersMapToExitCodes) {
  EXPECT_EQ(admin_exit_code({{"result", json::object()}}), 0);
  EXPECT_EQ(admin_exit_code({{"error", {{"reason", "not_permitted"}, {"message", "m"}}}}), 3);
  EXPECT_EQ(admin_exit_code({{"error", {{"reason", "not_found"}, {"message", "m"}}}}), 1);
  EXPECT_EQ(admin_exit_code({{"error", {{"reason", "widens"}, {"message", "m"}}}}), 1);
}

// Usage errors are found before the agent is asked (resolve is not called).
int run_line(std::vector<std::string> args) {
  CLI::App app{"test"};
  app.require_subcommand(1);
  AdminCommands admin(app);
  args.insert(args.begin(), "rdiag-agent");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError&) {
    return 2;
  }
  EXPECT_TRUE(admin.parsed());
  bool resolved = false;
  const int rc = admin.run(
      [&]() -> Result<AgentConfig> {
        resolved = true;
        return make_error("no config here");
      },
      false);
  if (rc == 2) {
    EXPECT_FALSE(resolved);
  }
  return rc;
}

TEST(AdminParse, UsageErrorsExitTwoWithoutAskingTheAgent) {
  EXPECT_EQ(run_line({"deny", "R1"}), 2);
  EXPECT_EQ(run_line({"deny", "R1", "--reason", "  "}), 2);
  EXPECT_EQ(run_line({"revoke"}), 2);
  EXPECT_EQ(run_line({"revoke", "S1", "--all"}), 2);
  EXPECT_EQ(run_line({"grant-code", "--scopes", "diagnose"}), 2);
  EXPECT_EQ(run_line({"grant-code", "--scopes", "root", "--minutes", "5"}), 2);
  EXPECT_EQ(run_line({"approve", "R1", "--minutes", "0"}), 2);
  EXPECT_EQ(run_line({"approve"}), 2);
  // Well-formed: gets as far as the configuration, which fails here.
  EXPECT_EQ(run_line({"revoke", "--all"}), 1);
  EXPECT_EQ(run_line({"approve", "R1", "--minutes", "30", "--scopes", "diagnose"}), 1);
}

}  // namespace
}  // namespace rdiag::agent
