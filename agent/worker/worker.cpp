// The collector worker's process: `rdiag-worker`, started by the monitor
// (agent/worker/jobs.cpp) already demoted to the `rdiag` account. A binary of
// its own, linked with what a job needs and no more (no libssh, no
// libarchive), because its size is what a customer sees on a busy server.
// It reads one job, runs it and answers on descriptor 3, then exits: one
// process per job, so nothing a plugin or a log did lingers into the next.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/exec/process_runner.h"
#include "agent/logs/jobs.h"
#include "agent/worker/diag.h"
#include "agent/worker/jobs.h"
#include "common/fs.h"
#include "common/i18n.h"
#include "common/redact/engine.h"

namespace rdiag::agent {
namespace {

using json = nlohmann::json;

constexpr int kWorkerFd = 3;
constexpr int kCompileFd = 4;
constexpr std::size_t kMaxJobBytes = std::size_t{256} << 10;
// CPU seconds: above the monitor's wall-clock deadline, so the monitor's
// message (timeout) is what people see; this only stops a runaway loop.
constexpr rlim_t kCpuSeconds = 600;
constexpr rlim_t kOpenFiles = 1024;

void write_line(const json& msg) {
  const std::string line = msg.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  // The monitor reads as we write; a failure means it is gone and so is the job.
  if (!write_all(kWorkerFd, line)) ::_exit(1);
}

Result<json> read_job() {
  std::string buf;
  char chunk[4096];
  while (buf.find('\n') == std::string::npos) {
    const ssize_t n = ::read(kWorkerFd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || buf.size() + static_cast<std::size_t>(n) > kMaxJobBytes) {
      return make_error(i18n::tr("agent.worker.bad_job"), "bad_job");
    }
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  json job = json::parse(buf.substr(0, buf.find('\n')), nullptr, false);
  if (!job.is_object() || !job["kind"].is_string()) {
    return make_error(i18n::tr("agent.worker.bad_job"), "bad_job");
  }
  return job;
}

// The worker holds plugin credentials (env_file) in memory: no core dumps,
// no ptrace by other processes of the same account, no privilege gained
// through exec, and a bound on runaway CPU and descriptors.
void harden() {
  const struct rlimit core { 0, 0 };
  ::setrlimit(RLIMIT_CORE, &core);
  const struct rlimit cpu { kCpuSeconds, kCpuSeconds };
  ::setrlimit(RLIMIT_CPU, &cpu);
  const struct rlimit files { kOpenFiles, kOpenFiles };
  ::setrlimit(RLIMIT_NOFILE, &files);
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

// The monitor's "stop now" (a cancelled or overdue job): end every plugin's
// process group, then ourselves. Only async-signal-safe calls.
void on_stop(int) {
  exec::kill_all_groups();
  ::_exit(143);
}

Result<json> run_job(const json& job, const Progress& progress) {
  const std::string kind = job["kind"].get<std::string>();
  if (kind == "diag") return run_diag_job(job, progress);
  if (kind == "logs.scan") return logs::run_logs_scan_job(job, progress);
  if (kind == "logs.tail") return logs::run_logs_tail_job(job, progress);
  return make_error(i18n::tr("agent.worker.bad_job"), "bad_job");
}

}  // namespace

int run_worker() {
  harden();
  // Vectorscan compiles in `rdiag-compile` (hs_child.h): this process only
  // scans. Close-on-exec, so no plugin sees it.
  if (::fcntl(kCompileFd, F_SETFD, FD_CLOEXEC) == 0) redact::compile_in_helper(kCompileFd);
  struct sigaction stop {};
  stop.sa_handler = &on_stop;
  ::sigaction(SIGTERM, &stop, nullptr);
  auto job = read_job();
  if (!job) {
    write_line({{"error", {{"reason", job.error().reason}, {"message", job.error().message}}}});
    return 1;
  }
  if (auto lang = job->find("lang"); lang != job->end() && lang->is_string()) {
    i18n::set_lang(i18n::parse_lang(lang->get<std::string>()));
  }
  Result<json> result = make_error("", "bad_job");
  try {
    result = run_job(*job, [](const json& p) { write_line({{"progress", p}}); });
  } catch (const std::exception& e) {
    result = make_error(i18n::tr("agent.worker.exception", e.what()), "worker_failed");
  }
  if (!result) {
    write_line(
        {{"error", {{"reason", result.error().reason}, {"message", result.error().message}}}});
    return 1;
  }
  write_line({{"result", std::move(*result)}});
  return 0;
}

}  // namespace rdiag::agent
