// The notify_command runner against real child processes: /bin/sh scripts in
// a temporary folder are the notify command, not a mock. As root (CI
// containers) the runs drop to `nobody`, so the folder is world-writable.
#include "agent/consent/notify.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/i18n.h"

namespace rdiag::agent {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

class NotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    i18n::set_lang(i18n::Lang::kEn);
    std::string tmpl = (fs::temp_directory_path() / "rdiag-notify-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0777);  // NOLINT: the dropped-to account writes its answers here
    if (::geteuid() == 0) options_.account = "nobody";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  std::string script(const std::string& name, const std::string& body) const {
    std::string path = file(name);
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), 0755);
    return path;
  }

  Result<std::optional<Notifier>> from(const json& command) const {
    AgentConfig cfg;
    cfg.source = "/etc/rdiag/agent.json";
    cfg.raw = {{"state_dir", "/var/lib/rdiag"}, {"notify_command", command}};
    return Notifier::from_config(cfg, options_);
  }

  Notifier make(const json& command) const {
    auto n = from(command);
    EXPECT_TRUE(n) << n.error().message;
    EXPECT_TRUE(n && n->has_value());
    return std::move(**n);
  }

  static std::vector<NotifyOutcome> wait_for(Notifier& n, std::size_t count) {
    std::vector<NotifyOutcome> all;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (all.size() < count && std::chrono::steady_clock::now() < deadline) {
      for (auto& o : n.poll()) all.push_back(std::move(o));
      if (all.size() < count) std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(all.size(), count) << "runs did not end in 30 s";
    return all;
  }

  static NotifyOutcome run_once(Notifier& n,
                                const std::map<std::string, std::string>& values = {}) {
    auto r = n.start(values, "REQ-1");
    EXPECT_TRUE(r) << r.error().message;
    auto all = wait_for(n, 1);
    return all.empty() ? NotifyOutcome{} : all[0];
  }

  // Bounded wait for a file a child writes (it may still be writing).
  static std::string read_when_there(const std::string& path) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!fs::exists(path) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string dir_;
  NotifyOptions options_;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

TEST_F(NotifyTest, SubstitutesPlaceholdersAsSeparateArguments) {
  const std::string out = file("argv");
  const std::string cmd = script("argv.sh", R"(out=$1; shift; printf '%s\0' "$@" > "$out")");
  Notifier n = make({cmd, out, "--request", "{request_id}", "--ticket={ticket}", "{engineer}",
                     "id={engineer_id}", "{scopes}", "{minutes}", "{kind}", "{}{ x }"});
  const auto o = run_once(n, {{"request_id", "20261128-060500-7KQ2"},
                              {"ticket", "ERP-1024"},
                              {"engineer", "李伟; touch /tmp/pwned $(id)"},
                              {"engineer_id", "{ticket}"},
                              {"scopes", "diagnose,shell"},
                              {"minutes", "60"},
                              {"kind", "request"}});
  EXPECT_TRUE(o.ok) << o.why;
  EXPECT_EQ(o.tag, "REQ-1");
  EXPECT_EQ(split(read_when_there(out), '\0'),
            (std::vector<std::string>{"--request", "20261128-060500-7KQ2", "--ticket=ERP-1024",
                                      "李伟; touch /tmp/pwned $(id)", "id={ticket}",
                                      "diagnose,shell", "60", "request", "{}{ x }"}));
  EXPECT_EQ(n.running(), 0U);
}

TEST_F(NotifyTest, RunsAsTheNotifyAccountWhenRootElseAsItself) {
  const std::string out = file("id");
  Notifier n = make({script("id.sh", R"(id -u > "$1"; id -G >> "$1")"), out});
  ASSERT_TRUE(run_once(n).ok);
  const auto lines = split(read_when_there(out), '\n');
  ASSERT_EQ(lines.size(), 2U);
  const uid_t want = ::geteuid() == 0 ? ::getpwnam("nobody")->pw_uid : ::geteuid();
  EXPECT_EQ(lines[0], std::to_string(want));
  if (::geteuid() == 0) {
    for (const auto& g : split(lines[1], ' ')) EXPECT_NE(g, "0") << "root's group kept";
  }
}

TEST_F(NotifyTest, MissingAccountMeansNotRunAsRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "the account is used only when the agent runs as root";
  options_.account = "rdiag-test-no-such-account";
  const std::string out = file("ran");
  Notifier n = make({script("ran.sh", "touch \"$1\""), out});
  const auto o = run_once(n);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.why.find("useradd --system rdiag-test-no-such-account"), std::string::npos) << o.why;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(NotifyTest, NonZeroExitIsAFailureWithItsStatus) {
  Notifier n = make({script("fail.sh", "exit 3")});
  const auto o = run_once(n);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.why, "exit status 3");
}

