// The built-in checks: what a support engineer looks for first in the
// collectors' parts, turned into findings (DESIGN.md "Diagnostics").
// Thresholds are the usual alerting ones (node_exporter's mixin, sos).
#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/collect/collector.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using i18n::tr;
using nlohmann::json;

constexpr std::uint64_t kFullPermille = 900;       // disk, inodes, fds, pids, threads
constexpr std::uint64_t kCriticalPermille = 980;   // a full disk is minutes away
constexpr std::uint64_t kLowMemoryPermille = 100;  // MemAvailable below 10 %
constexpr std::uint64_t kPsiMemoryPermille = 100;  // stalled > 10 % of the last minute
constexpr std::uint64_t kPsiSwapPermille = 10;     // all tasks stalled > 1 %
// Swapping a few pages a second is housekeeping; more than this is paging.
constexpr std::uint64_t kSwapPagesPerS = 10;

constexpr std::array<std::string_view, 4> kSeverities = {"info", "warning", "error", "critical"};

int rank(std::string_view severity) {
  for (std::size_t i = 0; i < kSeverities.size(); ++i) {
    if (kSeverities[i] == severity) return static_cast<int>(i);
  }
  return 0;
}

// A part's data when the part is there and ok.
const json* data_of(const json& parts, std::string_view name) {
  if (!parts.is_array()) return nullptr;
  for (const json& p : parts) {
    if (p.is_object() && p.value("name", "") == name && p.value("ok", false) &&
        p.contains("data") && p["data"].is_object()) {
      return &p["data"];
    }
  }
  return nullptr;
}

// The unsigned number at a JSON pointer such as "/usage/available_permille".
std::optional<std::uint64_t> num(const json& j, const char* pointer) {
  const json::json_pointer ptr(pointer);
  if (!j.contains(ptr) || !j[ptr].is_number_unsigned()) return std::nullopt;
  return j[ptr].get<std::uint64_t>();
}

std::string bytes_text(std::uint64_t b) {
  constexpr std::array<std::string_view, 6> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(b);
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < kUnits.size()) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, kUnits[u]);
}

std::string percent(std::uint64_t permille) {
  return fmt::format("{}.{}", permille / 10, permille % 10);
}

// Title, cause and remedy come from "agent.finding.<key>.*" in the catalog.
json finding(std::string_view severity, std::string_view id, std::string_view key,
             std::vector<std::string> evidence) {
  const std::string base = "agent.finding." + std::string(key);
  return {{"severity", severity},         {"id", id},
          {"title", tr(base + ".title")}, {"evidence", std::move(evidence)},
          {"cause", tr(base + ".cause")}, {"remedy", tr(base + ".remedy")},
          {"source", "builtin"}};
}

// Space or inodes over kFullPermille on any file system.
void check_disk(const json& parts, json& out, bool inodes) {
  const json* disk = data_of(parts, "disk");
  if (disk == nullptr || !disk->contains("filesystems")) return;
  std::vector<std::string> evidence;
  std::string_view severity = "warning";
  for (const json& fs : (*disk)["filesystems"]) {
    const auto pm = num(fs, inodes ? "/inodes_used_permille" : "/used_permille");
    if (!pm || *pm <= kFullPermille) continue;
    if (*pm > kCriticalPermille) severity = "critical";
    const std::string mp = fs.value("mount_point", "?");
    evidence.push_back(inodes ? tr("agent.finding.inodes_full.evidence", mp, percent(*pm),
                                   num(fs, "/inodes_free").value_or(0),
                                   num(fs, "/inodes_total").value_or(0))
                              : tr("agent.finding.disk_full.evidence", mp, percent(*pm),
                                   bytes_text(num(fs, "/bytes_avail").value_or(0)),
                                   bytes_text(num(fs, "/bytes_total").value_or(0))));
  }
  if (evidence.empty()) return;
  out.push_back(inodes ? finding(severity, "inodes-full", "inodes_full", std::move(evidence))
                       : finding(severity, "disk-full", "disk_full", std::move(evidence)));
}

void check_memory(const json& parts, json& out) {
  const json* mem = data_of(parts, "memory");
  if (mem == nullptr) return;
  std::vector<std::string> evidence;
  const auto avail = num(*mem, "/usage/available_permille");
  if (avail && *avail < kLowMemoryPermille) {
    evidence.push_back(tr("agent.finding.memory_pressure.available", percent(*avail),
                          bytes_text(num(*mem, "/meminfo/available_bytes").value_or(0)),
                          bytes_text(num(*mem, "/meminfo/total_bytes").value_or(0))));
  }
  const auto psi = num(*mem, "/pressure/some/avg60_permille");
  if (psi && *psi > kPsiMemoryPermille) {
    evidence.push_back(tr("agent.finding.memory_pressure.psi", percent(*psi)));
  }
  if (!evidence.empty())
    out.push_back(finding("warning", "memory-pressure", "memory_pressure", std::move(evidence)));
}

