// The manifests of the plugins rdiag ships (plugins/*/plugin.json) checked
// against the manifest contract (DESIGN "Diagnostics") the way the loader
// checks it, so that a broken manifest fails CI rather than a customer's agent;
// and the erp-app template's two halves checked against each other.
#include "tests/integration/plugins_shipped.h"

#include <sys/stat.h>

#include <filesystem>

namespace rdiag::test::shipped {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = std::string(RDIAG_SOURCE_DIR) + "/tests/fixtures/shipped";

// ---------------------------------------------------------------------------
// The manifest contract (DESIGN "Diagnostics"), checked the way the loader
// checks it. Returns one line per problem; empty when the manifest is good.

bool only_keys(const json& obj, const std::set<std::string>& keys, const std::string& where,
               std::vector<std::string>& bad) {
  if (!obj.is_object()) {
    bad.emplace_back(where + " must be an object");
    return false;
  }
  for (const auto& [k, v] : obj.items()) {
    if (!keys.contains(k)) bad.emplace_back(concat({where, ": unknown key '", k, "'"}));
  }
  for (const auto& k : keys) {
    if (!obj.contains(k)) bad.emplace_back(concat({where, ": missing key '", k, "'"}));
  }
  return true;
}

// Vectorscan has no backreferences or lookbehind; PCRE2 (GNU grep -P uses it)
// must compile the pattern.
void check_pattern(const json& p, const std::string& where, std::vector<std::string>& bad) {
  if (!p.is_string() || p.get<std::string>().empty()) {
    bad.emplace_back(where + ".pattern must be a non-empty string");
    return;
  }
  const std::string s = p.get<std::string>();
  if (s.find("(?<=") != std::string::npos || s.find("(?<!") != std::string::npos ||
      std::regex_search(s, std::regex(R"(\\[1-9])"))) {
    bad.emplace_back(where + ".pattern uses lookbehind or a backreference: " + s);
  }
  if (run({"/bin/grep", "-P", "-e", s}).exit_code == 2) {
    bad.emplace_back(where + ".pattern does not compile with PCRE2: " + s);
  }
}

void check_collect(const json& c, const std::string& dir, std::vector<std::string>& bad) {
  if (!only_keys(c, {"command", "timeout_s", "env_file"}, "collect", bad)) return;
  if (!c["command"].is_array() || c["command"].empty() || !c["command"][0].is_string()) {
    bad.emplace_back("collect.command must be a non-empty array of strings");
    return;
  }
  const std::string cmd = c["command"][0];
  struct stat st {};
  if (cmd.starts_with("/") || cmd.find("..") != std::string::npos ||
      ::stat((dir + "/" + cmd).c_str(), &st) != 0 || (st.st_mode & 0111) == 0) {
    bad.emplace_back("collect.command[0] must be an executable inside the folder: " + cmd);
  }
  if (!c["timeout_s"].is_number_integer() || c["timeout_s"] < 1 || c["timeout_s"] > 300) {
    bad.emplace_back("collect.timeout_s must be a whole number 1..300");
  }
  if (!c["env_file"].is_string() || !c["env_file"].get<std::string>().starts_with("/")) {
    bad.emplace_back("collect.env_file must be an absolute path");
  }
}

void check_rules(const json& rules, std::vector<std::string>& bad) {
  std::set<std::string> ids;
  for (size_t i = 0; i < rules.size(); ++i) {
    const json& r = rules[i];
    const std::string where = "rules[" + std::to_string(i) + "]";
    if (!only_keys(r, {"id", "pattern", "severity", "title", "cause", "remedy"}, where, bad)) {
      continue;
    }
    const std::string id = r["id"].is_string() ? r["id"].get<std::string>() : "";
    if (!std::regex_match(id, kNameRe))
      bad.emplace_back(concat({where, ".id is not a valid id: ", id}));
    if (!ids.insert(id).second) bad.emplace_back(concat({where, ".id repeats: ", id}));
    if (!r["severity"].is_string() || !kSeverities.contains(r["severity"])) {
      bad.emplace_back(where + ".severity must be info|warning|error|critical");
    }
    for (const char* k : {"title", "cause", "remedy"}) {
      if (!text(r, k)) bad.emplace_back(where + "." + k + " must be a non-empty string");
    }
    check_pattern(r["pattern"], where, bad);
  }
}

void check_lists(const json& m, std::vector<std::string>& bad) {
  for (size_t i = 0; i < m["logs"].size(); ++i) {
    const json& l = m["logs"][i];
    const std::string where = "logs[" + std::to_string(i) + "]";
    if (!only_keys(l, {"name", "paths", "encoding"}, where, bad)) continue;
    if (!text(l, "name") || !l["paths"].is_array() || l["paths"].empty()) {
      bad.emplace_back(where + " needs a name and a non-empty paths array");
    }
    if (!l["encoding"].is_string() ||
        !std::set<std::string>{"auto", "utf-8", "gb18030"}.contains(l["encoding"])) {
      bad.emplace_back(where + ".encoding must be auto|utf-8|gb18030");
    }
  }
  for (size_t i = 0; i < m["redact"].size(); ++i) {
    const std::string where = "redact[" + std::to_string(i) + "]";
    if (only_keys(m["redact"][i], {"name", "pattern"}, where, bad)) {
      check_pattern(m["redact"][i]["pattern"], where, bad);
    }
  }
}

std::vector<std::string> manifest_problems(const json& m, const std::string& dir) {
  std::vector<std::string> bad;
  if (!only_keys(m, {"name", "description", "collect", "logs", "rules", "fixes", "redact"},
                 "plugin.json", bad)) {
    return bad;
  }
  const std::string name = m["name"].is_string() ? m["name"].get<std::string>() : "";
  if (!std::regex_match(name, kNameRe) || name != fs::path(dir).filename().string()) {
    bad.emplace_back("name '" + name + "' must be valid and equal the folder name");
  }
  if (!text(m, "description")) bad.emplace_back("description must be a non-empty string");
  for (const char* k : {"logs", "rules", "fixes", "redact"}) {
    if (!m[k].is_array()) bad.emplace_back(std::string(k) + " must be an array");
  }
  if (!bad.empty()) return bad;
  check_collect(m["collect"], dir, bad);
  check_rules(m["rules"], bad);
  check_lists(m, bad);
  return bad;
}

// ---------------------------------------------------------------------------
// Manifests

TEST(ShippedPlugins, EveryManifestFollowsTheContract) {
  std::set<std::string> found;
  for (const auto& entry : fs::directory_iterator(kPlugins)) {
    if (!entry.is_directory()) continue;
    found.insert(entry.path().filename().string());
    const json m = json::parse(read_file(entry.path().string() + "/plugin.json"), nullptr, false);
    ASSERT_FALSE(m.is_discarded()) << entry.path() << "/plugin.json is not JSON";
    const auto bad = manifest_problems(m, entry.path().string());
    EXPECT_TRUE(bad.empty()) << entry.path() << ":\n" << ::testing::PrintToString(bad);
  }
  // A plugin folder dropped (or added without a test) shows up here.
  EXPECT_EQ(found, (std::set<std::string>{"erp-app", "java-app", "mysql", "postgresql"}));
}

// The check above would pass anything if it were broken: each fixture breaks
// one rule of the contract and must be caught, naming what is wrong.
TEST(ShippedPlugins, ContractCheckCatchesBrokenManifests) {
  const std::map<std::string, std::string> cases = {
      {"unknown_key.json", "unknown key 'collector'"},
      {"bad_severity.json", "severity must be"},
      {"duplicate_rule.json", "id repeats"},
      {"wrong_name.json", "equal the folder name"},
      {"timeout_zero.json", "timeout_s must be"},
      {"lookbehind.json", "lookbehind"},
      {"bad_regex.json", "does not compile"},
      {"absolute_command.json", "executable inside the folder"}};
  for (const auto& [file, expected] : cases) {
    const json m = json::parse(read_file(concat({kFixtures, "/manifests/", file})));
    const auto bad = manifest_problems(m, kPlugins + "/postgresql");
    const std::string all = ::testing::PrintToString(bad);
    EXPECT_NE(all.find(expected), std::string::npos) << file << ": " << all;
  }
}

// The lines of `lines` that grep -P (PCRE2, as the agent's span finder)
// prints for `pattern`, or with `invert` the lines it does not match.
std::string grep(const std::string& pattern, const json& lines, bool invert) {
  std::string input;
  for (const auto& l : lines) input += l.get<std::string>() + "\n";
  std::vector<std::string> argv = {"/bin/grep", "-P", "-e", pattern};
  if (invert) argv.emplace_back("-v");
  return run(argv, {.stdin_data = input}).out;
}

// Every rule and redaction pattern flags the log lines it was written for
// (fixture lines in the shapes the products really write) and no routine line.
TEST(ShippedPlugins, PatternsMatchTheirLogLinesAndNoRoutineLine) {
  const json samples = json::parse(read_file(kFixtures + "/log_samples.json"));
  for (const std::string name : {"erp-app", "java-app", "mysql", "postgresql"}) {
    const json m = json::parse(read_file(concat({kPlugins, "/", name, "/plugin.json"})));
    const json& match = samples[name]["match"];
    std::map<std::string, std::string> patterns;  // rule id or redaction name -> pattern
    for (const auto& r : m["rules"]) patterns[r["id"]] = r["pattern"];
    for (const auto& r : m["redact"]) patterns[r["name"]] = r["pattern"];
    for (const auto& [id, pattern] : patterns) {
      ASSERT_TRUE(match.contains(id)) << name << ": no sample line for " << id;
      EXPECT_EQ(grep(pattern, match[id], true), "") << name << " " << id << " misses these";
      EXPECT_EQ(grep(pattern, samples[name]["quiet"], false), "")
          << name << " " << id << " flags routine lines";
    }
    // A sample for a rule that was renamed or dropped is a stale test.
    EXPECT_EQ(match.size(), patterns.size()) << name;
  }
}

// The template's two halves must agree: a code in erp-app.json without a log
// rule in plugin.json would be explained but never flagged in logs.
TEST(ShippedErpTemplate, EveryCodeHasALogRuleAndEveryLogFolderIsScanned) {
  const json cfg = json::parse(read_file(kPlugins + "/erp-app/erp-app.json"));
  const json manifest = json::parse(read_file(kPlugins + "/erp-app/plugin.json"));
  for (const auto& code : cfg["codes"]) {
    const std::string id = code["code"];
    bool ruled = false;
    for (const auto& r : manifest["rules"]) {
      ruled |= r["pattern"].get<std::string>().find(id) != std::string::npos &&
               r["severity"] == code["severity"] && r["cause"] == code["cause"]["en"];
    }
    EXPECT_TRUE(ruled) << id << " has no matching rule in plugin.json";
  }
  for (const auto& dir : cfg["log_dirs"]) {
    bool scanned = false;
    for (const auto& p : manifest["logs"][0]["paths"]) {
      scanned |= p.get<std::string>().starts_with(dir.get<std::string>() + "/");
    }
    EXPECT_TRUE(scanned) << dir << " is not in plugin.json logs";
  }
}

}  // namespace
}  // namespace rdiag::test::shipped
