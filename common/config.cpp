#include "common/config.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <set>
#include <span>
#include <system_error>

#include "common/fs.h"
#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using i18n::tr;
using Keys = std::span<const std::string_view>;

constexpr std::string_view kTopKeys[] = {
    "listen",         "allow_from",     "state_dir",      "transfer_dir",
    "engineers_file", "control_socket", "admin_group",    "plugins_dirs",
    "logs",           "redact",         "shell",          "limits",
    "policy",         "retention_days", "notify_command", "relay",
};
constexpr std::string_view kLimitKeys[] = {
    "max_connections",          "max_startups",      "max_per_source", "max_request_bytes",
    "pending_requests_per_key", "requests_per_hour",
};
// Cybersecurity Law of the PRC, Article 21: network logs are kept no less
// than six months. Records are such logs, so a shorter setting is refused.
constexpr int kMinRetentionDays = 180;
constexpr int kMaxRetentionDays = 36500;
constexpr int kMaxCount = 1000000;  // upper bound for counts and rates: catches typos, not policy
constexpr std::int64_t kMinRequestBytes = 1024;
constexpr std::int64_t kMaxRequestBytes = std::int64_t{1} << 30;
constexpr std::size_t kMaxConfigBytes = std::size_t{4} * 1024 * 1024;

// The file being read and the folder its relative paths are anchored to.
struct Ctx {
  const std::string& file;
  fs::path base;
};

std::string join(Keys keys) {
  std::string out;
  for (std::string_view k : keys) out += (out.empty() ? "" : ", ") + std::string(k);
  return out;
}

std::string key_path(std::string_view section, std::string_view key) {
  return section.empty() ? std::string(key) : std::string(section) + "." + std::string(key);
}

Error type_error(const Ctx& c, std::string_view path, const std::string& expected) {
  return make_error(tr("common.config.type", c.file, path, expected), "config_type");
}

Error value_error(const Ctx& c, std::string_view path, const std::string& detail) {
  return make_error(tr("common.config.bad_value", c.file, path, detail), "config_value");
}

Result<void> check_keys(const Ctx& c, const json& obj, Keys known, std::string_view section) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return make_error(
          tr("common.config.unknown_key", c.file, key_path(section, key), join(known)),
          "config_unknown_key");
    }
  }
  return {};
}

const json* find(const json& obj, std::string_view key) {
  auto it = obj.find(std::string(key));
  return it == obj.end() ? nullptr : &*it;
}

// A non-empty string (no NUL: it would cut a path short). Absent leaves out alone.
Result<void> read_string(const Ctx& c, const json& obj, std::string_view key, std::string& out) {
  const json* v = find(obj, key);
  if (v == nullptr) return {};
  if (!v->is_string()) return type_error(c, key, tr("common.config.a_string"));
  const auto& s = v->get_ref<const std::string&>();
  if (s.empty() || s.find('\0') != std::string::npos) {
    return type_error(c, key, tr("common.config.a_string"));
  }
  out = s;
  return {};
}

std::string anchor(const Ctx& c, const std::string& p) {
  fs::path path(p);
  return path.is_absolute() ? p : (c.base / path).lexically_normal().string();
}

Result<void> read_path(const Ctx& c, const json& obj, std::string_view key, std::string& out) {
  bool present = find(obj, key) != nullptr;
  if (auto r = read_string(c, obj, key, out); !r) return r;
  if (present) out = anchor(c, out);
  return {};
}

Result<void> read_string_list(const Ctx& c, const json& obj, std::string_view key,
                              std::vector<std::string>& out) {
  const json* v = find(obj, key);
  if (v == nullptr) return {};
  bool ok = v->is_array() && std::all_of(v->begin(), v->end(), [](const json& e) {
              return e.is_string() && !e.get_ref<const std::string&>().empty() &&
                     e.get_ref<const std::string&>().find('\0') == std::string::npos;
            });
  if (!ok) return type_error(c, key, tr("common.config.a_string_list"));
  out = v->get<std::vector<std::string>>();
  return {};
}

// A whole number in [min, max]; absent leaves out alone.
template <typename T>
Result<void> read_int(const Ctx& c, const json& obj, std::string_view section, std::string_view key,
                      std::int64_t min, std::int64_t max, T& out) {
  const json* v = find(obj, key);
  if (v == nullptr) return {};
  std::string path = key_path(section, key);
  if (!v->is_number_integer()) return type_error(c, path, tr("common.config.a_number", min, max));
  bool too_big =
      v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(max);
  std::int64_t n = too_big ? max : v->get<std::int64_t>();
  if (too_big || n < min || n > max) {
    return make_error(tr("common.config.range", c.file, path, min, max, v->dump()), "config_value");
  }
  out = static_cast<T>(n);
  return {};
}

Result<void> read_kind(const Ctx& c, const json& obj, std::string_view key, json::value_t kind) {
  const json* v = find(obj, key);
  if (v == nullptr || v->type() == kind) return {};
  return type_error(
      c, key,
      kind == json::value_t::array ? tr("common.config.a_list") : tr("common.config.an_object"));
}

