// plugin.json: parsing and validation (schema: docs/plugin.schema.json, guide:
// docs/plugins.md). Strict on purpose: an unknown key is an error naming the
// file and the field, so a typo ("timout_s") never silently means "default".
// Patterns are kept as text here; the log scanner compiles them and names the
// rule id when one does not compile.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::agent::plugins {

struct CollectSpec {
  std::vector<std::string> command;  // command[0] relative to the plugin dir unless absolute
  int timeout_s = 10;                // 1..300
  std::string env_file;              // absolute, or empty: no env file
};

struct LogSpec {
  std::string name;
  std::vector<std::string> paths;  // absolute globs
  std::string encoding = "auto";   // auto | utf-8 | gb18030
};

struct RuleSpec {
  std::string id, pattern, severity, title, cause, remedy;  // severity info|warning|error|critical
};

struct RedactSpec {
  std::string name, pattern;
};

struct Plugin {
  std::string name, description;
  std::string dir;       // absolute folder holding plugin.json
  std::string manifest;  // absolute path of plugin.json
  std::optional<CollectSpec> collect;
  std::vector<LogSpec> logs;
  std::vector<RuleSpec> rules;
  std::vector<RedactSpec> redact;
  nlohmann::json fixes = nlohmann::json::array();  // kept raw; fixes are a later issue
};

// Parses the text of the plugin.json at `path` (absolute; its folder becomes
// Plugin::dir and must be named like the plugin). Errors name the file and
// the field ("rules[2].severity"); reason "bad_manifest".
Result<Plugin> parse_manifest(std::string_view text, const std::string& path);

// The program a collect command runs: command[0] if absolute, else resolved
// against the plugin's folder.
std::string program_path(const Plugin& plugin);

// ^[a-z0-9][a-z0-9._-]{0,63}$: plugin names, rule ids, log and redact names.
bool valid_name(std::string_view name);

// Severities of rules and findings, least to most severe.
bool valid_severity(std::string_view severity);

}  // namespace rdiag::agent::plugins
