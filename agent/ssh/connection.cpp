#include "agent/ssh/connection.h"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>
#include <vector>

#include "agent/log.h"
#include "agent/ssh/algorithms.h"
#include "agent/ssh/channel.h"
#include "agent/ssh/monitor_client.h"
#include "agent/ssh/privsep.h"
#include "agent/ssh/sandbox.h"
#include "common/jsonrpc.h"

namespace rdiag::agent {
namespace {

struct SessionFree {
  void operator()(ssh_session s) const { ssh_free(s); }
};
struct BindFree {
  void operator()(ssh_bind b) const { ssh_bind_free(b); }
};
struct KeyFree {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
struct EventFree {
  void operator()(ssh_event e) const { ssh_event_free(e); }
};
using SessionPtr = std::unique_ptr<ssh_session_struct, SessionFree>;
using BindPtr = std::unique_ptr<ssh_bind_struct, BindFree>;
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyFree>;
using EventPtr = std::unique_ptr<ssh_event_struct, EventFree>;

constexpr int kMaxChannels = 4;
// Unsigned probes ("would you accept this key?") do not count as failures in
// OpenSSH either, but a client may not probe forever.
constexpr int kMaxProbes = 32;
// When the grant ends, the notification gets this long to reach the client
// before every channel closes; the monitor SIGKILLs us 500 ms after it sent
// the notification, so both together stay well under that.
constexpr auto kEndGrace = std::chrono::milliseconds(250);
constexpr int kEndFlushMs = 100;

struct Settings {
  std::size_t max_request_bytes = 1048576;
  int max_auth_tries = 6;
  unsigned auth_timeout_s = 10;
  std::string peer;
};

class Connection {
 public:
  Connection(MonitorClient& monitor, Settings settings)
      : monitor_(monitor), settings_(std::move(settings)) {
    monitor_.set_notify_sink([this](const nlohmann::json& n) { on_notify(n); });
  }
  int serve(ssh_bind bind);

 private:
  using Clock = std::chrono::steady_clock;

  int on_auth_pubkey(const char* user, ssh_key pubkey, char state);
  ssh_channel on_channel_open();
  void auth_failed(const std::string& key_b64, const char* why);
  void on_notify(const nlohmann::json& notification);
  void pump_channels();
  bool end_now();
  void loop();

