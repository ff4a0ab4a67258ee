#include "agent/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <vector>

#include "agent/control/server.h"
#include "agent/log.h"
#include "agent/ssh/connection.h"

namespace rdiag::agent {
namespace {

using Clock = std::chrono::steady_clock;
// The child's own alarm ends it at 10 s; the monitor's deadline is the backstop.
constexpr auto kAuthDeadline = std::chrono::seconds(11);
// Checkpoints are due every 15 minutes; looking every few seconds is plenty.
constexpr auto kTickEvery = std::chrono::seconds(5);

Result<IpAddress> sockaddr_ip(const sockaddr_storage& ss, std::uint16_t* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
    *port = ntohs(sin->sin_port);
  } else {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
    *port = ntohs(sin6->sin6_port);
  }
  return parse_ip(text);
}

std::string addr_text(const IpAddress& ip, std::uint16_t port) {
  // fmt rather than a chain of operator+: GCC 12 at -O3 reports a false
  // -Wrestrict inside std::string's operator+ here.
  return fmt::format(fmt::runtime(ip.v6 ? "[{}]:{}" : "{}:{}"), ip.to_string(), port);
}

int make_signal_fd() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  return ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

// In the forked child, before exec: descriptors 3 and 4 are the client socket
// and the monitor socket. Everything we opened is close-on-exec, but a
// descriptor we inherited from whoever started us may not be: close the rest.
[[noreturn]] void exec_connection(int client_fd, int mon_fd) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  const int c = ::fcntl(client_fd, F_DUPFD_CLOEXEC, 10);
  const int m = ::fcntl(mon_fd, F_DUPFD_CLOEXEC, 10);
  if (c < 0 || m < 0 || ::dup2(c, kClientFd) < 0 || ::dup2(m, kMonitorFd) < 0) ::_exit(71);
  if (::close_range(kMonitorFd + 1, ~0U, 0) != 0) ::_exit(71);
  const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(devnull, STDOUT_FILENO);
  }
  char arg0[] = "rdiag-agent";
  char arg1[] = "connection";
  char* argv[] = {arg0, arg1, nullptr};
  char* envp[] = {nullptr};  // the connection process needs nothing from ours
  ::execve("/proc/self/exe", argv, envp);
  ::_exit(71);
}

}  // namespace

bool random_early_drop(const MaxStartups& m, int startups, unsigned roll_0_to_99) {
  if (startups < m.start) return false;
  if (startups >= m.full) return true;
  const int p = m.rate + (100 - m.rate) * (startups - m.start) / (m.full - m.start);
  return static_cast<int>(roll_0_to_99) < p;
}

Listener::Listener(Monitor& monitor, ControlServer* control)
    : monitor_(monitor), control_(control), rng_(std::random_device{}()) {}

Listener::~Listener() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (signal_fd_ >= 0) ::close(signal_fd_);
}

Result<HostPort> Listener::open(const HostPort& where) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(where.port);
  if (::getaddrinfo(where.host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return make_error(i18n::tr("agent.listen.bad_address", where.host));
  }
  listen_fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const bool ok = listen_fd_ >= 0 && ::bind(listen_fd_, res->ai_addr, res->ai_addrlen) == 0 &&
                  ::listen(listen_fd_, 512) == 0;
  ::freeaddrinfo(res);
  if (!ok)
    return make_error(
        i18n::tr("agent.listen.failed", where.host, where.port, std::strerror(errno)));
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len);
  std::uint16_t bound = 0;
  auto ip = sockaddr_ip(ss, &bound);
  signal_fd_ = make_signal_fd();
  return HostPort{ip ? ip->to_string() : where.host, bound};
}

int Listener::count_startups(const IpAddress* source) const {
  int n = 0;
  for (const auto& [pid, c] : conns_) {
    if (c->phase == ConnState::Phase::kPreauth && (source == nullptr || c->peer == *source)) ++n;
  }
  return n;
}

bool Listener::admit(const IpAddress& peer, std::string_view peer_text) {
  const auto& cfg = monitor_.config();
  const char* why = nullptr;
  if (!cfg.allow_from.empty() && std::none_of(cfg.allow_from.begin(), cfg.allow_from.end(),
                                              [&](const Cidr& c) { return c.contains(peer); })) {
    why = "allow_from";
  } else if (static_cast<int>(conns_.size()) >= cfg.limits.max_connections) {
    why = "max_connections";
  } else if (count_startups(&peer) >= cfg.limits.max_per_source) {
    why = "max_per_source";
  } else if (random_early_drop(cfg.limits.max_startups, count_startups(nullptr),
                               static_cast<unsigned>(rng_() % 100U))) {
    why = "max_startups";
  }
  if (why != nullptr) log_warn("agent.listen.refused", peer_text, why);
  return why == nullptr;
}

