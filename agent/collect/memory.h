// The `memory` collector's pure parsers: /proc/meminfo and /proc/vmstat, and
// the used/available shares that findings ("memory pressure") look at.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "common/result.h"

namespace rdiag::agent::collect {

// Sizes in bytes (meminfo says kB, meaning KiB). Only MemTotal is certain:
// MemAvailable came in 3.14 (RHEL 7 has it backported), the rest vary by
// kernel configuration.
struct MemInfo {
  std::uint64_t total_bytes = 0;
  std::optional<std::uint64_t> available_bytes;
  std::optional<std::uint64_t> free_bytes;
  std::optional<std::uint64_t> buffers_bytes;
  std::optional<std::uint64_t> cached_bytes;
  std::optional<std::uint64_t> swap_total_bytes;
  std::optional<std::uint64_t> swap_free_bytes;
  std::optional<std::uint64_t> dirty_bytes;
  std::optional<std::uint64_t> shmem_bytes;
  std::optional<std::uint64_t> hugepages_total;  // pages, not bytes
  std::optional<std::uint64_t> hugepages_free;
  std::optional<std::uint64_t> hugepages_rsvd;
  std::optional<std::uint64_t> hugepages_surp;
  std::optional<std::uint64_t> hugepage_size_bytes;
};

// "Key:   123 kB" lines; keys this struct does not name are ignored, but every
// line must still have that shape.
Result<MemInfo> parse_meminfo(std::string_view text);
nlohmann::json to_json(const MemInfo& mem);

// Counters since boot, in pages (pswp*) or events (oom_kill, since 4.13).
struct VmStat {
  std::optional<std::uint64_t> pswpin;
  std::optional<std::uint64_t> pswpout;
  std::optional<std::uint64_t> oom_kill;
};

// "name value" lines; names this struct does not hold are ignored.
Result<VmStat> parse_vmstat(std::string_view text);
nlohmann::json to_json(const VmStat& vm);

// Shares of MemTotal in per-mille (integers: no floats in reports).
struct MemoryUsage {
  std::uint64_t used_permille = 0;
  std::uint64_t available_permille = 0;
};

// Available is MemAvailable when the kernel has it, else the pre-3.14
// estimate MemFree + Buffers + Cached. Absent when MemTotal is 0.
std::optional<MemoryUsage> memory_usage(const MemInfo& mem);
nlohmann::json to_json(const MemoryUsage& usage);

}  // namespace rdiag::agent::collect
