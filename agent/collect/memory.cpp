#include "agent/collect/memory.h"

#include <algorithm>
#include <charconv>

#include "agent/collect/collector.h"
#include "agent/collect/cpu.h"
#include "agent/collect/read.h"
#include "agent/collect/text.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using i18n::tr;

constexpr std::string_view kMeminfo = "/proc/meminfo";
constexpr std::string_view kVmstat = "/proc/vmstat";

struct MemField {
  std::string_view key;
  std::optional<std::uint64_t> MemInfo::*slot;  // nullptr: MemTotal, which is not optional
  bool kib;                                     // "kB" on the line, stored as bytes
};
constexpr MemField kMemFields[] = {
    {"MemTotal", nullptr, true},
    {"MemAvailable", &MemInfo::available_bytes, true},
    {"MemFree", &MemInfo::free_bytes, true},
    {"Buffers", &MemInfo::buffers_bytes, true},
    {"Cached", &MemInfo::cached_bytes, true},
    {"SwapTotal", &MemInfo::swap_total_bytes, true},
    {"SwapFree", &MemInfo::swap_free_bytes, true},
    {"Dirty", &MemInfo::dirty_bytes, true},
    {"Shmem", &MemInfo::shmem_bytes, true},
    {"HugePages_Total", &MemInfo::hugepages_total, false},
    {"HugePages_Free", &MemInfo::hugepages_free, false},
    {"HugePages_Rsvd", &MemInfo::hugepages_rsvd, false},
    {"HugePages_Surp", &MemInfo::hugepages_surp, false},
    {"Hugepagesize", &MemInfo::hugepage_size_bytes, true},
};

// The value of one known meminfo line, in bytes when it is in kB.
Result<std::uint64_t> meminfo_value(const MemField& field, std::string_view value, int line_no) {
  const auto space = value.find_first_of(" \t");
  const std::string_view number = value.substr(0, space);
  const std::string_view unit = space == std::string_view::npos ? "" : trim(value.substr(space));
  const auto n = to_u64(number);
  if (!n || (field.kib && *n > UINT64_MAX / 1024)) {
    return make_error(tr("agent.collect.bad_number", kMeminfo, line_no, field.key, number),
                      "malformed");
  }
  if (field.kib && unit.empty()) {
    return make_error(tr("agent.collect.no_unit", kMeminfo, line_no, field.key), "malformed");
  }
  if (field.kib != (unit == "kB") || (!field.kib && !unit.empty())) {
    return make_error(tr("agent.collect.bad_unit", kMeminfo, line_no, field.key, unit),
                      "malformed");
  }
  return field.kib ? *n * 1024 : *n;
}

}  // namespace

Result<MemInfo> parse_meminfo(std::string_view text) {
  MemInfo mem;
  std::optional<std::uint64_t> total;
  auto lines = for_each_colon_line(
      text, kMeminfo, "Key: N kB",
      [&](int line_no, std::string_view key, std::string_view value) -> Result<void> {
        if (value.empty()) {
          return make_error(tr("agent.collect.no_number", kMeminfo, line_no, key), "malformed");
        }
        for (const MemField& field : kMemFields) {
          if (field.key != key) continue;
          auto v = meminfo_value(field, value, line_no);
          if (!v) return v.error();
          (field.slot == nullptr ? total : mem.*field.slot) = *v;
        }
        return {};
      });
  if (!lines) return lines.error();
  if (!total) {
    const char* id = trim(text).empty() ? "agent.collect.empty" : "agent.collect.missing";
    return make_error(tr(id, kMeminfo, "MemTotal"), "malformed");
  }
  mem.total_bytes = *total;
  return mem;
}

nlohmann::json to_json(const MemInfo& mem) {
  nlohmann::json j = {{"total_bytes", mem.total_bytes}};
  const std::pair<const char*, const std::optional<std::uint64_t>*> fields[] = {
      {"available_bytes", &mem.available_bytes},
      {"free_bytes", &mem.free_bytes},
      {"buffers_bytes", &mem.buffers_bytes},
      {"cached_bytes", &mem.cached_bytes},
      {"swap_total_bytes", &mem.swap_total_bytes},
      {"swap_free_bytes", &mem.swap_free_bytes},
      {"dirty_bytes", &mem.dirty_bytes},
      {"shmem_bytes", &mem.shmem_bytes},
      {"hugepages_total", &mem.hugepages_total},
      {"hugepages_free", &mem.hugepages_free},
      {"hugepages_rsvd", &mem.hugepages_rsvd},
      {"hugepages_surp", &mem.hugepages_surp},
      {"hugepage_size_bytes", &mem.hugepage_size_bytes},
  };
  for (const auto& [name, value] : fields) {
    if (*value) j[name] = **value;
  }
  return j;
}

