// The process runner on real children: deadlines, caps, signals, process
// groups, descriptors and the environment, with the deliberately bad fake
// plugins of tests/fixtures/plugins run in place (their file modes do not
// matter here; the discovery tests copy them with explicit modes).
#include "agent/exec/process_runner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace rdiag::agent::exec {
namespace {

using std::chrono::milliseconds;

std::string fixture(const std::string& rel) {
  return std::string(RDIAG_SOURCE_DIR) + "/tests/fixtures/plugins/" + rel;
}

RunSpec spec_for(std::vector<std::string> argv, milliseconds timeout = milliseconds(2000)) {
  RunSpec s;
  s.argv = std::move(argv);
  s.env = {"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8"};
  s.timeout = timeout;
  return s;
}

// Alive means present and not a zombie: in a container PID 1 may never reap
// the orphans we kill, which is not our leak.
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

// A killed process closes its descriptors (our pipes' EOF) a moment before
// it turns into a zombie, so allow it a short, bounded while.
bool gone_soon(pid_t pid) {
  for (int i = 0; i < 100 && alive(pid); ++i) ::usleep(10000);
  return !alive(pid);
}

// No child of ours is left unreaped after a run. Read from /proc rather than
// with waitpid(-1), which would reap (and steal) other tests' children.
bool no_zombie_children() {
  const std::string me = std::to_string(::getpid());
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state, ppid;
    rest >> state >> ppid;
    if (ppid == me && state == "Z") return false;
  }
  return true;
}

TEST(ProcessRunner, ReportsExitCodeAndBothStreams) {
  const auto r = run_one(spec_for({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}));
  EXPECT_EQ(r.outcome, RunOutcome::kExited) << outcome_name(r.outcome) << " " << r.error;
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_TRUE(no_zombie_children());
}

TEST(ProcessRunner, GivesExactlyTheEnvironmentAsked) {
  setenv("RDIAG_TEST_LEAK", "should-not-be-seen", 1);
  auto s = spec_for({"/usr/bin/env"});
  s.env = {"A=1", "B=two words"};
  const auto r = run_one(s);
  unsetenv("RDIAG_TEST_LEAK");
  EXPECT_EQ(r.outcome, RunOutcome::kExited);
  EXPECT_EQ(r.out, "A=1\nB=two words\n");
}

TEST(ProcessRunner, StdinIsDevNullAndCwdIsSet) {
  auto s = spec_for({"/bin/sh", "-c", "cat; pwd"});
  s.cwd = "/tmp";
  const auto r = run_one(s);  // a cat on an inherited terminal would hang
  EXPECT_EQ(r.outcome, RunOutcome::kExited);
  EXPECT_EQ(r.out, "/tmp\n");
}

TEST(ProcessRunner, TimeoutKillsLeaderAndGrandchild) {
  const auto r = run_one(spec_for({fixture("hang/collect.sh")}, milliseconds(1000)));
  EXPECT_EQ(r.outcome, RunOutcome::kTimedOut);
  EXPECT_GE(r.elapsed_ms, 900);
  EXPECT_LT(r.elapsed_ms, 2500);
  std::istringstream pids(r.err);
  std::string word;
  pid_t leader = 0, grandchild = 0;
  pids >> word >> leader >> grandchild;
  ASSERT_EQ(word, "pids") << r.err;
  EXPECT_TRUE(gone_soon(leader));
  EXPECT_TRUE(gone_soon(grandchild));
  EXPECT_TRUE(no_zombie_children());
}

TEST(ProcessRunner, HangingChildrenEndTogetherNotOneAfterAnother) {
  std::vector<RunSpec> specs(4, spec_for({fixture("hang/collect.sh")}, milliseconds(1000)));
  const auto start = std::chrono::steady_clock::now();
  const auto results = run_all(specs, 4);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, milliseconds(2500));
  ASSERT_EQ(results.size(), 4u);
  for (const auto& r : results) EXPECT_EQ(r.outcome, RunOutcome::kTimedOut);
}

