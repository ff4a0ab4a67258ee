#include "agent/collect/cpu.h"

#include <charconv>
#include <set>
#include <utility>
#include <vector>

#include "agent/collect/collector.h"
#include "agent/collect/proc_stat.h"
#include "agent/collect/read.h"
#include "agent/collect/text.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using i18n::tr;

constexpr std::string_view kCpuinfo = "/proc/cpuinfo";
constexpr std::string_view kLoadavg = "/proc/loadavg";

// "4.05" -> 405 without floating point. The kernel prints exactly two
// decimals; fewer are padded and more are cut, all digits are checked.
std::optional<std::uint64_t> hundredths(std::string_view s) {
  const auto dot = s.find('.');
  const auto whole = to_u64(s.substr(0, dot));
  if (!whole || *whole > UINT64_MAX / 100) return {};
  if (dot == std::string_view::npos) return *whole * 100;
  const std::string_view frac = s.substr(dot + 1);
  if (frac.empty() || frac.find_first_not_of("0123456789") != std::string_view::npos) return {};
  const std::uint64_t tens = static_cast<std::uint64_t>(frac[0] - '0');
  const std::uint64_t ones = frac.size() > 1 ? static_cast<std::uint64_t>(frac[1] - '0') : 0;
  return *whole * 100 + tens * 10 + ones;
}

// Names for aarch64 "CPU implementer"/"CPU part" codes, as util-linux lscpu
// knows them; only the cores an ERP server in this market is likely to run.
struct ArmPart {
  std::uint64_t implementer;
  std::uint64_t part;
  std::string_view name;
};
constexpr ArmPart kArmParts[] = {
    {0x41, 0xd03, "ARM Cortex-A53"},
    {0x41, 0xd08, "ARM Cortex-A72"},
    {0x41, 0xd0c, "ARM Neoverse-N1"},
    {0x41, 0xd40, "ARM Neoverse-V1"},
    {0x41, 0xd49, "ARM Neoverse-N2"},
    {0x41, 0xd4f, "ARM Neoverse-V2"},
    {0x48, 0xd01, "HiSilicon TaiShan-v110 (Kunpeng 920)"},
    {0x48, 0xd02, "HiSilicon TaiShan-v120"},
    {0x70, 0x662, "Phytium FTC662"},
    {0x70, 0x663, "Phytium FTC663"},
    {0x70, 0x862, "Phytium FTC862"},
    {0xc0, 0xac3, "Ampere-1"},
};
constexpr std::pair<std::uint64_t, std::string_view> kArmImplementers[] = {
    {0x41, "ARM"}, {0x42, "Broadcom"}, {0x43, "Cavium"}, {0x48, "HiSilicon"}, {0x4e, "NVIDIA"},
    {0x50, "APM"}, {0x51, "Qualcomm"}, {0x61, "Apple"},  {0x70, "Phytium"},   {0xc0, "Ampere"},
};

std::string arm_model(std::uint64_t implementer, std::uint64_t part) {
  for (const ArmPart& p : kArmParts) {
    if (p.implementer == implementer && p.part == part) return std::string(p.name);
  }
  std::string vendor = fmt::format("0x{:02x}", implementer);
  for (const auto& [code, name] : kArmImplementers) {
    if (code == implementer) vendor = name;
  }
  return fmt::format("{} part 0x{:03x}", vendor, part);
}

// What the stanzas have said so far.
struct CpuScan {
  CpuInfo info;
  std::optional<std::uint64_t> implementer, part;
  std::optional<std::uint64_t> physical_id;  // of the current stanza
  std::set<std::uint64_t> sockets;
  std::set<std::pair<std::uint64_t, std::uint64_t>> cores;
};

Result<void> take(CpuScan& scan, std::string_view key, std::string_view value, int line_no) {
  const bool hex = key == "CPU implementer" || key == "CPU part";
  const bool number = hex || key == "processor" || key == "physical id" || key == "core id";
  if (!number) {
    if (key == "model name" && !scan.info.model && !value.empty()) scan.info.model = value;
    return {};
  }
  const auto n =
      hex ? (value.starts_with("0x") ? to_u64(value.substr(2), 16) : std::nullopt) : to_u64(value);
  if (!n) {
    return make_error(tr("agent.collect.bad_number", kCpuinfo, line_no, key, value), "malformed");
  }
  if (key == "processor") {
    ++scan.info.logical_cpus;
    scan.physical_id.reset();
  } else if (key == "physical id") {
    scan.physical_id = *n;
    scan.sockets.insert(*n);
  } else if (key == "core id" && scan.physical_id) {
    scan.cores.emplace(*scan.physical_id, *n);
  } else if (key == "CPU implementer" && !scan.implementer) {
    scan.implementer = *n;
  } else if (key == "CPU part" && !scan.part) {
    scan.part = *n;
  }
  return {};
}

