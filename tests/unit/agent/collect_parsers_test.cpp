// The built-in collectors' pure parsers, run on fixture files: real ones
// copied from an x86_64 Debian 12 host, hand-written aarch64 (Kunpeng 920),
// CentOS 7 and Kylin V10 ones, and broken variants. One "sanity" test per
// parser also feeds it this machine's live file, skipping files it lacks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "agent/collect/cpu.h"
#include "agent/collect/limits.h"
#include "agent/collect/memory.h"
#include "agent/collect/os.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

// GoogleTest without gMock: a substring check that prints both sides.
::testing::AssertionResult Contains(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

std::optional<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string fixture(const std::string& name) {
  const auto path = std::filesystem::path(RDIAG_SOURCE_DIR) / "tests/fixtures/proc" / name;
  auto text = read_text(path);
  EXPECT_TRUE(text.has_value()) << "missing fixture " << path;
  return text.value_or("");
}

// Parser errors are translated; the assertions below read the English ones.
class CollectTest : public ::testing::Test {
 protected:
  void SetUp() override { i18n::set_lang(i18n::Lang::kEn); }
  void TearDown() override { i18n::set_lang(i18n::Lang::kEn); }
};

template <typename T>
std::string error_of(const Result<T>& r) {
  EXPECT_FALSE(r.has_value());
  return r.has_value() ? std::string() : r.error().message;
}

// ---- os ----

using CollectOs = CollectTest;

TEST_F(CollectOs, ParsesDebianOsRelease) {
  const auto os = parse_os_release(fixture("x86_64/os-release"));
  ASSERT_TRUE(os) << os.error().message;
  EXPECT_EQ(os->id, "debian");
  EXPECT_EQ(os->name, "Debian GNU/Linux");
  EXPECT_EQ(os->version_id, "12");
  EXPECT_EQ(os->pretty_name, "Debian GNU/Linux 12 (bookworm)");
}

TEST_F(CollectOs, ParsesCentos7OsRelease) {
  const auto os = parse_os_release(fixture("centos7/os-release"));
  ASSERT_TRUE(os) << os.error().message;
  EXPECT_EQ(os->id, "centos");
  EXPECT_EQ(os->version_id, "7");
  EXPECT_EQ(os->pretty_name, "CentOS Linux 7 (Core)");
  EXPECT_EQ(to_json(*os).dump(), R"({"id":"centos","name":"CentOS Linux",)"
                                 R"j("pretty_name":"CentOS Linux 7 (Core)","version_id":"7"})j");
}

TEST_F(CollectOs, ParsesKylinQuotingEscapesAndChinese) {
  const auto os = parse_os_release(fixture("kylin/os-release"));
  ASSERT_TRUE(os) << os.error().message;
  EXPECT_EQ(os->id, "kylin");        // unquoted
  EXPECT_EQ(os->version_id, "V10");  // single-quoted
  EXPECT_EQ(os->name, "Kylin Linux Advanced Server");
  EXPECT_EQ(os->pretty_name, "银河麒麟高级服务器操作系统 V10 (Sword) \"SP3\"");
}

TEST_F(CollectOs, UnescapesAsTheSpecSays) {
  // Inside double quotes only \" \\ \$ \` are escapes; outside, any character.
  const auto os = parse_os_release(
      "NAME=\"cost \\$0 \\\\ \\` \\q\"\nID=a\\ b\nPRETTY_NAME='no \\$ escape'\"x\"\n");
  ASSERT_TRUE(os) << os.error().message;
  EXPECT_EQ(os->name, "cost $0 \\ ` \\q");
  EXPECT_EQ(os->id, "a b");
  EXPECT_EQ(os->pretty_name, "no \\$ escapex");
}

TEST_F(CollectOs, MissingFieldsAreAbsent) {
  const auto os = parse_os_release("# only a comment\n\nID=alpine\n");
  ASSERT_TRUE(os);
  EXPECT_EQ(os->id, "alpine");
  EXPECT_FALSE(os->pretty_name);
  EXPECT_EQ(to_json(*os).dump(), R"({"id":"alpine"})");
}

TEST_F(CollectOs, BrokenOsReleaseNamesFileAndLine) {
  EXPECT_TRUE(Contains(error_of(parse_os_release(fixture("broken/os-release_unterminated"))),
                       "/etc/os-release line 2: the value of ID has an unterminated quote"));
  EXPECT_TRUE(Contains(
      error_of(parse_os_release(fixture("broken/os-release_no_equals"), "/usr/lib/os-release")),
      "/usr/lib/os-release line 2: cannot read 'ID centos'"));
  EXPECT_TRUE(Contains(error_of(parse_os_release("NAME=Foo Bar\n")),
                       "line 1: the value of NAME has a space outside quotes"));
  EXPECT_TRUE(Contains(error_of(parse_os_release("1D=x\n")), "'1D' is not a valid variable"));
}

TEST_F(CollectOs, ParsesOneLineFilesAndUptime) {
  EXPECT_EQ(parse_one_line(fixture("x86_64/osrelease"), "/proc/sys/kernel/osrelease").value(),
            "6.18.44-fc-v657");
  EXPECT_EQ(parse_one_line(fixture("x86_64/hostname"), "/proc/sys/kernel/hostname").value(), "vm");
  EXPECT_TRUE(
      Contains(error_of(parse_one_line(fixture("broken/empty"), "/proc/sys/kernel/hostname")),
               "/proc/sys/kernel/hostname is empty"));
  const auto up = parse_uptime(fixture("x86_64/uptime"));
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->uptime_s, 24811u);
  EXPECT_EQ(up->idle_s, 8490u);
  EXPECT_EQ(to_json(*up).dump(), R"({"idle_s":8490,"uptime_s":24811})");
  EXPECT_TRUE(Contains(error_of(parse_uptime("12.5x 3.0\n")),
                       "/proc/uptime line 1: 'uptime' is not a decimal number: '12.5x'"));
  EXPECT_TRUE(Contains(error_of(parse_uptime("12.50\n")), "/proc/uptime line 1"));
}