// The monitor blocks SIGCHLD, SIGTERM, ... (for its signalfd) and ignores
// SIGPIPE: the command must get ordinary signal handling all the same.
TEST_F(NotifyTest, CommandGetsDefaultSignalsAndItsDeathIsReported) {
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigset_t old;
  ::sigprocmask(SIG_BLOCK, &block, &old);
  Notifier n = make({script("term.sh", "kill -TERM $$; exit 0")});
  const auto o = run_once(n);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.why, "signal 15 (TERM)");
}

TEST_F(NotifyTest, StderrShowsUpInWhy) {
  Notifier n = make({script("say.sh", "echo '邮件服务器拒绝: mail relay refused' >&2; exit 1")});
  const auto o = run_once(n);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.why, "exit status 1; it wrote: 邮件服务器拒绝: mail relay refused");
}

// 200 KB is more than a pipe holds: the runner must keep reading, or the
// command blocks on write until the timeout.
TEST_F(NotifyTest, FloodedStderrIsCappedAndValidUtf8) {
  Notifier n = make({script("flood.sh",
                            "i=0; while [ $i -lt 20000 ]; do printf '错误' >&2; i=$((i+1)); done; "
                            "exit 2")});
  const auto o = run_once(n);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.why.rfind("exit status 2; it wrote: 错误", 0), 0U) << o.why.substr(0, 80);
  EXPECT_LT(o.why.size(), kNotifyStderrBytes + 64);
  EXPECT_EQ(o.why.find("\xEF\xBF\xBD"), std::string::npos) << "a character was cut in two";
  EXPECT_EQ(o.why.substr(o.why.size() - 3), "…");
}

bool gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  // Killed but not yet reaped by init (containers) counts as gone.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  return close != std::string::npos && line.size() > close + 2 && line[close + 2] == 'Z';
}

TEST_F(NotifyTest, HangingRunIsKilledWithWhatItStarted) {
  options_.timeout = 500ms;
  const std::string pids = file("pids");
  Notifier n = make({script("hang.sh",
                            "sleep 60 & echo $! > \"$1.tmp\"; mv \"$1.tmp\" \"$1\"; "
                            "sleep 60"),
                     pids});
  ASSERT_TRUE(n.start({}, "REQ-2"));
  const std::string text = read_when_there(pids);
  ASSERT_FALSE(text.empty()) << "the script did not start its background child";
  const pid_t grandchild = std::stoi(text);
  const auto all = wait_for(n, 1);
  ASSERT_EQ(all.size(), 1U);
  EXPECT_FALSE(all[0].ok);
  EXPECT_EQ(all[0].why, "killed after 0.5 s timeout");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!gone(grandchild) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone(grandchild)) << "the background sleep survived the timeout";
}

TEST_F(NotifyTest, MissingExecutableCouldNotStart) {
  Notifier n = make({file("no-such-notify-it"), "--request", "{request_id}"});
  const auto o = run_once(n);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.why, "could not start " + file("no-such-notify-it") + ": No such file or directory");
}

TEST_F(NotifyTest, ChildSeesOnlyStandardDescriptors) {
  // A descriptor this process leaks (no CLOEXEC) must not reach the command.
  const int leaked = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaked, 3);
  const std::string out = file("fds");
  // sh -c, not a script: dash keeps a script file open on fd 10.
  Notifier n = make({"/bin/sh", "-c",
                     "exec > \"$0\"; for f in /proc/$$/fd/*; do "
                     "if [ -e \"$f\" ]; then echo ${f##*/}; fi; done",
                     out});
  const auto o = run_once(n);
  ::close(leaked);
  EXPECT_TRUE(o.ok) << o.why;
  EXPECT_EQ(split(read_when_there(out), '\n'), (std::vector<std::string>{"0", "1", "2"}));
}

