// The consent commands' command lines (request, session, extend, join,
// close): what parses, what is refused before any connection (exit 2, with a
// message that names what to fix), and the pure pieces of what they print.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "common/i18n.h"
#include "console/cli.h"
#include "console/consent_commands.h"
#include "console/exit_codes.h"
#include "console/rpc_reply.h"
#include "tests/unit/console/parse_helper.h"

namespace rdiag::console {
namespace {

using nlohmann::json;

using test::parse;

std::vector<std::string> request_args(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"request",   "erp01",     "--ticket", "INC-2041",
                                   "--reason",  "disk full", "--scopes", "diagnose,shell",
                                   "--minutes", "60"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// A copy of args with `option` and its value left out.
std::vector<std::string> without(std::vector<std::string> args, const std::string& option) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == option) {
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      break;
    }
  }
  return args;
}

// Sets an option's value in args (which must hold the option).
std::vector<std::string> with(std::vector<std::string> args, const std::string& option,
                              const std::string& value) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == option) args[i + 1] = value;
  }
  return args;
}

class ConsentCli : public ::testing::Test {
 protected:
  void SetUp() override { i18n::set_lang(i18n::Lang::kEn); }
  void TearDown() override { i18n::set_lang(i18n::Lang::kEn); }

  // A usage error: exit 2, nothing to run, "rdiag: " and every `needles` in err.
  static void expect_usage(const std::vector<std::string>& args,
                           const std::vector<std::string>& needles) {
    auto p = parse(args);
    std::string line;
    for (const auto& a : args) line += a + " ";
    EXPECT_FALSE(p.outcome.invocation) << line;
    EXPECT_EQ(p.outcome.exit_code, 2) << line;
    EXPECT_EQ(p.err.rfind("rdiag: ", 0), 0U) << line << "\n" << p.err;
    for (const auto& n : needles) EXPECT_NE(p.err.find(n), std::string::npos) << line << p.err;
  }
};

TEST_F(ConsentCli, RequestTakesEveryOption) {
  auto p = parse(request_args({"--code", "abcd-efgh", "--no-wait"}));
  ASSERT_TRUE(p.outcome.invocation) << p.err;
  const auto& inv = *p.outcome.invocation;
  EXPECT_EQ(inv.command, Command::kRequest);
  EXPECT_EQ(inv.name, "erp01");
  EXPECT_EQ(inv.consent.ticket, "INC-2041");
  EXPECT_EQ(inv.consent.reason, "disk full");
  EXPECT_EQ(inv.consent.scopes, (std::vector<std::string>{"diagnose", "shell"}));
  EXPECT_EQ(inv.consent.minutes, 60);
  EXPECT_EQ(inv.consent.code, "abcd-efgh");
  EXPECT_TRUE(inv.consent.no_wait);
}

TEST_F(ConsentCli, OptionsMayComeBeforeTheSiteAndGlobalsAfter) {
  auto p = parse({"request", "--scopes", "fix", "--minutes", "5", "--ticket", "T1", "--reason", "r",
                  "erp01", "--json", "--data-dir", "/d"});
  ASSERT_TRUE(p.outcome.invocation) << p.err;
  EXPECT_EQ(p.outcome.invocation->name, "erp01");
  EXPECT_EQ(p.outcome.invocation->consent.scopes, std::vector<std::string>{"fix"});
  EXPECT_TRUE(p.outcome.invocation->global.json);
  EXPECT_EQ(p.outcome.invocation->global.data_dir, "/d");
}

TEST_F(ConsentCli, RepeatedAndSpacedScopesAreTidied) {
  auto p = parse(with(request_args(), "--scopes", "diagnose, shell,diagnose"));
  ASSERT_TRUE(p.outcome.invocation) << p.err;
  EXPECT_EQ(p.outcome.invocation->consent.scopes, (std::vector<std::string>{"diagnose", "shell"}));
}

TEST_F(ConsentCli, RequestWithoutARequiredOptionIsAUsageError) {
  for (const char* option : {"--ticket", "--reason", "--scopes", "--minutes"}) {
    expect_usage(without(request_args(), option), {option});
  }
  expect_usage({"request", "--ticket", "T", "--reason", "r", "--scopes", "fix", "--minutes", "5"},
               {"SITE"});
}

