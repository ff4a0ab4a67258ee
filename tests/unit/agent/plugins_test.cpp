// Plugins on real files and real processes: discovery's ownership and mode
// rules, env files, and runs of the fake plugins in tests/fixtures/plugins.
// Fixtures are copied into a temporary folder with explicit modes: a
// checkout's modes follow the umask.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agent/plugins/discovery.h"
#include "agent/plugins/manifest.h"
#include "agent/plugins/run.h"
#include "common/i18n.h"

namespace rdiag::agent::plugins {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

::testing::AssertionResult Contains(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

void write_file(const fs::path& path, const std::string& text, mode_t mode) {
  std::ofstream(path, std::ios::binary) << text;
  ::chmod(path.c_str(), mode);
}

// A private folder for one test, with a 0755 plugins dir inside.
class PluginTree : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rdiag-plugins-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    ::chmod(root_.c_str(), 0755);
    plugins_ = root_ / "plugins";
    fs::create_directory(plugins_);
    ::chmod(plugins_.c_str(), 0755);
    i18n::set_lang(i18n::Lang::kEn);
  }
  void TearDown() override { fs::remove_all(root_); }

  // Copies fixture `name` into `dir` as root-owned 0755 folder, 0644
  // plugin.json and 0755 program.
  fs::path install(const std::string& name, const fs::path& dir) {
    const fs::path src = fs::path(RDIAG_SOURCE_DIR) / "tests/fixtures/plugins" / name;
    const fs::path dst = dir / name;
    fs::create_directory(dst);
    ::chmod(dst.c_str(), 0755);
    for (const auto& e : fs::directory_iterator(src)) {
      fs::copy_file(e.path(), dst / e.path().filename());
      const bool json_file = e.path().extension() == ".json";
      ::chmod((dst / e.path().filename()).c_str(), json_file ? 0644 : 0755);
    }
    return dst;
  }
  fs::path install(const std::string& name) { return install(name, plugins_); }

  std::vector<Plugin> discover_all() {
    auto d = discover({plugins_.string()}, ::geteuid());
    for (const auto& e : d.refused) ADD_FAILURE() << "refused: " << e.message;
    return d.plugins;
  }

  fs::path root_, plugins_;
};

// ---- discovery ----

TEST_F(PluginTree, DiscoversATrustedPlugin) {
  install("good");
  const auto d = discover({plugins_.string(), (root_ / "absent").string()}, ::geteuid());
  EXPECT_TRUE(d.refused.empty());  // the absent dir is not an error either
  ASSERT_EQ(d.plugins.size(), 1u);
  EXPECT_EQ(d.plugins[0].name, "good");
  EXPECT_EQ(d.plugins[0].dir, (plugins_ / "good").string());
}

TEST_F(PluginTree, GroupWritableManifestIsRefusedByName) {
  const auto dir = install("good");
  install("broken");
  ::chmod((dir / "plugin.json").c_str(), 0664);
  const auto d = discover({plugins_.string()}, ::geteuid());
  ASSERT_EQ(d.plugins.size(), 1u);  // the other plugin is unaffected
  EXPECT_EQ(d.plugins[0].name, "broken");
  ASSERT_EQ(d.refused.size(), 1u);
  EXPECT_TRUE(Contains(d.refused[0].message, (dir / "plugin.json").string()));
  EXPECT_TRUE(Contains(d.refused[0].message, "chmod go-w"));
}

TEST_F(PluginTree, WorldWritableFoldersAreRefused) {
  const auto dir = install("good");
  ::chmod(dir.c_str(), 0757);
  auto d = discover({plugins_.string()}, ::geteuid());
  EXPECT_TRUE(d.plugins.empty());
  ASSERT_EQ(d.refused.size(), 1u);
  EXPECT_TRUE(Contains(d.refused[0].message, dir.string() + " is writable"));
  ::chmod(dir.c_str(), 0755);
  ::chmod(plugins_.c_str(), 01777);  // even sticky, like /tmp
  d = discover({plugins_.string()}, ::geteuid());
  EXPECT_TRUE(d.plugins.empty());
  ASSERT_EQ(d.refused.size(), 1u);
  EXPECT_TRUE(Contains(d.refused[0].message, plugins_.string() + " is writable"));
}

TEST_F(PluginTree, ProgramMustBeTrustedToo) {
  const auto dir = install("good");
  ::chmod((dir / "collect.sh").c_str(), 0775);
  const auto d = discover({plugins_.string()}, ::geteuid());
  EXPECT_TRUE(d.plugins.empty());
  ASSERT_EQ(d.refused.size(), 1u);
  EXPECT_TRUE(Contains(d.refused[0].message, (dir / "collect.sh").string()));
}

