#include "agent/consent/notify.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/close_range.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "agent/run_as.h"
#include "common/fs.h"
#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::agent {

using Clock = std::chrono::steady_clock;
using i18n::tr;
using nlohmann::json;

namespace {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// What the child writes to the status pipe when it cannot reach exec. An
// exec that works closes the pipe (CLOEXEC), so EOF means "started", and a
// command's own exit status 127 is not mistaken for "not found".
enum class Stage : int { kDescriptors = 1, kAccount = 2, kExec = 3 };
struct ChildFailure {
  Stage stage;
  int err;
};

bool is_identifier(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_placeholder(std::string_view name) {
  return std::find(std::begin(kNotifyPlaceholders), std::end(kNotifyPlaceholders), name) !=
         std::end(kNotifyPlaceholders);
}

// Walks one argv element in order: on(false, literal) and on(true, name) for
// each {name}. Braces around anything but a word ("{}", "{ a }", JSON) are
// literal text.
template <typename On>
void scan(std::string_view text, On on) {
  std::size_t lit = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{') continue;
    const std::size_t close = text.find('}', i + 1);
    if (close == std::string_view::npos) break;
    const std::string_view name = text.substr(i + 1, close - i - 1);
    if (!is_identifier(name)) continue;
    if (i > lit) on(false, text.substr(lit, i - lit));
    on(true, name);
    lit = close + 1;
    i = close;
  }
  if (lit < text.size()) on(false, text.substr(lit));
}

std::string placeholder_list() {
  std::string out;
  for (std::string_view p : kNotifyPlaceholders)
    out += (out.empty() ? "{" : " {") + std::string(p) + "}";
  return out;
}

// A value as the command gets it: valid UTF-8, no NUL (which would cut the
// argv element short).
std::string clean_value(std::string_view v) {
  std::string out;
  for (char c : sanitize_utf8(v)) {
    if (c == '\0') {
      out += "\xEF\xBF\xBD";
    } else {
      out += c;
    }
  }
  return out;
}

std::string expand(std::string_view templ, const std::map<std::string, std::string>& values) {
  std::string out;
  scan(templ, [&](bool placeholder, std::string_view piece) {
    if (!placeholder) {
      out += piece;
    } else if (auto it = values.find(std::string(piece)); it != values.end()) {
      out += clean_value(it->second);
    }
  });
  return out;
}

Result<void> check_element(const std::string& file, std::size_t index, const std::string& text) {
  std::string unknown;
  bool any = false;
  scan(text, [&](bool placeholder, std::string_view name) {
    if (!placeholder) return;
    any = true;
    if (unknown.empty() && !is_placeholder(name)) unknown = "{" + std::string(name) + "}";
  });
  if (!unknown.empty()) {
    return make_error(
        tr("consent.notify.unknown_placeholder", file, index, text, unknown, placeholder_list()),
        "config_value");
  }
  if (index == 0 && any) {
    return make_error(tr("consent.notify.program_placeholder", file, text), "config_value");
  }
  return {};
}

Result<std::array<Fd, 2>> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    return make_error(tr("consent.notify.no_pipe", errno_text(errno)), "no_pipe");
  }
  // Only our end: the command's stderr stays blocking, as programs expect.
  ::fcntl(p[0], F_SETFL, O_NONBLOCK);
  return std::array<Fd, 2>{Fd(p[0]), Fd(p[1])};
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> child_env() {
  std::vector<std::string> env{"PATH=/usr/local/bin:/usr/bin:/bin"};
  for (const char* var : {"LANG", "LC_ALL"}) {
    const char* v = std::getenv(var);  // NOLINT(concurrency-mt-unsafe): one thread
    if (v != nullptr) env.push_back(std::string(var) + "=" + v);
  }
  return env;
}

[[noreturn]] void child_fail(int report, Stage stage) noexcept {
  const ChildFailure f{stage, errno};
  if (report >= 0 && ::write(report, &f, sizeof f) < 0) {
    // nothing left to tell anyone
  }
  ::_exit(127);
}

// The monitor blocks SIGCHLD, SIGTERM, ... for its signalfd and ignores
// SIGPIPE; both would survive exec.
void child_signals() noexcept {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);
}

