// A fixture for integration tests that need engineers, a running agent and
// grants: the consent tests and every scope-gated feature built on them
// (diagnostics, shell, transfer, fixes). Engineers alice (李伟) and bob; a
// request approved by customer IT through the real admin CLI.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace rdiag::test {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

inline json params(std::vector<std::string> scopes = {"diagnose"}, int minutes = 30) {
  return {{"ticket", "INC-20261128/7"},
          {"reason", "月结报表生成很慢，需要查看日志"},
          {"scopes", scopes},
          {"minutes", minutes}};
}

inline int code_of(const json& a) {
  return a.contains("error") ? a["error"].value("code", 0) : 0;
}

inline std::string reason_of(const json& a) {
  if (!a.contains("error")) return "";
  return a["error"].value("data", json::object()).value("reason", "");
}

inline std::vector<json> events(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line, nullptr, false));
  return out;
}

inline std::vector<json> of_type(const std::vector<json>& all, const std::string& type) {
  std::vector<json> out;
  for (const auto& e : all) {
    if (e.is_object() && e.value("type", "") == type) out.push_back(e);
  }
  return out;
}

// "YYYY-MM-DDTHH:MM:SS.mmmZ" as a point in time.
inline std::chrono::system_clock::time_point wall_time(const std::string& ts) {
  std::tm tm{};
  int ms = 0;
  std::sscanf(ts.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
              &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(::timegm(&tm)) + milliseconds(ms);
}

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override { write_engineers(true); }
  void write_engineers(bool with_alice) {
    std::string text =
        R"(rdiag-name="Bob",rdiag-id="E2048",rdiag-role="senior" )" + bob_.public_line + "\n";
    if (with_alice)
      text = R"(rdiag-name="李伟",rdiag-id="E1024" )" + alice_.public_line + "\n" + text;
    write_file(agent_.engineers_path(), text, 0600);
  }
  // The product's default limits, which the harness lifts for other tests.
  void start(json extra = json::object()) {
    json cfg = {{"limits", {{"pending_requests_per_key", 1}, {"requests_per_hour", 20}}}};
    cfg.merge_patch(extra);
    ASSERT_TRUE(agent_.start(cfg)) << agent_.log();
  }
  void connect(RpcClient& c, const Key& key) {
    ASSERT_TRUE(c.connect(agent_.port(), key.path)) << c.error() << agent_.log();
  }
  json call(RpcClient& c, const std::string& method, const json& p = json::object(),
            milliseconds timeout = milliseconds(10000)) {
    const int id = ++next_id_;
    EXPECT_TRUE(c.write(rpc_request(id, method, p).dump() + "\n"));
    // Notifications (no id) may come first: skip them.
    const auto end = Clock::now() + timeout;
    while (Clock::now() < end) {
      auto line = c.read_line(std::chrono::duration_cast<milliseconds>(end - Clock::now()));
      if (!line) break;
      json j = json::parse(*line, nullptr, false);
      if (j.is_object() && j.contains("id") && j["id"] == id) return j;
      if (j.is_object() && !j.contains("id")) notes_.push_back(j);
    }
    ADD_FAILURE() << method << " got no answer; " << agent_.log();
    return json::object();
  }
  // The agent's admin CLI, as customer IT runs it.
  ProcResult admin(std::vector<std::string> args, const ProcOptions& opts = {}) {
    std::vector<std::string> argv = {RDIAG_AGENT_BIN, "--config", agent_.config_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, opts);
  }
  std::string request(RpcClient& c, const json& p = params()) {
    json a = call(c, "session.request", p);
    EXPECT_TRUE(a.contains("result")) << a.dump() << agent_.log();
    return a.value("result", json::object()).value("request_id", "");
  }
  // A request by `c`, approved by customer IT: the session id.
  std::string granted(RpcClient& c, const json& p = params(), std::vector<std::string> extra = {}) {
    const std::string id = request(c, p);
    std::vector<std::string> args = {"approve", id};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = admin(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err << agent_.log();
    return id;
  }
  // Whether c's engineer holds a diagnose grant: report.get gets past the
  // grant and scope checks and finds no report "report-0".
  bool holds_grant(RpcClient& c) {
    json a = call(c, "report.get", {{"report_id", "report-0"}});
    return code_of(a) == -32005;
  }
  std::string events_path(const std::string& id) const {
    return agent_.state_dir() + "/records/" + id + "/events.jsonl";
  }
  void expect_verifies(const std::string& id) {
    auto v = run({RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "records", "verify", id});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  }
  // Waits for the agent to end c's connection; how long that took from t0.
  double seconds_to_cut(RpcClient& c, Clock::time_point t0) {
    EXPECT_TRUE(c.wait_closed(milliseconds(5000))) << agent_.log();
    return seconds_since(t0);
  }
  ProcResult ssh_door(const Key& key, std::vector<std::string> tail) {
    auto argv = ssh_base(agent_.port(), key.path);
    argv.insert(argv.end(), tail.begin(), tail.end());
    return run(argv, {.timeout = std::chrono::seconds(15)});
  }

  TempDir dir_;
  Key alice_ = make_key(dir_.path(), "alice");
  Key bob_ = make_key(dir_.path(), "bob");
  Agent agent_{dir_.path()};
  int next_id_ = 0;
  std::vector<json> notes_;
};

}  // namespace rdiag::test
