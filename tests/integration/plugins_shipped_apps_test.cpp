// The mysql, java-app and erp-app plugins run as the agent will run them:
// mysql with no server (none is installed here) and with no client, java-app
// against processes posing as JVMs, the erp-app template as a vendor's copy
// probing a listener opened here.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "tests/integration/plugins_shipped.h"

namespace rdiag::test::shipped {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// mysql: no MariaDB/MySQL server here, so only the down and broken paths.

TEST(ShippedMysql, UnreachableServerIsAFindingNotAFailure) {
  if (run({"/bin/sh", "-c", "command -v mysql || command -v mariadb"}).exit_code != 0) {
    GTEST_SKIP() << "no mysql/mariadb client: install mariadb-client (scripts/deps.sh does)";
  }
  const std::map<std::string, std::string> settings = {{"MYSQL_HOST", "127.0.0.1"},
                                                       {"MYSQL_PORT", std::to_string(free_port())},
                                                       {"MYSQL_USER", "erp"},
                                                       {"MYSQL_PWD", "Sekrit-4711"}};
  auto c = run_collect(kPlugins + "/mysql", "C.UTF-8", settings);
  ASSERT_EQ(c.proc.exit_code, 0) << c.proc.err;
  expect_findings_shape(c.out);
  EXPECT_EQ(c.out["reachable"], false);
  const json* f = find_id(c.out, "mysql-unreachable");
  ASSERT_NE(f, nullptr) << c.out;
  EXPECT_EQ((*f)["severity"], "error");
  EXPECT_NE((*f)["evidence"].dump().find("Can't connect"), std::string::npos) << *f;
  EXPECT_EQ(c.proc.out.find("Sekrit-4711"), std::string::npos);

  auto zh = run_collect(kPlugins + "/mysql", "zh_CN.UTF-8", settings);
  const json* fz = find_id(zh.out, "mysql-unreachable");
  ASSERT_NE(fz, nullptr) << zh.proc.out << zh.proc.err;
  EXPECT_EQ((*fz)["title"], "无法连接 MySQL/MariaDB 服务器");
}

// A fresh install: no env file yet (the agent says which) and no server on
// the defaults is most likely a machine without MySQL, so a note, not an error.
TEST(ShippedMysql, NothingConfiguredAndNothingRunningIsANote) {
  if (run({"/bin/sh", "-c", "command -v mysql || command -v mariadb"}).exit_code != 0) {
    GTEST_SKIP() << "no mysql/mariadb client: install mariadb-client (scripts/deps.sh does)";
  }
  auto c = run_collect(kPlugins + "/mysql", "C.UTF-8",
                       {{"MYSQL_HOST", "127.0.0.1"},
                        {"MYSQL_PORT", std::to_string(free_port())},
                        {"RDIAG_ENV_FILE_MISSING", "/etc/rdiag/mysql.env"}});
  ASSERT_EQ(c.proc.exit_code, 0) << c.proc.err;
  expect_findings_shape(c.out);
  EXPECT_EQ(find_id(c.out, "mysql-unreachable"), nullptr) << c.out;
  const json* f = find_id(c.out, "mysql-not-configured");
  ASSERT_NE(f, nullptr) << c.out;
  EXPECT_EQ((*f)["severity"], "info");
  EXPECT_NE((*f)["remedy"].get<std::string>().find("/etc/rdiag/mysql.env"), std::string::npos);
}

TEST(ShippedMysql, MissingClientIsAPluginFailureWithAReason) {
  TempDir empty;
  ::chmod(empty.path().c_str(), 0755);
  auto c = run_collect(kPlugins + "/mysql", "C.UTF-8", {{"PATH", empty.path()}});
  EXPECT_NE(c.proc.exit_code, 0);
  EXPECT_TRUE(c.proc.out.empty()) << c.proc.out;
  EXPECT_EQ(std::count(c.proc.err.begin(), c.proc.err.end(), '\n'), 1) << c.proc.err;
  EXPECT_NE(c.proc.err.find("neither mysql nor mariadb found on PATH"), std::string::npos);
  EXPECT_NE(c.proc.err.find("install mariadb-client"), std::string::npos);
}

// ---------------------------------------------------------------------------
// java-app: processes posing as JVMs. python3 runs a script read from stdin
// ("-") and ignores the rest of its arguments, so with argv[0] set to "java"
// its /proc cmdline reads exactly like a JVM's: java - -Xmx4m ... -jar erp.jar.

class FakeJvms : public ::testing::Test {
 protected:
  void SetUp() override { write_file(dir_ / "sleep.py", "import time\ntime.sleep(60)\n"); }
  pid_t start(std::vector<std::string> argv) {
    procs_.push_back(std::make_unique<Background>("/usr/bin/python3", argv, dir_ / "sleep.py"));
    const pid_t pid = procs_.back()->pid();
    // Until the child has exec'd (its cmdline is the new one).
    EXPECT_TRUE(wait_until(
        [&] {
          auto c = proc_cmdline(pid);
          return !c.empty() && c == argv;
        },
        seconds(10)));
    return pid;
  }
  static const json* jvm(const json& out, pid_t pid) {
    for (const auto& j : out["jvms"]) {
      if (j["pid"] == pid) return &j;
    }
    return nullptr;
  }
  TempDir dir_;
  std::vector<std::unique_ptr<Background>> procs_;
};

TEST_F(FakeJvms, ListsJvmsWithHeapGcAndMainJar) {
  const pid_t sized = start({"java", "-", "-Xms2m", "-Xmx4m", "-XX:+UseG1GC", "-Xlog:gc",
                             "-Ddb.password=Sekrit-4711", "-jar", "erp.jar", "--port", "8080"});
  const pid_t unsized = start({"/opt/jdk/bin/java", "-", "-cp", "lib/*", "com.example.erp.Main"});
  const pid_t not_java = start({"python3", "-", "-Xmx4m", "-jar", "fake.jar"});
  auto c = run_collect(kPlugins + "/java-app", "C.UTF-8");
  ASSERT_EQ(c.proc.exit_code, 0) << c.proc.err;
  expect_findings_shape(c.out);
  const json* a = jvm(c.out, sized);
  ASSERT_NE(a, nullptr) << c.out;
  EXPECT_EQ((*a)["main"], (json{{"kind", "jar"}, {"name", "erp.jar"}}));
  EXPECT_EQ((*a)["heap"]["xmx_bytes"], 4 << 20);
  EXPECT_EQ((*a)["heap"]["xms_bytes"], 2 << 20);
  EXPECT_EQ((*a)["gc"]["collector"], "G1");
  EXPECT_EQ((*a)["gc"]["logging"], true);
  EXPECT_GT((*a)["rss_bytes"].get<int64_t>(), 0);
  EXPECT_EQ((*a)["user"], ::getpwuid(::geteuid())->pw_name);
  const json* b = jvm(c.out, unsized);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ((*b)["main"]["name"], "com.example.erp.Main");  // "lib/*" is -cp's value
  EXPECT_EQ(jvm(c.out, not_java), nullptr) << "matched on flags, not on the launcher";
  // -D properties may hold secrets and are never reported.
  EXPECT_EQ(c.proc.out.find("Sekrit-4711"), std::string::npos);

  // A python process has RSS far above 90 % of 4 MiB; the other sets no -Xmx.
  const json* full = find_id(c.out, "java-rss-near-heap-max");
  ASSERT_NE(full, nullptr) << c.out["findings"];
  EXPECT_NE(full->dump().find("pid " + std::to_string(sized) + " "), std::string::npos);
  const json* unset = find_id(c.out, "java-heap-max-not-set");
  ASSERT_NE(unset, nullptr);
  EXPECT_NE(unset->dump().find("pid " + std::to_string(unsized) + " "), std::string::npos);
  EXPECT_EQ(unset->dump().find("pid " + std::to_string(sized) + " "), std::string::npos);
}

TEST_F(FakeJvms, FindingsFollowTheLanguage) {
  start({"java", "-", "-jar", "erp.jar"});
  auto c = run_collect(kPlugins + "/java-app", "zh_CN.UTF-8");
  ASSERT_EQ(c.proc.exit_code, 0) << c.proc.err;
  const json* f = find_id(c.out, "java-heap-max-not-set");
  ASSERT_NE(f, nullptr) << c.proc.out;
  EXPECT_EQ((*f)["title"], "JVM 未设置最大堆内存");
}

// ---------------------------------------------------------------------------
// erp-app, the template: used as a vendor uses it, a copy of the folder with
// its own erp-app.json (here: one listening port, one closed, a log folder).

class ErpApp : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0755);
    fs::copy(kPlugins + "/erp-app", plugin(), fs::copy_options::recursive);
    fs::create_directories(dir_ / "logs");
    write_file(dir_ / "logs/server.log",
               "2026-11-28 09:00:01 ERROR [pool] ERP-1001 no free connection in 30 s\n"
               "2026-11-28 09:00:07 ERROR [pool] ERP-1001 no free connection in 30 s\n"
               "2026-11-28 09:01:00 INFO  ERP-10010 is not a known code\n");
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(listener_, 8), 0);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    open_port_ = ntohs(a.sin_port);
    closed_port_ = free_port();
    json cfg = json::parse(read_file(plugin() + "/erp-app.json"));
    cfg["services"] = json::array();  // no systemd in test containers
    cfg["ports"] = {{{"name", "erp-web"}, {"port", open_port_}},
                    {{"name", "erp-rpc"}, {"port", closed_port_}}};
    cfg["log_dirs"] = {dir_ / "logs"};
    write_file(plugin() + "/erp-app.json", cfg.dump(2));
  }
  void TearDown() override { ::close(listener_); }
  std::string plugin() const { return dir_ / "erp-app"; }

  TempDir dir_;
  int listener_ = -1;
  int open_port_ = 0;
  int closed_port_ = 0;
};