TEST(ProcessRunner, NormalExitStillKillsTheGroup) {
  // The leader exits at once; its background sleep holds stdout. Without the
  // group kill this run would last until the 5 s deadline.
  const auto r = run_one(spec_for({"/bin/sh", "-c", "sleep 1000 & echo $!"}, milliseconds(5000)));
  EXPECT_EQ(r.outcome, RunOutcome::kExited);
  EXPECT_LT(r.elapsed_ms, 2000);
  EXPECT_TRUE(gone_soon(std::stoi(r.out)));
}

TEST(ProcessRunner, DeadlineBoundsAGrandchildThatLeftTheGroup) {
  // setsid escapes the group kill (a documented limit) and keeps stdout open;
  // the run must still end at the deadline instead of waiting for it. The
  // leader lingers a moment so that setsid happens before the group kill.
  const auto r = run_one(
      spec_for({"/bin/sh", "-c", "setsid sleep 5 & echo $!; sleep 0.3"}, milliseconds(1000)));
  EXPECT_EQ(r.outcome, RunOutcome::kExited);
  EXPECT_GE(r.elapsed_ms, 900);
  EXPECT_LT(r.elapsed_ms, 2500);
  const pid_t escaped = std::stoi(r.out);
  ::kill(escaped, SIGKILL);
  EXPECT_TRUE(gone_soon(escaped));
}

TEST(ProcessRunner, FloodOverCapIsOverflowAndStopsAtTheCap) {
  auto s = spec_for({fixture("flood/collect.sh")});
  s.stdout_cap = 64u << 10;
  const auto r = run_one(s);
  EXPECT_EQ(r.outcome, RunOutcome::kOverflow);
  EXPECT_EQ(r.out.size(), s.stdout_cap);
  EXPECT_LT(r.elapsed_ms, 1500);
  EXPECT_TRUE(no_zombie_children());
}

TEST(ProcessRunner, StderrOverCapIsDroppedNotAnError) {
  auto s = spec_for({"/bin/sh", "-c", "head -c 100000 /dev/zero >&2; echo done"});
  const auto r = run_one(s);
  EXPECT_EQ(r.outcome, RunOutcome::kExited);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err.size(), s.stderr_cap);
  EXPECT_EQ(r.out, "done\n");
}

TEST(ProcessRunner, CrashIsSignaled) {
  const auto r = run_one(spec_for({fixture("segv/collect.sh")}));
  EXPECT_EQ(r.outcome, RunOutcome::kSignaled);
  EXPECT_EQ(r.signal, SIGSEGV);
}

TEST(ProcessRunner, ChildSeesOnlyStdinStdoutStderr) {
  // Descriptors the agent opened without O_CLOEXEC must not reach a plugin.
  const int leaked = ::open("/dev/null", O_RDONLY);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const auto r = run_one(spec_for({fixture("fds/collect.py")}));
  ::close(leaked);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  ASSERT_EQ(r.outcome, RunOutcome::kExited) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["fds"], nlohmann::json::parse("[0,1,2]")) << r.out;
}

TEST(ProcessRunner, MissingProgramIsStartFailedWithTheReason) {
  const auto r = run_one(spec_for({"/nonexistent/rdiag-plugin"}));
  EXPECT_EQ(r.outcome, RunOutcome::kStartFailed);
  EXPECT_NE(r.error.find("No such file"), std::string::npos) << r.error;
  EXPECT_TRUE(no_zombie_children());
}

TEST(ProcessRunner, RelativeProgramIsRefused) {
  const auto r = run_one(spec_for({"sh", "-c", "true"}));
  EXPECT_EQ(r.outcome, RunOutcome::kStartFailed);
  EXPECT_NE(r.error.find("absolute"), std::string::npos) << r.error;
}

TEST(ProcessRunner, ResultsKeepTheOrderOfSpecsWithFewerSlots) {
  std::vector<RunSpec> specs;
  for (int i = 0; i < 5; ++i) {
    specs.push_back(
        spec_for({"/bin/sh", "-c",
                  "sleep 0.$((5 - " + std::to_string(i) + ")); echo " + std::to_string(i)}));
  }
  specs.push_back(spec_for({"relative"}));
  const auto results = run_all(specs, 2);
  ASSERT_EQ(results.size(), 6u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(results[i].out, std::to_string(i) + "\n");
  EXPECT_EQ(results[5].outcome, RunOutcome::kStartFailed);
}

}  // namespace
}  // namespace rdiag::agent::exec
