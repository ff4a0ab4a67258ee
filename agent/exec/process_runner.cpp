// The only translation unit that includes Boost.Process and Asio (they cost
// ~11 s of compile time each place they appear). Boost.Process v2 forks, opens
// the pidfd and reports exec errors; everything that must happen between fork
// and exec is ours, in ChildSetup, because Boost 1.81 gets two of those wrong:
// it leaks inherited descriptors and, when exec fails, calls exit() in the
// child, which runs the parent's atexit handlers and flushes its stdio twice.
#define BOOST_PROCESS_USE_STD_FS 1  // std::filesystem: no Boost.Filesystem to link

#include "agent/exec/process_runner.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <exception>
#include <functional>
#include <memory>
#include <optional>

// clang-format off
// Boost 1.81 v2 with std::filesystem forgets three includes (it gets them
// through Boost.Filesystem otherwise): it names boost::optional, decay and
// is_convertible unqualified. They must come before its own headers.
#include <boost/optional.hpp>
#include <boost/type_traits/decay.hpp>
#include <boost/type_traits/is_convertible.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process/v2/posix/default_launcher.hpp>
#include <boost/process/v2/process.hpp>
// clang-format on

#include "common/fs.h"
#include "common/i18n.h"

namespace rdiag::agent::exec {
namespace {

namespace asio = boost::asio;
namespace bp2 = boost::process::v2;
using Executor = asio::io_context::executor_type;
using Clock = std::chrono::steady_clock;

// The process groups of the children running now, for kill_all_groups(): a
// fixed array of atomics, so a signal handler may walk it.
constexpr std::size_t kMaxGroups = 256;
std::array<std::atomic<pid_t>, kMaxGroups> g_groups{};

void remember_group(pid_t group) {
  for (auto& g : g_groups) {
    pid_t free = 0;
    if (g.compare_exchange_strong(free, group)) return;
  }
}

void forget_group(pid_t group) {
  for (auto& g : g_groups) {
    pid_t mine = group;
    if (g.compare_exchange_strong(mine, 0)) return;
  }
}

// A descriptor above 2, close-on-exec. If the agent was started with 0-2
// closed, pipe2() may hand those out, and dup2() onto them in the child would
// then clobber one stream with another.
int high_cloexec(int fd) {
  if (fd < 0 || fd > 2) return fd;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

// Runs in the forked child, so only async-signal-safe system calls: no
// allocation, no locks. It also does the execve itself; on failure it sends
// errno through Boost's error pipe (the launcher appends that pipe to
// fd_whitelist just before fork) and leaves with _exit, never exit().
struct ChildSetup {
  int in_fd, out_fd, err_fd;
  const char* cwd;

  template <typename Launcher>
  boost::system::error_code on_exec_setup(Launcher& launcher, const std::filesystem::path& exe,
                                          const char* const*& argv) const {
    // PR_SET_PDEATHSIG: a plugin dies with the worker that runs it, even
    // when the worker is killed before it could end the plugin's group.
    if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0 ||
        ::setpgid(0, 0) < 0 || ::chdir(cwd) < 0 || ::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
      fail(launcher.fd_whitelist.back());
    }
    reset_signals();
    close_inherited(launcher.fd_whitelist.back());
    ::execve(exe.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(launcher.env));
    fail(launcher.fd_whitelist.back());
  }

  [[noreturn]] static void fail(int error_pipe) {
    const int err = errno;
    [[maybe_unused]] const auto n = ::write(error_pipe, &err, sizeof err);
    ::_exit(127);
  }

  // A plugin must not inherit the agent's blocked or ignored signals: an
  // ignored SIGPIPE would turn `yes | head` into an endless loop.
  static void reset_signals() {
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  }

  // Boost 1.81 v2 does not close inherited descriptors; CLOEXEC (rather than
  // close) keeps the error pipe usable should execve fail. Kernels before 5.11
  // lack CLOSE_RANGE_CLOEXEC: then mark each descriptor up to the soft limit.
  static void close_inherited(int error_pipe) {
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
    struct rlimit lim {};
    rlim_t top = 65536;
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < top) top = lim.rlim_cur;
    for (int fd = 3; static_cast<rlim_t>(fd) < top; ++fd) {
      if (fd != error_pipe) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
};

// One child: launch, read both pipes, wait on the pidfd, enforce the deadline
// and the cap. Lives until the io_context stops; `done` fires exactly once.
class Run {
 public:
  Run(asio::io_context& io, const RunSpec& spec, RunResult& result, std::function<void()> done)
      : io_(io),
        spec_(spec),
        result_(result),
        done_cb_(std::move(done)),
        out_(io),
        err_(io),
        exit_(io),
        timer_(io) {}
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;
  ~Run() { kill_group(); }  // only reached early if the io_context threw

  void start() {
    started_ = Clock::now();
    try {
      launch();
    } catch (const std::exception& e) {
      // Only resource exhaustion gets here (no memory, no descriptors).
      if (pid_ > 0 && !reaped_) {
        kill_group();
        ::waitpid(pid_, nullptr, 0);
        reaped_ = true;
        forget_group(pid_);
      }
      start_failed(e.what());
    }
  }

 private:
  void launch();
  bool spawn(int in_fd, int out_fd, int err_fd);
  void watch();
  void read_out();
  void read_err();
  void wait_exit();
  void on_deadline(const boost::system::error_code& ec);
  void reap();
  void close_pipes();
  void kill_group() const;
  void maybe_finish();
  void start_failed(std::string why);
  void no_time(std::chrono::milliseconds left);

  asio::io_context& io_;
  const RunSpec& spec_;
  RunResult& result_;
  std::function<void()> done_cb_;
  asio::posix::stream_descriptor out_, err_, exit_;
  asio::steady_timer timer_;
  std::optional<bp2::basic_process<Executor>> proc_;
  // 16 KiB a read: a few hundred reads for a full 4 MiB, and little memory
  // held per plugin while the others still run.
  std::array<char, 16384> out_buf_{};
  std::array<char, 16384> err_buf_{};
  Clock::time_point started_;
  std::chrono::milliseconds given_{0};
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false, timed_out_ = false, overflow_ = false, finished_ = false;
};

void Run::launch() {
  given_ = spec_.timeout;
  if (spec_.not_after) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(*spec_.not_after - Clock::now());
    if (left < spec_.min_left) return no_time(std::max(left, std::chrono::milliseconds(0)));
    given_ = std::min(given_, left);
  }
  result_.time_given = given_;
  if (spec_.argv.empty() || spec_.argv[0].empty() || spec_.argv[0][0] != '/') {
    return start_failed(
        i18n::tr("agent.exec.relative_argv0", spec_.argv.empty() ? std::string() : spec_.argv[0]));
  }
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return start_failed(errno_text(errno));
  UniqueFd out_r(high_cloexec(out_pipe[0]));
  UniqueFd out_w(high_cloexec(out_pipe[1]));
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return start_failed(errno_text(errno));
  UniqueFd err_r(high_cloexec(err_pipe[0]));
  UniqueFd err_w(high_cloexec(err_pipe[1]));
  UniqueFd null_fd(high_cloexec(::open("/dev/null", O_RDONLY | O_CLOEXEC)));
  if (out_r.get() < 0 || out_w.get() < 0 || err_r.get() < 0 || err_w.get() < 0 ||
      null_fd.get() < 0) {
    return start_failed(errno_text(errno));
  }
  if (!spawn(null_fd.get(), out_w.get(), err_w.get())) return;
  // The write ends close here, at the end of scope: from now on only the
  // child holds them, so EOF means the child (and its group) let go.
  out_.assign(out_r.release());
  err_.assign(err_r.release());
  watch();
}

bool Run::spawn(int in_fd, int out_fd, int err_fd) {
  std::vector<const char*> env;
  for (const auto& kv : spec_.env) env.push_back(kv.c_str());
  env.push_back(nullptr);
  bp2::posix::default_launcher launcher;
  launcher.env = env.data();
  boost::system::error_code ec;
  const std::vector<std::string> args(spec_.argv.begin() + 1, spec_.argv.end());
  try {
    proc_.emplace(launcher(io_.get_executor(), ec, std::filesystem::path(spec_.argv[0]), args,
                           ChildSetup{in_fd, out_fd, err_fd, spec_.cwd.c_str()}));
  } catch (...) {
    // Thrown after the fork (no descriptor left for the pidfd): the child
    // runs, and nobody else would ever kill or reap it.
    if (launcher.pid > 0) {
      ::kill(-launcher.pid, SIGKILL);
      ::waitpid(launcher.pid, nullptr, 0);
    }
    throw;
  }
  if (ec) {
    // Boost leaves the failed child unreaped; it has _exit()ed already.
    if (launcher.pid > 0) ::waitpid(launcher.pid, nullptr, 0);
    start_failed(ec.message());
    return false;
  }
  pid_ = proc_->id();
  remember_group(pid_);
  return true;
}

void Run::watch() {
  // Our own pidfd (Boost's handle has no accessor for its own in 1.81):
  // readable once the leader died but before it is reaped, so its process
  // group id cannot have been reused when we kill the group.
  exit_.assign(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  timer_.expires_after(given_);
  timer_.async_wait([this](const boost::system::error_code& e) { on_deadline(e); });
  read_out();
  read_err();
  wait_exit();
}

void Run::read_out() {
  out_.async_read_some(asio::buffer(out_buf_),
                       [this](const boost::system::error_code& ec, std::size_t n) {
                         if (ec) {
                           out_.close();
                           return maybe_finish();
                         }
                         const std::size_t room = spec_.stdout_cap - result_.out.size();
                         result_.out.append(out_buf_.data(), std::min(n, room));
                         if (n > room) {
                           // Reading stops at the cap: the child is killed, not left blocked on a
                           // full pipe until its deadline.
                           overflow_ = true;
                           kill_group();
                           out_.close();
                           return maybe_finish();
                         }
                         read_out();
                       });
}

void Run::read_err() {
  err_.async_read_some(asio::buffer(err_buf_),
                       [this](const boost::system::error_code& ec, std::size_t n) {
                         if (ec) {
                           err_.close();
                           return maybe_finish();
                         }
                         // Past the cap stderr is drained and dropped: chatty plugins are not
                         // broken ones, and an undrained pipe would block them.
                         const std::size_t room = spec_.stderr_cap - result_.err.size();
                         result_.err.append(err_buf_.data(), std::min(n, room));
                         read_err();
                       });
}

void Run::wait_exit() {
  exit_.async_wait(asio::posix::stream_descriptor::wait_read,
                   [this](const boost::system::error_code& ec) {
                     if (ec == asio::error::operation_aborted) return;
                     reap();
                   });
}

// The leader is a zombie now: kill what is left of its group (grandchildren
// that would keep our pipes open), then collect its status.
void Run::reap() {
  kill_group();
  while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  forget_group(pid_);
  exit_.close();
  maybe_finish();
}

void Run::on_deadline(const boost::system::error_code& ec) {
  if (ec == asio::error::operation_aborted || finished_) return;
  if (!reaped_) {
    timed_out_ = true;
    kill_group();
  }
  // A grandchild that left the group (setsid) may hold the pipes forever.
  close_pipes();
  maybe_finish();
}

void Run::close_pipes() {
  boost::system::error_code ignored;
  out_.close(ignored);
  err_.close(ignored);
}

void Run::kill_group() const {
  if (pid_ > 0 && !reaped_) ::kill(-pid_, SIGKILL);
}

void Run::maybe_finish() {
  if (finished_ || !reaped_ || out_.is_open() || err_.is_open()) return;
  finished_ = true;
  timer_.cancel();
  result_.elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_).count();
  if (overflow_) {
    result_.outcome = RunOutcome::kOverflow;
  } else if (timed_out_) {
    result_.outcome = RunOutcome::kTimedOut;
  } else if (WIFSIGNALED(status_)) {
    result_.outcome = RunOutcome::kSignaled;
    result_.signal = WTERMSIG(status_);
  } else {
    result_.outcome = RunOutcome::kExited;
    result_.exit_code = WEXITSTATUS(status_);
  }
  done_cb_();
}

void Run::no_time(std::chrono::milliseconds left) {
  finished_ = true;
  result_.outcome = RunOutcome::kNoTime;
  result_.time_given = left;
  asio::post(io_, [this] { done_cb_(); });  // as start_failed: no recursion
}

void Run::start_failed(std::string why) {
  finished_ = true;
  result_.outcome = RunOutcome::kStartFailed;
  result_.error = std::move(why);
  result_.elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_).count();
  // Posted, not called: the callback launches the next spec, and a long list
  // of failing specs must not recurse.
  asio::post(io_, [this] { done_cb_(); });
}

}  // namespace