TEST_F(PluginTree, ForeignOwnerIsRefusedUnlessTrusted) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown needs root (CI runs as root)";
  const auto dir = install("good");
  ASSERT_EQ(::chown((dir / "plugin.json").c_str(), 65534, 65534), 0);
  auto d = discover({plugins_.string()}, ::geteuid());
  EXPECT_TRUE(d.plugins.empty());
  ASSERT_EQ(d.refused.size(), 1u);
  EXPECT_TRUE(Contains(d.refused[0].message, (dir / "plugin.json").string()));
  EXPECT_TRUE(Contains(d.refused[0].message, "uid 65534"));
  EXPECT_TRUE(Contains(d.refused[0].message, "chown root"));
  d = discover({plugins_.string()}, 65534);  // the agent's own account is trusted
  EXPECT_EQ(d.plugins.size(), 1u);
}

TEST_F(PluginTree, DuplicateNameInALaterDirIsRefused) {
  const fs::path second = root_ / "plugins.d";
  fs::create_directory(second);
  ::chmod(second.c_str(), 0755);
  install("good");
  const auto later = install("good", second);
  const auto d = discover({plugins_.string(), second.string()}, ::geteuid());
  ASSERT_EQ(d.plugins.size(), 1u);
  EXPECT_EQ(d.plugins[0].dir, (plugins_ / "good").string());
  ASSERT_EQ(d.refused.size(), 1u);
  EXPECT_EQ(d.refused[0].reason, "duplicate");
  EXPECT_TRUE(Contains(d.refused[0].message, (later / "plugin.json").string()));
  EXPECT_TRUE(Contains(d.refused[0].message, (plugins_ / "good" / "plugin.json").string()));
}

TEST_F(PluginTree, BadManifestIsRefusedWithItsError) {
  const auto dir = install("good");
  write_file(dir / "plugin.json",
             R"({"name": "good", "collect": {"command": ["collect.sh"], "timeout_s": 0}})", 0644);
  const auto d = discover({plugins_.string()}, ::geteuid());
  ASSERT_EQ(d.refused.size(), 1u);
  EXPECT_TRUE(Contains(d.refused[0].message, "'collect.timeout_s'"));
}

// ---- env files ----

TEST_F(PluginTree, EnvFileReadsKeyValueLines) {
  const auto path = root_ / "pg.env";
  write_file(path, "# credentials for the collector\n\nPGPASSWORD=s3cr=t x\r\nPGHOST=127.0.0.1\n",
             0600);
  const auto env = read_env_file(path.string(), ::geteuid());
  ASSERT_TRUE(env) << env.error().message;
  EXPECT_EQ(*env, (std::vector<std::string>{"PGPASSWORD=s3cr=t x", "PGHOST=127.0.0.1"}));
}

TEST_F(PluginTree, EnvFileErrorsNameLineButNeverQuoteIt) {
  const auto path = root_ / "pg.env";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"PGHOST=db\nhunter2\n", "line 2"},
      {"pg_password=hunter2\n", "line 1"},
      {"PGHOST=a\n\nPGHOST=hunter2\n", "line 3"},
  };
  for (const auto& [text, line] : cases) {
    write_file(path, text, 0600);
    const auto env = read_env_file(path.string(), ::geteuid());
    ASSERT_FALSE(env) << text;
    EXPECT_TRUE(Contains(env.error().message, path.string()));
    EXPECT_TRUE(Contains(env.error().message, line));
    EXPECT_FALSE(Contains(env.error().message, "hunter2")) << env.error().message;
  }
}

TEST_F(PluginTree, EnvFileMustNotBeWorldReadableOrWritable) {
  const auto path = root_ / "pg.env";
  write_file(path, "PGPASSWORD=x\n", 0644);
  auto env = read_env_file(path.string(), ::geteuid());
  ASSERT_FALSE(env);
  EXPECT_TRUE(Contains(env.error().message, "chmod o-r " + path.string()));
  ::chmod(path.c_str(), 0620);
  env = read_env_file(path.string(), ::geteuid());
  ASSERT_FALSE(env);
  EXPECT_TRUE(Contains(env.error().message, "chmod go-w"));
  ::chmod(path.c_str(), 0640);  // group-readable is fine: the worker may read it through a group
  EXPECT_TRUE(read_env_file(path.string(), ::geteuid()));
}

