#include "agent/worker/jobs.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "agent/log.h"
#include "agent/run_as.h"
#include "common/fs.h"
#include "common/i18n.h"

namespace rdiag::agent {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr int kWorkerFd = 3;
constexpr std::size_t kMaxJobBytes = std::size_t{256} << 10;
constexpr std::size_t kReadChunk = std::size_t{64} << 10;
constexpr int kMaxDepth = 64;
// Room for the whole job line in the socket, so sending it never blocks.
constexpr int kSendBuffer = 1 << 20;

constexpr int kCompileFd = 4;

Error worker_error(const std::string& reason, std::string message) {
  return make_error(std::move(message), reason);
}

// Where the worker's executables are: beside the running agent (a build
// tree, or a package that ships them together), else the installed libexec
// folder. Only root can put a file beside an installed agent.
std::string helper_path(const char* name) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    std::filesystem::path beside = self.parent_path() / name;
    if (std::filesystem::exists(beside, ec)) return beside.string();
  }
  return std::string(RDIAG_LIBEXEC_DIR) + "/" + name;
}

struct Executables {
  int worker;
  int compile;
  // Log lines written as they are (no formatting is safe after fork) when
  // the exec or the switch to the worker's account fails.
  std::string_view exec_failed;
  std::string_view demote_failed;
};

void say(std::string_view line) noexcept {
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

// Between fork and exec: async-signal-safe calls only. Descriptor 3 is the
// socket, 4 the compile helper's executable, 0 and 1 are /dev/null, 2 stays
// the agent's log. The worker is executed through a descriptor opened while
// we were root, so the `rdiag` account needs no way into the folders above
// it (a build tree under a private home, say).
[[noreturn]] void exec_worker(int sock, const RunAs* account, char* const* envp,
                              const Executables& exe) noexcept {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::setpgid(0, 0);
  const int s = ::fcntl(sock, F_DUPFD_CLOEXEC, 10);
  const int w = ::fcntl(exe.worker, F_DUPFD_CLOEXEC, 10);
  const int c = ::fcntl(exe.compile, F_DUPFD_CLOEXEC, 10);
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  const int n = null_fd < 0 ? -1 : ::fcntl(null_fd, F_DUPFD_CLOEXEC, 10);
  if (s < 0 || w < 0 || c < 0 || n < 0 || ::dup2(n, 0) < 0 || ::dup2(n, 1) < 0 ||
      ::dup2(s, kWorkerFd) < 0 || ::dup2(c, kCompileFd) < 0) {
    ::_exit(71);
  }
  // Whatever whoever started the agent left open does not reach the worker
  // (w is needed until the exec itself, which closes it).
  if (::close_range(kCompileFd + 1, ~0U, CLOSE_RANGE_CLOEXEC) != 0) ::_exit(71);
  if (account != nullptr && !become(*account)) {
    say(exe.demote_failed);
    ::_exit(72);
  }
  if (::chdir("/") != 0) ::_exit(71);
  char arg0[] = "rdiag-worker";
  char* argv[] = {arg0, nullptr};
  ::syscall(SYS_execveat, w, "", argv, envp, AT_EMPTY_PATH);
  say(exe.exec_failed);
  ::_exit(71);
}

Result<UniqueFd> open_executable(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (fd.get() < 0) {
    return worker_error("no_worker",
                        i18n::tr("agent.worker.no_executable", path, errno_text(errno)));
  }
  return fd;
}

std::vector<std::string> worker_env() {
  std::vector<std::string> env{"PATH=/usr/local/bin:/usr/bin:/bin"};
  // The sanitizer preset's options, so a worker under ASan reports as the agent does.
  for (const char* var : {"LANG", "LC_ALL", "ASAN_OPTIONS", "UBSAN_OPTIONS"}) {
    const char* v = std::getenv(var);  // NOLINT(concurrency-mt-unsafe): one thread
    if (v != nullptr) env.push_back(std::string(var) + "=" + v);
  }
  return env;
}

Result<void> send_all(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error(i18n::tr("agent.worker.send_failed", errno_text(errno)));
    off += static_cast<std::size_t>(n);
  }
  return {};
}

