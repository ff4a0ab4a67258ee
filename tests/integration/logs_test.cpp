// Log scans and tails on the real agent: a plugin's rules (one written in
// Chinese, over a GB18030 log) counted over rotated files, samples and tails
// redacted on the server, ad-hoc patterns that only see redacted text, each
// result kept in the record with its hash, and the rules' hits as findings of
// diag.run.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/digest.h"
#include "tests/support/session_test.h"

namespace rdiag::test {
namespace {

namespace fs = std::filesystem;

// "2026-11-28 09:15:02 ERROR 数据库连接失败 ERP-1002 password=Hunter2xyz" in GB18030.
std::string gb18030_line() {
  auto r = run({"/bin/sh", "-c",
                "printf '2026-11-28 09:15:02 ERROR \\346\\225\\260\\346\\215\\256\\345\\272\\223"
                "\\350\\277\\236\\346\\216\\245\\345\\244\\261\\350\\264\\245 ERP-1002 "
                "password=Hunter2xyz\\n' | iconv -f UTF-8 -t GB18030"});
  return r.out;
}

class Logs : public SessionTest {
 protected:
  void SetUp() override {
    SessionTest::SetUp();
    ::chmod(dir_.path().c_str(), 0755);  // the worker runs as `rdiag`
    for (const fs::path& d : {logs_, plugins_, plugins_ / "erp"}) {
      fs::create_directories(d);
      ::chmod(d.c_str(), 0755);
    }
    // The rotated file first: its hits are older.
    write_file((logs_ / "app.log.1").string(),
               "2026-11-27 23:59:01 ERROR 数据库连接失败 ERP-1002 "
               "jdbc:mysql://db/erp?password=T0pS3cretDb\n",
               0644);
    write_file((logs_ / "app.log").string(),
               gb18030_line() +
                   "2026-11-28 09:16:00 INFO user 张三 13812345678 logged in\n"
                   "2026-11-28 09:17:00 WARN card 4111 1111 1111 1111 declined\n",
               0644);
    json manifest = {{"name", "erp"},
                     {"logs", {{{"name", "erp"}, {"paths", {(logs_ / "*.log").string()}}}}},
                     {"rules",
                      {{{"id", "erp-db-down"},
                        {"pattern", "数据库连接失败"},
                        {"severity", "critical"},
                        {"title", "数据库连接失败"},
                        {"cause", "应用服务器连不上数据库"},
                        {"remedy", "检查数据库服务与网络"}}}}};
    write_file((plugins_ / "erp" / "plugin.json").string(), manifest.dump(), 0644);
  }
  void start_granted(RpcClient& c) {
    start({{"plugins_dirs", {plugins_.string()}}});
    connect(c, alice_);
    sid_ = granted(c);
  }
  std::string stored(const std::string& name) const {
    return read_file(agent_.state_dir() + "/records/" + sid_ + "/" + name);
  }
  static void expect_no_secret(const std::string& text) {
    for (const char* secret : {"Hunter2xyz", "T0pS3cretDb", "13812345678", "4111 1111 1111 1111"}) {
      EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in " << text;
    }
  }