TEST_F(ConsentCli, BadTicketsSayWhatATicketLooksLike) {
  for (const std::string& bad :
       std::vector<std::string>{"_INC", "INC 1", "INC#1", std::string(65, 'a'), "工单1"}) {
    expect_usage(with(request_args(), "--ticket", bad), {"ticket", "--ticket INC-2041"});
  }
  auto longest = parse(with(request_args(), "--ticket", "A" + std::string(63, '/')));
  EXPECT_TRUE(longest.outcome.invocation) << longest.err;
}

TEST_F(ConsentCli, UnknownScopesNameTheScopeAndTheChoices) {
  expect_usage(with(request_args(), "--scopes", "diagnose,root"), {"'root'", "transfer"});
  expect_usage(with(request_args(), "--scopes", ""), {"''", "diagnose, shell"});
}

TEST_F(ConsentCli, MinutesMustBeAWholeNumberInRange) {
  for (const char* bad : {"0", "1441", "-5", "1.5", "ten", "", "99999999999"}) {
    expect_usage(with(request_args(), "--minutes", bad), {"--minutes", "1440"});
  }
  for (const char* good : {"1", "1440"}) {
    EXPECT_TRUE(parse(with(request_args(), "--minutes", good)).outcome.invocation) << good;
  }
}

TEST_F(ConsentCli, ReasonIsNeededAndBounded) {
  expect_usage(with(request_args(), "--reason", "  "), {"--reason", "500"});
  expect_usage(with(request_args(), "--reason", std::string(501, 'x')), {"500", "501"});
  expect_usage(with(request_args(), "--reason", "bad \xff byte"), {"UTF-8"});
  std::string chinese;
  for (int i = 0; i < 500; ++i) chinese += "磁";  // 500 characters, 1500 bytes
  EXPECT_TRUE(parse(with(request_args(), "--reason", chinese)).outcome.invocation);
}

TEST_F(ConsentCli, CodeMustLookLikeACode) {
  for (const char* bad : {"ABC", "ABCD-EFG", "ABCD_EFGH", "ABCDEFGHJ"}) {
    expect_usage(request_args({"--code", bad}), {"--code", "XXXX-XXXX"});
  }
  EXPECT_TRUE(parse(request_args({"--code", "ABCDEFGH"})).outcome.invocation);
}

TEST_F(ConsentCli, SessionTakesASite) {
  auto p = parse({"session", "erp01"});
  ASSERT_TRUE(p.outcome.invocation) << p.err;
  EXPECT_EQ(p.outcome.invocation->command, Command::kSession);
  EXPECT_EQ(p.outcome.invocation->name, "erp01");
  expect_usage({"session"}, {"SITE"});
  expect_usage({"session", "a", "b"}, {});
}

TEST_F(ConsentCli, ExtendNeedsMinutesAndReason) {
  auto p = parse({"extend", "erp01", "--minutes", "30", "--reason", "restore still running"});
  ASSERT_TRUE(p.outcome.invocation) << p.err;
  EXPECT_EQ(p.outcome.invocation->command, Command::kExtend);
  EXPECT_EQ(p.outcome.invocation->consent.minutes, 30);
  expect_usage({"extend", "erp01", "--reason", "r"}, {"--minutes"});
  expect_usage({"extend", "erp01", "--minutes", "30"}, {"--reason"});
  expect_usage({"extend", "erp01", "--minutes", "2000", "--reason", "r"}, {"1440"});
}

TEST_F(ConsentCli, JoinNeedsASessionIdAndReason) {
  auto p = parse({"join", "erp01", "20261128-060500-7k2m", "--reason", "second pair of eyes"});
  ASSERT_TRUE(p.outcome.invocation) << p.err;
  EXPECT_EQ(p.outcome.invocation->command, Command::kJoin);
  EXPECT_EQ(p.outcome.invocation->consent.session_id, "20261128-060500-7K2M");
  expect_usage({"join", "erp01", "--reason", "r"}, {"SESSION"});
  expect_usage({"join", "erp01", "20261128-060500-7K2M"}, {"--reason"});
  // The id is named as the console read it (ids are upper case).
  expect_usage({"join", "erp01", "yesterday", "--reason", "r"},
               {"'YESTERDAY'", "YYYYMMDD-HHMMSS-XXXX"});
}

