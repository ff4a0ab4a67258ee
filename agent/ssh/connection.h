// The connection process: one per accepted TCP connection, exec'd by the
// listener, demoted before it reads a byte, speaking SSH with libssh. It
// reaches state only through MonitorClient.
#pragma once

namespace rdiag::agent {

// Descriptors the listener hands over across exec.
inline constexpr int kClientFd = 3;
inline constexpr int kMonitorFd = 4;

// Runs the connection to its end; returns the process exit code.
int run_connection();

}  // namespace rdiag::agent