TEST_F(ErpApp, ProbesPortsAndCountsKnownCodes) {
  auto c = run_collect(plugin(), "C.UTF-8");
  ASSERT_EQ(c.proc.exit_code, 0) << c.proc.err;
  expect_findings_shape(c.out);
  EXPECT_EQ(c.out["ports"][0]["up"], true);
  EXPECT_EQ(c.out["ports"][1]["up"], false);
  const json* down = find_id(c.out, "erp-port-down");
  ASSERT_NE(down, nullptr) << c.out;
  EXPECT_EQ((*down)["evidence"],
            json::array({"erp-rpc 127.0.0.1:" + std::to_string(closed_port_) + " closed"}));
  EXPECT_EQ((*down)["severity"], "error");
  const json* code = find_id(c.out, "erp-1001");
  ASSERT_NE(code, nullptr) << c.out["findings"];
  EXPECT_EQ((*code)["title"], "ERP-1001: Database connection pool exhausted");
  EXPECT_NE((*code)["evidence"][0].get<std::string>().find("ERP-1001 x2 in "), std::string::npos);
  EXPECT_EQ(c.out["codes"].size(), 6U);
}

TEST_F(ErpApp, ChineseWhenTheAgentAsksForChinese) {
  auto c = run_collect(plugin(), "zh_CN.UTF-8");
  ASSERT_EQ(c.proc.exit_code, 0) << c.proc.err;
  const json* down = find_id(c.out, "erp-port-down");
  ASSERT_NE(down, nullptr) << c.proc.out;
  EXPECT_EQ((*down)["title"], "ERP 端口无法连接");
  const json* code = find_id(c.out, "erp-1001");
  ASSERT_NE(code, nullptr);
  EXPECT_EQ((*code)["title"], "ERP-1001: 数据库连接池耗尽");
  EXPECT_EQ(c.out["codes"][0]["title"], "数据库连接池耗尽");
}

TEST_F(ErpApp, BrokenConfigNamesTheFileAndTheField) {
  json cfg = json::parse(read_file(plugin() + "/erp-app.json"));
  cfg["ports"][1]["port"] = 70000;
  write_file(plugin() + "/erp-app.json", cfg.dump());
  auto c = run_collect(plugin(), "C.UTF-8");
  EXPECT_EQ(c.proc.exit_code, 2);
  EXPECT_EQ(c.proc.err, "erp-app: " + plugin() +
                            "/erp-app.json: ports[1] must be {\"name\": ..., \"port\": "
                            "1..65535, \"host\": optional}\n");
}

}  // namespace
}  // namespace rdiag::test::shipped