TEST_F(CollectOs, SanityOnThisMachine) {
  for (const char* path : {"/etc/os-release", "/usr/lib/os-release"}) {
    if (auto text = read_text(path)) {
      const auto os = parse_os_release(*text, path);
      EXPECT_TRUE(os) << os.error().message;
    }
  }
  for (const char* path : {"/proc/sys/kernel/osrelease", "/proc/sys/kernel/hostname"}) {
    if (auto text = read_text(path)) {
      EXPECT_TRUE(parse_one_line(*text, path)) << path;
    }
  }
  if (auto text = read_text("/proc/uptime")) {
    const auto up = parse_uptime(*text);
    ASSERT_TRUE(up) << up.error().message;
    EXPECT_GT(up->uptime_s, 0u);
  }
}

// ---- cpu ----

using CollectCpu = CollectTest;

TEST_F(CollectCpu, ParsesX86Cpuinfo) {
  const auto cpu = parse_cpuinfo(fixture("x86_64/cpuinfo"));
  ASSERT_TRUE(cpu) << cpu.error().message;
  EXPECT_EQ(cpu->logical_cpus, 2u);
  EXPECT_EQ(cpu->model, "AMD EPYC");
  EXPECT_EQ(cpu->sockets, 1u);
  EXPECT_EQ(cpu->physical_cores, 2u);
  EXPECT_EQ(to_json(*cpu).dump(),
            R"({"logical_cpus":2,"model":"AMD EPYC","physical_cores":2,"sockets":1})");
}

TEST_F(CollectCpu, ParsesAarch64CpuinfoWithPartFallback) {
  const auto cpu = parse_cpuinfo(fixture("aarch64/cpuinfo"));
  ASSERT_TRUE(cpu) << cpu.error().message;
  EXPECT_EQ(cpu->logical_cpus, 4u);
  EXPECT_EQ(cpu->model, "HiSilicon TaiShan-v110 (Kunpeng 920)");
  EXPECT_FALSE(cpu->sockets);  // aarch64 cpuinfo has no topology
  // An unknown part still names its implementer.
  const auto other = parse_cpuinfo("processor\t: 0\nCPU implementer\t: 0x70\nCPU part\t: 0x999\n");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->model, "Phytium part 0x999");
}

