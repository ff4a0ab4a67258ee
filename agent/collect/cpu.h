// The `cpu` collector's pure parsers: /proc/cpuinfo, /proc/loadavg and the
// pressure-stall files /proc/pressure/{cpu,memory,io}. JSON carries integers
// only: load averages in hundredths, percentages in per-mille.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace rdiag::agent::collect {

struct CpuInfo {
  std::uint64_t logical_cpus = 0;    // "processor" stanzas
  std::optional<std::string> model;  // "model name" (x86) or implementer/part (aarch64)
  // x86 only: aarch64 kernels print no topology in cpuinfo (it is in /sys).
  std::optional<std::uint64_t> sockets;         // distinct "physical id" values
  std::optional<std::uint64_t> physical_cores;  // distinct (physical id, core id) pairs
};

// x86 and aarch64 layouts: "key<TAB>: value" lines, one blank-line-separated
// stanza per logical CPU.
Result<CpuInfo> parse_cpuinfo(std::string_view text);
nlohmann::json to_json(const CpuInfo& cpu);

struct LoadAvg {
  // Hundredths, as the kernel prints them: "4.05" is 405. Integers keep the
  // report free of floats, which compare and diff badly.
  std::uint64_t load1_x100 = 0;
  std::uint64_t load5_x100 = 0;
  std::uint64_t load15_x100 = 0;
  std::uint64_t running = 0;  // runnable scheduling entities right now
  std::uint64_t total = 0;    // scheduling entities (threads) that exist
  std::uint64_t last_pid = 0;
};

// /proc/loadavg: "4.05 2.95 2.80 6/114 18071".
Result<LoadAvg> parse_loadavg(std::string_view text);
nlohmann::json to_json(const LoadAvg& load);

struct PsiLine {
  // Share of wall time stalled, in per-mille of the window (the kernel prints
  // percent with two decimals; 97.21 % becomes 972, rounded half up).
  std::uint64_t avg10_permille = 0;
  std::uint64_t avg60_permille = 0;
  std::uint64_t avg300_permille = 0;
  std::uint64_t total_us = 0;  // stalled time since boot, microseconds
};

struct Pressure {
  PsiLine some;                 // at least one task stalled
  std::optional<PsiLine> full;  // all non-idle tasks stalled; cpu gained it in 5.13
};

// /proc/pressure/{cpu,memory,io}: "some avg10=0.47 avg60=0.13 avg300=0.40 total=184507592"
// and an optional "full ..." line. `path` names the file in messages.
Result<Pressure> parse_pressure(std::string_view text, std::string_view path);
nlohmann::json to_json(const Pressure& pressure);

}  // namespace rdiag::agent::collect
