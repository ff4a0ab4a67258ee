#include "agent/control/server.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agent/log.h"
#include "common/fs.h"
#include "common/text_safety.h"

namespace rdiag::agent {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxLine = std::size_t{64} * 1024;
constexpr std::size_t kMaxCommandShown = 64;
// Bytes a finished client may still have queued: reading them before close()
// keeps the kernel from turning our answer into ECONNRESET on its side.
constexpr std::size_t kMaxDrain = std::size_t{256} * 1024;
constexpr int kBacklog = 16;
constexpr int kAcceptsPerPoll = 64;
// After EMFILE and the like the listening socket stays readable: pause
// accepting instead of spinning on it.
constexpr std::chrono::seconds kAcceptPause{1};
constexpr std::uint32_t kLoginUidUnset = 4294967295U;

std::string lang_tag(i18n::Lang l) {
  return l == i18n::Lang::kZhCN ? "zh_CN" : "en";
}

json error_answer(std::string_view reason, std::string message) {
  return {{"error", {{"reason", reason}, {"message", std::move(message)}}}};
}

std::optional<gid_t> group_gid(const std::string& name) {
  if (name.empty()) return std::nullopt;
  long size = ::sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  for (int tries = 0; tries < 4; ++tries) {
    group gr{};
    group* found = nullptr;
    const int rc = ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found);
    if (rc == ERANGE) {
      buf.resize(buf.size() * 4);
      continue;
    }
    if (rc != 0 || found == nullptr) return std::nullopt;
    return gr.gr_gid;
  }
  return std::nullopt;
}

std::string user_name(uid_t uid) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return pw.pw_name;
  }
  return std::to_string(uid);
}

std::optional<uid_t> login_uid(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/loginuid";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  std::array<char, 16> buf{};
  const ssize_t n = ::read(fd.get(), buf.data(), buf.size() - 1);
  if (n <= 0) return std::nullopt;
  char* end = nullptr;
  const unsigned long v = std::strtoul(buf.data(), &end, 10);
  if (end == buf.data() || v >= kLoginUidUnset) return std::nullopt;
  return static_cast<uid_t>(v);
}

std::vector<gid_t> peer_groups(int fd) {
  std::vector<gid_t> groups(32);
  // ERANGE tells us the size needed; a group list can grow between calls.
  for (int tries = 0; tries < 3; ++tries) {
    auto len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) break;
    groups.resize(len / sizeof(gid_t) + 1);
  }
  return {};  // fail closed: only the primary group counts
}

std::optional<ControlPeer> read_peer(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  ControlPeer peer;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  peer.pid = cred.pid;
  peer.groups = peer_groups(fd);
  peer.loginuid = login_uid(cred.pid);
  peer.user = user_name(cred.uid);
  return peer;
}

// At most kMaxCommandShown bytes, cut on a character boundary: the command
// of a refused peer goes into the ledger, and that peer chose it.
std::string shown_command(const std::string& command) {
  if (command.size() <= kMaxCommandShown) return sanitize_utf8(command);
  std::size_t cut = kMaxCommandShown;
  while (cut > 0 && (static_cast<unsigned char>(command[cut]) & 0xC0U) == 0x80U) --cut;
  return sanitize_utf8(command.substr(0, cut));
}

// The request in line, or the message saying why it is not one.
Result<ControlRequest> parse_request(const std::string& line, std::string_view lang) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded()) return make_error(control_tr(lang, "agent.control.bad_json"));
  if (!j.is_object()) return make_error(control_tr(lang, "agent.control.not_object"));
  ControlRequest req;
  if (auto l = j.find("lang"); l != j.end() && l->is_string()) {
    lang = i18n::parse_lang(l->get<std::string>()) == i18n::Lang::kZhCN ? "zh_CN" : "en";
  }
  req.lang = std::string(lang);
  const auto string_field = [&](const char* key, std::string& out) -> Result<void> {
    auto it = j.find(key);
    if (it == j.end()) return {};
    if (!it->is_string()) return make_error(control_tr(lang, "agent.control.want_string", key));
    out = it->get<std::string>();
    return {};
  };
  if (auto r = string_field("command", req.command); !r) return r.error();
  if (req.command.empty()) return make_error(control_tr(lang, "agent.control.no_command"));
  if (auto r = string_field("sudo_user", req.sudo_user); !r) return r.error();
  req.args = json::object();
  if (auto it = j.find("args"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return make_error(control_tr(lang, "agent.control.want_object", "args"));
    req.args = std::move(*it);
  }
  return req;
}

}  // namespace

struct ControlServer::Client {
  explicit Client(int fd_in) : fd(fd_in) {}
  UniqueFd fd;
  ControlPeer peer;
  Clock::time_point deadline;
  std::string in;
  std::string out;
  std::size_t out_done = 0;
  bool answering = false;
};

ControlServer::ControlServer(std::string path, std::string admin_group,
                             std::optional<gid_t> admin_gid, ControlServerOptions options)
    : path_(std::move(path)),
      admin_group_(std::move(admin_group)),
      admin_gid_(admin_gid),
      options_(options) {}

