#include "agent/collect/processes.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <vector>

#include "agent/collect/collector.h"
#include "agent/collect/read.h"
#include "agent/collect/text.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using i18n::tr;

constexpr std::string_view kStatShape = "PID (COMM) STATE PPID ... (52 fields)";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
// Command lines can be megabytes (Java class paths); a report row keeps this much.
constexpr std::size_t kCmdlineMax = 512;

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
  std::uint32_t cp = c & (0x7F >> n);
  for (std::size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
  return overlong || surrogate || cp > 0x10FFFF ? 0 : n;
}

}  // namespace

Result<PidStat> parse_pid_stat(std::string_view text, std::string_view path) {
  const std::string_view line = trim(text);
  const auto open = line.find(" (");
  const auto close = line.rfind(')');
  const auto bad = [&] {
    return make_error(tr("agent.collect.bad_line", path, 1, line.substr(0, 120), kStatShape),
                      "malformed");
  };
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return bad();
  const auto pid = to_u64(line.substr(0, open));
  const auto w = split_ws(line.substr(close + 1));  // w[0] is field (3)
  if (!pid || *pid > 4194304 || w.size() < 22 || w[0].size() != 1) return bad();
  PidStat st;
  st.pid = static_cast<pid_t>(*pid);
  st.comm = std::string(line.substr(open + 2, close - open - 2));
  st.state = w[0][0];
  const std::pair<std::size_t, std::uint64_t*> fields[] = {
      {14, &st.utime}, {15, &st.stime}, {20, &st.threads}, {22, &st.start}, {24, &st.rss_pages}};
  for (const auto& [field, slot] : fields) {
    const auto n = to_u64(w[field - 3]);
    if (!n) return bad();
    *slot = *n;
  }
  return st;
}

Result<std::uint64_t> parse_status_uid(std::string_view text, std::string_view path) {
  std::optional<std::uint64_t> uid;
  auto lines = for_each_colon_line(
      text, path, "Key:\tvalue",
      [&](int line_no, std::string_view key, std::string_view value) -> Result<void> {
        if (key != "Uid") return {};
        const auto w = split_ws(value);
        uid = w.empty() ? std::nullopt : to_u64(w[0]);
        if (!uid)
          return make_error(tr("agent.collect.bad_number", path, line_no, key, value), "malformed");
        return {};
      });
  if (!lines) return lines.error();
  if (!uid) return make_error(tr("agent.collect.missing", path, "Uid"), "malformed");
  return *uid;
}

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_len(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string_view cut_utf8(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t end = max_bytes;
  // Back off continuation bytes (10xxxxxx) to the start of their character.
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

std::string cmdline_text(std::string_view raw) {
  std::string text(raw);
  std::replace(text.begin(), text.end(), '\0', ' ');
  // Control characters would let a process forge lines in a text report.
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c > 0 && c < 0x20; }, ' ');
  const auto end = text.find_last_not_of(' ');
  text.resize(end == std::string::npos ? 0 : end + 1);
  return valid_utf8(text);
}

std::uint64_t cpu_permille(std::uint64_t ticks, std::uint64_t ticks_per_s, std::uint64_t ms) {
  if (ticks_per_s == 0 || ms == 0) return 0;
  // ticks / ticks_per_s seconds of CPU over ms / 1000 seconds, times 1000.
  return (ticks * 1000 * 1000 + ticks_per_s * ms / 2) / (ticks_per_s * ms);
}

// ---- the collector ----

namespace {

// (start, utime + stime) per pid: the start time tells a reused pid apart.
using CpuSample = std::map<pid_t, std::pair<std::uint64_t, std::uint64_t>>;

std::string pid_file(pid_t pid, std::string_view name) {
  return "/proc/" + std::to_string(pid) + "/" + std::string(name);
}

std::optional<PidStat> read_pid_stat(pid_t pid) {
  const std::string path = pid_file(pid, "stat");
  auto text = read_text(path, 4096);
  if (!text) return std::nullopt;  // gone since the directory walk
  auto st = parse_pid_stat(*text, path);
  return st ? std::optional<PidStat>(std::move(*st)) : std::nullopt;
}

std::any processes_begin(const CollectContext&) {
  CpuSample sample;
  for (const int pid : list_pids()) {
    if (const auto st = read_pid_stat(pid)) sample[pid] = {st->start, st->utime + st->stime};
  }
  return sample;
}

struct Row {
  PidStat stat;
  std::uint64_t cpu_permille = 0;
};

std::string user_name(std::uint64_t uid) {
  std::array<char, 4096> buf{};
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found) == 0 && found) {
    return found->pw_name;
  }
  return std::to_string(uid);
}