void Listener::accept_ready() {
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd =
        ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      // Out of descriptors: the pending connection stays queued and the
      // socket stays readable, so pause accepting instead of spinning.
      if (errno == EMFILE || errno == ENFILE) {
        if (Clock::now() >= accept_resume_) log_error("agent.listener.no_descriptors");
        accept_resume_ = Clock::now() + std::chrono::milliseconds(250);
      }
      return;  // EAGAIN: drained; anything else: try again next poll
    }
    std::uint16_t port = 0;
    auto peer = sockaddr_ip(ss, &port);
    if (!peer || !admit(*peer, addr_text(*peer, port))) {
      ::close(fd);
      continue;
    }
    // The connection process does blocking I/O on its socket.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    spawn(fd, *peer, addr_text(*peer, port));
  }
}

void Listener::spawn(int client_fd, const IpAddress& peer, std::string peer_text) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    ::close(client_fd);
    return;
  }
  const pid_t pid = ::fork();
  if (pid == 0) exec_connection(client_fd, sv[1]);
  ::close(client_fd);
  ::close(sv[1]);
  if (pid < 0) {
    ::close(sv[0]);
    log_error("agent.listen.fork_failed", std::strerror(errno));
    return;
  }
  ::fcntl(sv[0], F_SETFL, O_NONBLOCK);
  auto conn = std::make_unique<ConnState>();
  conn->pid = pid;
  conn->fd = sv[0];
  conn->peer = peer;
  conn->peer_text = std::move(peer_text);
  conn->started = Clock::now();
  const std::string init = monitor_.init_frame(*conn);
  if (::write(conn->fd, init.data(), init.size()) != static_cast<ssize_t>(init.size())) {
    ::kill(pid, SIGKILL);
  }
  conns_.emplace(pid, std::move(conn));
}

void Listener::drop(pid_t pid, const char* why) {
  auto it = conns_.find(pid);
  if (it == conns_.end() || it->second->doomed) return;
  it->second->doomed = true;
  log_warn("agent.conn.dropped", it->second->peer_text, pid, why);
  ::kill(pid, SIGKILL);
  // The socket is closed when the child is reaped, so a late frame is not
  // misread as coming from a new process with a recycled fd.
}

void Listener::on_readable(ConnState& conn) {
  char buf[65536];
  const ssize_t n = ::read(conn.fd, buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    ::kill(conn.pid, SIGKILL);  // a connection process without its monitor is useless
    return;
  }
  if (n < 0) return;
  std::vector<MonMessage> msgs;
  if (!conn.decoder.feed(buf, static_cast<std::size_t>(n), msgs)) {
    drop(conn.pid, "malformed_frame");
    return;
  }
  // A connection process waits for each answer before it asks again, so two
  // requests at once mean it is not the process we started: without this,
  // one write could queue hundreds of expensive calls.
  if (msgs.size() > 1) {
    drop(conn.pid, "protocol_violation");
    return;
  }
  for (const auto& msg : msgs) {
    std::optional<std::string> answer;
    try {
      answer = monitor_.answer(conn, msg);
    } catch (const std::exception& e) {
      // A bug must cost one connection, not every connection and record.
      log_error("agent.monitor.answer_failed", conn.pid, e.what());
    }
    if (!answer) {
      drop(conn.pid, "protocol_violation");
      return;
    }
    conn.out += *answer;
  }
  // A process waits for each answer before it asks again, so more than one
  // large answer queued means it is not reading them: a violation.
  if (conn.out.size() > 2 * kMaxMonAnswerFrame) {
    drop(conn.pid, "protocol_violation");
    return;
  }
  if (!flush(conn)) ::kill(conn.pid, SIGKILL);
}

