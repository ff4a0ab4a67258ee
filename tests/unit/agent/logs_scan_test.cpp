// logs.scan and logs.tail as a user sees them: plugin rules counted with
// redacted samples, GB18030 logs, secrets that never leave the worker,
// ad-hoc patterns that cannot probe for secrets, caps and errors.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/logs/jobs.h"
#include "agent/logs/scan.h"

namespace rdiag::agent::logs {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kFixtures = std::string(RDIAG_SOURCE_DIR) + "/tests/fixtures";

// The secrets planted in logs_agent/secrets.log.
const std::vector<std::string> kSecrets = {
    "hunter2",
    "11010519491231002X",
    "13812345678",
    "6258071000123452",
    "secretkeymaterial",
    "c2VjcmV0a2V5bWF0ZXJpYWxsaW5lMg",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlcnAifQ.c2lnbmF0dXJlLXNlY3JldA"};

// A plugins dir holding one plugin "erp" with the given rules and logs,
// owned and moded as discovery demands (the tests run as root).
class PluginDir {
 public:
  PluginDir(const json& rules, const json& logs) {
    char tmpl[] = "/tmp/rdiag-logs-plugins-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    fs::create_directory(root_ + "/erp");
    ::chmod((root_ + "/erp").c_str(), 0755);
    json manifest = {{"name", "erp"}, {"description", "ERP"}, {"rules", rules}, {"logs", logs}};
    std::ofstream(root_ + "/erp/plugin.json") << manifest.dump();
    ::chmod((root_ + "/erp/plugin.json").c_str(), 0644);
  }
  ~PluginDir() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

json rule(const std::string& id, const std::string& pattern) {
  return {{"id", id},           {"pattern", pattern}, {"severity", "error"},
          {"title", "T " + id}, {"cause", "C " + id}, {"remedy", "R " + id}};
}

json job(const PluginDir* plugins, const json& logs, const json& extra) {
  json j = {{"kind", "logs.scan"},
            {"logs", logs},
            {"redact", json::array()},
            {"plugins_dirs", plugins ? json{plugins->root()} : json::array()},
            {"trusted_uid", ::geteuid()}};
  j.update(extra);
  return j;
}

void expect_no_secret(const json& v) {
  const std::string text = v.dump();
  for (const auto& s : kSecrets) EXPECT_EQ(text.find(s), std::string::npos) << s << " in " << text;
}

std::uint64_t redacted(const json& result, const std::string& rule_name) {
  for (const json& r : result["redaction"]) {
    if (r["rule"] == rule_name) return r["count"].get<std::uint64_t>();
  }
  return 0;
}

TEST(LogsScan, Gb18030LogMatchedByChineseRuleGivesUtf8Samples) {
  PluginDir plugins(json::array({rule("db-down", "数据库连接失败")}), json::array());
  const std::string path = kFixtures + "/logs/erp_gb18030.log";
  for (const char* enc : {"gb18030", "auto"}) {
    const json logs = {{{"name", "erp"}, {"paths", {path}}, {"encoding", enc}}};
    auto r = run_logs_scan_job(job(&plugins, logs, json::object()), {});
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ((*r)["rules"].size(), 1U) << enc << r->dump(2);
    const json& hit = (*r)["rules"][0];
    EXPECT_EQ(hit["count"], 2);
    EXPECT_EQ(hit["source"], "plugin:erp");
    EXPECT_EQ(hit["first"]["line"], 1);
    EXPECT_EQ(hit["first"]["ts"], "2024-05-01 10:00:00");
    EXPECT_EQ(hit["last"]["line"], 3);
    EXPECT_EQ(hit["samples"][0], "2024-05-01 10:00:00 错误 数据库连接失败：连接超时");
  }
}

// A job whose time is up reads no more: the files left are marked cut for
// time and a note says what to do, instead of the worker being killed with
// nothing to show.
TEST(LogsScan, AJobOutOfTimeMarksTheUnreadFilesAndSaysSo) {
  PluginDir plugins(json::array({rule("db-down", "数据库连接失败")}), json::array());
  const std::string path = kFixtures + "/logs/erp_gb18030.log";
  const json logs = {{{"name", "erp"}, {"paths", {path}}, {"encoding", "gb18030"}}};
  auto r = run_logs_scan_job(job(&plugins, logs, {{"budget_ms", 1}}), {});
  ASSERT_TRUE(r) << r.error().message;
  const json& file = (*r)["sources"][0]["files"][0];
  EXPECT_EQ(file.value("cut", false), true) << r->dump(2);
  EXPECT_EQ(file.value("cut_reason", ""), "time") << r->dump(2);
  EXPECT_TRUE((*r)["rules"].empty()) << r->dump(2);
  bool noted = false;
  for (const json& n : (*r)["notes"])
    noted = noted || n.get<std::string>().find("time limit") != std::string::npos;
  EXPECT_TRUE(noted) << (*r)["notes"].dump();
  // The same job with the monitor's ordinary budget reads the file.
  auto whole = run_logs_scan_job(job(&plugins, logs, json::object()), {});
  ASSERT_TRUE(whole) << whole.error().message;
  EXPECT_FALSE(whole->at("sources")[0]["files"][0].contains("cut_reason"));
  EXPECT_EQ(whole->at("rules")[0]["count"], 2);
}

TEST(LogsScan, PlantedSecretsNeverLeaveTheWorker) {
  PluginDir plugins(json::array({rule("any-error", "ERROR")}), json::array());
  const json logs = {{{"name", "app"}, {"paths", {kFixtures + "/logs_agent/secrets.log"}}}};
  auto r = run_logs_scan_job(job(&plugins, logs, {{"patterns", {"ERROR", "key"}}}), {});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ((*r)["rules"].size(), 1U);
  EXPECT_EQ((*r)["rules"][0]["count"], 9);  // the rule sees the original text, key body too
  EXPECT_EQ((*r)["rules"][0]["samples"].size(), kSamplesPerRule);
  EXPECT_GE((*r)["matches"].size(), 7U);
  expect_no_secret((*r)["rules"]);
  expect_no_secret((*r)["matches"]);
  EXPECT_GE((*r)["summary"]["redactions"].get<std::uint64_t>(), 6U);
  for (const char* name :
       {"password", "id-card", "mobile", "bank-card", "jwt", "pem-private-key"}) {
    EXPECT_GT(redacted(*r, name), 0U) << name << (*r)["redaction"];
  }

  json tail = job(&plugins, logs, {{"kind", "logs.tail"}, {"source", "app"}, {"lines", 20}});
  auto t = run_logs_tail_job(tail, {});
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ((*t)["lines"].size(), 11U);
  EXPECT_EQ((*t)["lines"][10], "2024-05-01 08:00:07 ERROR done");
  expect_no_secret(*t);
  // Three lines: the window starts inside the PEM block, yet its body stays hidden.
  tail["lines"] = 3;
  auto t3 = run_logs_tail_job(tail, {});
  ASSERT_TRUE(t3);
  EXPECT_EQ((*t3)["lines"].size(), 3U);
  expect_no_secret(*t3);
}

TEST(LogsScan, AdHocPatternCannotProbeForASecret) {
  const json logs = {{{"name", "app"}, {"paths", {kFixtures + "/logs_agent/secrets.log"}}}};
  auto r =
      run_logs_scan_job(job(nullptr, logs, {{"patterns", {"password=hunter2", "hunter"}}}), {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE((*r)["matches"].empty()) << (*r)["matches"];
  EXPECT_EQ((*r)["summary"]["matches"], 0);
  EXPECT_GT(redacted(*r, "password"), 0U);
}

TEST(LogsScan, MaxMatchesCapsTheListWithTrueLineNumbers) {
  char tmpl[] = "/tmp/rdiag-logs-cap-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  std::string text;
  for (int i = 1; i <= 50; ++i) text += (i % 2 ? "tick " : "tock ") + std::to_string(i) + "\n";
  std::ofstream(dir + "/c.log") << text;
  const json logs = {{{"name", "c"}, {"paths", {dir + "/c.log"}}}};
  auto r = run_logs_scan_job(job(nullptr, logs, {{"patterns", {"tick"}}, {"max_matches", 7}}), {});
  fs::remove_all(dir);
  ASSERT_TRUE(r) << r.error().message;
  const json& m = (*r)["matches"];
  ASSERT_EQ(m.size(), 7U);
  for (std::size_t i = 0; i < m.size(); ++i) {
    EXPECT_EQ(m[i]["line"], 2 * i + 1);
    EXPECT_EQ(m[i]["text"], "tick " + std::to_string(2 * i + 1));
    EXPECT_EQ(m[i]["source"], "c");
  }
  EXPECT_TRUE((*r)["summary"]["cut"].get<bool>());
}

TEST(LogsScan, UnknownRuleAndUnknownSourceAreErrorsNamingThem) {
  PluginDir plugins(json::array({rule("db-down", "x")}), json::array());
  const json logs = {{{"name", "app"}, {"paths", {"/nonexistent/*.log"}}}};
  auto r = run_logs_scan_job(job(&plugins, logs, {{"rules", {"no-such-rule"}}}), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "unknown_rule");
  EXPECT_NE(r.error().message.find("no-such-rule"), std::string::npos);
  EXPECT_NE(r.error().message.find("db-down"), std::string::npos);
  EXPECT_TRUE(run_logs_scan_job(job(&plugins, logs, {{"rules", {"erp:db-down"}}}), {}));

  auto s = run_logs_scan_job(job(&plugins, logs, {{"sources", {"nope"}}}), {});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().reason, "unknown_source");
  EXPECT_NE(s.error().message.find("app"), std::string::npos);
  auto t = run_logs_tail_job(job(&plugins, logs, {{"source", "nope"}}), {});
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().reason, "unknown_source");
  EXPECT_NE(t.error().message.find("nope"), std::string::npos);
}

TEST(LogsScan, PluginLogsJoinConfigLogsAndConfigWinsAClash) {
  const std::string erp = kFixtures + "/logs/erp_app.log";
  PluginDir plugins(json::array({rule("pool", "connection pool exhausted")}),
                    {{{"name", "app"}, {"paths", {"/nonexistent/a.log"}}},
                     {{"name", "erp-app"}, {"paths", {erp}}}});
  const json logs = {{{"name", "app"}, {"paths", {kFixtures + "/logs_agent/secrets.log"}}}};
  std::vector<json> progress;
  auto r = run_logs_scan_job(job(&plugins, logs, json::object()),
                             [&progress](const json& p) { progress.push_back(p); });
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ((*r)["sources"].size(), 2U) << (*r)["notes"];
  EXPECT_EQ((*r)["sources"][0]["origin"], "config");
  EXPECT_EQ((*r)["sources"][1]["origin"], "plugin:erp");
  ASSERT_EQ((*r)["notes"].size(), 1U);
  EXPECT_NE((*r)["notes"][0].get<std::string>().find("'app'"), std::string::npos);
  ASSERT_EQ(progress.size(), 2U);
  EXPECT_EQ(progress[1], json({{"stage", "logs"}, {"done", 1}, {"total", 2}, {"name", "erp-app"}}));

  const json findings = findings_from_scan(*r);
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_EQ(findings[0]["id"], "pool");
  EXPECT_EQ(findings[0]["severity"], "error");
  EXPECT_EQ(findings[0]["source"], "plugin:erp");
  EXPECT_EQ(findings[0]["remedy"], "R pool");
  EXPECT_EQ(findings[0]["evidence"].size(), 4U);  // count text + 3 samples
  EXPECT_NE(findings[0]["evidence"][0].get<std::string>().find("erp_app.log"), std::string::npos);
}

}  // namespace
}  // namespace rdiag::agent::logs
