// /proc/stat, the `cpu` collector's source of CPU time: per-CPU jiffies that
// two samples turn into busy shares (as top and mpstat do).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::agent::collect {

struct CpuTimes {
  std::string name;         // "cpu" (all CPUs) or "cpu0", "cpu1", ...
  std::uint64_t busy = 0;   // user + nice + system + irq + softirq + steal
  std::uint64_t total = 0;  // busy + idle + iowait
};

struct ProcStat {
  CpuTimes all;
  std::vector<CpuTimes> cpus;  // online CPUs only: offline ones have no line
  std::optional<std::uint64_t> procs_running;
  std::optional<std::uint64_t> procs_blocked;
};

// "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0" lines (at
// least the four fields of Linux 2.4), then "cpuN ..." and "name value" lines.
Result<ProcStat> parse_proc_stat(std::string_view text);

// Busy share in per-mille of the time between two samples of one CPU; 0
// when no time passed (or the counters went backwards: CPU hot-plug).
std::uint64_t busy_permille(const CpuTimes& before, const CpuTimes& after);

}  // namespace rdiag::agent::collect