ControlServer::~ControlServer() {
  clients_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    (void)::unlink(path_.c_str());
  }
}

bool ControlServer::admitted(const ControlPeer& peer) const {
  if (peer.uid == 0 || peer.uid == ::geteuid()) return true;
  if (!admin_gid_) return false;
  if (peer.gid == *admin_gid_) return true;
  return std::ranges::find(peer.groups, *admin_gid_) != peer.groups.end();
}

std::size_t ControlServer::add_poll_fds(std::vector<pollfd>& fds) const {
  const short accepting = Clock::now() >= accept_resume_ ? POLLIN : 0;
  fds.push_back({listen_fd_, accepting, 0});
  for (const auto& [fd, c] : clients_) {
    fds.push_back({fd, static_cast<short>(c->answering ? POLLOUT : POLLIN), 0});
  }
  return 1 + clients_.size();
}

void ControlServer::on_poll(const std::vector<pollfd>& fds, std::size_t first, std::size_t count,
                            const ControlHandler& handler, const ControlRefusal& refusal) {
  bool listen_ready = false;
  const std::size_t end = std::min(fds.size(), first + count);
  for (std::size_t i = first; i < end; ++i) {
    const pollfd& p = fds[i];
    if (p.revents == 0) continue;
    if (p.fd == listen_fd_) {
      listen_ready = true;
      continue;
    }
    auto it = clients_.find(p.fd);
    if (it == clients_.end()) continue;  // swept since add_poll_fds
    Client& c = *it->second;
    if (!c.answering) {
      on_readable(c, handler, refusal);
    } else if (!flush(c)) {
      drop(p.fd);
    }
  }
  // Accept last: a new client may reuse the number of one dropped above, and
  // must not be mistaken for an entry of this round.
  if (listen_ready) accept_ready();
}

void ControlServer::sweep() {
  const auto now = Clock::now();
  for (auto it = clients_.begin(); it != clients_.end();) {
    it = it->second->deadline <= now ? clients_.erase(it) : std::next(it);
  }
}

void ControlServer::accept_ready() {
  for (int n = 0; n < kAcceptsPerPoll; ++n) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        log_warn("agent.control.accept_failed", path_, errno_text(errno));
        accept_resume_ = Clock::now() + kAcceptPause;
      }
      return;
    }
    auto client = std::make_unique<Client>(fd);
    if (clients_.size() >= options_.max_clients) continue;  // closed by client's destructor
    auto peer = read_peer(fd);
    if (!peer) continue;
    client->peer = std::move(*peer);
    client->deadline = Clock::now() + options_.deadline;
    clients_.emplace(fd, std::move(client));
  }
}

void ControlServer::on_readable(Client& c, const ControlHandler& handler,
                                const ControlRefusal& refusal) {
  std::array<char, 8192> buf{};
  for (;;) {
    // in.size() <= kMaxLine here, so we always ask for at least one byte.
    const std::size_t want = std::min(buf.size(), kMaxLine + 1 - c.in.size());
    const ssize_t n = ::read(c.fd.get(), buf.data(), want);
    if (n > 0) {
      const std::size_t old = c.in.size();
      c.in.append(buf.data(), static_cast<std::size_t>(n));
      const std::size_t nl = c.in.find('\n', old);
      if (nl != std::string::npos) {
        c.in.resize(nl);
        return answer(c, handler, refusal);
      }
      if (c.in.size() > kMaxLine) return answer(c, handler, refusal);
      continue;
    }
    if (n == 0) {
      // End of input: a last line without its newline still counts.
      if (c.in.empty()) return drop(c.fd.get());
      return answer(c, handler, refusal);
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) drop(c.fd.get());
    return;
  }
}

void ControlServer::answer(Client& c, const ControlHandler& handler,
                           const ControlRefusal& refusal) {
  const std::string fallback_lang = lang_tag(i18n::lang());
  Result<ControlRequest> req =
      c.in.size() > kMaxLine
          ? make_error(control_tr(fallback_lang, "agent.control.too_long", kMaxLine))
          : parse_request(c.in, fallback_lang);
  c.in = std::string();
  const std::string lang = req ? req->lang : fallback_lang;
  json reply;
  if (!admitted(c.peer)) {
    try {
      refusal(c.peer, req ? shown_command(req->command) : std::string());
    } catch (const std::exception& e) {
      log_error("agent.control.refusal_failed", e.what());
    }
    reply = error_answer("not_permitted",
                         admin_gid_ ? control_tr(lang, "agent.control.not_permitted", c.peer.user,
                                                 c.peer.uid, admin_group_)
                                    : control_tr(lang, "agent.control.not_permitted_no_group",
                                                 c.peer.user, c.peer.uid, admin_group_));
  } else if (!req) {
    reply = error_answer("bad_request", req.error().message);
  } else {
    req->peer = c.peer;
    try {
      reply = handler(*req);
    } catch (const std::exception& e) {
      reply = error_answer("internal", control_tr(lang, "agent.control.internal",
                                                  shown_command(req->command), e.what()));
    }
    if (!reply.is_object() || (!reply.contains("result") && !reply.contains("error"))) {
      reply = error_answer("internal", control_tr(lang, "agent.control.internal",
                                                  shown_command(req->command), "no answer"));
    }
  }
  // Handler text may carry anything a peer or engineer typed: never let a
  // stray byte turn into an exception here.
  c.out = reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  c.answering = true;
  if (!flush(c)) drop(c.fd.get());
}