TEST_F(ConsentCli, CloseResolvedNeedsCauseAndSolution) {
  expect_usage({"close", "erp01", "--outcome", "resolved", "--solution", "rotated logs"},
               {"--cause", "resolved"});
  expect_usage({"close", "erp01", "--outcome", "resolved", "--cause", "disk full"}, {"--solution"});
  expect_usage({"close", "erp01", "--outcome", "resolved", "--cause", " ", "--solution", "s"},
               {"--cause"});
  auto p = parse({"close", "erp01", "--outcome", "resolved", "--cause", "disk full", "--solution",
                  "rotated logs"});
  ASSERT_TRUE(p.outcome.invocation) << p.err;
  EXPECT_EQ(p.outcome.invocation->command, Command::kClose);
  EXPECT_EQ(p.outcome.invocation->consent.cause, "disk full");
  EXPECT_EQ(p.outcome.invocation->consent.solution, "rotated logs");
}

TEST_F(ConsentCli, CloseOtherwiseNeedsOnlyAKnownOutcome) {
  for (const char* outcome : {"escalated", "onsite", "unresolved"}) {
    EXPECT_TRUE(parse({"close", "erp01", "--outcome", outcome}).outcome.invocation) << outcome;
  }
  expect_usage({"close", "erp01"}, {"--outcome"});
  expect_usage({"close", "erp01", "--outcome", "fixed"}, {"'fixed'", "unresolved"});
  expect_usage({"close", "erp01", "--outcome", "escalated", "--cause", std::string(4097, 'c')},
               {"--cause", "4096", "4097"});
}

TEST_F(ConsentCli, MessagesFollowTheLanguage) {
  i18n::set_lang(i18n::Lang::kZhCN);
  auto p = parse({"close", "erp01", "--outcome", "resolved"});
  EXPECT_EQ(p.outcome.exit_code, 2);
  EXPECT_NE(p.err.find("必须填写 --cause"), std::string::npos) << p.err;
  auto help = parse({"request", "--help"});
  EXPECT_EQ(help.outcome.exit_code, 0);
  EXPECT_NE(help.out.find("工单号"), std::string::npos) << help.out;
}

TEST_F(ConsentCli, RefusalsOfTheAskExitThree) {
  const Error e = make_error("refused", "");
  for (int code : {-32002, -32003, -32004, -32006, -32007}) {
    EXPECT_EQ(consent_exit_code(e, code), 3) << code;
  }
  EXPECT_EQ(consent_exit_code(e, -32005), 1);
  EXPECT_EQ(consent_exit_code(e, -32008), 1);
  EXPECT_EQ(consent_exit_code(make_error("x", "connect_failed"), 0), 1);
  EXPECT_EQ(consent_exit_code(make_error("x", "host_key_changed"), 0), 3);
}

// ---------------------------------------------------------------------------
// What the commands print

