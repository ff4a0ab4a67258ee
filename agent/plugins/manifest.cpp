#include "agent/plugins/manifest.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>

#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::agent::plugins {
namespace {

using i18n::tr;
using nlohmann::json;

// Thrown inside this file only and turned into an Error by parse_manifest():
// validation is a long run of "check, else stop", which reads best this way.
struct Invalid {
  std::string message;
};

std::string join(std::initializer_list<std::string_view> words) {
  std::string out;
  for (auto w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

// Reads one plugin.json, naming every field by its path ("rules[2].id").
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  template <typename... Args>
  [[noreturn]] void fail(std::string_view id, const std::string& field, Args&&... args) const {
    throw Invalid{tr(id, file_, field, std::forward<Args>(args)...)};
  }

  // Field paths as a plugin author would write them in a jq query or the
  // guide: "collect.timeout_s", "rules[2].severity".
  static std::string at(const std::string& where, std::string_view key) {
    return where.empty() ? std::string(key) : where + "." + std::string(key);
  }
  static std::string at(const std::string& where, std::size_t index) {
    return where + "[" + std::to_string(index) + "]";
  }

  // j must be an object whose keys are all in `keys`; the message lists the
  // allowed keys, which is usually all a typo needs.
  void object(const json& j, const std::string& where,
              std::initializer_list<std::string_view> keys) const {
    if (!j.is_object()) fail("agent.plugins.want_object", where);
    for (const auto& [key, value] : j.items()) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        fail("agent.plugins.unknown_key", at(where, escaped_name(key)), join(keys));
      }
    }
  }

  const json* find(const json& obj, const std::string& where, std::string_view key,
                   bool required) const {
    auto it = obj.find(key);
    if (it != obj.end()) return &*it;
    if (required) fail("agent.plugins.missing", at(where, key));
    return nullptr;
  }

  std::string text(const json& obj, const std::string& where, std::string_view key, bool required,
                   bool non_empty = false) const {
    const json* v = find(obj, where, key, required);
    if (v == nullptr) return {};
    if (!v->is_string()) fail("agent.plugins.want_string", at(where, key));
    if (non_empty && v->get_ref<const std::string&>().empty()) {
      fail("agent.plugins.empty", at(where, key));
    }
    return v->get<std::string>();
  }

  std::string name(const json& obj, const std::string& where, std::string_view key) const {
    std::string n = text(obj, where, key, true);
    if (!valid_name(n)) fail("agent.plugins.bad_name", at(where, key), escaped_name(n));
    return n;
  }

  // An enum field; an empty default makes it required.
  std::string one_of(const json& obj, const std::string& where, std::string_view key,
                     std::initializer_list<std::string_view> allowed, std::string dflt) const {
    const bool required = dflt.empty();
    if (obj.find(key) == obj.end() && !required) return dflt;
    std::string v = text(obj, where, key, required);
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      fail("agent.plugins.bad_enum", at(where, key), escaped_name(v), join(allowed));
    }
    return v;
  }

  std::vector<std::string> strings(const json& obj, const std::string& where,
                                   std::string_view key) const {
    const json* v = find(obj, where, key, true);
    if (!v->is_array()) fail("agent.plugins.want_strings", at(where, key));
    if (v->empty()) fail("agent.plugins.empty", at(where, key));
    std::vector<std::string> out;
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& s = (*v)[i];
      if (!s.is_string()) fail("agent.plugins.want_strings", at(where, key));
      if (s.get_ref<const std::string&>().empty()) {
        fail("agent.plugins.empty", at(at(where, key), i));
      }
      out.push_back(s.get<std::string>());
    }
    return out;
  }

  // A top-level list that may be left out (no logs, no rules).
  const json& list(const json& obj, std::string_view key) const {
    static const json empty_list = json::array();
    const json* v = find(obj, "", key, false);
    if (v == nullptr) return empty_list;
    if (!v->is_array()) fail("agent.plugins.want_array", std::string(key));
    return *v;
  }

  std::string file_;
};

CollectSpec read_collect(const Reader& r, const json& j) {
  const std::string where = "collect";
  r.object(j, where, {"command", "timeout_s", "env_file"});
  CollectSpec c;
  c.command = r.strings(j, where, "command");
  // "../" would let a manifest point at any program on the box while the
  // ownership checks look at the plugin folder; absolute paths are honest.
  for (const auto& part : std::filesystem::path(c.command[0])) {
    if (part == "..") r.fail("agent.plugins.dotdot", "collect.command[0]");
  }
  if (const json* t = r.find(j, where, "timeout_s", false)) {
    const auto v = t->is_number_integer() ? t->get<std::int64_t>() : 0;
    if (v < 1 || v > 300) r.fail("agent.plugins.want_range", "collect.timeout_s", 1, 300);
    c.timeout_s = static_cast<int>(v);
  }
  c.env_file = r.text(j, where, "env_file", false);
  if (j.contains("env_file") && (c.env_file.empty() || c.env_file[0] != '/')) {
    r.fail("agent.plugins.want_absolute", "collect.env_file");
  }
  return c;
}