// Between fork and exec: async-signal-safe calls only, nothing allocated.
[[noreturn]] void exec_child(char* const* argv, char* const* envp, const RunAs* account, int err_w,
                             int status_w) noexcept {
  ::setpgid(0, 0);
  const int report = ::fcntl(status_w, F_DUPFD_CLOEXEC, 3);
  child_signals();
  // Everything is moved above 2 first: an agent started with fd 2 closed gets
  // fds 0-2 from open and pipe2, and dup2 onto itself would keep FD_CLOEXEC.
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  const int n = null_fd < 0 ? -1 : ::fcntl(null_fd, F_DUPFD_CLOEXEC, 3);
  const int e = ::fcntl(err_w, F_DUPFD_CLOEXEC, 3);
  if (n < 0 || e < 0 || ::dup2(n, 0) < 0 || ::dup2(n, 1) < 0 || ::dup2(e, 2) < 0) {
    child_fail(report, Stage::kDescriptors);
  }
  if (account != nullptr && !become(*account)) child_fail(report, Stage::kAccount);
  if (::chdir("/") != 0) child_fail(report, Stage::kDescriptors);
  // Boost and others may have left descriptors without CLOEXEC: none of ours
  // reaches the command.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) child_fail(report, Stage::kDescriptors);
  ::execve(argv[0], argv, envp);
  child_fail(report, Stage::kExec);
}

std::string seconds_text(std::chrono::milliseconds ms) {
  return fmt::format("{:g}", static_cast<double>(ms.count()) / 1000.0);
}

// A cut at 1 KiB may split a character: drop its start rather than show U+FFFD.
std::string_view without_split_char(std::string_view s) {
  std::size_t i = s.size();
  std::size_t cont = 0;
  while (i > 0 && cont < 3 && (static_cast<unsigned char>(s[i - 1]) & 0xC0U) == 0x80U) {
    --i;
    ++cont;
  }
  if (i == 0) return s;
  const auto lead = static_cast<unsigned char>(s[i - 1]);
  const std::size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return need > cont + 1 ? s.substr(0, i - 1) : s;
}

std::string trimmed(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

struct NotifyRun {
  pid_t pid = -1;
  std::string tag;
  std::string program;  // argv[0], for messages
  std::string account;  // empty in dev mode
  Fd err;               // the command's stderr
  Fd status;            // a ChildFailure, or EOF once exec worked
  std::string said;     // the first KiB of stderr
  bool cut = false;     // stderr had more than that
  bool killed = false;  // by us, at the timeout
  Clock::time_point started;
};

namespace {

// Reads what the command wrote to stderr, keeping the first KiB. Bounded: a
// command that writes without pause must not hold the monitor's loop.
void drain(NotifyRun& r) {
  std::array<char, 4096> buf{};
  for (int i = 0; i < 16 && r.err.get() >= 0; ++i) {
    const ssize_t n = ::read(r.err.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      r.err.reset();
      return;
    }
    const auto got = static_cast<std::size_t>(n);
    const std::size_t room = kNotifyStderrBytes - r.said.size();
    r.said.append(buf.data(), std::min(room, got));
    r.cut = r.cut || got > room;
  }
}

std::string failure_text(const ChildFailure& f, const NotifyRun& r) {
  const std::string why = errno_text(f.err);
  switch (f.stage) {
    case Stage::kAccount:
      return tr("consent.notify.cannot_switch", r.account, r.program, why);
    case Stage::kDescriptors:
      return tr("consent.notify.cannot_prepare", r.program, why);
    case Stage::kExec:
      break;
  }
  return tr("consent.notify.cannot_start", r.program, why);
}

std::string status_text(int status, const NotifyRun& r, std::chrono::milliseconds timeout) {
  if (WIFEXITED(status)) return tr("consent.notify.exit_status", WEXITSTATUS(status));
  const int sig = WTERMSIG(status);
  if (r.killed && sig == SIGKILL) return tr("consent.notify.timeout", seconds_text(timeout));
  const char* name = ::sigabbrev_np(sig);
  return tr("consent.notify.signal", sig, name != nullptr ? name : "?");
}

// status is nullopt when the pid was no longer ours to wait for.
NotifyOutcome finish(const NotifyRun& r, std::optional<int> status,
                     std::chrono::milliseconds timeout) {
  NotifyOutcome o{r.tag, false, {}};
  ChildFailure f{};
  if (::read(r.status.get(), &f, sizeof f) == static_cast<ssize_t>(sizeof f)) {
    o.why = failure_text(f, r);
  } else if (!status) {
    o.why = tr("consent.notify.lost");
  } else if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) {
    o.ok = true;
    return o;
  } else {
    o.why = status_text(*status, r, timeout);
  }
  std::string said = trimmed(r.cut ? without_split_char(r.said) : std::string_view(r.said));
  if (!said.empty()) {
    o.why = tr("consent.notify.said", o.why, sanitize_utf8(said) + (r.cut ? "…" : ""));
  }
  return o;
}

}  // namespace