TEST_F(CollectCpu, BrokenCpuinfoNamesFileAndLine) {
  EXPECT_TRUE(Contains(error_of(parse_cpuinfo(fixture("broken/cpuinfo_not_number"))),
                       "/proc/cpuinfo line 3: 'processor' is not a whole number in range: 'x1'"));
  EXPECT_TRUE(Contains(error_of(parse_cpuinfo(fixture("broken/cpuinfo_no_colon"))),
                       "/proc/cpuinfo line 3: cannot read 'flags fpu vme'"));
  EXPECT_TRUE(Contains(error_of(parse_cpuinfo(fixture("broken/empty"))), "/proc/cpuinfo is empty"));
  EXPECT_TRUE(
      Contains(error_of(parse_cpuinfo("model name\t: X\n")), "/proc/cpuinfo: no 'processor' line"));
}

TEST_F(CollectCpu, ParsesLoadavgAsHundredths) {
  const auto load = parse_loadavg(fixture("x86_64/loadavg"));
  ASSERT_TRUE(load) << load.error().message;
  EXPECT_EQ(load->load1_x100, 405u);
  EXPECT_EQ(load->load5_x100, 295u);
  EXPECT_EQ(load->load15_x100, 280u);
  EXPECT_EQ(load->running, 6u);
  EXPECT_EQ(load->total, 114u);
  EXPECT_EQ(load->last_pid, 18071u);
  EXPECT_EQ(to_json(*load)["load1_x100"], 405);
  EXPECT_TRUE(Contains(error_of(parse_loadavg(fixture("broken/loadavg_truncated"))),
                       "/proc/loadavg line 1: cannot read '0.52 0.58'"));
  EXPECT_TRUE(Contains(error_of(parse_loadavg(fixture("broken/loadavg_not_number"))),
                       "/proc/loadavg line 1: 'load15' is not a decimal number: 'abc'"));
  EXPECT_TRUE(Contains(error_of(parse_loadavg(fixture("broken/empty"))), "/proc/loadavg is empty"));
}

TEST_F(CollectCpu, ParsesPressureAsPermille) {
  const auto cpu = parse_pressure(fixture("x86_64/pressure_cpu"), "/proc/pressure/cpu");
  ASSERT_TRUE(cpu) << cpu.error().message;
  EXPECT_EQ(cpu->some.avg10_permille, 970u);  // 96.99 %
  EXPECT_EQ(cpu->some.avg60_permille, 737u);  // 73.68 %
  EXPECT_EQ(cpu->some.avg300_permille, 479u);
  EXPECT_EQ(cpu->some.total_us, 13601387606u);
  ASSERT_TRUE(cpu->full);
  EXPECT_EQ(cpu->full->total_us, 0u);
  const auto io = parse_pressure(fixture("x86_64/pressure_io"), "/proc/pressure/io");
  ASSERT_TRUE(io) << io.error().message;
  EXPECT_EQ(io->some.avg10_permille, 5u);    // 0.47 % rounds up
  EXPECT_EQ(io->some.avg60_permille, 1u);    // 0.13 % rounds down
  EXPECT_EQ(io->full->avg300_permille, 3u);  // 0.25 %: half rounds up
  EXPECT_EQ(io->full->total_us, 100435286u);
  EXPECT_EQ(to_json(*io)["full"]["avg300_permille"], 3);
  // Kernels before 5.13 print no "full" line for cpu.
  const auto old = parse_pressure("some avg10=1.00 avg60=0.50 avg300=0.10 total=42\n", "/p");
  ASSERT_TRUE(old);
  EXPECT_FALSE(old->full);
  EXPECT_FALSE(to_json(*old).contains("full"));
}

