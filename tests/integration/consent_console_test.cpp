// The engineer's consent commands against a real agent: `rdiag request`
// waits while customer IT decides with the real `rdiag-agent approve` /
// `deny` (run as processes, through the control socket), `rdiag session`
// shows grants and pending requests, `rdiag extend` waits for its own
// approval, and `rdiag close` seals a record that `rdiag-agent records
// verify` accepts.
#include <gtest/gtest.h>

#include <future>

#include "tests/support/harness.h"

namespace rdiag::test {
namespace {

using std::chrono::seconds;

class ConsentConsole : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(agent_.engineers_path(),
               "rdiag-name=\"李伟\",rdiag-id=\"E1024\" " + key_.public_line + "\n");
    ASSERT_TRUE(agent_.start({{"control_socket", dir_ / "control.sock"}})) << agent_.log();
    auto add = rdiag({"sites", "add", "acme", "127.0.0.1:" + std::to_string(agent_.port())});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    auto pin = rdiag({"--accept-new", "info", "acme"});
    ASSERT_EQ(pin.exit_code, 0) << pin.err;
  }

  ProcResult rdiag(std::vector<std::string> args, seconds timeout = seconds(30)) {
    std::vector<std::string> argv = {RDIAG_CONSOLE_BIN, "--data-dir", data_.path(), "--key",
                                     key_.path};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, {.env = {{"LANG", "C.UTF-8"}, {"TZ", "UTC"}},
                      .unset_env = {"SSH_AUTH_SOCK", "LC_ALL", "LC_MESSAGES"},
                      .timeout = timeout});
  }
  // The console in the background: request, extend and join wait for customer IT.
  std::future<ProcResult> rdiag_waiting(std::vector<std::string> args) {
    // Long enough for a session.wait round (30 s) past the moment IT answers.
    return std::async(std::launch::async, [this, args] { return rdiag(args, seconds(60)); });
  }
  // The customer's side: the admin CLI, over the control socket.
  ProcResult admin(std::vector<std::string> args) {
    std::vector<std::string> argv = {RDIAG_AGENT_BIN, "--config", agent_.config_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, {.env = {{"LANG", "C.UTF-8"}}, .timeout = seconds(20)});
  }
  // The id of the first pending request of this kind that customer IT sees,
  // or "" if none shows up in time.
  std::string pending(const std::string& kind = "request") {
    std::string id;
    wait_until(
        [&] {
          auto r = admin({"--json", "requests"});
          auto doc = nlohmann::json::parse(r.out, nullptr, false);
          if (r.exit_code != 0 || !doc.is_object() || !doc["requests"].is_array()) return false;
          for (const auto& req : doc["requests"]) {
            if (req.value("kind", "") == kind) id = req.value("request_id", "");
          }
          return !id.empty();
        },
        seconds(20));
    return id;
  }
  std::vector<std::string> request_args(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"request",   "acme",     "--ticket", "INC-2041",
                                     "--reason",  "磁盘已满", "--scopes", "diagnose,shell",
                                     "--minutes", "30"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  // request, approve; returns the session id ("" on failure, reported).
  std::string approved_session() {
    auto console = rdiag_waiting(request_args());
    const std::string id = pending();
    EXPECT_FALSE(id.empty()) << agent_.log();
    if (id.empty()) return {};
    auto ok = admin({"approve", id});
    EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    auto r = console.get();
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.exit_code == 0 ? id : std::string();
  }

  // A grant at once through a one-time code from `rdiag-agent grant-code`;
  // returns the session id ("" on failure, reported).
  std::string code_session() {
    auto made = admin({"--json", "grant-code", "--scopes", "diagnose,shell", "--minutes", "30"});
    EXPECT_EQ(made.exit_code, 0) << made.out << made.err;
    auto code = nlohmann::json::parse(made.out, nullptr, false);
    if (made.exit_code != 0 || !code.is_object()) return {};
    auto r = rdiag(request_args({"--json", "--code", code.value("code", "")}));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.err.find("waiting"), std::string::npos) << "approved at once:\n" << r.err;
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    if (r.exit_code != 0 || !doc.is_object()) return {};
    EXPECT_EQ(doc["state"], "approved");
    EXPECT_EQ(doc["scopes"], nlohmann::json::array({"diagnose", "shell"}));
    return doc.value("session_id", "");
  }

  TempDir dir_;
  TempDir data_;
  Key key_ = make_key(dir_.path(), "engineer");
  Agent agent_{dir_.path()};
};

