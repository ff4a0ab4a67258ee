// Diagnosis on the real binaries: diag.run under a `diagnose` grant runs in
// the collector worker, stores its report beside the session's record (an
// attachment the seal covers), records diag.run with the report's hash, and
// report.get pages it; bad parameters change nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/digest.h"
#include "tests/support/background.h"
#include "tests/support/session_test.h"

namespace rdiag::test {
namespace {

namespace fs = std::filesystem;

// Secrets of every kind a report could carry, planted where the collectors
// and plugins look. None may come back from the server.
const std::vector<std::string> kSecrets = {
    "Hunter2xyz",            // --password= on a command line
    "T0pS3cretDb",           // URL and key=value passwords in a plugin's output
    "11010519491231002X",    // 身份证号 with a valid check digit
    "13812345678",           // mainland mobile number
    "4111111111111111",      // card number passing Luhn
    "AKIAIOSFODNN7EXAMPLE",  // cloud access key
    "Json4Secret",           // a key and its value, apart in a plugin's JSON
};

class Diag : public SessionTest {
 protected:
  // The agent runs as root here, the worker as `rdiag`: the test's folders
  // must let that account in, as /usr/lib/rdiag/plugins does.
  void SetUp() override {
    SessionTest::SetUp();
    ::chmod(dir_.path().c_str(), 0755);
    fs::create_directory(plugins_);
    ::chmod(plugins_.c_str(), 0755);
  }
  void install(const std::string& name) {
    const fs::path src = fs::path(RDIAG_SOURCE_DIR) / "tests/fixtures/plugins" / name;
    const fs::path dst = plugins_ / name;
    fs::create_directory(dst);
    ::chmod(dst.c_str(), 0755);
    for (const auto& e : fs::directory_iterator(src)) {
      fs::copy_file(e.path(), dst / e.path().filename());
      ::chmod((dst / e.path().filename()).c_str(), e.path().extension() == ".json" ? 0644 : 0755);
    }
  }
  // A plugin written here, `script` its program (sh).
  void plugin(const std::string& name, const std::string& script) {
    const fs::path dst = plugins_ / name;
    fs::create_directory(dst);
    ::chmod(dst.c_str(), 0755);
    write_file(
        (dst / "plugin.json").string(),
        json{{"name", name}, {"collect", {{"command", {"collect.sh"}}, {"timeout_s", 5}}}}.dump(),
        0644);
    write_file((dst / "collect.sh").string(), "#!/bin/sh\n" + script, 0755);
  }
  json with_plugins() const { return {{"plugins_dirs", {plugins_.string()}}}; }
  static const json& entry(const json& report, const std::string& name) {
    for (const json& e : report["plugins"]) {
      if (e.value("name", "") == name) return e;
    }
    static const json none = json::object();
    ADD_FAILURE() << "no plugin entry " << name;
    return none;
  }
  json run_and_fetch(RpcClient& c) {
    json a = call(c, "diag.run", json::object(), milliseconds(60000));
    EXPECT_TRUE(a.contains("result")) << a.dump() << agent_.log();
    json got = call(c, "report.get", {{"report_id", a["result"].value("report_id", "")}});
    EXPECT_TRUE(got.contains("result")) << got.dump();
    return got.value("result", json::object());
  }
  // Alice connected with a diagnose grant; the session id.
  std::string diagnose_session(RpcClient& c, json extra_config = json::object()) {
    start(extra_config);
    connect(c, alice_);
    return granted(c);
  }
  std::string report_file(const std::string& sid, const std::string& report_id) const {
    return agent_.state_dir() + "/records/" + sid + "/" + report_id + ".json";
  }

