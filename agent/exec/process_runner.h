// The one door to child processes (STYLE.md): argv only, a scrubbed
// environment, no inherited descriptors, a deadline, an output cap and a kill
// of the whole process group. Only process_runner.cpp includes Boost.Process
// and Asio, so this header stays cheap to include.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rdiag::agent::exec {

struct RunSpec {
  std::vector<std::string> argv;  // argv[0] an absolute path; never a shell string
  std::vector<std::string> env;   // the WHOLE environment, "K=V"; nothing inherited
  std::string cwd = "/";
  std::chrono::milliseconds timeout{10000};
  std::size_t stdout_cap = 4U << 20;   // over it: outcome kOverflow, child killed
  std::size_t stderr_cap = 16U << 10;  // over it: the rest is dropped, not an error
  // The caller's own deadline (a diagnosis's time limit). Checked when the
  // child is launched, which under run_all's `parallel` may be long after
  // the call: the timer is the earlier of timeout and not_after, and a spec
  // with less than min_left to go is not started at all (kNoTime).
  std::optional<std::chrono::steady_clock::time_point> not_after;
  std::chrono::milliseconds min_left{1000};
};

enum class RunOutcome { kExited, kSignaled, kTimedOut, kOverflow, kStartFailed, kNoTime };

struct RunResult {
  RunOutcome outcome = RunOutcome::kStartFailed;
  int exit_code = -1;  // kExited
  int signal = 0;      // kSignaled
  std::string out;     // stdout (up to the cap)
  std::string err;     // stderr (capped)
  std::int64_t elapsed_ms = 0;
  std::string error;  // kStartFailed: why (strerror text)
  // The time the child was given: timeout, or less when not_after came
  // first (kTimedOut then means "out of the caller's time"); kNoTime: what
  // was left (never negative).
  std::chrono::milliseconds time_given{0};
};

// Runs all specs concurrently (at most `parallel` at once) on one asio
// io_context in the calling thread; results in the order of specs. Never
// throws. stdin is /dev/null; the child leads its own process group, which is
// killed on timeout, on overflow and after the leader exits, so no grandchild
// outlives the run.
std::vector<RunResult> run_all(const std::vector<RunSpec>& specs, std::size_t parallel = 4);
RunResult run_one(const RunSpec& spec);

// Kills the process group of every child now running (async-signal-safe):
// the collector worker calls it when the monitor tells it to stop, so no
// plugin outlives a cancelled or overdue diagnosis.
void kill_all_groups() noexcept;

// Short English name of an outcome for logs and tests ("timed_out").
const char* outcome_name(RunOutcome outcome);

}  // namespace rdiag::agent::exec