std::vector<RunResult> run_all(const std::vector<RunSpec>& specs, std::size_t parallel) {
  std::vector<RunResult> results(specs.size());
  if (parallel == 0) parallel = 1;
  try {
    asio::io_context io;
    std::vector<std::unique_ptr<Run>> runs;
    std::size_t next = 0;
    std::size_t active = 0;
    std::function<void()> fill = [&] {
      while (active < parallel && next < specs.size()) {
        const std::size_t i = next++;
        ++active;
        runs.push_back(std::make_unique<Run>(io, specs[i], results[i], [&] {
          --active;
          fill();
        }));
        runs.back()->start();
      }
    };
    fill();
    io.run();
  } catch (const std::exception& e) {
    // Runs that did not finish keep kStartFailed; say why. Their destructors
    // above have killed whatever they started.
    for (auto& r : results) {
      if (r.outcome == RunOutcome::kStartFailed && r.error.empty()) r.error = e.what();
    }
  }
  return results;
}

RunResult run_one(const RunSpec& spec) {
  return run_all({spec}, 1).front();
}

void kill_all_groups() noexcept {
  for (auto& g : g_groups) {
    const pid_t group = g.load();
    if (group > 0) ::kill(-group, SIGKILL);
  }
}

const char* outcome_name(RunOutcome outcome) {
  switch (outcome) {
    case RunOutcome::kExited:
      return "exited";
    case RunOutcome::kSignaled:
      return "signaled";
    case RunOutcome::kTimedOut:
      return "timed_out";
    case RunOutcome::kOverflow:
      return "overflow";
    case RunOutcome::kStartFailed:
      return "start_failed";
    case RunOutcome::kNoTime:
      return "no_time";
  }
  return "unknown";
}

}  // namespace rdiag::agent::exec
