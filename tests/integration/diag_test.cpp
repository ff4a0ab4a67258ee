// Diagnosis on the real binaries: diag.run under a `diagnose` grant runs in
// the collector worker, stores its report beside the session's record (an
// attachment the seal covers), records diag.run with the report's hash, and
// report.get pages it; bad parameters change nothing.
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

class Diag : public SessionTest {
 protected:
  // Alice connected with a diagnose grant; the session id.
  std::string diagnose_session(RpcClient& c, json extra_config = json::object()) {
    start(extra_config);
    connect(c, alice_);
    return granted(c);
  }
  std::string report_file(const std::string& sid, const std::string& report_id) const {
    return agent_.state_dir() + "/records/" + sid + "/" + report_id + ".json";
  }
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

}  // namespace
}  // namespace rdiag::test
