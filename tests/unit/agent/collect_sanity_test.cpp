// The collector registry on this real machine: every registered collector
// runs and its part has the declared shape (osquery's "sanity" tests), a run
// waits once for all two-sample collectors, command lines go through the
// redaction hook, and the built-in checks fire on parts built to trip them.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "agent/collect/collector.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

enum class Kind { kObject, kArray, kString, kUnsigned, kNumber, kBool };

bool has_kind(const json& j, Kind k) {
  switch (k) {
    case Kind::kObject:
      return j.is_object();
    case Kind::kArray:
      return j.is_array();
    case Kind::kString:
      return j.is_string();
    case Kind::kUnsigned:
      return j.is_number_unsigned();
    case Kind::kNumber:
      return j.is_number_integer();
    case Kind::kBool:
      return j.is_boolean();
  }
  return false;
}

struct Column {
  const char* key;
  Kind kind;
};

// The top-level fields each collector promises when its part is ok.
const std::map<std::string, std::vector<Column>>& declared() {
  static const std::map<std::string, std::vector<Column>> d = {
      {"cpu", {{"cpuinfo", Kind::kObject}, {"loadavg", Kind::kObject}, {"usage", Kind::kObject}}},
      {"disk", {{"filesystems", Kind::kArray}}},
      {"limits", {{"file_nr", Kind::kObject}, {"pids", Kind::kObject}, {"threads", Kind::kObject}}},
      {"memory",
       {{"meminfo", Kind::kObject},
        {"vmstat", Kind::kObject},
        {"swap", Kind::kObject},
        {"usage", Kind::kObject}}},
      {"network",
       {{"interfaces", Kind::kArray},
        {"listening", Kind::kArray},
        {"owners_complete", Kind::kBool}}},
      {"os",
       {{"os_release", Kind::kObject},
        {"kernel", Kind::kString},
        {"hostname", Kind::kString},
        {"uptime", Kind::kObject}}},
      {"processes",
       {{"counts", Kind::kObject},
        {"top_cpu", Kind::kArray},
        {"top_rss", Kind::kArray},
        {"sample_ms", Kind::kNumber}}},
      {"services",
       {{"units_total", Kind::kUnsigned},
        {"by_active_state", Kind::kObject},
        {"failed", Kind::kArray}}},
      {"time", {{"realtime_s", Kind::kNumber}, {"realtime_ns", Kind::kNumber}}},
  };
  return d;
}

class CollectSanity : public ::testing::Test {
 protected:
  void SetUp() override { i18n::set_lang(i18n::Lang::kEn); }
  void TearDown() override { i18n::set_lang(i18n::Lang::kEn); }
};

TEST_F(CollectSanity, RegistryHoldsExactlyTheBuiltins) {
  std::vector<std::string> names;
  for (const Collector& c : registry()) {
    names.emplace_back(c.name);
    EXPECT_TRUE(i18n::has_id(c.summary_id)) << c.name << ": " << c.summary_id;
    EXPECT_EQ(c.begin == nullptr, c.finish == nullptr) << c.name;
  }
  const std::vector<std::string> expected = {"cpu", "disk",      "limits",   "memory", "network",
                                             "os",  "processes", "services", "time"};
  EXPECT_EQ(names, expected);
}