std::vector<LogSpec> read_logs(const Reader& r, const json& root) {
  std::vector<LogSpec> out;
  const json& logs = r.list(root, "logs");
  for (std::size_t i = 0; i < logs.size(); ++i) {
    const std::string where = Reader::at("logs", i);
    r.object(logs[i], where, {"name", "paths", "encoding"});
    LogSpec l;
    l.name = r.name(logs[i], where, "name");
    l.paths = r.strings(logs[i], where, "paths");
    // Relative globs would depend on the worker's working folder.
    for (std::size_t p = 0; p < l.paths.size(); ++p) {
      if (l.paths[p][0] != '/') {
        r.fail("agent.plugins.want_absolute", Reader::at(Reader::at(where, "paths"), p));
      }
    }
    l.encoding = r.one_of(logs[i], where, "encoding", {"auto", "utf-8", "gb18030"}, "auto");
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<RuleSpec> read_rules(const Reader& r, const json& root) {
  std::vector<RuleSpec> out;
  std::map<std::string, std::size_t> seen;  // id -> index, to name the first use
  const json& rules = r.list(root, "rules");
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const std::string where = Reader::at("rules", i);
    r.object(rules[i], where, {"id", "pattern", "severity", "title", "cause", "remedy"});
    RuleSpec s;
    s.id = r.name(rules[i], where, "id");
    if (auto [it, fresh] = seen.emplace(s.id, i); !fresh) {
      r.fail("agent.plugins.duplicate_id", Reader::at(where, "id"), s.id, it->second);
    }
    s.pattern = r.text(rules[i], where, "pattern", true, true);
    s.severity =
        r.one_of(rules[i], where, "severity", {"info", "warning", "error", "critical"}, "");
    // A rule without a title is shown by its id rather than as a blank line.
    s.title = r.text(rules[i], where, "title", false);
    if (s.title.empty()) s.title = s.id;
    s.cause = r.text(rules[i], where, "cause", false);
    s.remedy = r.text(rules[i], where, "remedy", false);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<RedactSpec> read_redact(const Reader& r, const json& root) {
  std::vector<RedactSpec> out;
  const json& redact = r.list(root, "redact");
  for (std::size_t i = 0; i < redact.size(); ++i) {
    const std::string where = Reader::at("redact", i);
    r.object(redact[i], where, {"name", "pattern"});
    out.push_back(
        {r.name(redact[i], where, "name"), r.text(redact[i], where, "pattern", true, true)});
  }
  return out;
}

Plugin read_plugin(const Reader& r, const json& root, const std::string& path) {
  if (!root.is_object()) throw Invalid{tr("agent.plugins.manifest_not_object", path)};
  r.object(root, "", {"name", "description", "collect", "logs", "rules", "fixes", "redact"});
  Plugin p;
  p.manifest = path;
  p.dir = std::filesystem::path(path).parent_path().string();
  p.name = r.name(root, "", "name");
  const std::string folder = std::filesystem::path(p.dir).filename().string();
  if (p.name != folder) r.fail("agent.plugins.name_folder", "name", p.name, escaped_name(folder));
  p.description = r.text(root, "", "description", false);
  if (const json* c = r.find(root, "", "collect", false)) p.collect = read_collect(r, *c);
  p.logs = read_logs(r, root);
  p.rules = read_rules(r, root);
  p.redact = read_redact(r, root);
  // Fixes are defined by a later issue; only their outer shape is checked
  // now so that a manifest written today does not break then.
  p.fixes = r.list(root, "fixes");
  for (std::size_t i = 0; i < p.fixes.size(); ++i) {
    if (!p.fixes[i].is_object()) r.fail("agent.plugins.want_object", Reader::at("fixes", i));
  }
  return p;
}

}  // namespace

// Names end up in file names, report keys and sudoers-style rules: keep
// them to a small ASCII alphabet with no leading dot or dash.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  auto lower_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_digit(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return lower_digit(c) || c == '.' || c == '_' || c == '-'; });
}

bool valid_severity(std::string_view severity) {
  return severity == "info" || severity == "warning" || severity == "error" ||
         severity == "critical";
}

Result<Plugin> parse_manifest(std::string_view text, const std::string& path) {
  // Checked before parsing so the message can say "UTF-8" and where, which
  // matters for Chinese titles saved by an editor in GB18030.
  if (auto bad = first_invalid_utf8(text)) {
    return make_error(tr("agent.plugins.manifest_utf8", path, *bad), "bad_manifest");
  }
  try {
    const json root = json::parse(text);
    return read_plugin(Reader(path), root, path);
  } catch (const Invalid& e) {
    return make_error(e.message, "bad_manifest");
  } catch (const json::parse_error& e) {
    return make_error(tr("agent.plugins.manifest_json", path, e.byte), "bad_manifest");
  } catch (const std::exception& e) {
    return make_error(tr("agent.plugins.manifest_unreadable", path, e.what()), "bad_manifest");
  }
}

// lexically_normal only tidies "./collect.sh"; ".." was refused at parse time.
std::string program_path(const Plugin& plugin) {
  if (!plugin.collect || plugin.collect->command.empty()) return {};
  const std::string& first = plugin.collect->command[0];
  if (!first.empty() && first[0] == '/') return first;
  return (std::filesystem::path(plugin.dir) / first).lexically_normal().string();
}

}  // namespace rdiag::agent::plugins
