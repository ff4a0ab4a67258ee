#include "agent/logs/sources.h"

#include <cstring>

#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::agent::logs {
namespace {

using json = nlohmann::json;

Error config_error(std::string message) {
  return make_error(std::move(message), "bad_config");
}

std::string shown(const json& v) {
  return sanitize_utf8(v.is_string() ? v.get<std::string>() : v.dump());
}

Result<void> read_paths(const json& entry, std::size_t i, Source& s) {
  const json& paths = entry["paths"];
  if (!paths.is_array() || paths.empty()) return config_error(i18n::tr("agent.logs.want_paths", i));
  for (std::size_t p = 0; p < paths.size(); ++p) {
    // Relative globs would depend on the worker's working folder.
    if (!paths[p].is_string() || paths[p].get<std::string>().rfind('/', 0) != 0) {
      return config_error(i18n::tr("agent.logs.want_absolute", i, p, shown(paths[p])));
    }
    s.globs.push_back(paths[p].get<std::string>());
  }
  if (entry.contains("encoding")) {
    auto enc = entry["encoding"].is_string()
                   ? redact::parse_encoding(entry["encoding"].get<std::string>())
                   : Result<redact::Encoding>(make_error(""));
    if (!enc) return config_error(i18n::tr("agent.logs.bad_encoding", i, shown(entry["encoding"])));
    s.encoding = *enc;
  }
  return {};
}

Result<void> read_journal(const json& entry, std::size_t i, Source& s) {
  const json& j = entry["journal"];
  const bool ok = j.is_object() && j.size() == (j.contains("units") ? 1U : 0U) &&
                  (!j.contains("units") || j["units"].is_array());
  if (!ok) return config_error(i18n::tr("agent.logs.want_units", i));
  for (const json& u : j.value("units", json::array())) {
    if (!u.is_string() || u.get<std::string>().empty()) {
      return config_error(i18n::tr("agent.logs.want_units", i));
    }
    s.units.push_back(u.get<std::string>());
  }
  s.kind = SourceKind::kJournal;
  return {};
}

Result<Source> read_entry(const json& entry, std::size_t i) {
  if (!entry.is_object()) return config_error(i18n::tr("agent.logs.want_object", i));
  for (const auto& [key, value] : entry.items()) {
    if (key != "name" && key != "paths" && key != "encoding" && key != "journal") {
      return config_error(i18n::tr("agent.logs.unknown_key", i, sanitize_utf8(key)));
    }
  }
  Source s;
  s.origin = "config";
  if (!entry.contains("name") || !entry["name"].is_string() ||
      !plugins::valid_name(entry["name"].get<std::string>())) {
    return config_error(i18n::tr("agent.logs.want_name", i, shown(entry.value("name", json()))));
  }
  s.name = entry["name"].get<std::string>();
  if (entry.contains("paths") == entry.contains("journal") ||
      (entry.contains("journal") && entry.contains("encoding"))) {
    return config_error(i18n::tr("agent.logs.want_one_kind", i));
  }
  auto r = entry.contains("paths") ? read_paths(entry, i, s) : read_journal(entry, i, s);
  if (!r) return r.error();
  return s;
}

}  // namespace

Result<std::vector<Source>> parse_config_logs(const json& logs) {
  std::vector<Source> out;
  if (logs.is_null()) return out;
  if (!logs.is_array()) return config_error(i18n::tr("agent.logs.want_list"));
  for (std::size_t i = 0; i < logs.size(); ++i) {
    auto s = read_entry(logs[i], i);
    if (!s) return s.error();
    for (const Source& before : out) {
      if (before.name == s->name) {
        return config_error(i18n::tr("agent.logs.duplicate", i, s->name));
      }
    }
    out.push_back(std::move(*s));
  }
  return out;
}

SourceSet merge_sources(std::vector<Source> config, const std::vector<plugins::Plugin>& found) {
  SourceSet set{std::move(config), {}};
  for (const plugins::Plugin& p : found) {
    for (const plugins::LogSpec& l : p.logs) {
      if (const Source* before = find_source(set, l.name)) {
        set.notes.push_back(before->origin == "config"
                                ? i18n::tr("agent.logs.name_clash", p.name, l.name)
                                : i18n::tr("agent.logs.name_clash_plugin", p.name, l.name,
                                           before->origin.substr(std::strlen("plugin:"))));
        continue;
      }
      Source s{l.name, SourceKind::kFiles, l.paths, redact::Encoding::kAuto,
               {},     "plugin:" + p.name};
      // The manifest parser already checked the word.
      if (auto enc = redact::parse_encoding(l.encoding)) s.encoding = *enc;
      set.sources.push_back(std::move(s));
    }
  }
  return set;
}

const Source* find_source(const SourceSet& set, std::string_view name) {
  for (const Source& s : set.sources) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string source_names(const SourceSet& set) {
  std::string out;
  for (const Source& s : set.sources) out += (out.empty() ? "" : ", ") + s.name;
  return out.empty() ? "(none)" : out;
}

}  // namespace rdiag::agent::logs
