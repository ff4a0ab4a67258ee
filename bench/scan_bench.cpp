// scan_bench: how fast the redaction and log-scanning engine reads a big log
// (bench/log_scan.sh compares it with `rg -c` on the same file and rules).
//
//   scan_bench generate --out FILE [--mb 500]
//     Writes an ERP-style log of at least that many megabytes (10^6 bytes):
//     Java/PostgreSQL-like lines, about 1 in 500 carrying a secret or
//     personal data, about 1 in 200 hitting one of the rules. Deterministic.
//
//   scan_bench rules
//     Prints the 20 rule patterns, one a line (for rg -e).
//
//   scan_bench scan --file FILE [--runs 3] [--encoding auto] [--mmap]
//     Scans FILE with those 20 rules while redacting, the best of --runs:
//     read(2) in 4 MiB chunks, or with --mmap the whole file mapped and fed
//     at once (what ripgrep does for a single file). One JSON line: wall and
//     CPU seconds (user + system: the machine may be shared), GB/s by each,
//     lines, matching lines per rule, redactions.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/redact/engine.h"

namespace {

namespace rd = rdiag::redact;
using Clock = std::chrono::steady_clock;

// Typical ERP log trouble: Oracle/PostgreSQL/MySQL errors, JVM trouble,
// pools, locks, HTTP and certificates, and one rule in Chinese.
const std::array<const char*, 20> kRules = {
    R"(ORA-\d{5})",
    "deadlock detected",
    "java.lang.OutOfMemoryError",
    "connection pool exhausted",
    R"(timed out after \d+ ms)",
    "password authentication failed",
    "too many clients already",
    "Lock wait timeout exceeded",
    "Connection refused",
    "NullPointerException",
    "StackOverflowError",
    "No space left on device",
    "GC overhead limit exceeded",
    R"(SQLSTATE\[[0-9A-Z]{5}\])",
    R"(HTTP/1\.1" 5\d\d)",
    R"(slow query: \d{4,} ms)",
    "session expired for user",
    "certificate has expired",
    "failed to acquire lock on",
    "数据库连接失败",
};

const std::array<const char*, 8> kPlain = {
    "INFO  [http-nio-8080-exec-12] c.erp.order.OrderService - order {} saved in 12 ms",
    "DEBUG [pool-3-thread-7] c.erp.inv.StockDao - select qty from stock where sku = 'A{}'",
    "INFO  [scheduler-1] c.erp.fin.LedgerJob - posted {} journal lines to period 2024-05",
    "WARN  [http-nio-8080-exec-3] c.erp.web.Filter - slow request GET /api/items?page={}",
    "INFO  [main] c.erp.core.Cache - cache hit ratio 0.97 after {} lookups",
    "DEBUG [pool-1-thread-2] o.h.SQL - update orders set status = 'SHIPPED' where id = {}",
    "INFO  [http-nio-8080-exec-9] 10.1.2.3 \"GET /static/app.js HTTP/1.1\" 200 {}",
    "INFO  [mq-consumer-4] c.erp.mq.Listener - message {} acknowledged",
};

const std::array<const char*, 6> kSecret = {
    "INFO  [main] c.erp.core.Config - db.password=S3cret{} loaded",
    "INFO  [http-nio-8080-exec-1] c.erp.crm.Customer - mobile 13812345678 id {}",
    "DEBUG [http-nio-8080-exec-2] c.erp.sec.Auth - Authorization: Bearer tok{}abcdefghij",
    "INFO  [main] c.erp.core.Config - url=jdbc:mysql://db/erp?user=erp&password=pw{}",
    "INFO  [crm-1] c.erp.crm.Customer - 身份证 11010519491231002X order {}",
    "INFO  [pay-1] c.erp.pay.Card - card 4111 1111 1111 1111 txn {}",
};

const std::array<const char*, 6> kHit = {
    "ERROR [pool-2-thread-1] c.erp.db.Pool - connection pool exhausted (max 50) req {}",
    "ERROR [http-nio-8080-exec-5] c.erp.db.Dao - ORA-00060: deadlock detected while {}",
    "ERROR [main] c.erp.db.Pg - FATAL: password authentication failed for user \"erp\" {}",
    "WARN  [pool-1-thread-9] c.erp.db.Dao - slow query: 15230 ms sql #{}",
    "ERROR [rpc-2] c.erp.rpc.Client - call to inventory timed out after 3000 ms #{}",
    "ERROR [batch-1] c.erp.batch.Job - 数据库连接失败：连接超时 {}",
};

std::string fill(const char* tmpl, unsigned long n) {
  std::string s(tmpl);
  const auto at = s.find("{}");
  if (at != std::string::npos) s.replace(at, 2, std::to_string(n));
  return s;
}