// Answers are usually small and go out at once; a page of records may not fit
// in the socket buffer and is written as the process reads it (POLLOUT).
bool Listener::flush(ConnState& conn) {
  while (!conn.out.empty()) {
    const ssize_t n = ::write(conn.fd, conn.out.data(), conn.out.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    if (n <= 0) return false;
    conn.out.erase(0, static_cast<std::size_t>(n));
  }
  return true;
}

void Listener::reap() {
  for (auto it = conns_.begin(); it != conns_.end();) {
    int status = 0;
    if (::waitpid(it->first, &status, WNOHANG) == it->first) {
      monitor_.forget(*it->second);
      ::close(it->second->fd);
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
}

void Listener::enforce_deadlines_and_keys() {
  const auto now = Clock::now();
  for (auto& [pid, c] : conns_) {
    if (c->phase == ConnState::Phase::kPreauth && now - c->started > kAuthDeadline) {
      drop(pid, "auth_timeout");
    } else if (c->phase == ConnState::Phase::kAuthenticated && !monitor_.still_allowed(*c)) {
      drop(pid, "key_removed_or_expired");
    } else if (c->end_by && now >= *c->end_by) {
      drop(pid, "grant_ended");
    }
  }
}

bool Listener::handle_signal() {
  signalfd_siginfo si{};
  bool stop = false;
  while (::read(signal_fd_, &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGHUP) {
      monitor_.reload_engineers();
      enforce_deadlines_and_keys();
    } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
      stop = true;
    }
  }
  reap();
  return stop;
}

void Listener::serve_control(const std::vector<pollfd>& fds, std::size_t first, std::size_t count) {
  control_->on_poll(
      fds, first, count, [this](const ControlRequest& req) { return monitor_.control(req); },
      [this](const ControlPeer& peer, const std::string& command) {
        monitor_.control_refused(peer, command);
      });
}

void Listener::shutdown() {
  ::close(listen_fd_);
  listen_fd_ = -1;
  for (auto& [pid, c] : conns_) ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  while (!conns_.empty() && Clock::now() < deadline) {
    reap();
    ::usleep(20000);
  }
  for (auto& [pid, c] : conns_) ::kill(pid, SIGKILL);
  while (!conns_.empty()) {
    ::waitpid(conns_.begin()->first, nullptr, 0);
    monitor_.forget(*conns_.begin()->second);
    ::close(conns_.begin()->second->fd);
    conns_.erase(conns_.begin());
  }
  log_info("agent.stopped");
}

int Listener::run() {
  std::vector<pollfd> fds;
  std::vector<pid_t> owners;
  auto next_sweep = Clock::now();
  auto next_tick = Clock::now() + kTickEvery;
  for (;;) {
    const short accepting = Clock::now() >= accept_resume_ ? POLLIN : 0;
    fds.assign({{listen_fd_, accepting, 0}, {signal_fd_, POLLIN, 0}});
    const std::size_t control_count = control_ != nullptr ? control_->add_poll_fds(fds) : 0;
    const std::size_t first_job = fds.size();
    const std::size_t job_count = monitor_.jobs().add_poll_fds(fds);
    const std::size_t first_conn = fds.size();
    owners.assign(first_conn, -1);
    for (auto& [pid, c] : conns_) {
      if (c->doomed) continue;
      // While an answer is still going out, the process has nothing to say.
      fds.push_back({c->fd, static_cast<short>(c->out.empty() ? POLLIN : POLLOUT), 0});
      owners.push_back(pid);
    }
    // Wake four times a second: grant expiry must cut connections within
    // one second, auth deadlines and key expiry are checked here too.
    if (::poll(fds.data(), fds.size(), 250) < 0 && errno != EINTR) return 1;
    if ((fds[1].revents & POLLIN) != 0 && handle_signal()) break;
    if ((fds[0].revents & POLLIN) != 0) accept_ready();
    if (control_count > 0) serve_control(fds, 2, control_count);
    if (job_count > 0) {
      // What a worker sends is untrusted: nothing it does may end the agent.
      try {
        monitor_.jobs().on_poll(fds, first_job, job_count);
        monitor_.deliver_jobs();
      } catch (const std::exception& e) {
        log_error("agent.monitor.tick_failed", e.what());
      }
    }
    for (std::size_t i = first_conn; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      auto it = conns_.find(owners[i]);
      if (it == conns_.end()) continue;
      if (it->second->out.empty()) {
        on_readable(*it->second);
      } else if (!flush(*it->second)) {
        ::kill(it->first, SIGKILL);
      }
    }
    // Deadlines and expiry have one-second granularity: no need to walk every
    // connection on every monitor message.
    if (Clock::now() >= next_sweep) {
      try {
        monitor_.sweep();
      } catch (const std::exception& e) {
        log_error("agent.monitor.tick_failed", e.what());
      }
      enforce_deadlines_and_keys();
      if (control_ != nullptr) control_->sweep();
      next_sweep = Clock::now() + std::chrono::milliseconds(250);
    }
    if (Clock::now() >= next_tick) {
      try {
        monitor_.tick();
      } catch (const std::exception& e) {
        log_error("agent.monitor.tick_failed", e.what());
      }
      next_tick = Clock::now() + kTickEvery;
    }
  }
  shutdown();
  return 0;
}

}  // namespace rdiag::agent
