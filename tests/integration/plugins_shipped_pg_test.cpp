// The postgresql plugin against a real PostgreSQL 15 started in a temp dir
// (TESTING-NOTES: initdb refuses root, so it runs as the postgres account):
// a running server, lock waits, long queries and full connection slots made
// by real sessions, a stopped server, and the plugin's own failures.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "tests/integration/plugins_shipped.h"

namespace rdiag::test::shipped {
namespace {

namespace fs = std::filesystem;

const std::string kPgBin = "/usr/lib/postgresql/15/bin";

// ---------------------------------------------------------------------------
// postgresql, against a real PostgreSQL 15 started in a temp dir
// (TESTING-NOTES: initdb refuses root, so it runs as the postgres account).

class PgServer {
 public:
  PgServer() : port_(free_port()) {
    EXPECT_EQ(::chown(dir_.path().c_str(), pw()->pw_uid, pw()->pw_gid), 0) << "run as root";
    ::chmod(dir_.path().c_str(), 0755);
  }
  ~PgServer() {
    if (running_) stop();
  }
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // initdb + pg_ctl start with max_connections 10 (small, so that a test can
  // fill it); false with the reason in `why`. No fsync anywhere (-N, fsync=off):
  // throwaway data, and fsync made initdb take 6 s on a busy test machine.
  bool start(std::string& why) {
    auto init =
        as_postgres({kPgBin + "/initdb", "-N", "-D", data(), "-A", "trust", "-U", "postgres"});
    if (init.exit_code != 0) return (why = "initdb: " + init.err), false;
    return launch(why);
  }
  // A streaming standby of `primary` (pg_basebackup -R), with `conf` appended
  // to its postgresql.auto.conf.
  bool start_standby(const PgServer& primary, const std::string& conf, std::string& why) {
    auto copy =
        as_postgres({kPgBin + "/pg_basebackup", "-h", "127.0.0.1", "-p",
                     std::to_string(primary.port()), "-U", "postgres", "-D", data(), "-R", "-N"});
    if (copy.exit_code != 0) return (why = "pg_basebackup: " + copy.err), false;
    std::ofstream(data() + "/postgresql.auto.conf", std::ios::app) << conf << "\n";
    return launch(why);
  }
  void stop() {
    as_postgres({kPgBin + "/pg_ctl", "-D", data(), "-m", "fast", "-w", "-t", "60", "stop"});
    running_ = false;
  }
  int port() const { return port_; }
  std::map<std::string, std::string> settings() const {
    return {{"PGHOST", "127.0.0.1"}, {"PGPORT", std::to_string(port_)}, {"PGUSER", "postgres"}};
  }
  // One statement through psql as the superuser; its unaligned output.
  std::string sql(const std::string& statement) const {
    return run({"/usr/bin/psql", "-X", "-q", "-A", "-t", "-c", statement}, {.env = settings()}).out;
  }
  // A psql session left running in the background with one command.
  std::unique_ptr<Background> session(const std::string& statement) const {
    std::vector<std::string> argv = {"env"};
    for (const auto& [k, v] : settings()) argv.push_back(concat({k, "=", v}));
    argv.insert(argv.end(), {"psql", "-X", "-q", "-c", statement});
    return std::make_unique<Background>("/usr/bin/env", argv);
  }

 private:
  bool launch(std::string& why) {
    const std::string opts = "-p " + std::to_string(port_) + " -k " + dir_.path() +
                             " -c listen_addresses=127.0.0.1 -c max_connections=10 -c fsync=off";
    auto up = as_postgres({kPgBin + "/pg_ctl", "-D", data(), "-o", opts, "-l", dir_ / "server.log",
                           "-w", "-t", "60", "start"});
    if (up.exit_code != 0) return (why = "pg_ctl start: " + read_file(dir_ / "server.log")), false;
    running_ = true;
    return true;
  }
  static passwd* pw() { return ::getpwnam("postgres"); }
  std::string data() const { return dir_ / "data"; }
  ProcResult as_postgres(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"/sbin/runuser", "-u", "postgres", "--"});
    return run(argv, {.timeout = seconds(90)});
  }
  TempDir dir_;
  int port_;
  bool running_ = false;
};

