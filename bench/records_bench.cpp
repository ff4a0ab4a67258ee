// records_bench: what service records cost (bench/run.sh records; results in
// docs/PERFORMANCE.md, "Service records").
//
//   records_bench append --dir DIR [--events 5000]
//     Appends events of about 300 bytes through records::Journal, each one
//     written and fdatasync'ed before the next (what the agent does before it
//     acknowledges an action), into DIR/events.jsonl. DIR should be on the
//     state directory's filesystem. One JSON line: rate, latency percentiles,
//     filesystem type.
//
//   records_bench fixture --out FILE [--mb 150]
//     Writes a valid chain of at least that many megabytes (10^6 bytes) with
//     make_next_event and plain buffered writes (no fsync: this is a fixture,
//     not a measurement of durability). One JSON line with the genesis and the
//     last hash, which `verify` and chain.py must reach.
//
//   records_bench verify --file FILE --genesis HEX [--last-hash HEX] [--runs 3]
//     Reads FILE into memory, then times verify_chain over it (the best of
//     --runs, wall and CPU time) and OpenSSL SHA-256 over the same bytes for
//     comparison. One JSON line.
#include <sys/statfs.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/digest.h"
#include "common/records/chain.h"
#include "common/records/journal.h"

namespace {

namespace rec = rdiag::records;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr double kMega = 1e6;

struct Options {
  std::string mode;
  std::string dir;
  std::string out;
  std::string file;
  std::string genesis;
  std::string last_hash;
  long events = 5000;
  long mb = 150;
  long runs = 3;
};

[[noreturn]] void die(const std::string& what) {
  (void)std::fprintf(stderr, "records_bench: %s\n", what.c_str());
  std::exit(2);
}

long to_long(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const long n = std::strtol(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || n <= 0) die(flag + " needs a positive number");
  return n;
}

Options parse_args(int argc, char** argv) {
  Options o;
  if (argc < 2) die("usage: records_bench append|fixture|verify ... (see the source)");
  o.mode = argv[1];
  for (int i = 2; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) die(flag + " needs a value");
    const std::string value = argv[i + 1];
    if (flag == "--dir") {
      o.dir = value;
    } else if (flag == "--out") {
      o.out = value;
    } else if (flag == "--file") {
      o.file = value;
    } else if (flag == "--genesis") {
      o.genesis = value;
    } else if (flag == "--last-hash") {
      o.last_hash = value;
    } else if (flag == "--events") {
      o.events = to_long(flag, value);
    } else if (flag == "--mb") {
      o.mb = to_long(flag, value);
    } else if (flag == "--runs") {
      o.runs = to_long(flag, value);
    } else {
      die("unknown option " + flag);
    }
  }
  return o;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU time of this process: on a shared machine the steadier figure, since
// wall time also counts the time spent waiting for a core.
double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// A session's everyday events, about 300 bytes a line once chained (the
// header alone, with two hashes and an engineer actor, is about 290): commands,
// log scans, file reads and notes (CJK text as the engineers write it).
constexpr const char* kActor = "engineer:SHA256:2Vq0mX3mYh0m7sUo7oN4L7Kc9qZbqGdxT1Zb0bD6e1Q";

std::pair<const char*, json> realistic_event(std::int64_t i) {
  switch (i % 4) {
    case 0:
      return {"exec", {{"command", "df -h /var/lib/erp"}, {"exit_code", 0}}};
    case 1:
      return {"logs.scan", {{"since", "2h"}, {"matches", i % 50}}};
    case 2:
      return {"file.read", {{"file", "bundle-3.tar.gz"}, {"offset", i * 65536}}};
    default:
      return {"note", {{"text", "连接池耗尽, 重启前先备份配置"}}};
  }
}

std::string now_ts() {
  return rec::format_ts(std::chrono::system_clock::now());
}

// statfs magic numbers of the filesystems a state dir is likely to be on
// (ext2, ext3 and ext4 share one).
constexpr std::array<std::pair<unsigned long, const char*>, 8> kFilesystems = {{
    {0xEF53UL, "ext2/3/4"},
    {0x58465342UL, "xfs"},
    {0x9123683EUL, "btrfs"},
    {0x01021994UL, "tmpfs"},
    {0x794C7630UL, "overlayfs"},
    {0x2FC12FC1UL, "zfs"},
    {0x6969UL, "nfs"},
    {0xF2F52010UL, "f2fs"},
}};

std::string filesystem_of(const std::string& dir) {
  struct statfs st {};
  if (::statfs(dir.c_str(), &st) != 0) return "unknown";
  const auto magic = static_cast<unsigned long>(st.f_type);
  for (const auto& [number, name] : kFilesystems) {
    if (number == magic) return name;
  }
  std::array<char, 32> hex{};
  (void)std::snprintf(hex.data(), hex.size(), "0x%lx", magic);
  return hex.data();
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto at = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[at];
}

int run_append(const Options& o) {
  if (o.dir.empty()) die("append needs --dir");
  const std::string path = o.dir + "/events.jsonl";
  auto journal = rec::Journal::open(path, std::string(64, '0'), nullptr);
  if (!journal) die(path + ": " + journal.error().message);
  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(o.events));
  std::uint64_t bytes = 0;
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < o.events; ++i) {
    auto [type, data] = realistic_event(i);
    const auto t = Clock::now();
    auto e = journal->append(type, kActor, std::move(data), now_ts());
    ms.push_back(seconds_since(t) * 1000.0);
    if (!e) die("append: " + e.error().message);
    bytes += rec::event_line(*e).size() + 1;
  }
  const double total = seconds_since(t0);
  const json out = {{"mode", "append"},
                    {"events", o.events},
                    {"seconds", total},
                    {"per_s", static_cast<double>(o.events) / total},
                    {"p50_ms", percentile(ms, 0.50)},
                    {"p99_ms", percentile(ms, 0.99)},
                    {"max_ms", percentile(ms, 1.0)},
                    {"line_bytes", static_cast<double>(bytes) / static_cast<double>(o.events)},
                    {"fs", filesystem_of(o.dir)}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int run_fixture(const Options& o) {
  if (o.out.empty()) die("fixture needs --out");
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(o.out.c_str(), "wbe"),
                                                          &std::fclose);
  if (!f) die("cannot write " + o.out);
  const std::string genesis = rdiag::sha256_hex("records_bench genesis");
  const auto target = static_cast<std::uint64_t>(o.mb) * 1000000U;
  const std::string ts = now_ts();
  rec::Event prev;
  std::uint64_t bytes = 0;
  std::int64_t lines = 0;
  const auto t0 = Clock::now();
  while (bytes < target) {
    auto [type, data] = realistic_event(lines);
    auto e = rec::make_next_event(lines == 0 ? nullptr : &prev, genesis, type, kActor,
                                  std::move(data), ts);
    if (!e) die("make_next_event: " + e.error().message);
    std::string line = rec::event_line(*e);
    line += '\n';
    if (std::fwrite(line.data(), 1, line.size(), f.get()) != line.size()) die("write failed");
    bytes += line.size();
    ++lines;
    prev = std::move(*e);
  }
  const double total = seconds_since(t0);
  const json out = {{"mode", "fixture"},
                    {"lines", lines},
                    {"bytes", bytes},
                    {"seconds", total},
                    {"per_s", static_cast<double>(lines) / total},
                    {"genesis", genesis},
                    {"last_hash", prev.hash}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int run_verify(const Options& o) {
  if (o.file.empty() || o.genesis.empty()) die("verify needs --file and --genesis");
  std::ifstream in(o.file, std::ios::binary);
  if (!in) die("cannot read " + o.file);
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = std::move(ss).str();
  const double mb = static_cast<double>(text.size()) / kMega;
  double best = 1e300;
  double best_cpu = 1e300;
  rec::ChainCheck check;
  for (long r = 0; r < o.runs; ++r) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    check = rec::verify_chain(text, o.genesis);
    best_cpu = std::min(best_cpu, cpu_seconds() - c0);
    best = std::min(best, seconds_since(t0));
    if (!check.ok) die("the fixture does not verify: " + check.message);
    if (!o.last_hash.empty() && check.last_hash != o.last_hash) die("verify ended elsewhere");
  }
  double hash_best = 1e300;
  for (long r = 0; r < o.runs; ++r) {
    const auto t0 = Clock::now();
    const std::string digest = rdiag::sha256_hex(text);
    hash_best = std::min(hash_best, seconds_since(t0));
    if (digest.empty()) die("sha256 failed");
  }
  const json out = {{"mode", "verify"},
                    {"bytes", text.size()},
                    {"lines", check.last_seq},
                    {"seconds", best},
                    {"cpu_seconds", best_cpu},
                    {"mb_s", mb / best},
                    {"mb_s_cpu", mb / best_cpu},
                    {"lines_per_s", static_cast<double>(check.last_seq) / best},
                    {"sha256_mb_s", mb / hash_best},
                    {"last_hash", check.last_hash}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse_args(argc, argv);
    if (o.mode == "append") return run_append(o);
    if (o.mode == "fixture") return run_fixture(o);
    if (o.mode == "verify") return run_verify(o);
    die("unknown mode " + o.mode);
  } catch (const std::exception& e) {
    die(e.what());
  }
}