Result<VmStat> parse_vmstat(std::string_view text) {
  if (trim(text).empty()) return make_error(tr("agent.collect.empty", kVmstat), "malformed");
  VmStat vm;
  const std::pair<std::string_view, std::optional<std::uint64_t> VmStat::*> known[] = {
      {"pswpin", &VmStat::pswpin}, {"pswpout", &VmStat::pswpout}, {"oom_kill", &VmStat::oom_kill}};
  std::string_view rest = text;
  std::string_view raw;
  for (int line_no = 1; next_line(rest, raw); ++line_no) {
    const std::string_view line = trim(raw);
    if (line.empty()) continue;
    const auto space = line.find_first_of(" \t");
    const std::string_view name = line.substr(0, space);
    const std::string_view value = space == std::string_view::npos ? "" : trim(line.substr(space));
    if (value.empty()) {
      return make_error(tr("agent.collect.no_number", kVmstat, line_no, name), "malformed");
    }
    for (const auto& [key, slot] : known) {
      if (key != name) continue;
      const auto n = to_u64(value);
      if (!n) {
        return make_error(tr("agent.collect.bad_number", kVmstat, line_no, name, value),
                          "malformed");
      }
      vm.*slot = *n;
    }
  }
  return vm;
}

nlohmann::json to_json(const VmStat& vm) {
  nlohmann::json j = nlohmann::json::object();
  if (vm.pswpin) j["pswpin"] = *vm.pswpin;
  if (vm.pswpout) j["pswpout"] = *vm.pswpout;
  if (vm.oom_kill) j["oom_kill"] = *vm.oom_kill;
  return j;
}

std::optional<MemoryUsage> memory_usage(const MemInfo& mem) {
  std::uint64_t total = mem.total_bytes;
  if (total == 0) return {};
  std::uint64_t available = 0;
  if (mem.available_bytes) {
    available = *mem.available_bytes;
  } else if (mem.free_bytes) {
    available = *mem.free_bytes + mem.buffers_bytes.value_or(0) + mem.cached_bytes.value_or(0);
  } else {
    return {};
  }
  available = std::min(available, total);
  // Scale down until x1000 cannot overflow; only exabyte totals get here.
  while (total > UINT64_MAX / 1000) {
    total >>= 10;
    available >>= 10;
  }
  const std::uint64_t avail_pm = (available * 1000 + total / 2) / total;
  return MemoryUsage{1000 - avail_pm, avail_pm};
}

nlohmann::json to_json(const MemoryUsage& usage) {
  return {{"used_permille", usage.used_permille}, {"available_permille", usage.available_permille}};
}

// ---- the collector: meminfo, two vmstat samples (swap rates), PSI ----

namespace {

std::any memory_begin(const CollectContext&) {
  auto text = read_text(std::string(kVmstat));
  if (!text) return Result<VmStat>(text.error());
  return parse_vmstat(*text);
}

// Pages per second between two counter readings, rounded to nearest.
std::uint64_t per_second(std::optional<std::uint64_t> a, std::optional<std::uint64_t> b,
                         std::chrono::milliseconds waited) {
  if (!a || !b || *b < *a || waited.count() <= 0) return 0;
  const auto ms = static_cast<std::uint64_t>(waited.count());
  return ((*b - *a) * 1000 + ms / 2) / ms;
}

nlohmann::json swap_json(const MemInfo& mem, const VmStat& a, const VmStat& b,
                         std::chrono::milliseconds waited) {
  const std::uint64_t total = mem.swap_total_bytes.value_or(0);
  const std::uint64_t free = std::min(mem.swap_free_bytes.value_or(total), total);
  return {{"total_bytes", total},
          {"used_bytes", total - free},
          {"pswpin_per_s", per_second(a.pswpin, b.pswpin, waited)},
          {"pswpout_per_s", per_second(a.pswpout, b.pswpout, waited)},
          {"sample_ms", waited.count()}};
}

Result<nlohmann::json> memory_finish(const CollectContext&, const std::any& first,
                                     std::chrono::milliseconds waited) {
  const auto* before = std::any_cast<Result<VmStat>>(&first);
  if (before == nullptr)
    return make_error(tr("agent.collect.no_first_sample", "memory"), "internal");
  if (!*before) return before->error();
  auto vm_text = read_text(std::string(kVmstat));
  if (!vm_text) return vm_text.error();
  auto after = parse_vmstat(*vm_text);
  if (!after) return after.error();
  auto mem_text = read_text(std::string(kMeminfo));
  if (!mem_text) return mem_text.error();
  auto mem = parse_meminfo(*mem_text);
  if (!mem) return mem.error();
  nlohmann::json data = {{"meminfo", to_json(*mem)},
                         {"vmstat", to_json(*after)},
                         {"swap", swap_json(*mem, before->value(), *after, waited)}};
  if (const auto usage = memory_usage(*mem)) data["usage"] = to_json(*usage);
  // PSI is absent before 4.20 and when the kernel boots with psi=0.
  if (auto psi_text = read_text("/proc/pressure/memory")) {
    auto psi = parse_pressure(*psi_text, "/proc/pressure/memory");
    if (psi) data["pressure"] = to_json(*psi);
  }
  return data;
}

Result<nlohmann::json> memory_collect(const CollectContext& ctx) {
  return collect_two_samples(ctx, memory_begin, memory_finish);
}

}  // namespace

const Collector& memory_collector() {
  static const Collector c{"memory", "agent.collect.summary.memory", memory_collect, memory_begin,
                           memory_finish};
  return c;
}

}  // namespace rdiag::agent::collect
