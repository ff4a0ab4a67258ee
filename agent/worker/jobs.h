// Work the monitor hands to the collector worker (DESIGN.md "Processes,
// accounts and paths"): each job is a fresh `rdiag-worker` process,
// demoted to the `rdiag` account before exec, that reads one job line on
// descriptor 3 and answers on the same socket with NDJSON: any number of
// {"progress": {...}} lines, then one {"result": ...} or {"error": {...}}
// line. Collectors, scans and plugins never run in the monitor, so a plugin
// that hangs or a log that is huge costs a worker, never the agent.
//
// The monitor never blocks on a worker: the listener polls the sockets beside
// the connections (add_poll_fds / on_poll), as it does the control socket.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/result.h"

namespace rdiag::agent {

// The account the worker runs as when the agent runs as root.
inline constexpr const char* kWorkerAccount = "rdiag";

struct JobOptions {
  std::string account = kWorkerAccount;
  // A job that has not answered by then is stopped (its plugins with it) and
  // ends with reason "worker_timeout". Plugins have at most 300 s each and
  // all run at once (up to 16), and a log scan reads at most 2 GiB a source.
  std::chrono::seconds deadline{600};
  std::size_t max_output = std::size_t{64} << 20;  // the whole answer, progress included
  std::size_t max_running = 4;                     // more: refused, "too_many_jobs"
};

// What a finished job gave: the "result" value or an Error (the worker's own
// error line, or the monitor's: crashed, timed out, too much output).
struct JobDone {
  std::uint64_t id = 0;
  Result<nlohmann::json> result = nlohmann::json();
};

struct JobProgress {
  std::uint64_t id = 0;
  nlohmann::json progress;
};

class Jobs {
 public:
  explicit Jobs(JobOptions options = {});
  ~Jobs();  // kills what still runs
  Jobs(const Jobs&) = delete;
  Jobs& operator=(const Jobs&) = delete;

  // Starts a worker for `job` (an object with "kind"); returns its id.
  Result<std::uint64_t> start(const nlohmann::json& job);
  // The caller went away: kill the worker, report nothing.
  void cancel(std::uint64_t id);
  std::size_t running() const { return jobs_.size(); }

  // Appends a pollfd per running worker; returns how many.
  std::size_t add_poll_fds(std::vector<pollfd>& fds) const;
  // Reads what the workers wrote (fds[first, first+count) as add_poll_fds made them).
  void on_poll(const std::vector<pollfd>& fds, std::size_t first, std::size_t count);
  // Deadlines; the listener calls it every 250 ms.
  void sweep();
  // What happened since the last call, in order.
  std::vector<JobProgress> take_progress();
  std::vector<JobDone> take_done();

 private:
  struct Job;
  using JobMap = std::map<std::uint64_t, std::unique_ptr<Job>>;
  void read_from(std::uint64_t id);
  bool take_lines(std::uint64_t id);
  void finish(std::uint64_t id, Result<nlohmann::json> result);
  void end(JobMap::iterator it);
  void reap();

  JobOptions options_;
  Result<void> open_executables();

  // rdiag-worker and rdiag-compile, opened (O_PATH) when Jobs is made.
  struct Executables {
    UniqueFd worker;
    UniqueFd compile;
    std::string worker_path;
  };
  Executables exe_;
  std::uint64_t next_id_ = 1;
  JobMap jobs_;
  // Told to stop (SIGTERM), not yet reaped; their group gets SIGKILL at kill_at.
  struct Stopping {
    pid_t pid;
    std::chrono::steady_clock::time_point kill_at;
  };
  static constexpr std::chrono::seconds kStopGrace{1};
  std::vector<Stopping> reaping_;
  std::vector<JobProgress> progress_;
  std::vector<JobDone> done_;
};

// The worker's side: reads the job from descriptor 3, runs it, writes the
// answer; the process exit code. `rdiag-worker` (never typed by people); its
// descriptor 4, when open, is the `rdiag-compile` executable.
int run_worker();

}  // namespace rdiag::agent