int generate(const std::string& out, long mb) {
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  const auto target = static_cast<unsigned long long>(mb) * 1000000ULL;
  unsigned long long written = 0;
  unsigned long x = 2463534242UL;  // xorshift: the same file on every machine
  char ts[64];
  for (unsigned long i = 0; written < target; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    const unsigned long r = x % 1000;
    const char* tmpl = r < 2   ? kSecret[x % kSecret.size()]
                       : r < 7 ? kHit[x % kHit.size()]
                               : kPlain[x % kPlain.size()];
    (void)std::snprintf(ts, sizeof ts, "2024-05-01 %02lu:%02lu:%02lu,%03lu ", (i / 3600000) % 24,
                        (i / 60000) % 60, (i / 1000) % 60, i % 1000);
    const std::string line = std::string(ts) + fill(tmpl, i) + "\n";
    f << line;
    written += line.size();
  }
  return f ? 0 : 1;
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const auto sec = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// Feeds the file to scan; returns the bytes fed.
unsigned long long feed_file(int fd, bool map, rd::Engine::Scan& scan) {
  unsigned long long bytes = 0;
  if (map) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size == 0) return 0;
    const auto size = static_cast<std::size_t>(st.st_size);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return 0;
    scan.feed(std::string_view(static_cast<const char*>(p), size));
    ::munmap(p, size);
    return size;
  }
  std::vector<char> buf(std::size_t{4} << 20);
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) {
    scan.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    bytes += static_cast<unsigned long long>(n);
  }
  return bytes;
}

nlohmann::json scan_once(const rd::Engine& engine, const std::string& file, rd::Encoding enc,
                         bool map, double* seconds, double* cpu) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  const auto t0 = Clock::now();
  const double c0 = cpu_seconds();
  auto scan = engine.start(enc);
  const unsigned long long bytes = feed_file(fd, map, scan);
  const rd::ScanResult r = scan.finish();
  *seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  *cpu = cpu_seconds() - c0;
  ::close(fd);
  nlohmann::json rules = nlohmann::json::object();
  for (const auto& s : r.rules) rules[s.id] = s.count;
  return {{"bytes", bytes},
          {"lines", r.lines},
          {"rules", rules},
          {"redactions", r.redactions.counts},
          {"failed_closed", r.redactions.lines_failed_closed}};
}

int scan(const std::string& file, int runs, const std::string& encoding, bool map) {
  std::vector<rd::ScanRule> rules;
  for (std::size_t i = 0; i < kRules.size(); ++i) {
    rules.push_back(rd::ScanRule{"r" + std::to_string(i + 1), kRules[i]});
  }
  auto engine = rd::Engine::build(rules, {});
  auto enc = rd::parse_encoding(encoding);
  if (!engine || !enc) {
    (void)std::fprintf(stderr, "scan_bench: %s\n",
                       (!engine ? engine.error() : enc.error()).message.c_str());
    return 1;
  }
  double best = 1e30;
  double best_cpu = 1e30;
  nlohmann::json out;
  for (int i = 0; i < runs; ++i) {
    double s = 0;
    double c = 0;
    out = scan_once(*engine, file, *enc, map, &s, &c);
    if (out.is_null()) return 1;
    best = std::min(best, s);
    best_cpu = std::min(best_cpu, c);
  }
  const double gb = out["bytes"].get<double>() / 1e9;
  out["mode"] = map ? "mmap" : "read";
  out["seconds"] = best;
  out["cpu_seconds"] = best_cpu;
  out["gb_per_s"] = gb / best;
  out["gb_per_cpu_s"] = gb / best_cpu;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == name) return argv[i + 1];
  }
  return fallback;
}

bool has_flag(int argc, char** argv, const std::string& name) {
  for (int i = 2; i < argc; ++i) {
    if (argv[i] == name) return true;
  }
  return false;
}

int run(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "generate") {
    return generate(arg(argc, argv, "--out", ""),
                    std::strtol(arg(argc, argv, "--mb", "500").c_str(), nullptr, 10));
  }
  if (mode == "rules") {
    for (const char* r : kRules) std::printf("%s\n", r);
    return 0;
  }
  if (mode == "scan") {
    const long runs = std::strtol(arg(argc, argv, "--runs", "3").c_str(), nullptr, 10);
    return scan(arg(argc, argv, "--file", ""), static_cast<int>(std::clamp(runs, 1L, 100L)),
                arg(argc, argv, "--encoding", "auto"), has_flag(argc, argv, "--mmap"));
  }
  (void)std::fprintf(stderr,
                     "usage: scan_bench generate --out FILE [--mb 500] | rules |"
                     " scan --file FILE [--runs 3] [--encoding auto] [--mmap]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // nlohmann::json or std::bad_alloc
    (void)std::fprintf(stderr, "scan_bench: %s\n", e.what());
    return 1;
  }
}