TEST_F(CollectSanity, UnknownCollectorRunsNothing) {
  const auto r = run_collectors({"disk", "dsik"}, CollectContext{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "unknown_collector");
  EXPECT_NE(r.error().message.find("'dsik'"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("cpu, disk, limits"), std::string::npos) << r.error().message;
}

TEST_F(CollectSanity, EveryCollectorOnThisMachine) {
  CollectContext ctx;
  ctx.sample = milliseconds(200);
  const auto start = std::chrono::steady_clock::now();
  const auto parts = run_collectors({}, ctx);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(parts) << parts.error().message;
  EXPECT_LT(took, std::chrono::seconds(5));
  ASSERT_EQ(parts->size(), registry().size());
  for (std::size_t i = 0; i < parts->size(); ++i) {
    const json& p = (*parts)[i];
    const std::string name = p.value("name", "");
    SCOPED_TRACE(name);
    EXPECT_EQ(name, registry()[i].name) << "registry order";
    ASSERT_TRUE(p["ok"].is_boolean());
    ASSERT_TRUE(p["elapsed_ms"].is_number_integer());
    EXPECT_NE(p.contains("data"), p.contains("error")) << "data xor error";
    if (!p["ok"].get<bool>()) {
      // CI has no systemd: the only failure accepted, and it must say so.
      EXPECT_EQ(name, "services") << p.dump();
      EXPECT_EQ(p["error"]["reason"], "no_system_bus") << p.dump();
      EXPECT_FALSE(p["error"]["message"].get<std::string>().empty());
      continue;
    }
    for (const Column& col : declared().at(name)) {
      ASSERT_TRUE(p["data"].contains(col.key)) << col.key;
      EXPECT_TRUE(has_kind(p["data"][col.key], col.kind)) << col.key << ": " << p["data"][col.key];
    }
  }
  EXPECT_NO_THROW((void)parts->dump()) << "every string valid UTF-8";
  EXPECT_TRUE(builtin_findings(*parts).is_array());
}

TEST_F(CollectSanity, TwoSampleCollectorsShareOneWait) {
  CollectContext ctx;
  ctx.sample = milliseconds(800);
  const auto start = std::chrono::steady_clock::now();
  const auto parts = run_collectors({"processes", "memory", "cpu"}, ctx);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(parts) << parts.error().message;
  EXPECT_GE(took, milliseconds(800));
  EXPECT_LT(took, milliseconds(1500)) << "three waits instead of one";
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_EQ((*parts)[0]["name"], "cpu") << "registry order, not request order";
  for (const json& p : *parts) {
    ASSERT_TRUE(p["ok"].get<bool>()) << p.dump();
  }
  EXPECT_GE((*parts)[0]["data"]["usage"]["sample_ms"].get<int>(), 800);
}

// A child whose command line holds a secret, named through bash's exec -a.
class SecretChild {
 public:
  SecretChild() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/bash", "bash", "-c", "exec -a 'erp-worker --password=hunter2-7f3a' sleep 30",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~SecretChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

TEST_F(CollectSanity, CommandLinesGoThroughTheRedactionHook) {
  SecretChild child;
  ASSERT_GT(child.pid(), 0);
  std::this_thread::sleep_for(milliseconds(200));  // let bash exec sleep
  CollectContext ctx;
  ctx.sample = milliseconds(50);
  ctx.top_n = 1000000;  // every process, so the sleeping child is in the table
  ctx.redact = [](std::string_view s) {
    std::string out(s);
    for (auto at = out.find("hunter2"); at != std::string::npos; at = out.find("hunter2")) {
      out.replace(at, 7, "[REDACTED]");
    }
    return out;
  };
  const auto parts = run_collectors({"processes"}, ctx);
  ASSERT_TRUE(parts) << parts.error().message;
  const json& data = (*parts)[0]["data"];
  EXPECT_EQ(parts->dump().find("hunter2"), std::string::npos);
  bool found = false;
  for (const json& row : data["top_rss"]) {
    if (row["pid"] == child.pid()) {
      found = true;
      EXPECT_EQ(row["command"], "erp-worker --password=[REDACTED]-7f3a 30");
      EXPECT_EQ(row["user"], ::getpwuid(::getuid())->pw_name);
    }
  }
  EXPECT_TRUE(found) << "child " << child.pid() << " not in the table";
}

// A TCP socket listening on 127.0.0.1, port chosen by the kernel.
class Listener {
 public:
  Listener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 1) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
  }
  ~Listener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

TEST_F(CollectSanity, NetworkNamesTheOwnerOfAListeningSocket) {
  Listener listener;
  ASSERT_NE(listener.port(), 0);
  const auto parts = run_collectors({"network"}, CollectContext{});
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_TRUE((*parts)[0]["ok"].get<bool>()) << (*parts)[0].dump();
  bool found = false;
  for (const json& s : (*parts)[0]["data"]["listening"]) {
    if (s["port"] != listener.port() || s["proto"] != "tcp") continue;
    found = true;
    EXPECT_EQ(s["address"], "127.0.0.1");
    EXPECT_EQ(s["pid"], ::getpid()) << "our own descriptors are always readable";
    std::ifstream comm("/proc/self/comm");
    std::string name;
    std::getline(comm, name);
    EXPECT_EQ(s["command"], name);
  }
  EXPECT_TRUE(found) << "port " << listener.port() << " not listed";
}

// ---- built-in checks on hand-built parts ----

json ok_part(const char* name, json data) {
  return {{"name", name}, {"ok", true}, {"data", std::move(data)}, {"elapsed_ms", 1}};
}

json healthy_parts() {
  json fs = {{"mount_point", "/var"},       {"bytes_total", 20ull << 30},
             {"bytes_avail", 12ull << 30},  {"used_permille", 400u},
             {"inodes_total", 1000000u},    {"inodes_free", 900000u},
             {"inodes_used_permille", 100u}};
  return json::array({
      ok_part("cpu", {{"cpuinfo", {{"logical_cpus", 4u}}}, {"loadavg", {{"load1_x100", 150u}}}}),
      ok_part("disk", {{"filesystems", json::array({fs})}}),
      ok_part(
          "memory",
          {{"meminfo", {{"total_bytes", 8ull << 30}, {"available_bytes", 4ull << 30}}},
           {"usage", {{"available_permille", 500u}, {"used_permille", 500u}}},
           {"swap", {{"used_bytes", 1u << 20}, {"pswpin_per_s", 0u}, {"pswpout_per_s", 2u}}},
           {"pressure", {{"some", {{"avg60_permille", 3u}}}, {"full", {{"avg60_permille", 0u}}}}}}),
      ok_part("limits", {{"file_nr", {{"allocated", 2000u}, {"max", 1000000u}}},
                         {"pids", {{"used", 300u}, {"max", 4194304u}}},
                         {"threads", {{"used", 900u}, {"max", 190000u}}}}),
      ok_part("services", {{"units_total", 200u},
                           {"by_active_state", {{"active", 150u}}},
                           {"failed", json::array()}}),
      ok_part("time",
              {{"realtime_s", 1}, {"sync", {{"synchronised", true}, {"maxerror_us", 5000}}}}),
  });
}

std::set<std::string> ids_of(const json& findings) {
  std::set<std::string> ids;
  for (const json& f : findings) ids.insert(f["id"].get<std::string>());
  return ids;
}

TEST_F(CollectSanity, HealthyMachineHasNoFindings) {
  EXPECT_EQ(builtin_findings(healthy_parts()), json::array());
  EXPECT_EQ(builtin_findings(json::array()), json::array());
}

TEST_F(CollectSanity, TroubledMachineTripsEveryCheck) {
  json parts = healthy_parts();
  parts[0]["data"]["loadavg"]["load1_x100"] = 1700u;  // 17 on 4 CPUs: over 4x
  json& fs = parts[1]["data"]["filesystems"][0];
  fs["used_permille"] = 950u;
  fs["inodes_used_permille"] = 990u;
  parts[2]["data"]["usage"]["available_permille"] = 50u;
  parts[2]["data"]["swap"]["pswpin_per_s"] = 400u;
  parts[3]["data"]["file_nr"]["allocated"] = 950000u;
  parts[3]["data"]["pids"]["used"] = 4000000u;
  parts[3]["data"]["threads"]["used"] = 180000u;
  parts[4]["data"]["failed"] = json::array({{{"name", "postgresql@15-main.service"},
                                             {"description", "PostgreSQL Cluster 15-main"},
                                             {"sub_state", "failed"}}});
  parts[5]["data"]["sync"] = {{"synchronised", false}, {"maxerror_us", 16000000}, {"status", 64u}};
  const json findings = builtin_findings(parts);
  const std::set<std::string> expected = {
      "disk-full",       "inodes-full",          "memory-pressure", "swapping",
      "high-load",       "clock-unsynchronised", "failed-units",    "file-descriptors",
      "pids-near-limit", "threads-near-limit"};
  EXPECT_EQ(ids_of(findings), expected);
  EXPECT_EQ(findings[0]["severity"], "critical") << "worst first: inodes 99 %";
  for (const json& f : findings) {
    SCOPED_TRACE(f.dump());
    EXPECT_EQ(f["source"], "builtin");
    for (const char* key : {"title", "cause", "remedy"}) {
      EXPECT_EQ(f[key].get<std::string>().find("agent.finding."), std::string::npos) << key;
    }
    ASSERT_FALSE(f["evidence"].empty());
    if (f["id"] == "disk-full") {
      EXPECT_EQ(f["severity"], "warning");
      EXPECT_EQ(f["evidence"][0], "/var 95.0 % used (12.0 GiB free of 20.0 GiB)");
    }
    if (f["id"] == "high-load") {
      EXPECT_EQ(f["severity"], "error");
    }
    if (f["id"] == "failed-units") {
      EXPECT_EQ(f["evidence"][0],
                "postgresql@15-main.service (PostgreSQL Cluster 15-main): failed");
    }
  }
}

TEST_F(CollectSanity, ErrorPartsAreSkipped) {
  json parts = healthy_parts();
  parts[1] = {{"name", "disk"},
              {"ok", false},
              {"error", {{"reason", "io"}, {"message", "x"}}},
              {"elapsed_ms", 0}};
  EXPECT_EQ(builtin_findings(parts), json::array());
}

TEST_F(CollectSanity, FindingsSpeakTheCurrentLanguage) {
  json parts = healthy_parts();
  parts[1]["data"]["filesystems"][0]["used_permille"] = 990u;
  i18n::set_lang(i18n::Lang::kZhCN);
  const json findings = builtin_findings(parts);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0]["severity"], "critical");
  EXPECT_EQ(findings[0]["title"], "文件系统即将写满");
  EXPECT_EQ(findings[0]["evidence"][0], "/var 已用 99.0 %（共 20.0 GiB，剩余 12.0 GiB）");
}

}  // namespace
}  // namespace rdiag::agent::collect