TEST_F(NotifyTest, EnvironmentHoldsOnlyPathAndLanguage) {
  const char* old_lang = std::getenv("LANG");
  const std::string saved = old_lang != nullptr ? old_lang : "";
  ::setenv("RDIAG_TEST_SECRET", "hunter2", 1);
  ::setenv("LANG", "zh_CN.UTF-8", 1);
  ::unsetenv("LC_ALL");
  const std::string out = file("env");
  // /proc/PID/environ is exactly what execve got; a shell would add PWD.
  Notifier n = make({"/bin/sh", "-c", R"(tr '\0' '\n' < /proc/$$/environ > "$0")", out});
  const auto o = run_once(n);
  ::unsetenv("RDIAG_TEST_SECRET");
  if (old_lang != nullptr) {
    ::setenv("LANG", saved.c_str(), 1);
  } else {
    ::unsetenv("LANG");
  }
  EXPECT_TRUE(o.ok) << o.why;
  EXPECT_EQ(split(read_when_there(out), '\n'),
            (std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=zh_CN.UTF-8"}));
}

TEST_F(NotifyTest, AtMostEightRunsAtOnce) {
  Notifier n = make({script("slow.sh", "sleep 60")});
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(n.start({}, "R" + std::to_string(i)));
  EXPECT_EQ(n.running(), 8U);
  ASSERT_TRUE(n.start({}, "R8"));
  EXPECT_EQ(n.running(), 8U);
  const auto all = n.poll();
  ASSERT_EQ(all.size(), 1U);
  EXPECT_EQ(all[0].tag, "R8");
  EXPECT_FALSE(all[0].ok);
  EXPECT_EQ(all[0].why.rfind("too many notify runs still going", 0), 0U) << all[0].why;
}  // the destructor kills and reaps the eight

TEST_F(NotifyTest, AbsentOrNullMeansNoNotifications) {
  AgentConfig cfg;
  cfg.raw = {{"state_dir", "/var/lib/rdiag"}};
  auto absent = Notifier::from_config(cfg);
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->has_value());
  auto null = from(nullptr);
  ASSERT_TRUE(null);
  EXPECT_FALSE(null->has_value());
}

std::string error_of(const Result<std::optional<Notifier>>& r) {
  EXPECT_FALSE(r);
  return r ? "" : r.error().message;
}

TEST_F(NotifyTest, ConfigErrorsNameFileKeyAndFix) {
  const std::string list = error_of(from("/usr/local/bin/notify-it --request {request_id}"));
  EXPECT_EQ(list.rfind("/etc/rdiag/agent.json: 'notify_command' must be a non-empty list", 0), 0U)
      << list;
  EXPECT_NE(list.find(R"(["/usr/local/bin/notify-it", "--request", "{request_id}"])"),
            std::string::npos)
      << list;
  EXPECT_NE(error_of(from(json::array())).find("non-empty list"), std::string::npos);
  EXPECT_NE(error_of(from({"/bin/true", 3})).find("non-empty list"), std::string::npos);

  const std::string rel = error_of(from({"notify-it", "{request_id}"}));
  EXPECT_NE(rel.find("'notify_command[0]' is 'notify-it'"), std::string::npos) << rel;
  EXPECT_NE(rel.find("absolute path"), std::string::npos) << rel;

  const std::string unknown = error_of(from({"/usr/local/bin/notify-it", "--pw={password}"}));
  EXPECT_NE(unknown.find("'notify_command[1]' is '--pw={password}'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("{password} is not a placeholder"), std::string::npos) << unknown;
  EXPECT_NE(
      unknown.find("{request_id} {ticket} {engineer} {engineer_id} {scopes} {minutes} {kind}"),
      std::string::npos)
      << unknown;

  const std::string prog = error_of(from({"/usr/local/bin/{kind}"}));
  EXPECT_NE(prog.find("must be fixed"), std::string::npos) << prog;
}

TEST_F(NotifyTest, ConfigErrorsAreTranslated) {
  i18n::set_lang(i18n::Lang::kZhCN);
  const std::string rel = error_of(from({"notify-it"}));
  i18n::set_lang(i18n::Lang::kEn);
  EXPECT_NE(rel.find("绝对路径"), std::string::npos) << rel;
}

}  // namespace
}  // namespace rdiag::agent