  fs::path logs_ = fs::path(dir_.path()) / "var-log-erp";
  fs::path plugins_ = fs::path(dir_.path()) / "plugins";
  std::string sid_;
};

TEST_F(Logs, ScanCountsAChineseRuleOverGb18030AndRotatedFilesAndRedacts) {
  RpcClient c;
  start_granted(c);
  json a = call(c, "logs.scan", {{"since", "30d"}}, milliseconds(60000));
  ASSERT_TRUE(a.contains("result")) << a.dump() << agent_.log();
  const json& r = a["result"];
  ASSERT_EQ(r["rules"].size(), 1U) << r.dump();
  const json& rule = r["rules"][0];
  EXPECT_EQ(rule.value("count", 0), 2);
  EXPECT_EQ(rule["first"].value("file", ""), (logs_ / "app.log.1").string());
  EXPECT_EQ(rule["last"].value("file", ""), (logs_ / "app.log").string());
  // The GB18030 line comes back as UTF-8, its password cut out.
  const std::string samples = rule["samples"].dump();
  EXPECT_NE(samples.find("数据库连接失败 ERP-1002"), std::string::npos) << samples;
  expect_no_secret(a.dump());
  EXPECT_GE(r["summary"].value("redactions", 0), 4) << r["summary"].dump();

  // Kept in the record, named with its hash.
  const std::string id = r.value("scan_id", "");
  ASSERT_EQ(id, "scan-1");
  const std::string bytes = stored(id + ".json");
  expect_no_secret(bytes);
  auto scans = of_type(events(events_path(sid_)), "logs.scan");
  ASSERT_EQ(scans.size(), 1U);
  EXPECT_EQ(scans[0]["data"].value("sha256", ""), sha256_hex(bytes));
}

TEST_F(Logs, AdHocPatternsOnlySeeRedactedText) {
  RpcClient c;
  start_granted(c);
  // Probing for the password finds nothing, whatever is guessed...
  for (const char* probe : {"password=Hunter2xyz", "password=H", "Hunter"}) {
    json a = call(c, "logs.scan", {{"since", "30d"}, {"patterns", {probe}}}, milliseconds(60000));
    ASSERT_TRUE(a.contains("result")) << a.dump();
    EXPECT_TRUE(a["result"]["matches"].empty()) << probe << ": " << a["result"]["matches"].dump();
  }
  // ...while the redaction marker itself is there to be found.
  json a =
      call(c, "logs.scan", {{"since", "30d"}, {"patterns", {"REDACTED"}}}, milliseconds(60000));
  ASSERT_TRUE(a.contains("result")) << a.dump();
  EXPECT_GE(a["result"]["matches"].size(), 3U) << a["result"].dump();
  expect_no_secret(a.dump());
  // Patterns are bounded: too many, too long or not compilable are refused.
  json too_many = call(c, "logs.scan", {{"patterns", std::vector<std::string>(17, "x")}});
  EXPECT_EQ(code_of(too_many), -32602) << too_many.dump();
  json bad = call(c, "logs.scan", {{"patterns", {"(unclosed"}}}, milliseconds(60000));
  EXPECT_EQ(code_of(bad), -32602) << bad.dump();
}

TEST_F(Logs, TailShowsTheLastLinesRedacted) {
  RpcClient c;
  start_granted(c);
  json a = call(c, "logs.tail", {{"source", "erp"}, {"lines", 2}}, milliseconds(60000));
  ASSERT_TRUE(a.contains("result")) << a.dump() << agent_.log();
  const json& lines = a["result"]["lines"];
  ASSERT_EQ(lines.size(), 2U) << a.dump();
  EXPECT_NE(lines[1].get<std::string>().find("declined"), std::string::npos) << a.dump();
  expect_no_secret(a.dump());
  EXPECT_EQ(of_type(events(events_path(sid_)), "logs.tail").size(), 1U);
  json unknown = call(c, "logs.tail", {{"source", "nope"}}, milliseconds(60000));
  EXPECT_EQ(code_of(unknown), -32602) << unknown.dump();
  EXPECT_NE(unknown["error"].value("message", "").find("erp"), std::string::npos)
      << "the message lists the known sources: " << unknown.dump();
}

TEST_F(Logs, RuleHitsAreFindingsOfTheDiagnosis) {
  RpcClient c;
  start_granted(c);
  json a = call(c, "diag.run", {{"since", "30d"}}, milliseconds(60000));
  ASSERT_TRUE(a.contains("result")) << a.dump();
  EXPECT_GE(a["result"]["summary"]["findings"].value("critical", 0), 1) << a.dump();
  json got = call(c, "report.get", {{"report_id", "report-1"}});
  bool found = false;
  for (const json& f : got["result"]["findings"]) {
    found = found || (f.value("severity", "") == "critical" &&
                      f.value("id", "").find("erp-db-down") != std::string::npos);
  }
  EXPECT_TRUE(found) << got["result"]["findings"].dump();
  expect_no_secret(got.dump());
}

// diag.run compiles the redactions and the plugins' scan rules together
// once; a rule only Vectorscan refuses ("x*" matches the empty string) must
// cost the log scan, which names it, and never the diagnosis or its
// redaction.
TEST_F(Logs, ARuleTheCompilerRefusesCostsTheLogScanNotTheDiagnosis) {
  json manifest = json::parse(read_file((plugins_ / "erp" / "plugin.json").string()));
  manifest["rules"].push_back({{"id", "empty-match"},
                               {"pattern", "x*"},
                               {"severity", "warning"},
                               {"title", "t"},
                               {"cause", "c"},
                               {"remedy", "r"}});
  write_file((plugins_ / "erp" / "plugin.json").string(), manifest.dump(), 0644);
  RpcClient c;
  start_granted(c);
  json a = call(c, "diag.run", {{"since", "30d"}}, milliseconds(60000));
  ASSERT_TRUE(a.contains("result")) << a.dump();
  json got = call(c, "report.get", {{"report_id", "report-1"}});
  const json& report = got["result"];
  ASSERT_TRUE(report["logs"].contains("error")) << report["logs"].dump();
  const std::string why = report["logs"]["error"].value("message", "");
  EXPECT_NE(why.find("erp:empty-match"), std::string::npos) << why;
  EXPECT_NE(why.find("Vectorscan"), std::string::npos) << why;
  EXPECT_EQ(report["collectors"].size(), 9U);
  EXPECT_TRUE(report["redaction"].is_array());
  expect_no_secret(got.dump());
}

}  // namespace
}  // namespace rdiag::test