std::string command_line(const Row& r, const CollectContext& ctx) {
  auto raw = read_text(pid_file(r.stat.pid, "cmdline"), 1u << 20);
  std::string text = raw ? cmdline_text(*raw) : std::string();
  if (text.empty()) text = "[" + valid_utf8(r.stat.comm) + "]";  // kernel threads, zombies
  // Redact the whole line before cutting: a cut could split a secret so that
  // no rule matches its remaining half.
  if (ctx.redact) text = valid_utf8(ctx.redact(text));
  return std::string(cut_utf8(text, kCmdlineMax));
}

nlohmann::json row_json(const Row& r, const CollectContext& ctx, std::uint64_t page_size) {
  nlohmann::json j = {{"pid", r.stat.pid},
                      {"name", valid_utf8(r.stat.comm)},
                      {"state", std::string(1, r.stat.state)},
                      {"cpu_permille", r.cpu_permille},
                      {"rss_bytes", r.stat.rss_pages * page_size},
                      {"threads", r.stat.threads},
                      {"command", command_line(r, ctx)}};
  auto status = read_text(pid_file(r.stat.pid, "status"), 1u << 16);
  if (status) {
    if (auto uid = parse_status_uid(*status, pid_file(r.stat.pid, "status"))) {
      j["uid"] = *uid;
      j["user"] = valid_utf8(user_name(*uid));
    }
  }
  return j;
}

template <typename Key>
nlohmann::json top(std::vector<Row> rows, Key key, const CollectContext& ctx, std::uint64_t page) {
  const std::size_t n = std::min(ctx.top_n, rows.size());
  std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(n), rows.end(),
                    [&](const Row& a, const Row& b) { return key(a) > key(b); });
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i < n; ++i) out.push_back(row_json(rows[i], ctx, page));
  return out;
}

nlohmann::json state_counts(const std::vector<Row>& rows) {
  std::map<std::string, std::uint64_t> by_state;
  for (const Row& r : rows) ++by_state[std::string(1, r.stat.state)];
  const auto count = [&](char c) { return by_state[std::string(1, c)]; };
  return {{"total", rows.size()},
          {"running", count('R')},
          {"sleeping", count('S')},
          {"disk_sleep", count('D')},
          {"idle", count('I')},
          {"zombie", count('Z')},
          {"stopped", count('T') + count('t')}};
}

Result<nlohmann::json> processes_finish(const CollectContext& ctx, const std::any& first,
                                        std::chrono::milliseconds waited) {
  const auto* before = std::any_cast<CpuSample>(&first);
  if (before == nullptr)
    return make_error(tr("agent.collect.no_first_sample", "processes"), "internal");
  const long tck = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);
  std::vector<Row> rows;
  for (const int pid : list_pids()) {
    auto st = read_pid_stat(pid);
    if (!st) continue;
    Row r;
    r.stat = std::move(*st);
    const auto it = before->find(pid);
    if (it != before->end() && it->second.first == r.stat.start) {
      const std::uint64_t now = r.stat.utime + r.stat.stime;
      r.cpu_permille = cpu_permille(now - std::min(now, it->second.second),
                                    static_cast<std::uint64_t>(tck > 0 ? tck : 100),
                                    static_cast<std::uint64_t>(waited.count()));
    }
    rows.push_back(std::move(r));
  }
  const auto p = static_cast<std::uint64_t>(page > 0 ? page : 4096);
  return nlohmann::json{
      {"counts", state_counts(rows)},
      {"top_cpu", top(
                      rows, [](const Row& r) { return r.cpu_permille; }, ctx, p)},
      {"top_rss", top(
                      rows, [](const Row& r) { return r.stat.rss_pages; }, ctx, p)},
      {"sample_ms", waited.count()}};
}

Result<nlohmann::json> processes_collect(const CollectContext& ctx) {
  return collect_two_samples(ctx, processes_begin, processes_finish);
}

}  // namespace

const Collector& processes_collector() {
  static const Collector c{"processes", "agent.collect.summary.processes", processes_collect,
                           processes_begin, processes_finish};
  return c;
}

}  // namespace rdiag::agent::collect