#define SKIP_WITHOUT_POSTGRES()                                                     \
  if (!fs::exists(kPgBin + "/initdb") || ::getpwnam("postgres") == nullptr) {       \
    GTEST_SKIP() << kPgBin << "/initdb or the postgres account is missing: "        \
                 << "install the Debian package postgresql (scripts/deps.sh does)"; \
  }

TEST(ShippedPostgresql, ReportsARunningServer) {
  SKIP_WITHOUT_POSTGRES();
  PgServer pg;
  std::string why;
  ASSERT_TRUE(pg.start(why)) << why;
  auto c = run_collect(kPlugins + "/postgresql", "C.UTF-8", pg.settings());
  ASSERT_EQ(c.proc.exit_code, 0) << c.proc.err;
  expect_findings_shape(c.out);
  EXPECT_EQ(c.out["reachable"], true);
  EXPECT_TRUE(c.out["server_version"].get<std::string>().starts_with("15.")) << c.out;
  EXPECT_EQ(c.out["server_version_num"].get<int>() / 10000, 15);
  EXPECT_EQ(c.out["connections"]["max_connections"], 10);
  EXPECT_EQ(c.out["connections"]["total"], 1);  // the plugin's own session
  EXPECT_EQ(c.out["connections"]["by_state"]["active"], 1);
  EXPECT_EQ(c.out["replication"]["role"], "primary");
  bool has_postgres = false;
  for (const auto& db : c.out["databases"]) {
    has_postgres |= db["name"] == "postgres" && db["size_bytes"].get<int64_t>() > 0;
  }
  EXPECT_TRUE(has_postgres) << c.out["databases"];
  EXPECT_TRUE(c.out["findings"].empty()) << c.out["findings"];
}

// One session holds a table lock, one waits for it, six more sleep: with the
// plugin's own session that is 9 of max_connections 10.
TEST(ShippedPostgresql, FindsLockWaitsLongQueriesAndFullConnectionSlots) {
  SKIP_WITHOUT_POSTGRES();
  PgServer pg;
  std::string why;
  ASSERT_TRUE(pg.start(why)) << why;
  auto settings = pg.settings();
  pg.sql("CREATE TABLE orders (id int)");
  std::vector<std::unique_ptr<Background>> sessions;
  sessions.push_back(pg.session(
      "BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT;"));
  // The waiter must come second, once the lock is really held.
  const std::string held =
      "SELECT count(*) FROM pg_locks WHERE granted AND mode = 'AccessExclusiveLock' "
      "AND relation = 'orders'::regclass";
  ASSERT_TRUE(wait_until([&] { return pg.sql(held) == "1\n"; }, seconds(20)));
  sessions.push_back(pg.session("SELECT count(*) FROM orders"));
  for (int i = 0; i < 6; ++i) sessions.push_back(pg.session("SELECT pg_sleep(120)"));
  settings["RDIAG_PG_LOCK_WAIT_SECONDS"] = "0";
  settings["RDIAG_PG_LONG_QUERY_SECONDS"] = "1";
  Collected c;
  // Until all sessions are in and the statements have run for over a second.
  ASSERT_TRUE(wait_until(
      [&] {
        c = run_collect(kPlugins + "/postgresql", "C.UTF-8", settings);
        return c.out.is_object() && c.out["connections"]["total"] == 9 &&
               c.out["long_queries"].size() == 8;
      },
      seconds(30)))
      << c.proc.out << c.proc.err;
  expect_findings_shape(c.out);
  ASSERT_EQ(c.out["lock_waits"].size(), 1U) << c.out["lock_waits"];
  EXPECT_EQ(c.out["lock_waits"][0]["relation"], "orders");
  EXPECT_EQ(c.out["lock_waits"][0]["blocking_pids"].size(), 1U);
  const json* locks = find_id(c.out, "pg-lock-waits");
  ASSERT_NE(locks, nullptr) << c.out["findings"];
  EXPECT_NE((*locks)["evidence"][0].get<std::string>().find("on orders, blocked by pid"),
            std::string::npos);
  const json* conns = find_id(c.out, "pg-connections-high");
  ASSERT_NE(conns, nullptr) << c.out["findings"];
  EXPECT_EQ((*conns)["severity"], "warning");  // 900 per mille: over 80 %, not over 95 %
  EXPECT_EQ(c.out["connections"]["per_mille"], 900);
  const json* slow = find_id(c.out, "pg-long-queries");
  ASSERT_NE(slow, nullptr);
  EXPECT_NE((*slow)["evidence"].dump().find("LOCK TABLE orders"), std::string::npos);
}

