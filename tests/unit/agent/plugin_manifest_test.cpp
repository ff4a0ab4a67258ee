// plugin.json validation: the design's example parses, and every kind of
// mistake is refused with a message naming the file and the field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "agent/plugins/manifest.h"
#include "common/i18n.h"

namespace rdiag::agent::plugins {
namespace {

namespace fs = std::filesystem;

::testing::AssertionResult Contains(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

constexpr const char* kPath = "/opt/rdiag/plugins/postgresql/plugin.json";

TEST(PluginManifest, DesignExampleParses) {
  const auto p = parse_manifest(R"({ "name": "postgresql", "description": "PostgreSQL 15",
    "collect": { "command": ["collect.sh", "--brief"], "timeout_s": 10, "env_file": "/etc/rdiag/postgresql.env" },
    "logs":  [ { "name": "postgresql", "paths": ["/var/log/postgresql/*.log"] } ],
    "rules": [ { "id": "pg-too-many-connections", "pattern": "too many clients already",
                 "severity": "error", "cause": "连接数已满", "remedy": "..." } ],
    "fixes": [ { "name": "pg-reload", "command": ["sudo","-n"], "params": {}, "description": "..." } ],
    "redact": [ { "name": "pg-password", "pattern": "password=\\S+" } ] })",
                                kPath);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->dir, "/opt/rdiag/plugins/postgresql");
  ASSERT_TRUE(p->collect);
  EXPECT_EQ(p->collect->env_file, "/etc/rdiag/postgresql.env");
  EXPECT_EQ(program_path(*p), "/opt/rdiag/plugins/postgresql/collect.sh");
  EXPECT_EQ(p->logs.at(0).encoding, "auto");
  EXPECT_EQ(p->rules.at(0).title, "pg-too-many-connections");  // no title: the id stands in
  EXPECT_EQ(p->rules.at(0).cause, "连接数已满");
  EXPECT_EQ(p->redact.at(0).pattern, "password=\\S+");
  EXPECT_EQ(p->fixes.size(), 1u);
}