TEST_F(CollectCpu, BrokenPressureNamesFileAndLine) {
  EXPECT_TRUE(
      Contains(error_of(parse_pressure(fixture("broken/pressure_truncated"), "/proc/pressure/io")),
               "/proc/pressure/io line 2: 'avg60' is not a decimal number: ''"));
  EXPECT_TRUE(Contains(
      error_of(parse_pressure(fixture("broken/pressure_not_number"), "/proc/pressure/memory")),
      "/proc/pressure/memory line 1: 'avg60' is not a decimal number: 'x'"));
  EXPECT_TRUE(Contains(error_of(parse_pressure(fixture("broken/empty"), "/proc/pressure/cpu")),
                       "/proc/pressure/cpu is empty"));
  EXPECT_TRUE(Contains(
      error_of(parse_pressure("some avg10=1.00 avg60=0.50 total=1\n", "/proc/pressure/cpu")),
      "/proc/pressure/cpu line 1: 'avg300' has no number"));
}

TEST_F(CollectCpu, SanityOnThisMachine) {
  if (auto text = read_text("/proc/cpuinfo")) {
    const auto cpu = parse_cpuinfo(*text);
    ASSERT_TRUE(cpu) << cpu.error().message;
    EXPECT_GE(cpu->logical_cpus, 1u);
  }
  if (auto text = read_text("/proc/loadavg")) {
    const auto load = parse_loadavg(*text);
    ASSERT_TRUE(load) << load.error().message;
    EXPECT_GE(load->total, load->running);
  }
  for (const char* path : {"/proc/pressure/cpu", "/proc/pressure/memory", "/proc/pressure/io"}) {
    auto text = read_text(path);
    if (!text) continue;  // no PSI: CONFIG_PSI off or psi=0 on the kernel command line
    const auto psi = parse_pressure(*text, path);
    ASSERT_TRUE(psi) << psi.error().message;
    EXPECT_LE(psi->some.avg10_permille, 1000u);
  }
}

// ---- memory ----

using CollectMemory = CollectTest;

TEST_F(CollectMemory, ParsesMeminfoInBytes) {
  const auto mem = parse_meminfo(fixture("x86_64/meminfo"));
  ASSERT_TRUE(mem) << mem.error().message;
  EXPECT_EQ(mem->total_bytes, 24684092ull * 1024);
  EXPECT_EQ(mem->available_bytes, 22884444ull * 1024);
  EXPECT_EQ(mem->free_bytes, 19437544ull * 1024);
  EXPECT_EQ(mem->buffers_bytes, 21972ull * 1024);
  EXPECT_EQ(mem->cached_bytes, 3592896ull * 1024);
  EXPECT_EQ(mem->swap_total_bytes, 0u);
  EXPECT_EQ(mem->dirty_bytes, 79884ull * 1024);
  EXPECT_EQ(mem->shmem_bytes, 8856ull * 1024);
  EXPECT_EQ(mem->hugepages_total, 0u);
  EXPECT_EQ(mem->hugepage_size_bytes, 2048u * 1024);
  EXPECT_EQ(to_json(*mem)["total_bytes"], 24684092ull * 1024);
}

TEST_F(CollectMemory, ParsesCentos7MeminfoWithoutMemAvailable) {
  const auto mem = parse_meminfo(fixture("centos7/meminfo"));
  ASSERT_TRUE(mem) << mem.error().message;
  EXPECT_FALSE(mem->available_bytes);
  EXPECT_FALSE(to_json(*mem).contains("available_bytes"));
  EXPECT_EQ(mem->hugepages_total, 4u);
  EXPECT_EQ(mem->hugepages_rsvd, 1u);
  EXPECT_EQ(mem->swap_free_bytes, 2097148ull * 1024);
  // Without MemAvailable: free + buffers + cached = 7722904 of 8009180 kB.
  const auto use = memory_usage(*mem);
  ASSERT_TRUE(use);
  EXPECT_EQ(use->available_permille, 964u);
  EXPECT_EQ(use->used_permille, 36u);
}

TEST_F(CollectMemory, UsagePrefersMemAvailable) {
  const auto mem = parse_meminfo(fixture("x86_64/meminfo"));
  ASSERT_TRUE(mem);
  const auto use = memory_usage(*mem);
  ASSERT_TRUE(use);
  EXPECT_EQ(use->available_permille, 927u);  // 22884444 / 24684092 kB
  EXPECT_EQ(use->used_permille, 73u);
  EXPECT_EQ(to_json(*use).dump(), R"({"available_permille":927,"used_permille":73})");
  EXPECT_FALSE(memory_usage(MemInfo{}));
}