// A field of the worker's error line, if it is a string: the worker is
// unprivileged and its output is checked like any other untrusted input.
std::string string_field(const json& obj, const char* key, const char* fallback) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// A line parsed only if it nests at most kMaxDepth deep: dump() and the
// destructor recurse, and a hostile worker must not overflow our stack.
json parse_bounded(std::string_view line) {
  try {
    return json::parse(line, [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxDepth) throw std::range_error("too deep");
      return true;
    });
  } catch (const std::exception&) {
    return json();
  }
}

}  // namespace

struct Jobs::Job {
  pid_t pid = -1;
  int fd = -1;
  Clock::time_point deadline;
  std::string in;  // bytes read, not yet split into lines
  std::size_t total = 0;
  ~Job() {
    if (fd >= 0) ::close(fd);
  }
};

Jobs::Jobs(JobOptions options) : options_(std::move(options)) {
  // At start-up, so an upgrade that replaces the files while the agent runs
  // still gives it the workers of its own version (the error, if any, is
  // reported by the first job).
  (void)open_executables();
}

Result<void> Jobs::open_executables() {
  if (exe_.worker.get() >= 0) return {};
  const std::string worker_path = helper_path("rdiag-worker");
  auto w = open_executable(worker_path);
  if (!w) return w.error();
  auto c = open_executable(helper_path("rdiag-compile"));
  if (!c) return c.error();
  exe_.worker = std::move(*w);
  exe_.compile = std::move(*c);
  exe_.worker_path = worker_path;
  return {};
}

Jobs::~Jobs() {
  for (auto& [id, job] : jobs_) ::kill(job->pid, SIGTERM);
  for (auto& [id, job] : jobs_) reaping_.push_back({job->pid, Clock::now() + kStopGrace});
  // A moment for the workers to end their plugins' groups (most have exited
  // already), then no mercy.
  const auto give_up = Clock::now() + std::chrono::milliseconds(200);
  while (!reaping_.empty() && Clock::now() < give_up) {
    reap();
    if (!reaping_.empty()) ::usleep(10000);
  }
  for (const Stopping& s : reaping_) {
    ::kill(-s.pid, SIGKILL);
    ::waitpid(s.pid, nullptr, 0);
  }
}

Result<std::uint64_t> Jobs::start(const json& job) {
  if (jobs_.size() >= options_.max_running) {
    return worker_error("too_many_jobs", i18n::tr("agent.worker.too_many", options_.max_running));
  }
  // The worker plans by the same deadline (agent/worker/diag.h job_deadline).
  json with_budget = job;
  if (with_budget.is_object()) {
    with_budget["budget_ms"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.deadline).count();
  }
  const std::string line = with_budget.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  if (line.size() > kMaxJobBytes) {
    return worker_error("job_too_large", i18n::tr("agent.worker.job_too_large", line.size()));
  }
  std::optional<RunAs> account;
  if (::geteuid() == 0) {
    auto a =
        lookup_run_as(options_.account, "agent.worker.no_account", "agent.worker.root_account");
    if (!a) return a.error();
    account = std::move(*a);
  }
  // Opened while we are root (at start-up; again here if that failed).
  if (auto opened = open_executables(); !opened) return opened.error();
  std::vector<std::string> env = worker_env();
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return worker_error("no_socket", i18n::tr("agent.worker.no_socket", errno_text(errno)));
  }
  const std::string exec_failed =
      "rdiag-agent: " + i18n::tr("agent.worker.exec_failed", exe_.worker_path) + "\n";
  const std::string demote_failed =
      "rdiag-agent: " + i18n::tr("agent.worker.demote_failed", options_.account) + "\n";
  const pid_t pid = ::fork();
  if (pid == 0) {
    exec_worker(sv[1], account ? &*account : nullptr, envp.data(),
                {exe_.worker.get(), exe_.compile.get(), exec_failed, demote_failed});
  }
  ::close(sv[1]);
  if (pid < 0) {
    ::close(sv[0]);
    return worker_error("no_fork", i18n::tr("agent.worker.no_fork", errno_text(errno)));
  }
  ::setpgid(pid, pid);  // as the child does: the group exists before we could kill it
  auto j = std::make_unique<Job>();
  j->pid = pid;
  j->fd = sv[0];
  j->deadline = Clock::now() + options_.deadline;
  // The job line fits the socket buffer, so this send never waits for the worker.
  ::setsockopt(j->fd, SOL_SOCKET, SO_SNDBUF, &kSendBuffer, sizeof kSendBuffer);
  ::fcntl(j->fd, F_SETFL, O_NONBLOCK);
  auto sent = send_all(j->fd, line);
  const std::uint64_t id = next_id_++;
  jobs_.emplace(id, std::move(j));
  if (!sent) finish(id, sent.error());
  return id;
}

