// The agent's control socket, transport only: the monitor owns it and polls
// it in its own loop, so nothing here ever blocks. Each connection carries one
// request (one JSON line of at most 64 KiB) and gets one JSON line back; who
// may ask is decided here from the kernel's view of the peer (SO_PEERCRED,
// SO_PEERGROUPS), never from anything the peer says.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/i18n.h"
#include "common/result.h"

namespace rdiag::agent {

struct ControlPeer {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::vector<gid_t> groups;      // supplementary groups (SO_PEERGROUPS)
  std::optional<uid_t> loginuid;  // /proc/PID/loginuid; nullopt when unset
  std::string user;               // the uid's account name, or the number
};

// NOLINTNEXTLINE(bugprone-exception-escape): json's noexcept move checks invariants, never throws
struct ControlRequest {
  ControlPeer peer;
  std::string command;  // non-empty; which commands exist is the handler's business
  nlohmann::json args;  // always an object ({} when the client sent none)
  std::string sudo_user;
  std::string lang;  // "en" or "zh_CN" (normalized); the handler words messages in it
};

// Returns {"result": ...} or {"error": {"reason", "message"}}. An exception
// thrown here is caught and answered as reason "internal".
using ControlHandler = std::function<nlohmann::json(const ControlRequest&)>;
// A peer that is not admitted made a request (for the control.refused ledger
// line). command is what it asked for, cut to 64 bytes of valid UTF-8, or ""
// when the line was not a request at all.
using ControlRefusal = std::function<void(const ControlPeer&, const std::string& command)>;

struct ControlServerOptions {
  std::chrono::milliseconds deadline{5000};  // per connection, accept to last byte out
  std::size_t max_clients = 16;              // more at once are closed at once
};

class ControlServer {
 public:
  // Creates and binds the socket at path. As root: a parent folder it creates
  // is 0750 root:admin_group, the socket 0660 root:admin_group (group missing:
  // a warning and 0700 / 0600, root only). Not root (dev mode): a folder it
  // creates is 0700, the socket 0600. A stale socket (nobody listening) is
  // replaced; a live one means another agent runs, an error that says so.
  // Descriptors are close-on-exec and non-blocking.
  static Result<std::unique_ptr<ControlServer>> open(const std::string& path,
                                                     const std::string& admin_group,
                                                     ControlServerOptions options = {});
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  // Closes every client and unlinks the socket (if it is still ours).
  ~ControlServer();

  // Appends the listening fd and the clients' fds; returns how many it added
  // (the caller passes that range to on_poll).
  std::size_t add_poll_fds(std::vector<pollfd>& fds) const;

  // Handles fds[first, first + count), the entries add_poll_fds added, after
  // poll(). Complete requests from admitted peers go to handler; peers not
  // admitted go to refusal and are answered reason "not_permitted". Bad lines
  // (too long, not JSON, not a request) are answered reason "bad_request"
  // without calling either. The handler runs synchronously: keep it short.
  void on_poll(const std::vector<pollfd>& fds, std::size_t first, std::size_t count,
               const ControlHandler& handler, const ControlRefusal& refusal);

  // Drops clients past their deadline; call it every second or so.
  void sweep();

  const std::string& path() const { return path_; }
  std::size_t client_count() const { return clients_.size(); }
  // The admin group's gid, if the group existed at open().
  std::optional<gid_t> admin_gid() const { return admin_gid_; }

  // Whether peer may use the socket: root, this process's euid, or the admin
  // group as primary or supplementary group.
  bool admitted(const ControlPeer& peer) const;

 private:
  struct Client;
  ControlServer(std::string path, std::string admin_group, std::optional<gid_t> admin_gid,
                ControlServerOptions options);
  void accept_ready();
  void on_readable(Client& c, const ControlHandler& handler, const ControlRefusal& refusal);
  void answer(Client& c, const ControlHandler& handler, const ControlRefusal& refusal);
  // Writes what it can of c's answer; false when the client is finished.
  bool flush(Client& c);
  void drop(int fd);

  std::string path_;
  std::string admin_group_;
  std::optional<gid_t> admin_gid_;
  ControlServerOptions options_;
  int listen_fd_ = -1;
  std::chrono::steady_clock::time_point accept_resume_{};
  dev_t dev_ = 0;  // of the socket file we bound, so we never unlink another's
  ino_t ino_ = 0;
  std::map<int, std::unique_ptr<Client>> clients_;
};

// A catalog message in the language a control request asked for ("en" or
// "zh_CN"), for handler answers: the monitor's own language is the service's.
template <typename... Args>
std::string control_tr(std::string_view lang, std::string_view id, Args&&... args) {
  const std::string_view text = i18n::text_in(i18n::parse_lang(lang), id);
  if constexpr (sizeof...(Args) == 0) {
    return std::string(text);  // as tr(): a text without arguments is not a format
  } else {
    try {
      return fmt::format(fmt::runtime(text), std::forward<Args>(args)...);
    } catch (const fmt::format_error&) {
      return std::string(id);
    }
  }
}

}  // namespace rdiag::agent