class ScopedTz {
 public:
  explicit ScopedTz(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;  // NOLINT(concurrency-mt-unsafe)
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~ScopedTz() {
    if (old_) {
      ::setenv("TZ", old_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

 private:
  std::optional<std::string> old_;
};

TEST_F(ConsentCli, WireTimesAreShownInLocalTime) {
  {
    ScopedTz tz("UTC");
    EXPECT_EQ(local_time_text("2026-11-28T06:05:00.123Z"), "2026-11-28 06:05 UTC");
  }
  {
    ScopedTz tz("Asia/Shanghai");
    EXPECT_EQ(local_time_text("2026-11-28T22:05:00.000Z"), "2026-11-29 06:05 CST");
  }
  EXPECT_EQ(local_time_text("soon\x1b[2J"), "soon\\x1b[2J");
  EXPECT_EQ(local_time_text(""), "");
}

TEST_F(ConsentCli, ElapsedIsMinutesAndSeconds) {
  EXPECT_EQ(elapsed_text(std::chrono::seconds(0)), "0:00");
  EXPECT_EQ(elapsed_text(std::chrono::seconds(65)), "1:05");
  EXPECT_EQ(elapsed_text(std::chrono::seconds(3600)), "60:00");
}

TEST_F(ConsentCli, StatesAreWordsAndUnknownOnesAreEscaped) {
  EXPECT_EQ(state_text("pending"), "waiting for approval");
  EXPECT_EQ(state_text("grant_expired"), "grant expired");
  EXPECT_EQ(state_text("odd\x1b]0;x\x07"), "odd\\x1b]0;x\\x07");
}

TEST_F(ConsentCli, StatusShowsGrantAndPendingRequestsSafely) {
  ScopedTz tz("UTC");
  auto status = json::parse(R"({
    "grant": {"session_id": "20261128-060500-7K2M", "state": "active", "ticket": "INC-2041",
              "scopes": ["diagnose", "shell"], "expires_at": "2026-11-28T08:05:00.000Z",
              "remaining_s": 3599,
              "engineers": [{"fingerprint": "SHA256:abc", "name": "李伟\u001b[2J", "id": "E1024",
                             "role": "engineer"}]},
    "requests": [{"request_id": "20261128-060500-7K2M.x1", "kind": "extend", "state": "pending",
                  "ticket": "INC-2041", "scopes": ["diagnose"], "minutes": 30,
                  "created_at": "2026-11-28T07:00:00.000Z"}]})");
  const std::string text = render_status(status);
  for (const char* part : {"20261128-060500-7K2M", "INC-2041", "diagnose,shell", "E1024",
                           "SHA256:abc", "2026-11-28 08:05 UTC", "60 min left",
                           "20261128-060500-7K2M.x1", "extend", "30", "2026-11-28 07:00 UTC"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part << " missing from\n" << text;
  }
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_NE(text.find("李伟\\x1b[2J"), std::string::npos) << text;

  const std::string none = render_status(json::parse(R"({"grant": null, "requests": []})"));
  EXPECT_NE(none.find("no grant"), std::string::npos) << none;
  EXPECT_NE(none.find("no pending requests"), std::string::npos) << none;
}

TEST_F(ConsentCli, ApprovalNamesSessionScopesExpiryAndApprover) {
  ScopedTz tz("UTC");
  auto result = json::parse(R"({"request_id": "20261128-060500-7K2M", "state": "approved",
      "session_id": "20261128-060500-7K2M", "scopes": ["diagnose"], "minutes": 60,
      "expires_at": "2026-11-28T07:05:00.000Z", "approved_by": "customer:zhang\u202e"})");
  const std::string text = render_approved(result, Command::kRequest);
  for (const char* part : {"approved: session 20261128-060500-7K2M", "diagnose",
                           "2026-11-28 07:05 UTC", "customer:zhang\\u{202E}"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part << " missing from\n" << text;
  }
  EXPECT_EQ(text.find("\u202e"), std::string::npos);
  result["approved_by"] = json{{"actor", "policy:weekday"}, {"uid", 0}};
  EXPECT_NE(render_approved(result, Command::kRequest).find("policy:weekday"), std::string::npos);
  EXPECT_NE(render_approved(result, Command::kExtend).find("extension approved"),
            std::string::npos);
}

TEST_F(ConsentCli, NotificationsAreMatchedToTheRequest) {
  auto note = [](json params) {
    return json{{"jsonrpc", "2.0"}, {"method", "session.state"}, {"params", std::move(params)}};
  };
  const std::string id = "20261128-060500-7K2M";
  EXPECT_EQ(notified_state(note({{"session_id", id}, {"state", "approved"}}), id), "approved");
  EXPECT_EQ(
      notified_state(note({{"session_id", id}, {"request_id", id + ".x1"}, {"state", "extended"}}),
                     id + ".x1"),
      "extended");
  EXPECT_EQ(notified_state(
                note({{"session_id", id}, {"request_id", id + ".x1"}, {"state", "extended"}}), id),
            "");
  EXPECT_EQ(notified_state(note({{"session_id", "20261128-060500-0000"}, {"state", "denied"}}), id),
            "");
  EXPECT_EQ(notified_state(json{{"method", "progress"}, {"params", {{"session_id", id}}}}, id), "");
  EXPECT_EQ(notified_state(json::array(), id), "");
}

TEST_F(ConsentCli, NotificationLinesReachTheCallerInsteadOfFailing) {
  auto r = interpret_reply(
      R"({"jsonrpc":"2.0","method":"session.state","params":{"session_id":"x","state":"denied"}})",
      4);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Reply::Kind::kSkip);
  EXPECT_EQ(r->notification["params"]["state"], "denied");
  auto other = interpret_reply(R"({"jsonrpc":"2.0","id":9,"result":{}})", 4);
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->notification.is_null());
}

}  // namespace
}  // namespace rdiag::console