  MonitorClient& monitor_;
  Settings settings_;
  SessionPtr session_{ssh_new()};
  ssh_server_callbacks_struct server_cb_{};
  std::vector<std::unique_ptr<Channel>> channels_;
  std::size_t next_first_ = 0;  // whose turn it is to reach the monitor first
  bool authenticated_ = false;
  bool ending_ = false;  // the monitor said the grant ended: close and leave
  Clock::time_point end_by_{};
  int failures_ = 0;
  int probes_ = 0;
};

std::string key_base64(ssh_key key) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK || b64 == nullptr) return {};
  std::string out(b64);
  ssh_string_free_char(b64);
  return out;
}

void Connection::auth_failed(const std::string& key_b64, const char* why) {
  ++failures_;
  monitor_.mm_auth_failed(key_b64, why);
}

int Connection::on_auth_pubkey(const char* user, ssh_key pubkey, char state) {
  if (authenticated_ || failures_ >= settings_.max_auth_tries) return SSH_AUTH_DENIED;
  const std::string key = key_base64(pubkey);
  if (state == SSH_PUBLICKEY_STATE_NONE) {
    if (++probes_ > kMaxProbes || key.empty()) return SSH_AUTH_DENIED;
    return monitor_.mm_key_allowed(key) ? SSH_AUTH_SUCCESS : SSH_AUTH_DENIED;
  }
  if (state != SSH_PUBLICKEY_STATE_VALID) {
    auth_failed(key, "bad_signature");
    return SSH_AUTH_DENIED;
  }
  auto who = monitor_.mm_auth_succeeded(key, user != nullptr ? user : "");
  if (!who) {
    auth_failed(key, "key_refused");
    return SSH_AUTH_DENIED;
  }
  authenticated_ = true;
  ::alarm(0);  // the authentication deadline no longer applies
  return SSH_AUTH_SUCCESS;
}

ssh_channel Connection::on_channel_open() {
  if (!authenticated_ || ending_ || channels_.size() >= kMaxChannels) return nullptr;
  auto ch = std::make_unique<Channel>(session_.get(), monitor_, settings_.max_request_bytes);
  ssh_channel handle = ch->handle();
  if (handle != nullptr) channels_.push_back(std::move(ch));
  return handle;
}

// What the client asked for, in the words of the SSH RFCs, for the log.
std::string request_name(int type, int subtype) {
  if (type == SSH_REQUEST_CHANNEL_OPEN) {
    switch (subtype) {
      case SSH_CHANNEL_DIRECT_TCPIP:
        return "channel direct-tcpip";
      case SSH_CHANNEL_FORWARDED_TCPIP:
        return "channel forwarded-tcpip";
      case SSH_CHANNEL_X11:
        return "channel x11";
      case SSH_CHANNEL_AUTH_AGENT:
        return "channel auth-agent";
      default:
        return "channel open";
    }
  }
  if (type == SSH_REQUEST_GLOBAL) {
    switch (subtype) {
      case SSH_GLOBAL_REQUEST_TCPIP_FORWARD:
        return "global tcpip-forward";
      case SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD:
        return "global cancel-tcpip-forward";
      case SSH_GLOBAL_REQUEST_KEEPALIVE:
        return "global keepalive";
      default:
        return "global request";
    }
  }
  return "channel request " + std::to_string(subtype);
}

void set_nodelay(int fd) {
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int Connection::serve(ssh_bind bind) {
  if (ssh_bind_accept_fd(bind, session_.get(), kClientFd) != SSH_OK) return 1;
  server_cb_.userdata = this;
  server_cb_.auth_pubkey_function = [](ssh_session, const char* user, ssh_key pubkey, char state,
                                       void* ud) noexcept -> int {
    try {
      return static_cast<Connection*>(ud)->on_auth_pubkey(user, pubkey, state);
    } catch (...) {
      return SSH_AUTH_DENIED;
    }
  };
  server_cb_.channel_open_request_session_function = [](ssh_session,
                                                        void* ud) noexcept -> ssh_channel {
    try {
      return static_cast<Connection*>(ud)->on_channel_open();
    } catch (...) {
      return nullptr;
    }
  };
  ssh_callbacks_init(&server_cb_);
  ssh_set_server_callbacks(session_.get(), &server_cb_);
  // Everything no callback handles (port forwarding, other channel types,
  // global requests) gets libssh's default answer: refused.
  ssh_set_message_callback(
      session_.get(),
      [](ssh_session, ssh_message msg, void*) noexcept -> int {
        const int type = ssh_message_type(msg);
        // Service and "none" auth requests reach here too; they are routine.
        if (type == SSH_REQUEST_AUTH || type == SSH_REQUEST_SERVICE) return 1;
        if (type == SSH_REQUEST_GLOBAL &&
            ssh_message_subtype(msg) == SSH_GLOBAL_REQUEST_KEEPALIVE) {
          return 1;
        }
        log_line(LogLevel::kWarning, i18n::tr("agent.door.request_refused",
                                              request_name(type, ssh_message_subtype(msg))));
        return 1;
      },
      nullptr);
  ssh_set_auth_methods(session_.get(), SSH_AUTH_METHOD_PUBLICKEY);
  if (ssh_handle_key_exchange(session_.get()) != SSH_OK) return 1;
  loop();
  return 0;
}

// A notification goes to every rdiag-v1 channel; "end" means the grant this
// connection used is over (revoked, expired, closed): say so, then leave.
void Connection::on_notify(const nlohmann::json& notification) {
  const std::string line = rpc::notification_line(notification["method"].get<std::string>(),
                                                  notification.value("params", nlohmann::json()));
  for (auto& ch : channels_) ch->notify(line);
  if (!notification.value("end", false) || ending_) return;
  ending_ = true;
  end_by_ = Clock::now() + kEndGrace;
  for (auto& ch : channels_) ch->stop_requests();
}

// By index, in turns: finishing a channel can flush, which handles packets and
// may open a channel (push_back) under our feet; and whoever went first last
// time goes last now, so one busy channel cannot keep the monitor to itself.
void Connection::pump_channels() {
  const std::size_t n = channels_.size();
  for (std::size_t k = 0; k < n; ++k) channels_[(next_first_ + k) % n]->pump();
  next_first_ = n == 0 ? 0 : (next_first_ + 1) % n;
}

// After an "end" notification: true once every channel is closed, when the
// notification went out everywhere or the grace ran out.
bool Connection::end_now() {
  const bool flushed = std::all_of(channels_.begin(), channels_.end(),
                                   [](const auto& ch) { return ch->output_flushed(); });
  if (!flushed && Clock::now() < end_by_) return false;
  // By index: closing flushes, and a flush may add a channel (see pump_channels).
  // NOLINTNEXTLINE(modernize-loop-convert)
  for (std::size_t i = 0; i < channels_.size(); ++i) channels_[i]->close_now();
  (void)ssh_blocking_flush(session_.get(), kEndFlushMs);
  return true;
}

void Connection::loop() {
  EventPtr event(ssh_event_new());
  ssh_event_add_session(event.get(), session_.get());
  // The monitor speaks when an answer is ready or a notification is due;
  // on_readable takes whole frames and ends the process on a hang-up.
  ssh_event_add_fd(
      event.get(), monitor_.fd(), POLLIN,
      [](socket_t, int, void* ud) noexcept -> int {
        try {
          static_cast<MonitorClient*>(ud)->on_readable();
        } catch (...) {
          ::_exit(70);  // a frame half handled: nothing here can be trusted now
        }
        return 0;
      },
      &monitor_);
  ssh_set_blocking(session_.get(), 0);
  for (;;) {
    if (ssh_event_dopoll(event.get(), ending_ ? 20 : 200) == SSH_ERROR) break;
    pump_channels();
    if (ending_ && end_now()) break;
    std::erase_if(channels_, [](const auto& ch) { return ch->finished(); });
    if ((ssh_get_status(session_.get()) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0) break;
    if (failures_ >= settings_.max_auth_tries) break;
  }
  ssh_event_remove_fd(event.get(), monitor_.fd());
  channels_.clear();
  ssh_disconnect(session_.get());
}

Result<BindPtr> make_bind(const std::string& host_pem) {
  ssh_key raw = nullptr;
  if (ssh_pki_import_privkey_base64(host_pem.c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK) {
    return make_error("cannot load the host key");
  }
  KeyPtr key(raw);
  BindPtr bind(ssh_bind_new());
  bool no = false;
  ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
  if (ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_IMPORT_KEY, key.get()) != SSH_OK) {
    return make_error("cannot use the host key");
  }
  (void)key.release();  // the bind owns it now
  if (auto r = apply_server_algorithms(bind.get()); !r) return r.error();
  return bind;
}

Settings settings_from(const nlohmann::json& init) {
  Settings s;
  s.max_request_bytes = init.value("max_request_bytes", std::size_t{1048576});
  s.max_auth_tries = init.value("max_auth_tries", 6);
  s.auth_timeout_s = init.value("auth_timeout_s", 10U);
  s.peer = init.value("peer", "");
  return s;
}

Result<void> demote_for_network() {
  if (::geteuid() != 0) return demote(nullptr);
  auto account = lookup_account(kNetAccount);
  if (!account) return account.error();
  return demote(&*account);
}

}  // namespace

int run_connection() {
  MonitorClient monitor(kMonitorFd);
  auto init = monitor.recv_init();
  if (!init) return 70;
  i18n::set_lang(i18n::parse_lang(init->value("lang", "en")));
  const Settings settings = settings_from(*init);
  // The deadline covers key exchange too: a client that stalls anywhere before
  // authenticating is gone after auth_timeout_s (SIGALRM's default: exit).
  ::alarm(settings.auth_timeout_s);
  ssh_init();
  auto bind = make_bind(init->value("host_key", ""));
  if (!bind) {
    log_line(LogLevel::kError, bind.error().message);
    return 70;
  }
  if (auto r = demote_for_network(); !r) {
    log_error("agent.conn.demote_failed", r.error().message);
    return 70;
  }
  set_nodelay(kClientFd);
  ::tzset();  // log lines need the time zone; read it before files are off limits
  if (auto r = install_connection_sandbox(); !r) {
    log_error("agent.conn.demote_failed", r.error().message);
    return 70;
  }
  Connection conn(monitor, settings);
  const int rc = conn.serve(bind->get());
  ssh_finalize();
  return rc;
}

}  // namespace rdiag::agent