// The login the README recommends is not a superuser: it must still get a
// full report (no PGDATABASE needed; a database it may not enter is listed
// without a size instead of failing the report).
TEST(ShippedPostgresql, WorksWithAnUnprivilegedLogin) {
  SKIP_WITHOUT_POSTGRES();
  PgServer pg;
  std::string why;
  ASSERT_TRUE(pg.start(why)) << why;
  pg.sql("CREATE ROLE erp_monitor LOGIN");
  pg.sql("CREATE DATABASE payroll");
  pg.sql("REVOKE CONNECT ON DATABASE payroll FROM PUBLIC");
  auto settings = pg.settings();
  settings["PGUSER"] = "erp_monitor";
  auto c = run_collect(kPlugins + "/postgresql", "C.UTF-8", settings);
  ASSERT_EQ(c.proc.exit_code, 0) << c.proc.err;
  EXPECT_EQ(c.out["reachable"], true) << c.out;
  EXPECT_FALSE(c.out.contains("error")) << c.out["error"];
  std::map<std::string, json> sizes;
  for (const auto& db : c.out["databases"]) sizes[db["name"]] = db["size_bytes"];
  EXPECT_GT(sizes["postgres"].get<int64_t>(), 0);
  ASSERT_TRUE(sizes.contains("payroll")) << c.out["databases"];
  EXPECT_TRUE(sizes["payroll"].is_null());
}

// A standby that applies WAL an hour late (recovery_min_apply_delay): the
// primary reports the replica's replay lag, the standby its own delay. The
// standby reports its position every second (default 10 s), so that the
// primary sees the lag soon.
const std::string kLateStandby =
    "recovery_min_apply_delay = '1h'\nwal_receiver_status_interval = 1";

TEST(ShippedPostgresql, ReportsReplicationLagOnPrimaryAndStandby) {
  SKIP_WITHOUT_POSTGRES();
  PgServer primary;
  PgServer standby;
  std::string why;
  ASSERT_TRUE(primary.start(why)) << why;
  primary.sql("CREATE TABLE before_standby (id int)");
  ASSERT_TRUE(standby.start_standby(primary, kLateStandby, why)) << why;
  auto on_primary = primary.settings();
  on_primary["RDIAG_PG_REPLICATION_LAG_SECONDS"] = "1";
  Collected p;
  ASSERT_TRUE(wait_until(
      [&] {
        primary.sql("CREATE TABLE IF NOT EXISTS after_standby (id int)");
        p = run_collect(kPlugins + "/postgresql", "C.UTF-8", on_primary);
        return find_id(p.out, "pg-replication-lag") != nullptr;
      },
      seconds(30)))
      << p.proc.out;
  EXPECT_EQ(p.out["replication"]["role"], "primary");
  ASSERT_EQ(p.out["replication"]["replicas"].size(), 1U);
  EXPECT_EQ(p.out["replication"]["replicas"][0]["state"], "streaming");

  auto on_standby = standby.settings();
  on_standby["RDIAG_PG_REPLICATION_LAG_SECONDS"] = "1";
  auto s = run_collect(kPlugins + "/postgresql", "zh_CN.UTF-8", on_standby);
  ASSERT_EQ(s.proc.exit_code, 0) << s.proc.err;
  EXPECT_EQ(s.out["replication"]["role"], "standby");
  EXPECT_EQ(s.out["replication"]["caught_up"], false);
  const json* lag = find_id(s.out, "pg-replication-lag");
  ASSERT_NE(lag, nullptr) << s.out;
  EXPECT_EQ((*lag)["title"], "PostgreSQL 复制延迟");
}