TEST_F(ConsentConsole, RequestWaitsForApprovalThenPrintsTheSession) {
  auto console = rdiag_waiting(request_args());
  const std::string id = pending();
  ASSERT_FALSE(id.empty()) << agent_.log();
  auto ok = admin({"approve", id});
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  auto r = console.get();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("approved: session " + id), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("diagnose,shell"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("UTC"), std::string::npos) << "the expiry in local time:\n" << r.out;
  // Without a terminal, waiting is told in plain lines, and how IT approves.
  EXPECT_NE(r.err.find("waiting for the customer's IT: request " + id), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rdiag-agent approve " + id), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << "no redrawn line on a pipe";

  auto status = rdiag({"session", "acme"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find(id), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("INC-2041"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("李伟"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("min left"), std::string::npos) << status.out;

  // One active grant per key: a second request is refused, exit 3.
  auto again = rdiag(request_args({"--no-wait"}));
  EXPECT_EQ(again.exit_code, 3) << again.out << again.err;
  EXPECT_NE(again.err.find("rdiag: "), std::string::npos);
}

TEST_F(ConsentConsole, DeniedRequestExitsThreeWithTheCustomersReason) {
  auto console = rdiag_waiting(request_args());
  const std::string id = pending();
  ASSERT_FALSE(id.empty()) << agent_.log();
  auto no = admin({"deny", id, "--reason", "今晚系统维护, call after 20:00"});
  ASSERT_EQ(no.exit_code, 0) << no.out << no.err;
  auto r = console.get();
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("今晚系统维护, call after 20:00"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(id), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("approved"), std::string::npos) << r.out;
}

TEST_F(ConsentConsole, JsonPrintsTheFinalWaitResultOnOneLine) {
  auto console = rdiag_waiting(request_args({"--json"}));
  const std::string id = pending();
  ASSERT_FALSE(id.empty()) << agent_.log();
  ASSERT_EQ(admin({"approve", id, "--scopes", "diagnose"}).exit_code, 0);
  auto r = console.get();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.out.find('\n'), r.out.size() - 1) << "one line:\n" << r.out;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["state"], "approved");
  EXPECT_EQ(doc["session_id"], id);
  EXPECT_EQ(doc["scopes"], nlohmann::json::array({"diagnose"})) << "IT narrowed the scopes";
}

TEST_F(ConsentConsole, NoWaitThenSessionShowsThePendingRequest) {
  auto sent = rdiag(request_args({"--no-wait", "--json"}));
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  auto doc = nlohmann::json::parse(sent.out);
  const std::string id = doc.value("request_id", "");
  ASSERT_FALSE(id.empty()) << sent.out;
  EXPECT_EQ(doc["state"], "pending");

  auto plain = rdiag({"session", "acme"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.out.find("no grant"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find(id), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("INC-2041"), std::string::npos) << plain.out;

  auto json = rdiag({"--json", "session", "acme"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto status = nlohmann::json::parse(json.out);
  EXPECT_TRUE(status["grant"].is_null()) << json.out;
  ASSERT_EQ(status["requests"].size(), 1U) << json.out;
  EXPECT_EQ(status["requests"][0]["request_id"], id);
}

TEST_F(ConsentConsole, ExtendWaitsForItsOwnApproval) {
  const std::string session = approved_session();
  ASSERT_FALSE(session.empty());
  auto console = rdiag_waiting({"extend", "acme", "--minutes", "15", "--reason", "restore runs"});
  const std::string id = pending("extend");
  ASSERT_EQ(id, session + ".x1") << agent_.log();
  ASSERT_EQ(admin({"approve", id}).exit_code, 0);
  auto r = console.get();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(session), std::string::npos) << r.out;
}

TEST_F(ConsentConsole, JoinWaitsForApprovalThenPutsTheJoinerOnTheGrant) {
  Key second = make_key(dir_.path(), "second");
  write_file(agent_.engineers_path(),
             "rdiag-name=\"李伟\",rdiag-id=\"E1024\" " + key_.public_line + "\n" +
                 "rdiag-name=\"王芳\",rdiag-id=\"E2048\",rdiag-role=\"senior\" " +
                 second.public_line + "\n");
  agent_.reload();
  ASSERT_TRUE(
      wait_until([&] { return agent_.log().find("reloaded") != std::string::npos; }, seconds(5)));
  const std::string session = code_session();
  ASSERT_FALSE(session.empty());
  std::vector<std::string> argv = {
      RDIAG_CONSOLE_BIN, "--data-dir", data_.path(),         "--key", second.path, "join", "acme",
      session,           "--reason",   "second pair of eyes"};
  auto console = std::async(std::launch::async, [argv] {
    return run(argv, {.env = {{"LANG", "C.UTF-8"}},
                      .unset_env = {"SSH_AUTH_SOCK", "LC_ALL", "LC_MESSAGES"},
                      .timeout = seconds(60)});
  });
  const std::string id = pending("join");
  ASSERT_EQ(id, session + ".j1") << agent_.log();
  ASSERT_EQ(admin({"approve", id}).exit_code, 0);
  auto r = console.get();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("you joined session " + session), std::string::npos) << r.out;
  auto status = rdiag({"session", "acme"});
  EXPECT_NE(status.out.find("王芳 (E2048, senior)"), std::string::npos) << status.out;
}

TEST_F(ConsentConsole, CloseSealsARecordThatVerifies) {
  const std::string session = code_session();
  ASSERT_FALSE(session.empty());
  auto r = rdiag({"close", "acme", "--outcome", "resolved", "--cause", "log disk full",
                  "--solution", "rotated the ERP logs"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("session " + session + " closed and sealed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Last hash"), std::string::npos) << r.out;
  auto verify = admin({"records", "verify", session});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto after = rdiag({"session", "acme"});
  EXPECT_NE(after.out.find("no grant"), std::string::npos) << after.out << after.err;
  // Nothing left to close: refused, exit 3.
  auto twice = rdiag({"close", "acme", "--outcome", "unresolved"});
  EXPECT_EQ(twice.exit_code, 3) << twice.out << twice.err;
}

TEST_F(ConsentConsole, ACodeThatDoesNotGrantIsRefused) {
  auto r = rdiag(request_args({"--code", "0000-0000"}));
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("rdiag: "), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// `rdiag diag`: exit 3 without a grant; with one, findings come first, then
// every collector; --json is the whole report, as report.get gives it.
TEST_F(ConsentConsole, DiagShowsFindingsFirstThenTheCollectors) {
  auto refused = rdiag({"diag", "acme"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("rdiag request"), std::string::npos) << refused.err;

  ASSERT_FALSE(code_session().empty());
  auto r = rdiag({"diag", "acme"}, seconds(90));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto collectors = r.out.find("Collectors");
  ASSERT_NE(collectors, std::string::npos) << r.out;
  EXPECT_LT(r.out.find("values redacted"), collectors) << r.out;
  for (const char* part : {"[cpu]", "[disk]", "[memory]", "[processes]", "[time]"}) {
    EXPECT_NE(r.out.find(part, collectors), std::string::npos) << part << "\n" << r.out;
  }
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "no colour into a pipe";

  auto j = rdiag({"--json", "diag", "acme", "--collectors", "memory,os"}, seconds(90));
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << j.out;
  EXPECT_EQ(doc.value("report_id", ""), "report-2");
  ASSERT_EQ(doc["collectors"].size(), 2U) << j.out;
  EXPECT_EQ(doc["collectors"][0]["name"], "memory");
  EXPECT_TRUE(doc["findings"].is_array());

  auto unknown = rdiag({"diag", "acme", "--collectors", "gpu"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("gpu"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace rdiag::test
