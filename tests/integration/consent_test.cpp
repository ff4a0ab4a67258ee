// Consent on the real binaries: requests, approval by customer IT through the
// control socket (`rdiag-agent approve|deny|revoke|grant-code`), scopes that
// approval may only narrow, grants that end within a second of a revocation,
// an expiry or a removed key, a grant nobody else can use, one-time codes,
// limits, a control socket only admins may use, and grants that survive an
// agent restart.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/session_test.h"

namespace rdiag::test {
namespace {

namespace fs = std::filesystem;

using Consent = SessionTest;

TEST_F(Consent, WithoutAGrantEveryDoorButRequestsIsShut) {
  start();
  RpcClient c;
  connect(c, alice_);
  for (const char* method : {"diag.run", "logs.scan", "fix.run", "session.close"}) {
    json a = call(c, method, json::object());
    EXPECT_EQ(code_of(a), -32002) << method << ": " << a.dump();
    EXPECT_EQ(reason_of(a), "no_grant") << a.dump();
    EXPECT_NE(a["error"].value("message", "").find("rdiag request"), std::string::npos) << a.dump();
  }
  auto shell = ssh_door(alice_, {"-T", "tester@127.0.0.1", "id"});
  EXPECT_EQ(shell.exit_code, 1) << shell.err;
  EXPECT_NE(shell.err.find("no grant"), std::string::npos) << shell.err;
  EXPECT_EQ(shell.out.find("uid="), std::string::npos);
  auto sftp = ssh_door(alice_, {"-T", "-s", "tester@127.0.0.1", "sftp"});
  EXPECT_NE(sftp.exit_code, 0);
  EXPECT_NE(sftp.err.find("no grant"), std::string::npos) << sftp.err;
  // A pending request grants nothing either.
  request(c);
  EXPECT_EQ(code_of(call(c, "diag.run")), -32002);
}

TEST_F(Consent, DiagnoseGrantRefusesShellAndFix) {
  start();
  RpcClient c;
  connect(c, alice_);
  const std::string sid = granted(c);
  json fix = call(c, "fix.run", {{"action", "restart"}});
  EXPECT_EQ(code_of(fix), -32003) << fix.dump();
  EXPECT_EQ(reason_of(fix), "scope_denied");
  // The diagnose scope lets diag.run through.
  EXPECT_TRUE(call(c, "diag.run", json::object(), milliseconds(60000)).contains("result"));
  auto shell = ssh_door(alice_, {"-T", "tester@127.0.0.1", "id"});
  EXPECT_EQ(shell.exit_code, 1);
  EXPECT_NE(shell.err.find("'shell'"), std::string::npos) << shell.err;
  auto sftp = ssh_door(alice_, {"-T", "-s", "tester@127.0.0.1", "sftp"});
  EXPECT_NE(sftp.err.find("'transfer'"), std::string::npos) << sftp.err;
  const auto all = events(events_path(sid));
  ASSERT_EQ(of_type(all, "request.approved").size(), 1U);
  const json approved = of_type(all, "request.approved")[0];
  EXPECT_EQ(approved["actor"], "customer:root");
  EXPECT_EQ(approved["data"]["uid"], 0);
  EXPECT_EQ(approved["data"]["scopes"], json({"diagnose"}));
}

TEST_F(Consent, ApproveNarrowsAndNeverWidens) {
  start();
  RpcClient c;
  connect(c, alice_);
  const std::string id = request(c, params({"diagnose", "shell"}, 60));
  auto wider = admin({"approve", id, "--scopes", "diagnose,fix"});
  EXPECT_EQ(wider.exit_code, 1) << wider.out << wider.err;
  EXPECT_NE(wider.err.find("fix"), std::string::npos) << wider.err;
  auto longer = admin({"approve", id, "--minutes", "90"});
  EXPECT_EQ(longer.exit_code, 1) << longer.out << longer.err;
  EXPECT_EQ(code_of(call(c, "diag.run")), -32002) << "refused approvals granted nothing";
  auto narrow = admin({"approve", id, "--scopes", "diagnose", "--minutes", "15"});
  ASSERT_EQ(narrow.exit_code, 0) << narrow.out << narrow.err;
  json status = call(c, "session.status");
  EXPECT_EQ(status["result"]["grant"]["scopes"], json({"diagnose"})) << status.dump();
  EXPECT_LE(status["result"]["grant"]["remaining_s"].get<int>(), 15 * 60);
  EXPECT_GT(status["result"]["grant"]["remaining_s"].get<int>(), 14 * 60);
  auto shell = ssh_door(alice_, {"-T", "tester@127.0.0.1", "id"});
  EXPECT_NE(shell.err.find("'shell'"), std::string::npos) << shell.err;
  auto again = admin({"approve", id});
  EXPECT_EQ(again.exit_code, 1) << "a decided request cannot be approved twice";
}

TEST_F(Consent, DenyEndsTheWaitWithTheReasonAndTheRecordVerifies) {
  start();
  RpcClient c;
  connect(c, alice_);
  const std::string id = request(c);
  ASSERT_TRUE(c.write(
      rpc_request(99, "session.wait", {{"request_id", id}, {"timeout_s", 30}}).dump() + "\n"));
  auto d = admin({"deny", id, "--reason", "月结期间不允许远程访问"});
  ASSERT_EQ(d.exit_code, 0) << d.out << d.err;
  json answer;
  for (int i = 0; i < 4 && !answer.contains("id"); ++i) {
    auto line = c.read_line(milliseconds(5000));
    ASSERT_TRUE(line.has_value()) << agent_.log();
    answer = json::parse(*line);
  }
  EXPECT_EQ(answer["result"]["state"], "denied") << answer.dump();
  EXPECT_EQ(answer["result"]["reason"], "月结期间不允许远程访问");
  const auto all = events(events_path(id));
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back()["type"], "request.denied");
  EXPECT_EQ(all.back()["actor"], "customer:root");
  EXPECT_TRUE(fs::exists(agent_.state_dir() + "/records/" + id + "/seal-1.sshsig"));
  expect_verifies(id);
  EXPECT_EQ(code_of(call(c, "diag.run")), -32002);
}

TEST_F(Consent, RevokeCutsALiveConnectionWithinOneSecond) {
  start();
  RpcClient c;
  connect(c, alice_);
  const std::string sid = granted(c);
  const auto t0 = Clock::now();
  auto r = admin({"revoke", sid});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const double cut = seconds_to_cut(c, t0);
  std::printf("revoke: connection cut %.3f s after the command started\n", cut);
  EXPECT_LT(cut, 1.0);
  EXPECT_EQ(events(events_path(sid)).back()["type"], "grant.revoked");
  expect_verifies(sid);
  // The engineer may ask again; nothing is left of the old grant.
  RpcClient again;
  connect(again, alice_);
  EXPECT_EQ(code_of(call(again, "diag.run")), -32002);
}

TEST_F(Consent, RevokeAllCutsEveryGrantWithinOneSecond) {
  start();
  RpcClient a;
  RpcClient b;
  connect(a, alice_);
  connect(b, bob_);
  granted(a);
  granted(b);
  const auto t0 = Clock::now();
  auto r = admin({"revoke", "--all"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_LT(seconds_to_cut(a, t0), 1.0);
  EXPECT_LT(seconds_to_cut(b, t0), 1.0);
  auto sessions = admin({"--json", "sessions"});
  EXPECT_EQ(json::parse(sessions.out)["sessions"].size(), 0U) << sessions.out;
}

TEST_F(Consent, RemovedKeyLosesItsGrantWithinOneSecond) {
  start();
  RpcClient c;
  connect(c, alice_);
  const std::string sid = granted(c);
  write_engineers(false);
  const auto t0 = Clock::now();
  agent_.reload();
  EXPECT_LT(seconds_to_cut(c, t0), 1.0);
  const json last = events(events_path(sid)).back();
  EXPECT_EQ(last["type"], "grant.revoked");
  EXPECT_EQ(last["actor"], "agent");
  EXPECT_EQ(last["data"]["reason"], "key_removed");
}

TEST_F(Consent, ExpiryCutsALiveConnectionWithinOneSecondOfItsDeadline) {
  start();
  RpcClient c;
  connect(c, alice_);
  const std::string sid = granted(c, params({"diagnose"}, 1));
  json status = call(c, "session.status");
  const auto deadline = wall_time(status["result"]["grant"]["expires_at"].get<std::string>());
  EXPECT_TRUE(c.is_open());
  EXPECT_TRUE(c.wait_closed(milliseconds(70000))) << agent_.log();
  const double late =
      std::chrono::duration<double>(std::chrono::system_clock::now() - deadline).count();
  std::printf("expiry: connection cut %.3f s after expires_at\n", late);
  EXPECT_LT(late, 1.0);
  EXPECT_GT(late, -0.05) << "not before the grant's end";
  EXPECT_EQ(events(events_path(sid)).back()["type"], "grant.expired");
  expect_verifies(sid);
}

TEST_F(Consent, AnotherEngineerCannotUseTheGrant) {
  start();
  RpcClient a;
  connect(a, alice_);
  const std::string sid = granted(a);
  RpcClient b;
  connect(b, bob_);
  EXPECT_EQ(code_of(call(b, "diag.run")), -32002);
  json rec = call(b, "record.get", {{"session_id", sid}});
  EXPECT_EQ(code_of(rec), -32005) << rec.dump();
  EXPECT_EQ(code_of(call(b, "session.close", {{"outcome", "unresolved"}})), -32002);
  EXPECT_TRUE(holds_grant(a)) << "the owner's grant is untouched";
}

TEST_F(Consent, TheGrantIsUsedFromOneAddressAtATime) {
  start();
  RpcClient a;
  connect(a, alice_);
  const std::string sid = granted(a);
  auto argv = ssh_base(agent_.port(), alice_.path);
  for (const char* x : {"-b", "127.0.0.2", "-s", "tester@127.0.0.1", "rdiag-v1"})
    argv.emplace_back(x);
  auto r = run(argv, {.stdin_data = rpc_request(1, "diag.run").dump() + "\n",
                      .timeout = std::chrono::seconds(15)});
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1U) << r.out << r.err;
  EXPECT_EQ(code_of(lines[0]), -32007) << lines[0].dump();
  EXPECT_EQ(reason_of(lines[0]), "grant_in_use");
  bool recorded = false;
  for (const auto& e : of_type(events(events_path(sid)), "session.connected")) {
    if (e["data"].value("refused", "") == "grant_in_use") recorded = true;
  }
  EXPECT_TRUE(recorded) << read_file(events_path(sid));
  EXPECT_TRUE(holds_grant(a)) << "the first address keeps it";
}

TEST_F(Consent, JoiningNeedsApproval) {
  start();
  RpcClient a;
  connect(a, alice_);
  const std::string sid = granted(a);
  RpcClient b;
  connect(b, bob_);
  json join = call(b, "session.join", {{"session_id", sid}, {"reason", "senior help"}});
  ASSERT_TRUE(join.contains("result")) << join.dump();
  EXPECT_EQ(join["result"]["state"], "pending");
  const std::string jid = join["result"]["request_id"];
  EXPECT_EQ(jid, sid + ".j1");
  EXPECT_EQ(code_of(call(b, "diag.run")), -32002) << "not before approval";
  auto narrowed = admin({"approve", jid, "--scopes", "diagnose"});
  EXPECT_EQ(narrowed.exit_code, 1) << "a joiner gets the grant's scopes: " << narrowed.err;
  auto ok = admin({"approve", jid});
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_TRUE(holds_grant(b));
  json rec = call(b, "record.get", {{"session_id", sid}});
  EXPECT_TRUE(rec.contains("result")) << "a joined engineer reads the session: " << rec.dump();
  EXPECT_EQ(of_type(events(events_path(sid)), "session.joined").size(), 1U);
  json closed = call(a, "session.close",
                     {{"cause", "索引缺失"}, {"solution", "重建索引"}, {"outcome", "resolved"}});
  ASSERT_TRUE(closed.contains("result")) << closed.dump();
  EXPECT_EQ(code_of(call(b, "diag.run")), -32002) << "closing ends the grant for both";
  expect_verifies(sid);
}

TEST_F(Consent, ExtensionIsApprovedLikeARequestAndADenialLeavesTheSessionOpen) {
  start();
  RpcClient c;
  connect(c, alice_);
  const std::string sid = granted(c, params({"diagnose"}, 15));
  json ext = call(c, "session.extend", {{"minutes", 30}, {"reason", "索引重建还需要时间"}});
  ASSERT_TRUE(ext.contains("result")) << ext.dump();
  EXPECT_EQ(ext["result"]["request_id"], sid + ".x1");
  ASSERT_EQ(admin({"deny", sid + ".x1", "--reason", "不行"}).exit_code, 0);
  EXPECT_TRUE(holds_grant(c)) << "a denied extension keeps the grant";
  expect_verifies(sid);
  json again = call(c, "session.extend", {{"minutes", 30}, {"reason", "again"}});
  ASSERT_TRUE(again.contains("result")) << again.dump();
  const std::string xid = again["result"]["request_id"];
  EXPECT_EQ(xid, sid + ".x2");
  ASSERT_EQ(admin({"approve", xid}).exit_code, 0);
  json status = call(c, "session.status");
  EXPECT_GT(status["result"]["grant"]["remaining_s"].get<int>(), 44 * 60) << status.dump();
  EXPECT_EQ(of_type(events(events_path(sid)), "session.extended").size(), 1U);
  json closed = call(c, "session.close", {{"outcome", "unresolved"}});
  ASSERT_TRUE(closed.contains("result")) << closed.dump();
  expect_verifies(sid);
}

TEST_F(Consent, CloseNeedsCauseAndSolutionWhenResolvedAndSeals) {
  start();
  RpcClient c;
  connect(c, alice_);
  const std::string sid = granted(c);
  json missing = call(c, "session.close", {{"outcome", "resolved"}, {"cause", "x"}});
  EXPECT_EQ(code_of(missing), -32602) << missing.dump();
  json closed = call(c, "session.close",
                     {{"cause", "磁盘满"}, {"solution", "清理归档日志"}, {"outcome", "resolved"}});
  ASSERT_TRUE(closed.contains("result")) << closed.dump();
  EXPECT_EQ(closed["result"]["session_id"], sid);
  const auto all = events(events_path(sid));
  EXPECT_EQ(closed["result"]["last_seq"], all.back()["seq"]);
  EXPECT_EQ(closed["result"]["last_hash"], all.back()["hash"]);
  EXPECT_EQ(all.back()["data"]["cause"], "磁盘满");
  expect_verifies(sid);
}

TEST_F(Consent, OneTimeCodesGrantOnceAndLockOutGuessers) {
  start();
  auto issued = admin({"--json", "grant-code", "--scopes", "diagnose", "--minutes", "30"});
  ASSERT_EQ(issued.exit_code, 0) << issued.out << issued.err;
  const std::string code = json::parse(issued.out)["code"];
  EXPECT_TRUE(std::regex_match(code, std::regex("^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")))
      << code;
  EXPECT_EQ(read_file(agent_.state_dir() + "/codes.json").find(code.substr(5)), std::string::npos)
      << "codes are stored only as hashes";
  RpcClient a;
  connect(a, alice_);
  json p = params();
  p["code"] = code;
  json ok = call(a, "session.request", p);
  ASSERT_TRUE(ok.contains("result")) << ok.dump();
  EXPECT_EQ(ok["result"]["state"], "approved");
  EXPECT_EQ(ok["result"]["approved_by"].get<std::string>().rfind("code:", 0), 0U);
  EXPECT_TRUE(holds_grant(a)) << "granted at once";

  RpcClient b;
  connect(b, bob_);
  json reused = call(b, "session.request", p);
  EXPECT_EQ(reason_of(reused), "code_used") << reused.dump();
  EXPECT_EQ(code_of(call(b, "diag.run")), -32002);

  auto second = admin({"--json", "grant-code", "--scopes", "diagnose", "--minutes", "30"});
  const std::string good = json::parse(second.out)["code"];
  // Five wrong codes (different, well-formed) lock bob out; a right one is refused then.
  const std::string wrong[] = {"AAAA-AAAA", "BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD", "EEEE-EEEE"};
  for (const auto& w : wrong) {
    json q = params();
    q["code"] = w;
    json refused = call(b, "session.request", q);
    EXPECT_TRUE(reason_of(refused) == "code_wrong" || reason_of(refused) == "code_locked")
        << refused.dump();
  }
  p["code"] = good;
  json locked = call(b, "session.request", p);
  EXPECT_EQ(reason_of(locked), "code_locked") << locked.dump();
  EXPECT_EQ(code_of(call(b, "diag.run")), -32002);
  // Each refused code left a denied, sealed record with the rejection in it.
  auto rejected =
      run({RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "records", "verify", "--all"});
  EXPECT_EQ(rejected.exit_code, 0) << rejected.out << rejected.err;
}

TEST_F(Consent, APolicyRuleApprovesWhatItCoversAndNothingElse) {
  start({{"policy",
          {{"auto_approve",
            {{{"name", "always-diagnose"},
              {"scopes", {"diagnose"}},
              {"days", "Mon-Sun"},
              {"hours", "00:00-24:00"},
              {"roles", {"engineer"}}}}}}}});
  RpcClient a;
  connect(a, alice_);
  json ok = call(a, "session.request", params({"diagnose"}, 30));
  ASSERT_TRUE(ok.contains("result")) << ok.dump();
  EXPECT_EQ(ok["result"]["state"], "approved");
  EXPECT_EQ(ok["result"]["approved_by"], "policy:always-diagnose");
  const std::string sid = ok["result"]["request_id"];
  const json approved = of_type(events(events_path(sid)), "request.approved").at(0);
  EXPECT_EQ(approved["actor"], "policy:always-diagnose");
  // Bob is a senior (not in the rule's roles), and shell is not in its scopes.
  RpcClient b;
  connect(b, bob_);
  json senior = call(b, "session.request", params({"diagnose"}, 30));
  EXPECT_EQ(senior["result"]["state"], "pending") << senior.dump();
  ASSERT_EQ(admin({"deny", senior["result"]["request_id"], "--reason", "x"}).exit_code, 0);
  ASSERT_EQ(admin({"revoke", sid}).exit_code, 0);
  RpcClient again;
  connect(again, alice_);
  json shell = call(again, "session.request", params({"diagnose", "shell"}, 30));
  EXPECT_EQ(shell["result"]["state"], "pending") << shell.dump();
}

TEST_F(Consent, NotifyCommandRunsPerRequestAndItsFailureIsRecorded) {
  // The command runs as the rdiag account (scripts/deps.sh makes it): it
  // writes into a folder anyone may write.
  const std::string box = dir_ / "notify";
  fs::create_directory(box);
  ::chmod(box.c_str(), 0777);
  const std::string out = box + "/notified.txt";
  const std::string script = dir_ / "notify.sh";
  // Appends its arguments, one a line; fails for tickets starting with FAIL.
  write_file(script,
             "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> " + out +
                 "; done\ncase \"$2\" in FAIL*) echo 'mail server down' >&2; exit 3;; esac\n",
             0755);
  ::chmod(dir_.path().c_str(), 0755);
  start({{"notify_command", {script, "{request_id}", "{ticket}", "{engineer}"}}});
  RpcClient c;
  connect(c, alice_);
  const std::string id = request(c);
  ASSERT_TRUE(wait_until([&] { return fs::exists(out); }, milliseconds(5000))) << agent_.log();
  ASSERT_TRUE(wait_until([&] { return read_file(out).find("李伟") != std::string::npos; },
                         milliseconds(2000)));
  EXPECT_EQ(read_file(out), id + "\nINC-20261128/7\n李伟\n");
  ASSERT_EQ(admin({"deny", id, "--reason", "x"}).exit_code, 0);
  json failing = params();
  failing["ticket"] = "FAIL-1";
  const std::string bad = request(c, failing);
  ASSERT_TRUE(
      wait_until([&] { return !of_type(events(events_path(bad)), "notify.failed").empty(); },
                 milliseconds(5000)))
      << read_file(events_path(bad)) << agent_.log();
  const json failed = of_type(events(events_path(bad)), "notify.failed").at(0);
  EXPECT_NE(failed["data"]["why"].get<std::string>().find("mail server down"), std::string::npos)
      << failed.dump();
  json status = call(c, "session.status");
  EXPECT_EQ(status["result"]["requests"].size(), 1U) << "the request waits on: " << status.dump();
}

TEST_F(Consent, OnePendingRequestPerKey) {
  start();
  RpcClient c;
  connect(c, alice_);
  const std::string first = request(c);
  json second = call(c, "session.request", params());
  EXPECT_EQ(code_of(second), -32006) << second.dump();
  EXPECT_EQ(reason_of(second), "too_many_pending");
  ASSERT_EQ(admin({"deny", first, "--reason", "not now"}).exit_code, 0);
  json third = call(c, "session.request", params());
  EXPECT_TRUE(third.contains("result")) << "answered, the key may ask again: " << third.dump();
}

TEST_F(Consent, RequestsPerHourAndOneGrantPerKey) {
  start({{"limits", {{"requests_per_hour", 2}, {"pending_requests_per_key", 5}}}});
  RpcClient c;
  connect(c, alice_);
  const std::string first = request(c);
  request(c);
  json third = call(c, "session.request", params());
  EXPECT_EQ(code_of(third), -32006) << third.dump();
  EXPECT_EQ(reason_of(third), "too_many_requests");
  ASSERT_EQ(admin({"approve", first}).exit_code, 0);
  RpcClient b;
  connect(b, bob_);
  granted(b);
  json twice = call(b, "session.request", params());
  EXPECT_EQ(code_of(twice), -32007) << twice.dump();
  EXPECT_EQ(reason_of(twice), "already_granted");
}

TEST_F(Consent, OnlyAdminsMayUseTheControlSocket) {
  // "users" (gid 100) is the admin group here; nobody (65534) is not in it.
  start({{"admin_group", "users"}});
  RpcClient c;
  connect(c, alice_);
  const std::string id = request(c);
  // Make the socket reachable by anyone, as a careless chmod would: the
  // agent's own check must still refuse.
  ::chmod(dir_.path().c_str(), 0711);
  const std::string sock = dir_ / "control.sock";
  ::chmod(sock.c_str(), 0666);
  auto as = [&](std::vector<std::string> ids, std::vector<std::string> args) {
    std::vector<std::string> argv = {"setpriv"};
    argv.insert(argv.end(), ids.begin(), ids.end());
    argv.insert(argv.end(),
                {RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "--control-socket", sock});
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  };
  auto outsider = as({"--reuid=65534", "--regid=65534", "--clear-groups"}, {"approve", id});
  EXPECT_EQ(outsider.exit_code, 3) << outsider.out << outsider.err;
  auto list = admin({"--json", "requests"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(json::parse(list.out)["requests"].size(), 1U) << "still pending";
  bool logged = false;
  for (const auto& l : events(agent_.state_dir() + "/ledger.jsonl")) {
    if (l.value("type", "") == "control.refused" && l["data"]["uid"] == 65534) logged = true;
  }
  EXPECT_TRUE(logged) << read_file(agent_.state_dir() + "/ledger.jsonl");
  auto member = as({"--reuid=65534", "--regid=65534", "--groups=100"}, {"approve", id});
  EXPECT_EQ(member.exit_code, 0) << member.out << member.err;
  const json approved = of_type(events(events_path(id)), "request.approved").at(0);
  EXPECT_EQ(approved["data"]["uid"], 65534) << approved.dump();
}

TEST_F(Consent, AnUnexpiredGrantSurvivesARestartInANewSession) {
  start();
  std::string sid;
  {
    RpcClient c;
    connect(c, alice_);
    sid = granted(c);
  }
  ASSERT_EQ(agent_.stop(), 0) << agent_.log();
  start();
  RpcClient c;
  connect(c, alice_);
  json status = call(c, "session.status");
  ASSERT_TRUE(status["result"]["grant"].is_object()) << status.dump() << agent_.log();
  const std::string now_sid = status["result"]["grant"]["session_id"];
  EXPECT_NE(now_sid, sid);
  EXPECT_EQ(status["result"]["grant"]["prev_session"], sid);
  EXPECT_EQ(events(events_path(sid)).back()["type"], "session.interrupted");
  EXPECT_TRUE(holds_grant(c)) << "still granted";
  auto v = run({RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "records", "verify", "--all"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

}  // namespace
}  // namespace rdiag::test