// ---- runs ----

json by_name(const json& entries, const std::string& name) {
  for (const auto& e : entries) {
    if (e["name"] == name) return e;
  }
  ADD_FAILURE() << "no entry " << name << " in " << entries.dump();
  return json::object();
}

TEST_F(PluginTree, GoodPluginGivesDataAndSourcedFindings) {
  install("good");
  const json entries = run_plugins(discover_all(), {});
  ASSERT_EQ(entries.size(), 1u);
  const json& e = entries[0];
  EXPECT_EQ(e["ok"], true) << e.dump();
  EXPECT_EQ(e["data"]["version"], "15.4");
  EXPECT_FALSE(e["data"].contains("findings"));
  ASSERT_EQ(e["findings"].size(), 1u);
  EXPECT_EQ(e["findings"][0]["source"], "plugin:good");
  EXPECT_EQ(e["findings"][0]["title"], "连接数接近上限");
  EXPECT_GE(e["elapsed_ms"].get<int>(), 0);
}

TEST_F(PluginTree, EveryKindOfBadPluginIsItsOwnErrorEntry) {
  for (const char* n : {"hang", "flood", "broken", "exit3", "segv", "badfind", "good"}) install(n);
  RunOptions opt;
  opt.parallel = 8;
  opt.output_cap = 64u << 10;
  const auto start = std::chrono::steady_clock::now();
  const json entries = run_plugins(discover_all(), opt);
  // hang's manifest says 2 s; the others finish at once.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(3500));
  ASSERT_EQ(entries.size(), 7u);
  EXPECT_EQ(by_name(entries, "hang")["error"]["reason"], "timeout");
  EXPECT_TRUE(Contains(by_name(entries, "hang")["error"]["stderr"], "pids "));
  EXPECT_EQ(by_name(entries, "flood")["error"]["reason"], "overflow");
  EXPECT_EQ(by_name(entries, "broken")["error"]["reason"], "bad_json");
  const json segv = by_name(entries, "segv");
  EXPECT_EQ(segv["error"]["reason"], "signal");
  EXPECT_TRUE(Contains(segv["error"]["message"], "SIGSEGV"));
  const json bad = by_name(entries, "badfind");
  EXPECT_EQ(bad["error"]["reason"], "bad_findings");
  EXPECT_TRUE(Contains(bad["error"]["message"], "findings[1].severity"));
  EXPECT_EQ(by_name(entries, "good")["ok"], true);
  // Non-zero exit: an error entry that still carries the plugin's findings.
  const json down = by_name(entries, "exit3");
  EXPECT_EQ(down["ok"], false);
  EXPECT_EQ(down["error"]["reason"], "exit_status");
  EXPECT_EQ(down["error"]["stderr"], "could not connect\n");
  ASSERT_EQ(down["findings"].size(), 1u);
  EXPECT_EQ(down["findings"][0]["id"], "db-down");
  EXPECT_EQ(down["findings"][0]["source"], "plugin:exit3");
  for (const auto& e : entries) {
    if (e["ok"] == false) {
      EXPECT_FALSE(e["error"]["message"].get<std::string>().empty());
    }
  }
}

// The job's deadline: a plugin with under a second left is not started, and
// one that would outlast the job is cut to what is left, with a message
// that blames the time left, not the plugin's own timeout_s.
TEST_F(PluginTree, TheJobsDeadlineSkipsOrCutsPlugins) {
  install("good");
  RunOptions late;
  late.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  json entries = run_plugins(discover_all(), late);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["error"]["reason"], "no_time") << entries.dump();
  EXPECT_TRUE(Contains(entries[0]["error"]["message"], "plugin good: not started"));

  const fs::path slow = plugins_ / "slow";
  fs::create_directory(slow);
  ::chmod(slow.c_str(), 0755);
  write_file(slow / "plugin.json",
             R"({"name": "slow", "collect": {"command": ["run.sh"], "timeout_s": 60}})", 0644);
  write_file(slow / "run.sh", "#!/bin/sh\nexec sleep 1000\n", 0755);
  fs::remove_all(plugins_ / "good");
  RunOptions soon;
  soon.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1900);
  entries = run_plugins(discover_all(), soon);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["error"]["reason"], "timeout") << entries.dump();
  EXPECT_TRUE(Contains(entries[0]["error"]["message"], "within the 1 s the diagnosis had left"))
      << entries[0]["error"]["message"];
}