void Jobs::cancel(std::uint64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  end(it);
}

std::size_t Jobs::add_poll_fds(std::vector<pollfd>& fds) const {
  for (const auto& [id, job] : jobs_) fds.push_back({job->fd, POLLIN, 0});
  return jobs_.size();
}

void Jobs::on_poll(const std::vector<pollfd>& fds, std::size_t first, std::size_t count) {
  std::vector<std::uint64_t> ready;
  std::size_t i = first;
  for (const auto& [id, job] : jobs_) {
    if (i >= first + count) break;
    if (fds[i].fd == job->fd && fds[i].revents != 0) ready.push_back(id);
    ++i;
  }
  for (std::uint64_t id : ready) read_from(id);
}

void Jobs::read_from(std::uint64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  Job& job = *it->second;
  char buf[kReadChunk];
  for (;;) {
    const ssize_t n = ::read(job.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) {
      // EOF without an answer: the worker died (a crash, the OOM killer, a bug).
      if (!take_lines(id)) finish(id, worker_error("worker_failed", i18n::tr("agent.worker.died")));
      return;
    }
    job.in.append(buf, static_cast<std::size_t>(n));
    job.total += static_cast<std::size_t>(n);
    if (job.total > options_.max_output) {
      finish(id,
             worker_error("worker_output", i18n::tr("agent.worker.too_much", options_.max_output)));
      return;
    }
  }
  take_lines(id);
}

// Splits whole lines off the job's input: progress is passed on, the first
// result or error line ends the job. Anything else from the worker is a bug
// or an attack on the monitor: the job ends with an error. True when the job
// ended (and is gone).
bool Jobs::take_lines(std::uint64_t id) {
  Job& job = *jobs_.at(id);
  std::size_t nl = 0;
  while ((nl = job.in.find('\n')) != std::string::npos) {
    json msg = parse_bounded(std::string_view(job.in).substr(0, nl));
    job.in.erase(0, nl + 1);
    if (msg.is_object() && msg.contains("progress")) {
      progress_.push_back({id, std::move(msg["progress"])});
      continue;
    }
    if (msg.is_object() && msg.contains("result")) {
      finish(id, std::move(msg["result"]));
    } else if (msg.is_object() && msg.contains("error") && msg["error"].is_object()) {
      finish(id, worker_error(string_field(msg["error"], "reason", "worker_failed"),
                              string_field(msg["error"], "message", "")));
    } else {
      finish(id, worker_error("worker_output", i18n::tr("agent.worker.bad_line")));
    }
    return true;
  }
  return false;
}

void Jobs::finish(std::uint64_t id, Result<json> result) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  done_.push_back({id, std::move(result)});
  end(it);
}

// Ends the process group (a worker that answered has nothing left to do;
// its plugins' groups are its runner's to end) and reaps it later, without
// blocking the monitor on a process stuck in the kernel.
void Jobs::end(JobMap::iterator it) {
  // SIGTERM first: the worker ends its plugins' process groups (each plugin
  // has one of its own), which a SIGKILL of the worker's group would miss.
  ::kill(it->second->pid, SIGTERM);
  reaping_.push_back({it->second->pid, Clock::now() + kStopGrace});
  jobs_.erase(it);
  reap();
}

void Jobs::reap() {
  const auto now = Clock::now();
  std::erase_if(reaping_, [now](const Stopping& s) {
    if (now >= s.kill_at) ::kill(-s.pid, SIGKILL);
    const pid_t w = ::waitpid(s.pid, nullptr, WNOHANG);
    return w == s.pid || (w < 0 && errno == ECHILD);
  });
}

void Jobs::sweep() {
  reap();
  const auto now = Clock::now();
  std::vector<std::uint64_t> late;
  for (const auto& [id, job] : jobs_) {
    if (now >= job->deadline) late.push_back(id);
  }
  for (std::uint64_t id : late) {
    finish(id, worker_error("worker_timeout",
                            i18n::tr("agent.worker.timeout", options_.deadline.count())));
  }
}

std::vector<JobProgress> Jobs::take_progress() {
  return std::exchange(progress_, {});
}
std::vector<JobDone> Jobs::take_done() {
  return std::exchange(done_, {});
}

}  // namespace rdiag::agent