bool ControlServer::flush(Client& c) {
  while (c.out_done < c.out.size()) {
    const ssize_t n =
        ::send(c.fd.get(), c.out.data() + c.out_done, c.out.size() - c.out_done, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  std::array<char, 8192> buf{};
  for (std::size_t drained = 0; drained < kMaxDrain;) {
    const ssize_t n = ::read(c.fd.get(), buf.data(), buf.size());
    if (n <= 0) break;
    drained += static_cast<std::size_t>(n);
  }
  return false;
}

void ControlServer::drop(int fd) {
  clients_.erase(fd);
}

// ---------------------------------------------------------------------------
// open

namespace {

bool is_root() {
  return ::geteuid() == 0;
}

// The folder that holds the socket: made when missing (one level), with the
// modes of DESIGN's paths table; an existing folder is left as it is (it may
// be /tmp).
Result<void> prepare_folder(const std::string& dir, std::optional<gid_t> gid) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return make_error(i18n::tr("agent.control.mkdir_failed", dir, errno_text(ENOTDIR)), "io_error");
  }
  if (errno != ENOENT || ::mkdir(dir.c_str(), 0700) != 0) {
    return make_error(i18n::tr("agent.control.mkdir_failed", dir, errno_text(errno)), "io_error");
  }
  // mkdir's mode passes through the umask: set the mode explicitly.
  if (is_root() && gid) {
    if (::chown(dir.c_str(), 0, *gid) != 0 || ::chmod(dir.c_str(), 0750) != 0) {
      return make_error(i18n::tr("agent.control.mkdir_failed", dir, errno_text(errno)), "io_error");
    }
  } else if (::chmod(dir.c_str(), 0700) != 0) {
    return make_error(i18n::tr("agent.control.mkdir_failed", dir, errno_text(errno)), "io_error");
  }
  return {};
}

// A socket file already at path: replaced when nobody listens on it (an
// agent that was killed leaves it behind), an error when someone does.
Result<void> clear_stale(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return make_error(i18n::tr("agent.control.check_failed", path, errno_text(errno)), "io_error");
  }
  if (!S_ISSOCK(st.st_mode)) {
    return make_error(i18n::tr("agent.control.not_socket", path), "io_error");
  }
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (probe.get() < 0) {
    return make_error(i18n::tr("agent.control.check_failed", path, errno_text(errno)), "io_error");
  }
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ||
      errno == EAGAIN) {
    return make_error(i18n::tr("agent.control.in_use", path), "in_use");
  }
  if (errno != ECONNREFUSED && errno != ENOENT) {
    return make_error(i18n::tr("agent.control.check_failed", path, errno_text(errno)), "io_error");
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return make_error(i18n::tr("agent.control.check_failed", path, errno_text(errno)), "io_error");
  }
  log_info("agent.control.stale_removed", path);
  return {};
}

// Who may connect is decided by the file's owner, group and mode; the peer
// check in admitted() is the second lock.
Result<void> set_socket_mode(const std::string& path, const std::string& group,
                             std::optional<gid_t> gid) {
  int rc = 0;
  if (is_root() && gid) {
    rc = ::chown(path.c_str(), 0, *gid);
    if (rc == 0) rc = ::chmod(path.c_str(), 0660);
  } else {
    if (is_root()) log_warn("agent.control.group_missing", group, path);
    rc = ::chmod(path.c_str(), 0600);
  }
  if (rc != 0) {
    return make_error(i18n::tr("agent.control.bind_failed", path, errno_text(errno)), "io_error");
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::open(const std::string& path,
                                                           const std::string& admin_group,
                                                           ControlServerOptions options) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return make_error(
        i18n::tr("agent.control.path_too_long", path, path.size(), sizeof addr.sun_path - 1),
        "usage");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const std::optional<gid_t> gid = group_gid(admin_group);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (!dir.empty()) {
    if (auto r = prepare_folder(dir, gid); !r) return r.error();
  }
  if (auto r = clear_stale(path, addr); !r) return r.error();

  std::unique_ptr<ControlServer> server(
      new ControlServer(path, admin_group, gid, options));  // private constructor
  server->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int fd = server->listen_fd_;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno == EADDRINUSE) return make_error(i18n::tr("agent.control.in_use", path), "in_use");
    return make_error(i18n::tr("agent.control.bind_failed", path, errno_text(errno)), "io_error");
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    server->dev_ = st.st_dev;
    server->ino_ = st.st_ino;
  }
  // Until listen() nobody can connect, so the mode is right before anyone can.
  if (auto r = set_socket_mode(path, admin_group, gid); !r) return r.error();
  if (::listen(fd, kBacklog) != 0) {
    return make_error(i18n::tr("agent.control.bind_failed", path, errno_text(errno)), "io_error");
  }
  return server;
}

}  // namespace rdiag::agent