TEST(PluginManifest, EveryErrorNamesFileAndField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"name": "postgresql", "descripton": "typo"})", "'descripton'"},
      {R"({"description": "no name"})", "'name'"},
      {R"({"name": "PostgreSQL"})", "'name'"},
      {R"({"name": "mysql"})", "'postgresql'"},
      {R"({"name": "postgresql", "collect": "collect.sh"})", "'collect'"},
      {R"({"name": "postgresql", "collect": {"timeout_s": 5}})", "'collect.command'"},
      {R"({"name": "postgresql", "collect": {"command": []}})", "'collect.command'"},
      {R"({"name": "postgresql", "collect": {"command": ["../../bin/sh"]}})",
       "'collect.command[0]'"},
      {R"({"name": "postgresql", "collect": {"command": ["c"], "timeout_s": 0}})",
       "'collect.timeout_s'"},
      {R"({"name": "postgresql", "collect": {"command": ["c"], "timeout_s": 301}})",
       "'collect.timeout_s'"},
      {R"({"name": "postgresql", "collect": {"command": ["c"], "timeout_s": "10"}})",
       "'collect.timeout_s'"},
      {R"({"name": "postgresql", "collect": {"command": ["c"], "timeout_s": 1.5}})",
       "'collect.timeout_s'"},
      {R"({"name": "postgresql", "collect": {"command": ["c"], "env_file": "pg.env"}})",
       "'collect.env_file'"},
      {R"({"name": "postgresql", "collect": {"command": ["c"], "user": "root"}})",
       "'collect.user'"},
      {R"({"name": "postgresql", "logs": [{"name": "pg", "paths": ["pg/*.log"]}]})",
       "'logs[0].paths[0]'"},
      {R"({"name": "postgresql", "logs": [{"name": "pg", "paths": ["/a"], "encoding": "latin1"}]})",
       "'logs[0].encoding'"},
      {R"({"name": "postgresql", "rules": {}})", "'rules'"},
      {R"({"name": "postgresql", "rules": [{"id": "Bad Id", "pattern": "x", "severity": "info"}]})",
       "'rules[0].id'"},
      {R"({"name": "postgresql", "rules": [{"id": "a", "pattern": "", "severity": "info"}]})",
       "'rules[0].pattern'"},
      {R"({"name": "postgresql", "rules": [{"id": "a", "pattern": "x", "severity": "info"},
                                          {"id": "b", "pattern": "x", "severity": "fatal"}]})",
       "'rules[1].severity'"},
      {R"({"name": "postgresql", "rules": [{"id": "a", "pattern": "x", "severity": "info"},
                                          {"id": "a", "pattern": "y", "severity": "info"}]})",
       "'rules[1].id'"},
      {R"({"name": "postgresql", "rules": [{"id": "a", "pattern": "x", "severity": "info", "fix": 1}]})",
       "'rules[0].fix'"},
      {R"({"name": "postgresql", "redact": [{"name": "pw"}]})", "'redact[0].pattern'"},
      {R"({"name": "postgresql", "fixes": [1]})", "'fixes[0]'"},
  };
  for (const auto& [text, field] : cases) {
    const auto p = parse_manifest(text, kPath);
    ASSERT_FALSE(p) << text;
    EXPECT_TRUE(Contains(p.error().message, kPath)) << text;
    EXPECT_TRUE(Contains(p.error().message, field)) << text;
    EXPECT_EQ(p.error().reason, "bad_manifest");
  }
}

TEST(PluginManifest, BrokenJsonAndBadUtf8NameTheFile) {
  auto p = parse_manifest(R"({"name": "postgresql",)", kPath);
  ASSERT_FALSE(p);
  EXPECT_TRUE(Contains(p.error().message, kPath));
  EXPECT_TRUE(Contains(p.error().message, "JSON"));
  // "连接" saved as GB18030 by a Windows editor.
  p = parse_manifest("{\"name\": \"postgresql\", \"description\": \"\xc1\xac\xbd\xd3\"}", kPath);
  ASSERT_FALSE(p);
  EXPECT_TRUE(Contains(p.error().message, kPath));
  EXPECT_TRUE(Contains(p.error().message, "UTF-8"));
  p = parse_manifest("[1]", kPath);
  ASSERT_FALSE(p);
  EXPECT_TRUE(Contains(p.error().message, "object"));
}

TEST(PluginManifest, ErrorsAreTranslated) {
  i18n::set_lang(i18n::Lang::kZhCN);
  const auto p = parse_manifest(R"({"name": "postgresql", "colect": {}})", kPath);
  i18n::set_lang(i18n::Lang::kEn);
  ASSERT_FALSE(p);
  EXPECT_TRUE(Contains(p.error().message, "未知字段“colect”"));
}

// The common catalog test scans for tr("..."); manifest.cpp words its errors
// through a fail("...") helper, so check every id these folders name here.
TEST(PluginCatalog, EveryIdTheRunnerAndPluginsUseExists) {
  static const std::regex kId(R"re("(agent\.(?:plugins|exec)\.[a-z0-9_]+)")re");
  int uses = 0;
  for (const char* dir : {"agent/plugins", "agent/exec"}) {
    for (const auto& f : fs::directory_iterator(fs::path(RDIAG_SOURCE_DIR) / dir)) {
      std::ifstream in(f.path());
      const std::string src((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (auto it = std::sregex_iterator(src.begin(), src.end(), kId);
           it != std::sregex_iterator(); ++it) {
        ++uses;
        EXPECT_TRUE(i18n::has_id((*it)[1].str())) << (*it)[1] << " in " << f.path();
      }
    }
  }
  EXPECT_GT(uses, 40);
}

}  // namespace
}  // namespace rdiag::agent::plugins