// A plugin that waits for a free slot is judged when it starts, not when
// the run began: one at a time, hang takes its 2 s, and good then finds
// less than a second of the diagnosis left.
TEST_F(PluginTree, APluginThatStartsLateGetsOnlyTheTimeLeftThen) {
  install("hang");  // timeout_s 2
  const fs::path late = plugins_ / "zz-late";
  fs::create_directory(late);
  ::chmod(late.c_str(), 0755);
  write_file(late / "plugin.json",
             R"({"name": "zz-late", "collect": {"command": ["run.sh"], "timeout_s": 30}})", 0644);
  write_file(late / "run.sh", "#!/bin/sh\necho '{}'\n", 0755);
  RunOptions one_at_a_time;
  one_at_a_time.parallel = 1;
  one_at_a_time.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(2600);
  const json entries = run_plugins(discover_all(), one_at_a_time);  // hang, then zz-late
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(by_name(entries, "hang")["error"]["reason"], "timeout") << entries.dump();
  EXPECT_EQ(by_name(entries, "zz-late")["error"]["reason"], "no_time") << entries.dump();
  EXPECT_TRUE(Contains(by_name(entries, "zz-late")["error"]["message"], "not started"));
}

TEST_F(PluginTree, PluginSeesOnlyStdioDescriptors) {
  install("fds");
  const json entries = run_plugins(discover_all(), {});
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["data"]["fds"], json::parse("[0,1,2]")) << entries.dump();
}

TEST_F(PluginTree, PluginGetsScrubbedEnvPlusEnvFileAndNoSecretInArgv) {
  const auto dir = install("env");
  const auto env_path = root_ / "env.env";
  write_file(env_path, "PGPASSWORD=s3cret-value\nPATH=/usr/bin:/bin\n", 0600);
  write_file(dir / "plugin.json",
             R"({"name": "env", "collect": {"command": ["collect.py", "--flag"],
      "timeout_s": 2, "env_file": ")" +
                 env_path.string() + "\"}}",
             0644);
  RunOptions opt;
  opt.lang = "zh_CN.UTF-8";
  const json entries = run_plugins(discover_all(), opt);
  ASSERT_EQ(entries.size(), 1u);
  const json& data = entries[0]["data"];
  const json want = {{"LANG", "zh_CN.UTF-8"},
                     {"LC_ALL", "zh_CN.UTF-8"},
                     {"RDIAG_PLUGIN_DIR", dir.string()},
                     {"PGPASSWORD", "s3cret-value"},
                     {"PATH", "/usr/bin:/bin"}};  // env_file replaces the default PATH
  EXPECT_EQ(data["env"], want) << entries.dump();
  EXPECT_EQ(data["argv"], json({(dir / "collect.py").string(), "--flag"}));
  EXPECT_FALSE(Contains(data["cmdline"], "s3cret"));
  EXPECT_EQ(data["cwd"], dir.string());
}

TEST_F(PluginTree, EnvFileProblemIsThatPluginsEntry) {
  const auto dir = install("env");
  const auto env_path = root_ / "pg.env";
  write_file(dir / "plugin.json",
             R"({"name": "env", "collect": {"command": ["collect.py"],
      "env_file": ")" +
                 env_path.string() + "\"}}",
             0644);
  install("good");
  write_file(plugins_ / "logsonly.json", "{}", 0644);  // not a folder: ignored
  // A fresh install has no env file yet: the plugin runs with its defaults
  // and learns which file is missing, so it can say what to configure.
  json entries = run_plugins(discover_all(), {});
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(by_name(entries, "env")["ok"], true) << entries.dump();
  EXPECT_EQ(by_name(entries, "env")["data"]["env"]["RDIAG_ENV_FILE_MISSING"], env_path.string());
  // One that exists but cannot be read as KEY=VALUE lines stops that plugin
  // alone (a world-readable one is refused at discovery, above).
  write_file(env_path, "PGPASSWORD x\n", 0600);
  entries = run_plugins(discover_all(), {});
  EXPECT_EQ(by_name(entries, "env")["error"]["reason"], "env_file");
  EXPECT_TRUE(Contains(by_name(entries, "env")["error"]["message"], "pg.env"));
  EXPECT_EQ(by_name(entries, "good")["ok"], true);
}

TEST(PluginRun, PluginsWithoutCollectHaveNoEntry) {
  auto p = parse_manifest(R"({"name": "pg", "rules": []})", "/opt/plugins/pg/plugin.json");
  ASSERT_TRUE(p);
  EXPECT_EQ(run_plugins({*p}, {}), json::array());
}

}  // namespace
}  // namespace rdiag::agent::plugins