TEST_F(CollectMemory, BrokenMeminfoNamesFileAndLine) {
  EXPECT_TRUE(Contains(error_of(parse_meminfo(fixture("broken/meminfo_no_number"))),
                       "/proc/meminfo line 3: 'MemAvailable' has no number"));
  EXPECT_TRUE(Contains(error_of(parse_meminfo(fixture("broken/meminfo_not_number"))),
                       "/proc/meminfo line 2: 'MemFree' is not a whole number in range: 'lots'"));
  EXPECT_TRUE(Contains(error_of(parse_meminfo(fixture("broken/meminfo_truncated"))),
                       "/proc/meminfo line 3: 'MemAvailable' has no unit"));
  EXPECT_TRUE(Contains(error_of(parse_meminfo(fixture("broken/empty"))), "/proc/meminfo is empty"));
  EXPECT_TRUE(
      Contains(error_of(parse_meminfo("MemFree: 1 kB\n")), "/proc/meminfo: no 'MemTotal' line"));
  EXPECT_TRUE(Contains(error_of(parse_meminfo("MemTotal: 1 MB\n")),
                       "line 1: 'MemTotal' has an unexpected unit 'MB'"));
  EXPECT_TRUE(Contains(error_of(parse_meminfo("MemTotal: 99999999999999999999 kB\n")),
                       "line 1: 'MemTotal' is not a whole number in range"));
}

TEST_F(CollectMemory, ParsesVmstat) {
  const auto vm = parse_vmstat(fixture("x86_64/vmstat"));
  ASSERT_TRUE(vm) << vm.error().message;
  EXPECT_EQ(vm->pswpin, 0u);
  EXPECT_EQ(vm->oom_kill, 0u);
  const auto old = parse_vmstat(fixture("centos7/vmstat"));  // 3.10: no oom_kill yet
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->pswpin, 12u);
  EXPECT_EQ(old->pswpout, 345u);
  EXPECT_FALSE(old->oom_kill);
  EXPECT_EQ(to_json(*old).dump(), R"({"pswpin":12,"pswpout":345})");
  EXPECT_TRUE(Contains(error_of(parse_vmstat(fixture("broken/vmstat_truncated"))),
                       "/proc/vmstat line 2: 'pswpout' has no number"));
  EXPECT_TRUE(Contains(error_of(parse_vmstat("oom_kill many\n")),
                       "/proc/vmstat line 1: 'oom_kill' is not a whole number"));
}

TEST_F(CollectMemory, SanityOnThisMachine) {
  if (auto text = read_text("/proc/meminfo")) {
    const auto mem = parse_meminfo(*text);
    ASSERT_TRUE(mem) << mem.error().message;
    EXPECT_GT(mem->total_bytes, 0u);
    EXPECT_TRUE(memory_usage(*mem));
  }
  if (auto text = read_text("/proc/vmstat")) {
    const auto vm = parse_vmstat(*text);
    EXPECT_TRUE(vm) << vm.error().message;
  }
}

// ---- limits ----

using CollectLimits = CollectTest;

TEST_F(CollectLimits, ParsesSystemWideLimits) {
  const auto nr = parse_file_nr(fixture("x86_64/file-nr"));
  ASSERT_TRUE(nr) << nr.error().message;
  EXPECT_EQ(nr->allocated, 865u);
  EXPECT_EQ(nr->max, 2466186u);
  EXPECT_EQ(to_json(*nr).dump(), R"({"allocated":865,"max":2466186})");
  EXPECT_EQ(parse_sys_number(fixture("x86_64/file-max"), "/proc/sys/fs/file-max").value(),
            2466186u);
  EXPECT_EQ(parse_sys_number(fixture("x86_64/pid_max"), "/proc/sys/kernel/pid_max").value(),
            32768u);
  EXPECT_EQ(parse_sys_number(fixture("x86_64/threads-max"), "/proc/sys/kernel/threads-max").value(),
            192730u);
  // file-max is LONG_MAX on many current kernels.
  EXPECT_EQ(parse_sys_number("9223372036854775807\n", "/proc/sys/fs/file-max").value(),
            9223372036854775807u);
}

