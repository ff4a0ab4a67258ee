#include "agent/control/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/fs.h"
#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::agent {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// A sessions list of a busy server stays far below this; anything bigger is
// not our agent talking.
constexpr std::size_t kMaxAnswer = std::size_t{16} * 1024 * 1024;
constexpr std::chrono::milliseconds kConnectRetry{20};

// One call's target and deadline.
struct Call {
  const ControlTarget& t;
  Clock::time_point deadline;
  long long seconds;  // the whole timeout, for the message

  Error timeout() const {
    return make_error(i18n::tr("agent.control.timeout", terminal_safe(t.path), seconds), "timeout");
  }
};

Error io_error(const ControlTarget& t, int err) {
  return make_error(i18n::tr("agent.control.io_failed", terminal_safe(t.path), errno_text(err)),
                    "io_error");
}

// Waits until fd is ready for events or the deadline passes; false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60000)));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return true;  // the next call reports the error
  }
}

Result<void> connect_to(int fd, const Call& call) {
  const ControlTarget& t = call.t;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (t.path.empty() || t.path.size() >= sizeof addr.sun_path) {
    return make_error(i18n::tr("agent.control.bad_path", terminal_safe(t.path)), "io_error");
  }
  std::memcpy(addr.sun_path, t.path.data(), t.path.size());
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return {};
  int err = errno;
  // A full backlog (EAGAIN): the agent is there but busy. poll() says nothing
  // useful about an unconnected socket, so try again after a short pause.
  while (err == EAGAIN) {
    if (Clock::now() + kConnectRetry >= call.deadline) {
      return call.timeout();
    }
    (void)::poll(nullptr, 0, static_cast<int>(kConnectRetry.count()));
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return {};
    err = errno;
  }
  if (err == ENOENT || err == ECONNREFUSED || err == ENOTDIR) {
    return make_error(i18n::tr("agent.control.not_running", terminal_safe(t.path)), "not_running");
  }
  if (err == EACCES || err == EPERM) {
    return make_error(i18n::tr("agent.control.no_access", terminal_safe(t.path), t.admin_group),
                      "access");
  }
  return io_error(t, err);
}

Result<void> send_line(int fd, const Call& call, const std::string& line) {
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::send(fd, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return io_error(call.t, errno);
    if (!wait_for(fd, POLLOUT, call.deadline)) {
      return call.timeout();
    }
  }
  return {};
}

Result<std::string> read_line(int fd, const Call& call) {
  const ControlTarget& t = call.t;
  std::string in;
  std::array<char, 65536> buf{};
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      const std::size_t old = in.size();
      in.append(buf.data(), static_cast<std::size_t>(n));
      if (const auto nl = in.find('\n', old); nl != std::string::npos) return in.substr(0, nl);
      if (in.size() > kMaxAnswer) {
        return make_error(i18n::tr("agent.control.bad_answer", terminal_safe(t.path)),
                          "bad_answer");
      }
      continue;
    }
    if (n == 0) {
      if (!in.empty()) return in;
      return make_error(i18n::tr("agent.control.closed", terminal_safe(t.path)), "io_error");
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return io_error(t, errno);
    if (!wait_for(fd, POLLIN, call.deadline)) {
      return call.timeout();
    }
  }
}

}  // namespace

json control_request(const std::string& command, const json& args) {
  const char* sudo_user = std::getenv("SUDO_USER");  // NOLINT(concurrency-mt-unsafe): CLI start-up
  return {{"command", command},
          {"args", args.is_null() ? json::object() : args},
          {"sudo_user", sudo_user != nullptr ? sudo_user : ""},
          {"lang", i18n::lang() == i18n::Lang::kZhCN ? "zh_CN" : "en"}};
}

Result<json> control_call(const ControlTarget& target, const std::string& command, const json& args,
                          std::chrono::milliseconds timeout) {
  const Call call{target, Clock::now() + timeout,
                  std::chrono::duration_cast<std::chrono::seconds>(timeout).count()};
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return io_error(target, errno);
  if (auto r = connect_to(fd.get(), call); !r) return r.error();
  const std::string line =
      control_request(command, args).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  if (auto r = send_line(fd.get(), call, line); !r) return r.error();
  auto answer = read_line(fd.get(), call);
  if (!answer) return answer.error();
  json j = json::parse(*answer, nullptr, false);
  if (j.is_discarded() || !j.is_object() ||
      !(j.contains("result") || (j.contains("error") && j["error"].is_object()))) {
    return make_error(i18n::tr("agent.control.bad_answer", terminal_safe(target.path)),
                      "bad_answer");
  }
  return j;
}

}  // namespace rdiag::agent