Result<void> read_listen(const Ctx& c, const json& doc, AgentConfig& cfg) {
  const json* v = find(doc, "listen");
  if (v == nullptr) return {};
  if (!v->is_string()) return type_error(c, "listen", tr("common.config.a_string"));
  const auto& text = v->get_ref<const std::string&>();
  if (text.empty()) return {};  // no inbound port: reached through the relay only
  auto hp = parse_host_port(text);
  if (!hp) return value_error(c, "listen", hp.error().message);
  cfg.listen = *hp;
  return {};
}

Result<void> read_allow_from(const Ctx& c, const json& doc, AgentConfig& cfg) {
  std::vector<std::string> entries;
  if (auto r = read_string_list(c, doc, "allow_from", entries); !r) return r;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto cidr = parse_cidr(entries[i]);
    if (!cidr) return value_error(c, fmt::format("allow_from[{}]", i), cidr.error().message);
    cfg.allow_from.push_back(*cidr);
  }
  return {};
}

Result<void> read_paths(const Ctx& c, const json& doc, AgentConfig& cfg) {
  for (std::string_view key : {"state_dir", "engineers_file"}) {
    if (find(doc, key) == nullptr) {
      return make_error(tr("common.config.missing", c.file, key), "config_missing_key");
    }
  }
  for (auto [key, out] : {std::pair{"state_dir", &cfg.state_dir},
                          {"engineers_file", &cfg.engineers_file},
                          {"transfer_dir", &cfg.transfer_dir},
                          {"control_socket", &cfg.control_socket}}) {
    if (auto r = read_path(c, doc, key, *out); !r) return r;
  }
  if (auto r = read_string_list(c, doc, "plugins_dirs", cfg.plugins_dirs); !r) return r;
  for (std::string& dir : cfg.plugins_dirs) dir = anchor(c, dir);
  return read_string(c, doc, "admin_group", cfg.admin_group);
}

Result<void> read_max_startups(const Ctx& c, const json& limits, MaxStartups& out) {
  const json* v = find(limits, "max_startups");
  if (v == nullptr) return {};
  if (!v->is_string() && !v->is_number_unsigned()) {
    return type_error(c, "limits.max_startups", tr("common.config.a_max_startups"));
  }
  auto parsed = parse_max_startups(v->is_string() ? v->get<std::string>() : v->dump());
  if (!parsed) return value_error(c, "limits.max_startups", parsed.error().message);
  out = *parsed;
  return {};
}

Result<void> read_limits(const Ctx& c, const json& doc, Limits& out) {
  if (auto r = read_kind(c, doc, "limits", json::value_t::object); !r) return r;
  const json* limits = find(doc, "limits");
  if (limits == nullptr) return {};
  if (auto r = check_keys(c, *limits, kLimitKeys, "limits"); !r) return r;
  for (auto [key, field] : {std::pair{"max_connections", &out.max_connections},
                            {"max_per_source", &out.max_per_source},
                            {"pending_requests_per_key", &out.pending_requests_per_key},
                            {"requests_per_hour", &out.requests_per_hour}}) {
    if (auto r = read_int(c, *limits, "limits", key, 1, kMaxCount, *field); !r) return r;
  }
  if (auto r = read_int(c, *limits, "limits", "max_request_bytes", kMinRequestBytes,
                        kMaxRequestBytes, out.max_request_bytes);
      !r) {
    return r;
  }
  return read_max_startups(c, *limits, out.max_startups);
}

// Sections that later features parse: only their outer shape is checked here.
Result<void> read_other_sections(const Ctx& c, const json& doc) {
  for (auto [key, kind] : {std::pair{"logs", json::value_t::array},
                           {"redact", json::value_t::array},
                           {"shell", json::value_t::object},
                           {"policy", json::value_t::object},
                           {"relay", json::value_t::object}}) {
    if (auto r = read_kind(c, doc, key, kind); !r) return r;
  }
  std::vector<std::string> notify;
  return read_string_list(c, doc, "notify_command", notify);
}

Result<void> read_retention(const Ctx& c, const json& doc, AgentConfig& cfg) {
  const json* v = find(doc, "retention_days");
  if (v != nullptr && v->is_number_integer()) {
    bool too_short = v->is_number_unsigned() ? v->get<std::uint64_t>() < kMinRetentionDays
                                             : v->get<std::int64_t>() < kMinRetentionDays;
    if (too_short) {
      return make_error(tr("common.config.retention", c.file, v->dump(), kMinRetentionDays),
                        "config_retention");
    }
  }
  return read_int(c, doc, "", "retention_days", kMinRetentionDays, kMaxRetentionDays,
                  cfg.retention_days);
}

// 1-based line and column of a byte offset, for messages about JSON syntax.
std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::string_view before = text.substr(0, offset);
  std::size_t line = 1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
  std::size_t nl = before.rfind('\n');
  std::size_t column = offset - (nl == std::string_view::npos ? 0 : nl + 1) + 1;
  return {line, column};
}