Result<PsiLine> parse_psi_line(const std::vector<std::string_view>& words, std::string_view path,
                               int line_no) {
  PsiLine psi;
  const std::pair<std::string_view, std::uint64_t*> slots[] = {{"avg10", &psi.avg10_permille},
                                                               {"avg60", &psi.avg60_permille},
                                                               {"avg300", &psi.avg300_permille},
                                                               {"total", &psi.total_us}};
  for (const auto& [name, slot] : slots) {
    std::optional<std::string_view> found;
    for (std::string_view w : words) {
      if (w.size() > name.size() && w.starts_with(name) && w[name.size()] == '=') {
        found = w.substr(name.size() + 1);
      }
    }
    if (!found) return make_error(tr("agent.collect.no_number", path, line_no, name), "malformed");
    const bool is_total = name == "total";
    const auto n = is_total ? to_u64(*found) : hundredths(*found);
    if (!n) {
      const char* id = is_total ? "agent.collect.bad_number" : "agent.collect.bad_decimal";
      return make_error(tr(id, path, line_no, name, *found), "malformed");
    }
    // Hundredths of a percent to per-mille, rounded half up.
    *slot = is_total ? *n : (*n + 5) / 10;
  }
  return psi;
}

}  // namespace

Result<CpuInfo> parse_cpuinfo(std::string_view text) {
  CpuScan scan;
  auto lines = for_each_colon_line(text, kCpuinfo, "KEY: VALUE",
                                   [&](int line_no, std::string_view key, std::string_view value) {
                                     return take(scan, key, value, line_no);
                                   });
  if (!lines) return lines.error();
  if (scan.info.logical_cpus == 0) {
    const char* id = trim(text).empty() ? "agent.collect.empty" : "agent.collect.missing";
    return make_error(tr(id, kCpuinfo, "processor"), "malformed");
  }
  if (!scan.info.model && scan.implementer && scan.part) {
    scan.info.model = arm_model(*scan.implementer, *scan.part);
  }
  if (!scan.sockets.empty()) scan.info.sockets = scan.sockets.size();
  if (!scan.cores.empty()) scan.info.physical_cores = scan.cores.size();
  return std::move(scan.info);
}

nlohmann::json to_json(const CpuInfo& cpu) {
  nlohmann::json j = {{"logical_cpus", cpu.logical_cpus}};
  if (cpu.model) j["model"] = *cpu.model;
  if (cpu.sockets) j["sockets"] = *cpu.sockets;
  if (cpu.physical_cores) j["physical_cores"] = *cpu.physical_cores;
  return j;
}

Result<LoadAvg> parse_loadavg(std::string_view text) {
  if (trim(text).empty()) return make_error(tr("agent.collect.empty", kLoadavg), "malformed");
  std::string_view line;
  std::string_view rest = text;
  (void)next_line(rest, line);
  const auto words = split_ws(trim(line));
  const auto slash = words.size() == 5 ? words[3].find('/') : std::string_view::npos;
  if (slash == std::string_view::npos) {
    return make_error(tr("agent.collect.bad_line", kLoadavg, 1, trim(line),
                         "LOAD1 LOAD5 LOAD15 RUNNING/TOTAL PID"),
                      "malformed");
  }
  LoadAvg load;
  const std::string_view names[] = {"load1", "load5", "load15"};
  std::uint64_t* loads[] = {&load.load1_x100, &load.load5_x100, &load.load15_x100};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto n = hundredths(words[i]);
    if (!n)
      return make_error(tr("agent.collect.bad_decimal", kLoadavg, 1, names[i], words[i]),
                        "malformed");
    *loads[i] = *n;
  }
  const std::pair<std::string_view, std::string_view> counts[] = {
      {"running", words[3].substr(0, slash)},
      {"total", words[3].substr(slash + 1)},
      {"last_pid", words[4]}};
  std::uint64_t* slots[] = {&load.running, &load.total, &load.last_pid};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto n = to_u64(counts[i].second);
    if (!n) {
      return make_error(
          tr("agent.collect.bad_number", kLoadavg, 1, counts[i].first, counts[i].second),
          "malformed");
    }
    *slots[i] = *n;
  }
  return load;
}

