// The listener: accepts TCP connections, applies pre-authentication flood
// control, forks and re-executes the agent in the connection role for each
// one, and serves every connection's monitor requests from one poll loop.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "agent/monitor.h"
#include "common/netaddr.h"

namespace rdiag::agent {

class ControlServer;

class Listener {
 public:
  // control: the control socket, polled in the same loop (may be null).
  explicit Listener(Monitor& monitor, ControlServer* control = nullptr);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens; returns the address actually bound (port 0 resolved).
  Result<HostPort> open(const HostPort& where);
  // Serves until SIGTERM or SIGINT; returns the process exit code.
  int run();

 private:
  void accept_ready();
  bool admit(const IpAddress& peer, std::string_view peer_text);
  void spawn(int client_fd, const IpAddress& peer, std::string peer_text);
  void on_readable(ConnState& conn);
  // Writes what the socket takes of conn.out; false when the process is gone.
  bool flush(ConnState& conn);
  void drop(pid_t pid, const char* why);
  void reap();
  void enforce_deadlines_and_keys();
  bool handle_signal();
  void shutdown();
  void serve_control(const std::vector<pollfd>& fds, std::size_t first, std::size_t count);
  int count_startups(const IpAddress* source) const;

  Monitor& monitor_;
  ControlServer* control_;
  int listen_fd_ = -1;
  int signal_fd_ = -1;
  std::map<pid_t, std::unique_ptr<ConnState>> conns_;
  std::mt19937 rng_;
  // accept() is paused until then after running out of descriptors.
  std::chrono::steady_clock::time_point accept_resume_{};
};

// OpenSSH's MaxStartups random early drop: refuse with probability rising
// from rate% at `start` unauthenticated connections to 100% at `full`.
bool random_early_drop(const MaxStartups& m, int startups, unsigned roll_0_to_99);

}  // namespace rdiag::agent