  fs::path plugins_ = fs::path(dir_.path()) / "plugins";
};

TEST_F(Diag, ARunIsStoredBesideTheRecordAndSealedWithIt) {
  RpcClient c;
  const std::string sid = diagnose_session(c);
  json a = call(c, "diag.run", json::object(), milliseconds(60000));
  ASSERT_TRUE(a.contains("result")) << a.dump() << agent_.log();
  const json& r = a["result"];
  EXPECT_EQ(r.value("report_id", ""), "report-1");
  EXPECT_EQ(r.value("session_id", ""), sid);
  EXPECT_TRUE(r["summary"].is_object()) << r.dump();
  // The worker told the engineer what it was doing while it ran.
  bool progress = false;
  for (const json& n : notes_) progress = progress || n.value("method", "") == "progress";
  EXPECT_TRUE(progress);

  const std::string file = report_file(sid, "report-1");
  const std::string bytes = read_file(file);
  ASSERT_FALSE(bytes.empty());
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  auto runs = of_type(events(events_path(sid)), "diag.run");
  ASSERT_EQ(runs.size(), 1U);
  EXPECT_EQ(runs[0]["data"].value("sha256", ""), sha256_hex(bytes));
  EXPECT_EQ(runs[0]["data"].value("report_id", ""), "report-1");
  EXPECT_EQ(runs[0].value("actor", "").rfind("engineer:SHA256:", 0), 0U) << runs[0].dump();

  json got = call(c, "report.get", {{"report_id", "report-1"}});
  ASSERT_TRUE(got.contains("result")) << got.dump();
  EXPECT_EQ(got["result"].value("report_id", ""), "report-1");
  EXPECT_EQ(got["result"].value("session_id", ""), sid);
  EXPECT_EQ(json::parse(bytes), got["result"]);

  // A second run is a second report; ids are never reused.
  json b = call(c, "diag.run", json::object(), milliseconds(60000));
  ASSERT_TRUE(b.contains("result")) << b.dump();
  EXPECT_EQ(b["result"].value("report_id", ""), "report-2");

  json closed = call(c, "session.close",
                     {{"outcome", "resolved"}, {"cause", "磁盘满"}, {"solution", "清理日志"}});
  ASSERT_TRUE(closed.contains("result")) << closed.dump();
  expect_verifies(sid);
  // The seal covers the report: a changed report no longer verifies.
  write_file(file, bytes + " ", 0600);
  auto v = run({RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "records", "verify", sid});
  EXPECT_EQ(v.exit_code, 4) << v.out << v.err;
}

TEST_F(Diag, BadParametersAreRefusedAndNothingIsStored) {
  RpcClient c;
  const std::string sid = diagnose_session(c);
  const std::vector<json> bad = {
      {{"collectors", "disk"}},
      {{"collectors", json::array()}},
      {{"collectors", {"disk", "disk"}}},
      {{"collectors", {"../etc"}}},
      {{"since", "yesterday"}},
      {{"since", 5}},
      {{"verbose", true}},
  };
  for (const json& p : bad) {
    json a = call(c, "diag.run", p);
    EXPECT_EQ(code_of(a), -32602) << p.dump() << " -> " << a.dump();
    EXPECT_FALSE(a["error"].value("message", "").empty());
  }
  for (const json& p : {json{{"report_id", "report-1"}}, json{{"report_id", "../../ledger"}},
                        json{{"report_id", 1}}}) {
    json a = call(c, "report.get", p);
    EXPECT_EQ(code_of(a), -32005) << p.dump() << " -> " << a.dump();
  }
  EXPECT_TRUE(of_type(events(events_path(sid)), "diag.run").empty());
  EXPECT_FALSE(fs::exists(report_file(sid, "report-1")));
}

// agent.info answers before any grant what a diagnosis would run: the
// built-in collectors and the plugins installed now (one added while the
// agent runs shows at once; one the loader refuses does not show).
TEST_F(Diag, AgentInfoListsTheCollectorsAndTheInstalledPlugins) {
  install("good");
  start(with_plugins());
  RpcClient c;
  connect(c, alice_);
  json info = call(c, "agent.info", json::object());
  ASSERT_TRUE(info.contains("result")) << info.dump();
  std::vector<std::string> collectors;
  for (const json& col : info["result"]["collectors"]) {
    collectors.push_back(col.value("name", ""));
    EXPECT_FALSE(col.value("summary", "").empty()) << col.dump();
  }
  EXPECT_EQ(collectors, (std::vector<std::string>{"cpu", "disk", "limits", "memory", "network",
                                                  "os", "processes", "services", "time"}));
  ASSERT_EQ(info["result"]["plugins"].size(), 1U) << info.dump();
  EXPECT_EQ(info["result"]["plugins"][0].value("name", ""), "good");
  EXPECT_EQ(info["result"]["plugins"][0].value("description", ""), "test fixture");
  EXPECT_TRUE(info["result"]["plugins"][0].value("collect", false));

  install("broken");
  plugin("writable", "echo {}\n");
  ::chmod((plugins_ / "writable" / "plugin.json").c_str(), 0666);  // refused: others may write
  info = call(c, "agent.info", json::object());
  std::vector<std::string> names;
  for (const json& p : info["result"]["plugins"]) names.push_back(p.value("name", ""));
  EXPECT_EQ(names, (std::vector<std::string>{"broken", "good"})) << info.dump();
}

TEST_F(Diag, ReportsNeedTheDiagnoseScope) {
  start();
  RpcClient c;
  connect(c, alice_);
  granted(c, params({"diagnose", "shell"}), {"--scopes", "shell"});
  for (const char* method : {"diag.run", "report.get"}) {
    json a = call(c, method, {{"report_id", "report-1"}});
    EXPECT_EQ(code_of(a), -32003) << method << ": " << a.dump();
  }
}

TEST_F(Diag, BadPluginsAreErrorEntriesAndTheRunEndsInTime) {
  for (const char* name : {"hang", "flood", "broken", "exit3", "segv", "fds", "good"})
    install(name);
  RpcClient c;
  diagnose_session(c, with_plugins());
  const auto t0 = Clock::now();
  const json report = run_and_fetch(c);
  const double took = seconds_since(t0);
  // Every plugin has timeout_s 2; they run four at a time, so two waves.
  EXPECT_LT(took, 10.0) << "the run took " << took << " s";
  std::printf("[ diag with 7 plugins, 2 hanging or flooding: %.2f s ]\n", took);
  const std::map<std::string, std::string> expected = {{"hang", "timeout"},
                                                       {"flood", "overflow"},
                                                       {"broken", "bad_json"},
                                                       {"exit3", "exit_status"},
                                                       {"segv", "signal"}};
  for (const auto& [name, reason] : expected) {
    const json& e = entry(report, name);
    EXPECT_FALSE(e.value("ok", true)) << name;
    EXPECT_EQ(e["error"].value("reason", ""), reason) << name << ": " << e.dump();
    EXPECT_FALSE(e["error"].value("message", "").empty()) << name;
  }
  EXPECT_EQ(entry(report, "fds")["data"]["fds"], json({0, 1, 2}));
  EXPECT_TRUE(entry(report, "good").value("ok", false));
  bool good_finding = false;
  for (const json& f : report["findings"]) {
    good_finding = good_finding || (f.value("id", "") == "good-connections" &&
                                    f.value("source", "") == "plugin:good");
  }
  EXPECT_TRUE(good_finding) << report["findings"].dump();
  EXPECT_EQ(report["summary"]["plugins"]["failed"], 5);
  EXPECT_EQ(report["summary"]["plugins"]["ok"], 2);
  // The collectors ran too: one part each, in registry order.
  std::vector<std::string> names;
  for (const json& part : report["collectors"]) names.push_back(part.value("name", ""));
  EXPECT_EQ(names, (std::vector<std::string>{"cpu", "disk", "limits", "memory", "network", "os",
                                             "processes", "services", "time"}));
  // No hung plugin outlives the run. Only the worker's account's: the unit
  // tests of the process runner (run beside this one by ctest -j) hang too.
  const std::string account = ::geteuid() == 0 ? "rdiag" : std::to_string(::geteuid());
  auto ps = run({"pgrep", "-u", account, "-f", "sleep 1000"});
  EXPECT_NE(ps.exit_code, 0) << ps.out;
}

TEST_F(Diag, AnEngineerWhoGoesAwayTakesThePluginsWithHim) {
  plugin("slow", "exec sleep 777\n");  // timeout_s 5: the runner would end it only then
  RpcClient c;
  diagnose_session(c, with_plugins());
  ASSERT_TRUE(c.write(rpc_request(99, "diag.run", json::object()).dump() + "\n"));
  ASSERT_TRUE(wait_until(
      [] {
        return run({"pgrep", "-f", "sleep 777"}).exit_code == 0;
      },
      milliseconds(5000)));
  const auto t0 = Clock::now();
  c.close();
  // The connection ends, the monitor stops the worker, the worker ends the
  // plugin's process group: well before the plugin's own 5 s deadline.
  EXPECT_TRUE(wait_until(
      [] {
        return run({"pgrep", "-f", "sleep 777"}).exit_code != 0;
      },
      milliseconds(3000)))
      << agent_.log();
  std::printf("[ plugin gone %.2f s after the engineer left ]\n", seconds_since(t0));
}

TEST_F(Diag, TheWorkerRunsAsTheRdiagAccount) {
  if (::geteuid() != 0) GTEST_SKIP() << "the worker keeps the agent's user unless it runs as root";
  auto id = run({"id", "-u", "rdiag"});
  if (id.exit_code != 0) GTEST_SKIP() << "no rdiag account (scripts/deps.sh creates it)";
  plugin("whoami", "printf '{\"uid\": %s}\\n' \"$(id -u)\"\n");
  RpcClient c;
  diagnose_session(c, with_plugins());
  const json report = run_and_fetch(c);
  const json& e = entry(report, "whoami");
  ASSERT_TRUE(e.value("ok", false)) << e.dump();
  EXPECT_EQ(std::to_string(e["data"].value("uid", -1)) + "\n", id.out);
  EXPECT_NE(e["data"].value("uid", 0), 0);
}

TEST_F(Diag, NoSecretLeavesTheServerAndTheSummaryCountsThem) {
  // A process whose command line carries a password, as a badly written
  // start script would leave it for `ps` to show; 300 MB resident, so it is
  // among the top processes by memory the report lists.
  Background proc("/bin/bash", {"bash", "-c",
                                "exec -a 'erp-server --password=Hunter2xyz' /usr/bin/python3 -c "
                                "'import time; x = bytearray(300 << 20); time.sleep(60)'"});
  // A plugin that prints what a careless database query would.
  plugin("leaky", R"(cat <<'JSON'
{"dsn": "postgresql://erp:T0pS3cretDb@127.0.0.1/erp",
 "conf": "password=T0pS3cretDb",
 "customer": "张三 身份证 11010519491231002X 手机 13812345678",
 "card": "4111 1111 1111 1111",
 "key": "AKIAIOSFODNN7EXAMPLE",
 "settings": {"db_password": "Json4Secret"},
 "findings": [{"severity": "error", "id": "leak", "title": "t",
   "evidence": ["login as erp with password=T0pS3cretDb failed"], "cause": "c", "remedy": "r"}]}
JSON
)");
  RpcClient c;
  const std::string sid = diagnose_session(c, with_plugins());
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string rss = proc_status(proc.pid())["VmRSS"];
        return !rss.empty() && std::stol(rss) > (200L << 10);  // kB
      },
      milliseconds(5000)));
  json a = call(c, "diag.run", json::object(), milliseconds(60000));
  ASSERT_TRUE(a.contains("result")) << a.dump();
  const std::string stored = read_file(report_file(sid, "report-1"));
  json got = call(c, "report.get", {{"report_id", "report-1"}});
  const std::string answered = got.dump();
  for (const std::string& secret : kSecrets) {
    EXPECT_EQ(stored.find(secret), std::string::npos) << secret << " is in the stored report";
    EXPECT_EQ(answered.find(secret), std::string::npos) << secret << " went to the engineer";
  }
  EXPECT_EQ(stored.find("4111 1111 1111 1111"), std::string::npos);
  // The planted process is in the report, with its password cut out.
  EXPECT_NE(stored.find("erp-server --password="), std::string::npos);
  const json& summary = a["result"]["summary"];
  EXPECT_GE(summary.value("redactions", 0), 8) << summary.dump();
  std::map<std::string, int> by_rule;
  for (const json& r : got["result"]["redaction"]) {
    by_rule[r.value("rule", "")] = r.value("count", 0);
  }
  EXPECT_GE(by_rule.size(), 5U) << got["result"]["redaction"].dump();
}

}  // namespace
}  // namespace rdiag::test