nlohmann::json to_json(const LoadAvg& load) {
  return {{"load1_x100", load.load1_x100},
          {"load5_x100", load.load5_x100},
          {"load15_x100", load.load15_x100},
          {"running", load.running},
          {"total", load.total},
          {"last_pid", load.last_pid}};
}

Result<Pressure> parse_pressure(std::string_view text, std::string_view path) {
  std::optional<PsiLine> some;
  std::optional<PsiLine> full;
  std::string_view rest = text;
  std::string_view raw;
  for (int line_no = 1; next_line(rest, raw); ++line_no) {
    const auto words = split_ws(trim(raw));
    if (words.empty()) continue;
    if (words[0] != "some" && words[0] != "full") {
      return make_error(tr("agent.collect.bad_line", path, line_no, trim(raw),
                           "some|full avg10=N avg60=N avg300=N total=N"),
                        "malformed");
    }
    auto psi = parse_psi_line(words, path, line_no);
    if (!psi) return psi.error();
    (words[0] == "some" ? some : full) = *psi;
  }
  if (!some) {
    const char* id = trim(text).empty() ? "agent.collect.empty" : "agent.collect.missing";
    return make_error(tr(id, path, "some"), "malformed");
  }
  return Pressure{*some, full};
}

nlohmann::json to_json(const Pressure& pressure) {
  const auto line = [](const PsiLine& p) {
    return nlohmann::json{{"avg10_permille", p.avg10_permille},
                          {"avg60_permille", p.avg60_permille},
                          {"avg300_permille", p.avg300_permille},
                          {"total_us", p.total_us}};
  };
  nlohmann::json j = {{"some", line(pressure.some)}};
  if (pressure.full) j["full"] = line(*pressure.full);
  return j;
}

// ---- the collector: cpuinfo, load, two /proc/stat samples, PSI ----

namespace {

std::any cpu_begin(const CollectContext&) {
  auto text = read_text("/proc/stat");
  if (!text) return Result<ProcStat>(text.error());
  return parse_proc_stat(*text);
}

nlohmann::json cpu_usage(const ProcStat& a, const ProcStat& b, std::chrono::milliseconds waited) {
  nlohmann::json per_cpu = nlohmann::json::array();
  for (const CpuTimes& after : b.cpus) {
    for (const CpuTimes& before : a.cpus) {
      if (before.name == after.name) {
        per_cpu.push_back({{"cpu", after.name}, {"busy_permille", busy_permille(before, after)}});
      }
    }
  }
  return {{"busy_permille", busy_permille(a.all, b.all)},
          {"per_cpu", std::move(per_cpu)},
          {"sample_ms", waited.count()}};
}

Result<nlohmann::json> cpu_finish(const CollectContext&, const std::any& first,
                                  std::chrono::milliseconds waited) {
  const auto* before = std::any_cast<Result<ProcStat>>(&first);
  if (before == nullptr || !*before)
    return before ? before->error()
                  : make_error(tr("agent.collect.no_first_sample", "cpu"), "internal");
  auto stat_text = read_text("/proc/stat");
  if (!stat_text) return stat_text.error();
  auto after = parse_proc_stat(*stat_text);
  if (!after) return after.error();
  auto info_text = read_text(std::string(kCpuinfo));
  if (!info_text) return info_text.error();
  auto info = parse_cpuinfo(*info_text);
  if (!info) return info.error();
  auto load_text = read_text(std::string(kLoadavg));
  if (!load_text) return load_text.error();
  auto load = parse_loadavg(*load_text);
  if (!load) return load.error();
  nlohmann::json data = {{"cpuinfo", to_json(*info)},
                         {"loadavg", to_json(*load)},
                         {"usage", cpu_usage(before->value(), *after, waited)}};
  // PSI is absent before 4.20 and when the kernel boots with psi=0.
  if (auto psi_text = read_text("/proc/pressure/cpu")) {
    if (auto psi = parse_pressure(*psi_text, "/proc/pressure/cpu"))
      data["pressure"] = to_json(*psi);
  }
  return data;
}

Result<nlohmann::json> cpu_collect(const CollectContext& ctx) {
  return collect_two_samples(ctx, cpu_begin, cpu_finish);
}

}  // namespace

const Collector& cpu_collector() {
  static const Collector c{"cpu", "agent.collect.summary.cpu", cpu_collect, cpu_begin, cpu_finish};
  return c;
}

}  // namespace rdiag::agent::collect
