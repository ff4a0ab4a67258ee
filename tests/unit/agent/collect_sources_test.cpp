// Parsers of the collectors added for diagnostics (cpu's /proc/stat, disk,
// network, processes, services, time), run on fixture files: real ones
// captured on a Debian 12 x86_64 host, and broken variants whose errors must
// name the file and the line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "agent/collect/disk.h"
#include "agent/collect/network.h"
#include "agent/collect/proc_stat.h"
#include "agent/collect/processes.h"
#include "agent/collect/services.h"
#include "agent/collect/sockets.h"
#include "agent/collect/time.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

const std::string kFixtures = std::string(RDIAG_SOURCE_DIR) + "/tests/fixtures";

std::string fixture(const std::string& name) {
  std::ifstream in(kFixtures + "/proc/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

::testing::AssertionResult Contains(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

template <typename T>
std::string error_of(const Result<T>& r) {
  EXPECT_FALSE(r.has_value());
  return r.has_value() ? std::string() : r.error().message;
}

class CollectSources : public ::testing::Test {
 protected:
  void SetUp() override { i18n::set_lang(i18n::Lang::kEn); }
  void TearDown() override { i18n::set_lang(i18n::Lang::kEn); }
};

// ---- cpu: /proc/stat ----

TEST_F(CollectSources, ProcStatGivesTotalsPerCpu) {
  const auto stat = parse_proc_stat(fixture("x86_64/stat"));
  ASSERT_TRUE(stat) << stat.error().message;
  EXPECT_EQ(stat->all.name, "cpu");
  ASSERT_EQ(stat->cpus.size(), 2u);
  EXPECT_EQ(stat->cpus[1].name, "cpu1");
  EXPECT_GT(stat->all.total, stat->all.busy);
  EXPECT_TRUE(stat->procs_running.has_value());
}

TEST_F(CollectSources, BusyShareBetweenTwoSamples) {
  // 300 of 400 ticks busy; iowait (5th field) counts as idle.
  const auto a = parse_proc_stat("cpu 100 0 100 100 100 0 0 0 0 0\n");
  const auto b = parse_proc_stat("cpu 300 0 200 150 150 0 0 0 0 0\n");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(busy_permille(a->all, b->all), 750u);
  EXPECT_EQ(busy_permille(b->all, a->all), 0u) << "counters going back give 0, not garbage";
}

TEST_F(CollectSources, ProcStatErrorsNameFileAndLine) {
  EXPECT_TRUE(Contains(error_of(parse_proc_stat(fixture("broken/stat_not_number"))),
                       "/proc/stat line 2: 'cpu0' is not a whole number in range: '12x4'"));
  EXPECT_TRUE(Contains(error_of(parse_proc_stat("ctxt 5\n")), "/proc/stat: no 'cpu' line"));
}

// ---- disk ----

TEST_F(CollectSources, MountinfoDecodesOctalEscapes) {
  EXPECT_EQ(unescape_octal(R"(/srv/erp\040data\011x\134y)"), "/srv/erp data\tx\\y");
  EXPECT_EQ(unescape_octal(R"(/a\9\04)"), R"(/a\9\04)") << "not an escape: kept as is";
}

TEST_F(CollectSources, MountinfoKeepsRealFilesystemsOnly) {
  const auto all = parse_mountinfo(fixture("x86_64/mountinfo"), "/proc/self/mountinfo");
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 17u);
  std::vector<std::string> kept;
  for (const MountEntry& m : real_filesystems(*all)) kept.push_back(m.mount_point);
  // /run and /dev/shm are tmpfs worth watching; /run/user/1000 is not. The
  // snap is squashfs, /mnt/backup a bind mount of /'s device, /proc & co pseudo.
  const std::vector<std::string> expected = {"/run",
                                             "/",
                                             "/dev/shm",
                                             "/var",
                                             "/srv/erp data",
                                             "/mnt/nfs",
                                             "/var/lib/docker/overlay2/abc/merged",
                                             "/data"};
  EXPECT_EQ(kept, expected);
  const MountEntry& data = all->back();
  EXPECT_TRUE(data.read_only);
  EXPECT_EQ(data.fs_type, "ext4");
  EXPECT_EQ(data.source, "/dev/sdc1");
  EXPECT_EQ(data.device, "8:33");
}

TEST_F(CollectSources, RemoteFilesystemsAreNotMeasured) {
  MountEntry nfs;
  nfs.fs_type = "nfs4";
  nfs.mount_point = "/mnt/nfs";
  EXPECT_EQ(classify_mount(nfs), MountKind::kRemote);
  const auto j = to_json(nfs, std::nullopt);
  EXPECT_TRUE(j["remote"].get<bool>());
  EXPECT_FALSE(j.contains("bytes_total"));
}

TEST_F(CollectSources, UsedShareCountsTheRootReserveAsDfDoes) {
  // 100 GiB disk, 10 free of which 5 are reserved for root: df says 95 %.
  FsUsage u;
  u.bytes_total = 100ull << 30;
  u.bytes_free = 10ull << 30;
  u.bytes_avail = 5ull << 30;
  u.inodes_total = 1000;
  u.inodes_free = 1;
  EXPECT_EQ(used_permille(u), 948u);  // 90 / 95, rounded up
  EXPECT_EQ(inodes_used_permille(u), 999u);
  u.inodes_total = 0;
  EXPECT_FALSE(inodes_used_permille(u).has_value()) << "btrfs has no inode table";
  EXPECT_EQ(used_permille(FsUsage{}), 0u);
}

TEST_F(CollectSources, MountinfoErrorsNameFileAndLine) {
  EXPECT_TRUE(Contains(
      error_of(parse_mountinfo(fixture("broken/mountinfo_no_dash"), "/proc/self/mountinfo")),
      "/proc/self/mountinfo line 3: cannot read '24 28 0:5 / /dev"));
  EXPECT_TRUE(Contains(error_of(parse_mountinfo("", "/proc/self/mountinfo")),
                       "/proc/self/mountinfo is empty"));
}

// ---- network ----

TEST_F(CollectSources, HexAddressesDecodeInHostOrder) {
  EXPECT_EQ(decode_hex_address("0100007F"), "127.0.0.1");
  EXPECT_EQ(decode_hex_address("00000000000000000000000001000000"), "::1");
  EXPECT_EQ(decode_hex_address("0000000000000000FFFF00000100007F"), "::ffff:127.0.0.1");
  EXPECT_EQ(decode_hex_address("000080FE00000000FF6FE7AB0100FEFF"), "fe80::abe7:6fff:fffe:1");
  EXPECT_FALSE(decode_hex_address("0100007").has_value());
  EXPECT_FALSE(decode_hex_address("0100ZZ7F").has_value());
}

TEST_F(CollectSources, ListeningTcpSocketsOnly) {
  const auto tcp = parse_listen_sockets(fixture("x86_64/net_tcp"), "tcp", "/proc/net/tcp");
  ASSERT_TRUE(tcp) << tcp.error().message;
  ASSERT_EQ(tcp->size(), 2u) << "the ESTABLISHED ssh connection is not listening";
  EXPECT_EQ((*tcp)[0].address, "127.0.0.1");
  EXPECT_EQ((*tcp)[0].port, 5432);
  EXPECT_EQ((*tcp)[0].uid, 105u);
  EXPECT_EQ((*tcp)[0].inode, 21344u);
  EXPECT_EQ((*tcp)[1].address, "0.0.0.0");
  EXPECT_EQ((*tcp)[1].port, 22);
  const auto tcp6 = parse_listen_sockets(fixture("x86_64/net_tcp6"), "tcp6", "/proc/net/tcp6");
  ASSERT_TRUE(tcp6) << tcp6.error().message;
  ASSERT_EQ(tcp6->size(), 3u);
  EXPECT_EQ((*tcp6)[1].address, "::1");
  EXPECT_EQ((*tcp6)[2].address, "::");
  EXPECT_EQ((*tcp6)[2].proto, "tcp6");
}

TEST_F(CollectSources, UnconnectedUdpSocketsCountAsListening) {
  const auto udp = parse_listen_sockets(fixture("x86_64/net_udp"), "udp", "/proc/net/udp");
  ASSERT_TRUE(udp) << udp.error().message;
  ASSERT_EQ(udp->size(), 1u) << "the connected NTP socket is not listening";
  EXPECT_EQ((*udp)[0].address, "127.0.0.53");
  EXPECT_EQ((*udp)[0].port, 53);
  const auto udp6 = parse_listen_sockets(fixture("x86_64/net_udp6"), "udp6", "/proc/net/udp6");
  ASSERT_TRUE(udp6) << udp6.error().message;
  ASSERT_EQ(udp6->size(), 1u);
  EXPECT_EQ((*udp6)[0].port, 546);
}

TEST_F(CollectSources, SocketErrorsNameFileAndLine) {
  EXPECT_TRUE(Contains(
      error_of(parse_listen_sockets(fixture("broken/net_tcp_bad_address"), "tcp", "/proc/net/tcp")),
      "/proc/net/tcp line 4: cannot read '2: 0A00ZZ0A:0016"));
}

TEST_F(CollectSources, SocketInodesFromFdLinks) {
  EXPECT_EQ(socket_inode("socket:[21344]"), 21344u);
  EXPECT_FALSE(socket_inode("pipe:[21344]").has_value());
  EXPECT_FALSE(socket_inode("socket:[]").has_value());
  EXPECT_FALSE(socket_inode("/dev/null").has_value());
}

TEST_F(CollectSources, NetDevCountersIncludingGluedColon) {
  const auto dev = parse_net_dev(fixture("x86_64/net_dev"));
  ASSERT_TRUE(dev) << dev.error().message;
  ASSERT_EQ(dev->size(), 2u);
  EXPECT_EQ((*dev)[1].name, "eth0");
  EXPECT_EQ((*dev)[1].rx_bytes, 98765432101u);
  EXPECT_EQ((*dev)[1].rx_errors, 3u);
  EXPECT_EQ((*dev)[1].rx_dropped, 12u);
  EXPECT_EQ((*dev)[1].tx_bytes, 12345678901u);
  EXPECT_EQ((*dev)[1].tx_dropped, 1u);
  EXPECT_TRUE(Contains(error_of(parse_net_dev(fixture("broken/net_dev_truncated"))),
                       "/proc/net/dev line 4: cannot read 'eth0: 1 2 3'"));
}

TEST_F(CollectSources, InterfacesFromASysTree) {
  const auto ifs = read_interfaces(kFixtures + "/sys");
  ASSERT_EQ(ifs.size(), 3u);
  EXPECT_EQ(ifs[0].name, "eth0");
  EXPECT_EQ(ifs[0].operstate, "up");
  EXPECT_EQ(ifs[0].mtu, 1500u);
  EXPECT_EQ(ifs[0].mac, "52:54:00:12:34:56");
  EXPECT_EQ(ifs[2].name, "wg0");
  EXPECT_FALSE(ifs[2].mac.has_value()) << "a WireGuard link has no MAC address";
  EXPECT_TRUE(read_interfaces(kFixtures + "/no-such-dir").empty());
}

TEST_F(CollectSources, PrefixLengthOfNetmasks) {
  const unsigned char v4[] = {255, 255, 240, 0};
  EXPECT_EQ(prefix_length(v4, 4), 20);
  unsigned char v6[16] = {};
  for (int i = 0; i < 8; ++i) v6[i] = 0xff;
  EXPECT_EQ(prefix_length(v6, 16), 64);
}

// ---- processes ----

TEST_F(CollectSources, PidStatWithParenthesesInTheName) {
  const auto st = parse_pid_stat(fixture("x86_64/pid_stat"), "/proc/4242/stat");
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(st->pid, 4242);
  EXPECT_EQ(st->comm, "java (erp) x");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->utime, 7350u);
  EXPECT_EQ(st->stime, 1220u);
  EXPECT_EQ(st->threads, 57u);
  EXPECT_EQ(st->start, 2888281u);
  EXPECT_EQ(st->rss_pages, 262144u);
  EXPECT_TRUE(
      Contains(error_of(parse_pid_stat(fixture("broken/pid_stat_truncated"), "/proc/4242/stat")),
               "/proc/4242/stat line 1: cannot read '4242 (java) S 1 4242'"));
}

TEST_F(CollectSources, StatusRealUid) {
  EXPECT_EQ(parse_status_uid(fixture("x86_64/pid_status"), "/proc/4242/status").value(), 998u);
  EXPECT_TRUE(
      Contains(error_of(parse_status_uid(fixture("broken/status_bad_uid"), "/proc/4242/status")),
               "/proc/4242/status line 9: 'Uid' is not a whole number"));
}

TEST_F(CollectSources, CommandLinesBecomeOneValidUtf8Line) {
  using namespace std::string_literals;
  EXPECT_EQ(cmdline_text("java\0-Xmx4g\0-jar\0erp.jar\0"s), "java -Xmx4g -jar erp.jar");
  EXPECT_EQ(cmdline_text("a\nb\x1b[2Jc\0"s), "a b [2Jc") << "no forged lines or escapes";
  EXPECT_EQ(cmdline_text("bad\xff\xc3(\0"s), "bad\xEF\xBF\xBD\xEF\xBF\xBD(");
  EXPECT_EQ(valid_utf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD") << "surrogate";
  EXPECT_EQ(valid_utf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD") << "overlong";
  EXPECT_EQ(valid_utf8("数据库 ok"), "数据库 ok");
  EXPECT_EQ(cut_utf8("数据库", 4), "数") << "never half a character";
  EXPECT_EQ(cut_utf8("数据库", 9), "数据库");
  EXPECT_EQ(cut_utf8("abc", 2), "ab");
}

TEST_F(CollectSources, CpuShareOfOneCpu) {
  // 50 ticks at 100 Hz over 500 ms: a full CPU.
  EXPECT_EQ(cpu_permille(50, 100, 500), 1000u);
  EXPECT_EQ(cpu_permille(5, 100, 500), 100u);
  EXPECT_EQ(cpu_permille(5, 100, 0), 0u);
}

// ---- services ----

TEST_F(CollectSources, UnitSummaryCountsAndFailures) {
  const std::vector<UnitRow> units = {
      {"ssh.service", "OpenBSD Secure Shell server", "loaded", "active", "running"},
      {"pg.service", "PostgreSQL", "loaded", "failed", "failed"},
      {"cron.service", "Regular background program processing daemon", "loaded", "active",
       "running"},
      {"apt.timer", "Daily apt", "loaded", "inactive", "dead"},
      {"erp\xff.service", "ERP", "loaded", "failed", "auto-restart"},
  };
  const auto j = summarize_units(units);
  EXPECT_EQ(j["units_total"], 5);
  EXPECT_EQ(j["by_active_state"]["active"], 2);
  EXPECT_EQ(j["by_active_state"]["failed"], 2);
  ASSERT_EQ(j["failed"].size(), 2u);
  EXPECT_EQ(j["failed"][0]["name"], "erp\xEF\xBF\xBD.service");
  EXPECT_EQ(j["failed"][1]["name"], "pg.service");
  EXPECT_EQ(j["failed"][1]["sub_state"], "failed");
  EXPECT_NO_THROW((void)j.dump());
}

// ---- time ----

TEST_F(CollectSources, ClockSyncFromTimex) {
  struct timex tx {};
  tx.status = STA_PLL;
  tx.offset = -250;  // microseconds: STA_NANO is not set
  tx.maxerror = 12000;
  tx.esterror = 300;
  auto s = clock_sync(tx, TIME_OK);
  EXPECT_TRUE(s.synchronised);
  EXPECT_EQ(s.offset_ns, -250000);
  EXPECT_EQ(s.maxerror_us, 12000);
  tx.status = STA_PLL | STA_NANO;
  EXPECT_EQ(clock_sync(tx, TIME_OK).offset_ns, -250);
  tx.status = STA_UNSYNC;
  EXPECT_FALSE(clock_sync(tx, TIME_ERROR).synchronised);
  tx.status = 0;
  tx.maxerror = kMaxErrorUnsyncUs;
  EXPECT_FALSE(clock_sync(tx, TIME_OK).synchronised) << "the kernel gave up on the clock";
}

TEST_F(CollectSources, ZoneFromLocaltimeLink) {
  EXPECT_EQ(zone_from_link("/usr/share/zoneinfo/Asia/Shanghai"), "Asia/Shanghai");
  EXPECT_EQ(zone_from_link("../usr/share/zoneinfo/UTC"), "UTC");
  EXPECT_EQ(zone_from_link("/usr/share/zoneinfo/posix/Asia/Shanghai"), "Asia/Shanghai");
  EXPECT_FALSE(zone_from_link("/etc/some-file").has_value());
  EXPECT_FALSE(zone_from_link("/usr/share/zoneinfo/").has_value());
}

// ---- this machine's own files, as the parsers' sanity check ----

std::optional<std::string> live(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_F(CollectSources, LiveFilesParse) {
  if (const auto t = live("/proc/stat")) {
    EXPECT_TRUE(parse_proc_stat(*t)) << *t;
  }
  if (const auto t = live("/proc/self/mountinfo")) {
    const auto m = parse_mountinfo(*t, "/proc/self/mountinfo");
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_FALSE(real_filesystems(*m).empty()) << *t;
  }
  for (const std::string proto : {"tcp", "tcp6", "udp", "udp6"}) {
    if (const auto t = live("/proc/net/" + proto)) {
      const auto s = parse_listen_sockets(*t, proto, "/proc/net/" + proto);
      EXPECT_TRUE(s) << s.error().message;
    }
  }
  if (const auto t = live("/proc/net/dev")) {
    EXPECT_TRUE(parse_net_dev(*t));
  }
  if (const auto t = live("/proc/self/stat")) {
    const auto st = parse_pid_stat(*t, "/proc/self/stat");
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(st->pid, ::getpid());
    EXPECT_EQ(st->state, 'R');
  }
  if (const auto t = live("/proc/self/status")) {
    EXPECT_EQ(parse_status_uid(*t, "/proc/self/status").value(), ::getuid());
  }
}

}  // namespace
}  // namespace rdiag::agent::collect