void check_swap(const json& parts, json& out) {
  const json* mem = data_of(parts, "memory");
  if (mem == nullptr || num(*mem, "/swap/used_bytes").value_or(0) == 0) return;
  const std::uint64_t in = num(*mem, "/swap/pswpin_per_s").value_or(0);
  const std::uint64_t outp = num(*mem, "/swap/pswpout_per_s").value_or(0);
  const std::uint64_t full = num(*mem, "/pressure/full/avg60_permille").value_or(0);
  if (in + outp < kSwapPagesPerS && full <= kPsiSwapPermille) return;
  std::vector<std::string> evidence = {tr("agent.finding.swapping.rate", in, outp,
                                          bytes_text(num(*mem, "/swap/used_bytes").value_or(0)))};
  if (full > kPsiSwapPermille) evidence.push_back(tr("agent.finding.swapping.psi", percent(full)));
  out.push_back(finding("warning", "swapping", "swapping", std::move(evidence)));
}

void check_load(const json& parts, json& out) {
  const json* cpu = data_of(parts, "cpu");
  if (cpu == nullptr) return;
  const auto load = num(*cpu, "/loadavg/load1_x100");
  const auto cpus = num(*cpu, "/cpuinfo/logical_cpus");
  if (!load || !cpus || *cpus == 0 || *load <= 2 * 100 * *cpus) return;
  const std::string_view severity = *load > 4 * 100 * *cpus ? "error" : "warning";
  out.push_back(finding(severity, "high-load", "high_load",
                        {tr("agent.finding.high_load.evidence",
                            fmt::format("{}.{:02}", *load / 100, *load % 100), *cpus)}));
}

void check_clock(const json& parts, json& out) {
  const json* time = data_of(parts, "time");
  if (time == nullptr || !time->contains("sync")) return;
  const json& sync = (*time)["sync"];
  if (sync.value("synchronised", true)) return;
  const std::int64_t maxerror = sync.value("maxerror_us", std::int64_t{0});
  out.push_back(finding("warning", "clock-unsynchronised", "clock_unsynchronised",
                        {tr("agent.finding.clock_unsynchronised.evidence", maxerror / 1000,
                            fmt::format("0x{:x}", sync.value("status", std::uint64_t{0})))}));
}

void check_units(const json& parts, json& out) {
  const json* services = data_of(parts, "services");
  if (services == nullptr || !services->contains("failed") || (*services)["failed"].empty()) return;
  std::vector<std::string> evidence;
  for (const json& u : (*services)["failed"]) {
    evidence.push_back(tr("agent.finding.failed_units.evidence", u.value("name", "?"),
                          u.value("description", ""), u.value("sub_state", "")));
  }
  out.push_back(finding("error", "failed-units", "failed_units", std::move(evidence)));
}

// allocated > 90 % of max, for file handles, pids and threads.
void check_limit(const json& parts, json& out, const char* used_ptr, const char* max_ptr,
                 std::string_view id, std::string_view key) {
  const json* limits = data_of(parts, "limits");
  if (limits == nullptr) return;
  const auto used = num(*limits, used_ptr);
  const auto max = num(*limits, max_ptr);
  if (!used || !max || *max == 0 || *used * 1000 <= *max * kFullPermille) return;
  const std::string base = "agent.finding." + std::string(key);
  out.push_back(finding("warning", id, key, {tr(base + ".evidence", *used, *max)}));
}

}  // namespace

json builtin_findings(const json& parts) {
  json out = json::array();
  check_disk(parts, out, false);
  check_disk(parts, out, true);
  check_memory(parts, out);
  check_swap(parts, out);
  check_load(parts, out);
  check_clock(parts, out);
  check_units(parts, out);
  check_limit(parts, out, "/file_nr/allocated", "/file_nr/max", "file-descriptors",
              "file_descriptors");
  check_limit(parts, out, "/pids/used", "/pids/max", "pids-near-limit", "pids_near_limit");
  check_limit(parts, out, "/threads/used", "/threads/max", "threads-near-limit",
              "threads_near_limit");
  // Worst first, so a report opens with what matters.
  std::stable_sort(out.begin(), out.end(), [](const json& a, const json& b) {
    return rank(a["severity"].get<std::string>()) > rank(b["severity"].get<std::string>());
  });
  return out;
}

}  // namespace rdiag::agent::collect
