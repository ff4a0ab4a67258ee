#include "agent/collect/limits.h"

#include <charconv>

#include "agent/collect/collector.h"
#include "agent/collect/cpu.h"
#include "agent/collect/read.h"
#include "agent/collect/text.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using i18n::tr;

constexpr std::string_view kFileNr = "/proc/sys/fs/file-nr";

bool is_limit_value(std::string_view w) {
  return w == "unlimited" || to_u64(w).has_value();
}

// "Max open files" -> "open_files": the kernel's names are fixed ASCII.
std::string limit_key(std::string_view name) {
  if (name.starts_with("Max ")) name.remove_prefix(4);
  std::string key;
  for (char c : name) {
    if (c == ' ') c = '_';
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    key += c;
  }
  return key;
}

// Reads one limit cell; "unlimited" sets the flag.
Result<void> limit_value(std::string_view word, std::uint64_t& value, bool& unlimited,
                         std::string_view path, int line_no, std::string_view field) {
  if (word == "unlimited") {
    unlimited = true;
    return {};
  }
  const auto n = to_u64(word);
  if (!n)
    return make_error(tr("agent.collect.bad_number", path, line_no, field, word), "malformed");
  value = *n;
  return {};
}

// One table row. Names have spaces and units may be missing, so the row is
// split on the first cell that is a number or "unlimited" rather than on
// the kernel's column widths.
Result<ProcessLimit> limit_row(std::string_view line, std::string_view path, int line_no) {
  const auto words = split_ws(line);
  std::size_t at = 1;
  while (at < words.size() && !is_limit_value(words[at])) ++at;
  if (at + 1 >= words.size() || words.size() > at + 3) {
    return make_error(tr("agent.collect.bad_line", path, line_no, line, "NAME SOFT HARD [UNITS]"),
                      "malformed");
  }
  ProcessLimit limit;
  const std::string_view last = words[at - 1];  // the name ends with this word
  limit.name = std::string(
      line.substr(0, static_cast<std::size_t>(last.data() - line.data()) + last.size()));
  limit.key = limit_key(limit.name);
  auto soft = limit_value(words[at], limit.soft, limit.soft_unlimited, path, line_no,
                          limit.name + " / Soft Limit");
  if (!soft) return soft.error();
  auto hard = limit_value(words[at + 1], limit.hard, limit.hard_unlimited, path, line_no,
                          limit.name + " / Hard Limit");
  if (!hard) return hard.error();
  if (words.size() == at + 3) limit.unit = std::string(words[at + 2]);
  return limit;
}

}  // namespace

Result<FileNr> parse_file_nr(std::string_view text) {
  if (trim(text).empty()) return make_error(tr("agent.collect.empty", kFileNr), "malformed");
  std::string_view line;
  std::string_view rest = text;
  (void)next_line(rest, line);
  const auto words = split_ws(trim(line));
  if (words.size() != 3) {
    return make_error(tr("agent.collect.bad_line", kFileNr, 1, trim(line), "ALLOCATED FREE MAX"),
                      "malformed");
  }
  const auto allocated = to_u64(words[0]);
  if (!allocated) {
    return make_error(tr("agent.collect.bad_number", kFileNr, 1, "allocated", words[0]),
                      "malformed");
  }
  const auto max = to_u64(words[2]);
  if (!max) {
    return make_error(tr("agent.collect.bad_number", kFileNr, 1, "max", words[2]), "malformed");
  }
  return FileNr{*allocated, *max};
}

nlohmann::json to_json(const FileNr& nr) {
  return {{"allocated", nr.allocated}, {"max", nr.max}};
}

Result<std::uint64_t> parse_sys_number(std::string_view text, std::string_view path) {
  std::string_view line;
  std::string_view rest = text;
  if (!next_line(rest, line) || trim(line).empty()) {
    return make_error(tr("agent.collect.empty", path), "malformed");
  }
  const auto n = to_u64(trim(line));
  if (!n) {
    const std::string_view field = path.substr(path.rfind('/') + 1);  // npos + 1 == 0
    return make_error(tr("agent.collect.bad_number", path, 1, field, trim(line)), "malformed");
  }
  return *n;
}

const ProcessLimit* ProcessLimits::find(std::string_view key) const {
  for (const ProcessLimit& l : limits) {
    if (l.key == key) return &l;
  }
  return nullptr;
}

Result<ProcessLimits> parse_process_limits(std::string_view text, std::string_view path) {
  ProcessLimits out;
  std::string_view rest = text;
  std::string_view raw;
  for (int line_no = 1; next_line(rest, raw); ++line_no) {
    const std::string_view line = trim(raw);
    if (line.empty() || (line_no == 1 && line.starts_with("Limit "))) continue;
    auto row = limit_row(line, path, line_no);
    if (!row) return row.error();
    out.limits.push_back(std::move(*row));
  }
  if (out.limits.empty()) return make_error(tr("agent.collect.empty", path), "malformed");
  return out;
}

nlohmann::json to_json(const ProcessLimit& limit) {
  nlohmann::json j = {{"name", limit.name},
                      {"key", limit.key},
                      {"soft_unlimited", limit.soft_unlimited},
                      {"hard_unlimited", limit.hard_unlimited}};
  // A number only when there is one: "unlimited" is not a very large value.
  if (!limit.soft_unlimited) j["soft"] = limit.soft;
  if (!limit.hard_unlimited) j["hard"] = limit.hard;
  if (limit.unit) j["unit"] = *limit.unit;
  return j;
}

nlohmann::json to_json(const ProcessLimits& limits) {
  nlohmann::json rows = nlohmann::json::array();
  for (const ProcessLimit& l : limits.limits) rows.push_back(to_json(l));
  return rows;
}

// ---- the collector: descriptors, PIDs and threads against their limits ----

namespace {

Result<std::uint64_t> read_sys_number(const std::string& path) {
  auto text = read_text(path);
  if (!text) return text.error();
  return parse_sys_number(*text, path);
}

// Threads in use: the loadavg "total" field counts every scheduling entity.
Result<std::uint64_t> threads_in_use() {
  auto text = read_text("/proc/loadavg");
  if (!text) return text.error();
  auto load = parse_loadavg(*text);
  if (!load) return load.error();
  return load->total;
}

Result<nlohmann::json> limits_collect(const CollectContext&) {
  auto nr_text = read_text(std::string(kFileNr));
  if (!nr_text) return nr_text.error();
  auto nr = parse_file_nr(*nr_text);
  if (!nr) return nr.error();
  auto pid_max = read_sys_number("/proc/sys/kernel/pid_max");
  if (!pid_max) return pid_max.error();
  auto threads_max = read_sys_number("/proc/sys/kernel/threads-max");
  if (!threads_max) return threads_max.error();
  auto threads = threads_in_use();
  if (!threads) return threads.error();
  nlohmann::json data = {
      {"file_nr", to_json(*nr)},
      // Every thread takes a PID (its TID), so threads, not processes, use up pid_max.
      {"pids", {{"used", *threads}, {"max", *pid_max}, {"processes", list_pids().size()}}},
      {"threads", {{"used", *threads}, {"max", *threads_max}}},
  };
  // The worker's own rlimits: what a plugin it starts inherits.
  if (auto self = read_text("/proc/self/limits")) {
    if (auto limits = parse_process_limits(*self, "/proc/self/limits")) {
      data["self_limits"] = to_json(*limits);
    }
  }
  return data;
}

}  // namespace

const Collector& limits_collector() {
  static const Collector c{"limits", "agent.collect.summary.limits", limits_collect};
  return c;
}

}  // namespace rdiag::agent::collect