Result<std::optional<Notifier>> Notifier::from_config(const AgentConfig& cfg,
                                                      NotifyOptions options) {
  const json* cmd = nullptr;
  if (cfg.raw.is_object()) {
    if (auto it = cfg.raw.find("notify_command"); it != cfg.raw.end()) cmd = &*it;
  }
  if (cmd == nullptr || cmd->is_null()) return std::optional<Notifier>{};
  const std::string file = cfg.source.empty() ? "agent.json" : cfg.source;
  const bool strings =
      cmd->is_array() && !cmd->empty() && std::all_of(cmd->begin(), cmd->end(), [](const json& e) {
        return e.is_string() && !e.get_ref<const std::string&>().empty() &&
               e.get_ref<const std::string&>().find('\0') == std::string::npos;
      });
  if (!strings) return make_error(tr("consent.notify.not_list", file), "config_type");
  std::vector<std::string> argv = cmd->get<std::vector<std::string>>();
  if (argv[0].front() != '/') {
    return make_error(tr("consent.notify.not_absolute", file, argv[0]), "config_value");
  }
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (auto r = check_element(file, i, argv[i]); !r) return r.error();
  }
  return std::optional<Notifier>(Notifier(std::move(argv), std::move(options)));
}

Notifier::Notifier(std::vector<std::string> argv, NotifyOptions options)
    : argv_(std::move(argv)), options_(std::move(options)) {}

Notifier::Notifier(Notifier&&) noexcept = default;

Notifier& Notifier::operator=(Notifier&& o) noexcept {
  if (this != &o) {
    kill_all();
    argv_ = std::move(o.argv_);
    options_ = std::move(o.options_);
    runs_ = std::move(o.runs_);
    refused_ = std::move(o.refused_);
  }
  return *this;
}

Notifier::~Notifier() {
  kill_all();
}

// At shutdown: SIGKILL cannot be refused, so the waits are short.
void Notifier::kill_all() {
  for (const auto& r : runs_) {
    ::kill(-r->pid, SIGKILL);
    ::waitpid(r->pid, nullptr, 0);
  }
  runs_.clear();
}

void Notifier::refuse(std::string tag, std::string why) {
  refused_.push_back(NotifyOutcome{std::move(tag), false, std::move(why)});
}

Result<void> Notifier::start(const std::map<std::string, std::string>& values, std::string tag) {
  if (runs_.size() >= kMaxNotifyRuns) {
    refuse(std::move(tag), tr("consent.notify.too_many", kMaxNotifyRuns));
    return {};
  }
  std::optional<RunAs> account;
  if (::geteuid() == 0) {
    auto a =
        lookup_run_as(options_.account, "consent.notify.no_account", "consent.notify.root_account");
    if (!a) {
      refuse(std::move(tag), a.error().message);
      return {};
    }
    account = std::move(*a);
  }
  // Everything the child needs is built here: it may not allocate.
  std::vector<std::string> args;
  for (const std::string& t : argv_) args.push_back(expand(t, values));
  std::vector<std::string> env = child_env();
  const std::vector<char*> argv = pointers(args);
  const std::vector<char*> envp = pointers(env);
  auto run = std::make_unique<NotifyRun>();
  auto err = make_pipe();
  if (!err) return err.error();
  auto status = make_pipe();
  if (!status) return status.error();

  const pid_t pid = ::fork();
  if (pid < 0) return make_error(tr("consent.notify.no_fork", errno_text(errno)), "no_fork");
  if (pid == 0) {
    exec_child(argv.data(), envp.data(), account ? &*account : nullptr, (*err)[1].get(),
               (*status)[1].get());
  }
  ::setpgid(pid, pid);  // as the child does: the group exists before we could ever kill it
  run->pid = pid;
  run->tag = std::move(tag);
  run->program = args[0];
  run->account = account ? options_.account : std::string();
  run->err = std::move((*err)[0]);
  run->status = std::move((*status)[0]);
  run->started = Clock::now();
  runs_.push_back(std::move(run));
  return {};
}

std::vector<NotifyOutcome> Notifier::poll() {
  std::vector<NotifyOutcome> out = std::exchange(refused_, {});
  const auto now = Clock::now();
  for (auto it = runs_.begin(); it != runs_.end();) {
    NotifyRun& r = **it;
    drain(r);
    int status = 0;
    const pid_t w = ::waitpid(r.pid, &status, WNOHANG);
    if (w == r.pid || (w < 0 && errno == ECHILD)) {
      drain(r);  // what it wrote just before it ended
      out.push_back(
          finish(r, w == r.pid ? std::optional<int>(status) : std::nullopt, options_.timeout));
      it = runs_.erase(it);
      continue;
    }
    if (!r.killed && now - r.started >= options_.timeout) {
      ::kill(-r.pid, SIGKILL);  // the group: what it started in the background goes too
      r.killed = true;
    }
    ++it;
  }
  return out;
}

std::size_t Notifier::running() const {
  return runs_.size();
}

}  // namespace rdiag::agent
