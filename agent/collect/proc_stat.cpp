#include "agent/collect/proc_stat.h"

#include <algorithm>

#include "agent/collect/text.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using i18n::tr;

constexpr std::string_view kStat = "/proc/stat";
constexpr std::string_view kCpuShape = "cpuN USER NICE SYSTEM IDLE [IOWAIT IRQ SOFTIRQ STEAL ...]";

// Field order: user nice system idle iowait irq softirq steal guest guest_nice.
// guest and guest_nice are already counted in user and nice, so they are
// left out; idle and iowait are the "not busy" time.
Result<CpuTimes> cpu_line(const std::vector<std::string_view>& words, int line_no,
                          std::string_view line) {
  if (words.size() < 5)
    return make_error(tr("agent.collect.bad_line", kStat, line_no, line, kCpuShape), "malformed");
  CpuTimes t{std::string(words[0]), 0, 0};
  for (std::size_t i = 1; i < words.size() && i <= 8; ++i) {
    const auto n = to_u64(words[i]);
    if (!n) {
      return make_error(tr("agent.collect.bad_number", kStat, line_no, words[0], words[i]),
                        "malformed");
    }
    t.total += *n;
    if (i != 4 && i != 5) t.busy += *n;
  }
  return t;
}

Result<void> take_line(ProcStat& stat, bool& have_all, std::string_view line, int line_no) {
  const auto words = split_ws(line);
  if (words.empty()) return {};
  if (words[0].starts_with("cpu")) {
    auto t = cpu_line(words, line_no, line);
    if (!t) return t.error();
    if (words[0] == "cpu") {
      stat.all = std::move(*t);
      have_all = true;
    } else {
      stat.cpus.push_back(std::move(*t));
    }
  } else if ((words[0] == "procs_running" || words[0] == "procs_blocked") && words.size() == 2) {
    const auto n = to_u64(words[1]);
    if (!n) {
      return make_error(tr("agent.collect.bad_number", kStat, line_no, words[0], words[1]),
                        "malformed");
    }
    (words[0] == "procs_running" ? stat.procs_running : stat.procs_blocked) = *n;
  }
  return {};
}

}  // namespace

Result<ProcStat> parse_proc_stat(std::string_view text) {
  if (trim(text).empty()) return make_error(tr("agent.collect.empty", kStat), "malformed");
  ProcStat stat;
  bool have_all = false;
  std::string_view rest = text;
  std::string_view raw;
  for (int line_no = 1; next_line(rest, raw); ++line_no) {
    if (auto r = take_line(stat, have_all, trim(raw), line_no); !r) return r.error();
  }
  if (!have_all) return make_error(tr("agent.collect.missing", kStat, "cpu"), "malformed");
  return stat;
}

std::uint64_t busy_permille(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total || after.busy < before.busy) return 0;
  const std::uint64_t total = after.total - before.total;
  const std::uint64_t busy = std::min(after.busy - before.busy, total);
  return (busy * 1000 + total / 2) / total;
}

}  // namespace rdiag::agent::collect