// nlohmann's what() is "[json.exception.parse_error.101] parse error at line L,
// column C: detail"; the detail is worth showing, the rest we say ourselves.
std::string parse_error_detail(const std::string& what) {
  std::string_view d = what;
  if (auto p = d.find("] "); p != std::string_view::npos) d.remove_prefix(p + 2);
  if (d.starts_with("parse error") && d.find(": ") != std::string_view::npos) {
    d.remove_prefix(d.find(": ") + 2);
  }
  return std::string(d);
}

// Parses JSON and refuses a key given twice in one object: nlohmann would keep
// the last silently, and a reviewer reading the first would be misled.
Result<json> parse_json(std::string_view text, const std::string& file) {
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;
  auto on_event = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == json::parse_event_t::key && !open_objects.empty() && !duplicate &&
        !open_objects.back().insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  try {
    json doc = json::parse(text.begin(), text.end(), on_event);
    if (duplicate) {
      return make_error(tr("common.config.duplicate", file, *duplicate), "config_syntax");
    }
    return doc;
  } catch (const json::parse_error& e) {
    // e.byte counts from 1 and points at the last character read.
    auto [line, column] = line_column(text, e.byte == 0 ? 0 : e.byte - 1);
    return make_error(tr("common.config.syntax", file, line, column, parse_error_detail(e.what())),
                      "config_syntax");
  }
}

fs::path base_folder(const std::string& file) {
  fs::path folder = fs::path(file).parent_path();
  if (folder.is_absolute()) return folder;
  std::error_code ec;
  fs::path abs = fs::absolute(folder, ec);  // relative to the working directory
  return ec ? folder : abs.lexically_normal();
}

Result<AgentConfig> read_document(const json& doc, const Ctx& c) {
  if (!doc.is_object()) return make_error(tr("common.config.not_object", c.file), "config_type");
  AgentConfig cfg;
  cfg.source = c.file;
  if (auto r = check_keys(c, doc, kTopKeys, ""); !r) return r.error();
  if (auto r = read_paths(c, doc, cfg); !r) return r.error();
  if (auto r = read_listen(c, doc, cfg); !r) return r.error();
  if (auto r = read_allow_from(c, doc, cfg); !r) return r.error();
  if (auto r = read_limits(c, doc, cfg.limits); !r) return r.error();
  if (auto r = read_retention(c, doc, cfg); !r) return r.error();
  if (auto r = read_other_sections(c, doc); !r) return r.error();
  cfg.raw = doc;
  return cfg;
}

Result<std::string> read_config_file(const std::string& path) {
  return read_file_bounded(
      path, kMaxConfigBytes,
      {.io_error =
           [&path](int err) {
             return make_error(tr("common.config.read_failed", path, errno_text(err)), "io");
           },
       .too_big = [&path] { return make_error(tr("common.config.too_big", path), "io"); },
       .check = {}});
}

std::optional<int> parse_count(std::string_view text) {
  if (text.empty() || text.size() > 7) return std::nullopt;
  int v = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return std::nullopt;
    v = v * 10 + (ch - '0');
  }
  return v <= kMaxCount ? std::optional<int>(v) : std::nullopt;
}

}  // namespace

Result<MaxStartups> parse_max_startups(std::string_view text) {
  auto bad = [&text] {
    return make_error(tr("common.config.bad_max_startups", text), "config_value");
  };
  auto first = text.find(':');
  if (first == std::string_view::npos) {
    // sshd: a bare number N means start = full = N, dropping nothing early (rate 100).
    auto n = parse_count(text);
    if (!n || *n < 1) return bad();
    return MaxStartups{*n, 100, *n};
  }
  auto second = text.find(':', first + 1);
  if (second == std::string_view::npos) return bad();
  auto start = parse_count(text.substr(0, first));
  auto rate = parse_count(text.substr(first + 1, second - first - 1));
  auto full = parse_count(text.substr(second + 1));
  if (!start || !rate || !full || *start < 1 || *start > *full || *rate < 1 || *rate > 100) {
    return bad();
  }
  return MaxStartups{*start, *rate, *full};
}

Result<AgentConfig> parse_agent_config(std::string_view text, const std::string& path) {
  Result<AgentConfig> result = make_error("", "internal");
  try {
    auto doc = parse_json(text, path);
    result = doc ? read_document(*doc, Ctx{path, base_folder(path)}) : doc.error();
  } catch (const std::exception& e) {
    // Only a bug of ours can get here (every type is checked before get<>());
    // still, no exception leaves this module.
    result = make_error(tr("common.config.internal", path, e.what()), "internal");
  }
  if (result) return result;
  // Messages quote keys and values from the file; they must not drive a terminal.
  return make_error(terminal_safe(result.error().message), result.error().reason);
}

Result<AgentConfig> load_agent_config(const std::string& path) {
  auto text = read_config_file(path);
  if (!text) return text.error();
  return parse_agent_config(*text, path);
}

}  // namespace rdiag