TEST_F(CollectLimits, BrokenSystemWideLimitsNameFileAndLine) {
  EXPECT_TRUE(Contains(error_of(parse_file_nr(fixture("broken/file-nr_truncated"))),
                       "/proc/sys/fs/file-nr line 1: cannot read '1408\t0'"));
  EXPECT_TRUE(
      Contains(error_of(parse_file_nr(fixture("broken/empty"))), "/proc/sys/fs/file-nr is empty"));
  EXPECT_TRUE(Contains(
      error_of(parse_sys_number(fixture("broken/pid_max_not_number"), "/proc/sys/kernel/pid_max")),
      "/proc/sys/kernel/pid_max line 1: 'pid_max' is not a whole number in "
      "range: '32768x'"));
}

TEST_F(CollectLimits, ParsesProcessLimitsTable) {
  const auto limits = parse_process_limits(fixture("x86_64/limits"), "/proc/self/limits");
  ASSERT_TRUE(limits) << limits.error().message;
  ASSERT_EQ(limits->limits.size(), 16u);
  const ProcessLimit* files = limits->find("open_files");
  ASSERT_NE(files, nullptr);
  EXPECT_EQ(files->name, "Max open files");
  EXPECT_EQ(files->soft, 20000u);
  EXPECT_EQ(files->hard, 20000u);
  EXPECT_EQ(files->unit, "files");
  const ProcessLimit* stack = limits->find("stack_size");
  ASSERT_NE(stack, nullptr);
  EXPECT_EQ(stack->soft, 8388608u);
  EXPECT_FALSE(stack->soft_unlimited);
  EXPECT_TRUE(stack->hard_unlimited);
  EXPECT_EQ(to_json(*stack).dump(),
            R"({"hard_unlimited":true,"key":"stack_size","name":"Max stack size",)"
            R"("soft":8388608,"soft_unlimited":false,"unit":"bytes"})");
  const ProcessLimit* nice = limits->find("nice_priority");  // a row with no unit
  ASSERT_NE(nice, nullptr);
  EXPECT_FALSE(nice->unit);
  EXPECT_EQ(to_json(*limits).size(), 16u);
}

TEST_F(CollectLimits, BrokenProcessLimitsNameFileAndLine) {
  EXPECT_TRUE(Contains(
      error_of(parse_process_limits(fixture("broken/limits_not_number"), "/proc/42/limits")),
      "/proc/42/limits line 3: 'Max open files / Hard Limit' is not a whole "
      "number in range: 'lots'"));
  EXPECT_TRUE(Contains(
      error_of(parse_process_limits(fixture("broken/limits_truncated"), "/proc/42/limits")),
      "/proc/42/limits line 3: cannot read 'Max open files            1024'"));
  EXPECT_TRUE(Contains(error_of(parse_process_limits(fixture("broken/empty"), "/proc/42/limits")),
                       "/proc/42/limits is empty"));
}

TEST_F(CollectLimits, SanityOnThisMachine) {
  if (auto text = read_text("/proc/sys/fs/file-nr")) {
    const auto nr = parse_file_nr(*text);
    ASSERT_TRUE(nr) << nr.error().message;
    EXPECT_GT(nr->max, 0u);
  }
  for (const char* path :
       {"/proc/sys/fs/file-max", "/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"}) {
    if (auto text = read_text(path)) {
      const auto n = parse_sys_number(*text, path);
      EXPECT_TRUE(n) << n.error().message;
    }
  }
  if (auto text = read_text("/proc/self/limits")) {
    const auto limits = parse_process_limits(*text, "/proc/self/limits");
    ASSERT_TRUE(limits) << limits.error().message;
    EXPECT_NE(limits->find("open_files"), nullptr);
  }
}

TEST_F(CollectLimits, MessagesAreTranslated) {
  i18n::set_lang(i18n::Lang::kZhCN);
  EXPECT_TRUE(Contains(error_of(parse_meminfo(fixture("broken/meminfo_no_number"))),
                       "/proc/meminfo 第 3 行：“MemAvailable”没有数值"));
}

}  // namespace
}  // namespace rdiag::agent::collect