// A stopped server is a diagnosis: exit 0, reachable false, an error finding
// with cause and remedy, in Chinese when the agent asks for Chinese.
TEST(ShippedPostgresql, StoppedServerIsAFindingNotAFailure) {
  SKIP_WITHOUT_POSTGRES();
  PgServer pg;
  std::string why;
  ASSERT_TRUE(pg.start(why)) << why;
  pg.stop();
  auto c = run_collect(kPlugins + "/postgresql", "C.UTF-8", pg.settings());
  ASSERT_EQ(c.proc.exit_code, 0) << c.proc.err;
  expect_findings_shape(c.out);
  EXPECT_EQ(c.out["reachable"], false);
  const json* f = find_id(c.out, "pg-unreachable");
  ASSERT_NE(f, nullptr) << c.out;
  EXPECT_EQ((*f)["severity"], "error");
  EXPECT_NE((*f)["evidence"].dump().find("Connection refused"), std::string::npos) << *f;
  EXPECT_NE((*f)["remedy"].get<std::string>().find("systemctl status postgresql"),
            std::string::npos);

  auto zh = run_collect(kPlugins + "/postgresql", "zh_CN.UTF-8", pg.settings());
  ASSERT_EQ(zh.proc.exit_code, 0) << zh.proc.err;
  const json* fz = find_id(zh.out, "pg-unreachable");
  ASSERT_NE(fz, nullptr) << zh.proc.out;
  EXPECT_EQ((*fz)["title"], "无法连接 PostgreSQL 服务器");
}

TEST(ShippedPostgresql, BadSettingOrMissingPsqlIsAPluginFailure) {
  auto bad = run_collect(kPlugins + "/postgresql", "C.UTF-8", {{"PGPORT", "five"}});
  EXPECT_NE(bad.proc.exit_code, 0);
  EXPECT_NE(bad.proc.err.find("PGPORT='five' in the env file must be a port number"),
            std::string::npos)
      << bad.proc.err;
  TempDir empty;
  ::chmod(empty.path().c_str(), 0755);
  auto none = run_collect(kPlugins + "/postgresql", "C.UTF-8", {{"PATH", empty.path()}});
  EXPECT_NE(none.proc.exit_code, 0);
  EXPECT_NE(none.proc.err.find("psql not found on PATH"), std::string::npos) << none.proc.err;
  EXPECT_TRUE(none.proc.out.empty());
}

// A fresh install (no env file, the agent says which) where nothing answers
// on the defaults: a note saying what to configure, not an outage.
TEST(ShippedPostgresql, NothingConfiguredAndNothingRunningIsANote) {
  auto c = run_collect(kPlugins + "/postgresql", "C.UTF-8",
                       {{"PGHOST", "127.0.0.1"},
                        {"PGPORT", std::to_string(free_port())},
                        {"RDIAG_ENV_FILE_MISSING", "/etc/rdiag/postgresql.env"}});
  if (c.proc.exit_code != 0) GTEST_SKIP() << "no psql: " << c.proc.err;
  expect_findings_shape(c.out);
  EXPECT_EQ(find_id(c.out, "pg-unreachable"), nullptr) << c.out;
  const json* f = find_id(c.out, "pg-not-configured");
  ASSERT_NE(f, nullptr) << c.out;
  EXPECT_EQ((*f)["severity"], "info");
  EXPECT_NE((*f)["remedy"].get<std::string>().find("/etc/rdiag/postgresql.env"), std::string::npos);
}

}  // namespace
}  // namespace rdiag::test::shipped
