#include "agent/ssh/channel.h"

#include <algorithm>
#include <cstring>

#include "agent/log.h"
#include "agent/monitor_proto.h"
#include "agent/ssh/monitor_client.h"

namespace rdiag::agent {
namespace {

// Past this much unsent output we stop reading the peer's requests, so a client
// that never reads cannot make us buffer without bound (SSH window backpressure).
constexpr std::size_t kMaxPendingOut = std::size_t{16} * 1024 * 1024;
constexpr std::size_t kWriteChunk = std::size_t{64} * 1024;

Channel* self(void* userdata) {
  return static_cast<Channel*>(userdata);
}

bool env_allowed(std::string_view name) {
  return name == "LANG" || name == "TERM" || name.substr(0, 3) == "LC_";
}

std::string rpc_error(const nlohmann::json& id, int code, std::string_view reason) {
  return rpc::error_line(id, code, reason, i18n::tr("agent.rpc." + std::string(reason)));
}

// Room left in a monitor frame for the method name and the envelope.
constexpr std::size_t kMaxCallParams = kMaxMonFrame - std::size_t{64} * 1024;

// The monitor's kCall answer as a JSON-RPC response line.
std::string call_answer_line(const nlohmann::json& id, const nlohmann::json& answer) {
  auto e = answer.find("error");
  if (e == answer.end() || !e->is_object())
    return rpc::result_line(id, answer.value("result", nlohmann::json()));
  return rpc::error_line(id, e->value("code", static_cast<int>(rpc::kInternalError)),
                         e->value("reason", "internal_error"), e->value("message", ""));
}

}  // namespace

Channel::Channel(ssh_session session, MonitorClient& monitor, std::size_t max_request_bytes)
    : ch_(ssh_channel_new(session)), monitor_(monitor), lines_(max_request_bytes) {
  if (ch_ != nullptr) install_callbacks();
}

Channel::~Channel() {
  if (ch_ != nullptr) ssh_channel_free(ch_);
}

// libssh calls plain C function pointers: every trampoline is noexcept and
// catches everything, so no exception ever unwinds through libssh.
void Channel::install_callbacks() {
  cb_.userdata = this;
  cb_.channel_data_function = [](ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                                 void* ud) noexcept -> int {
    if (is_stderr != 0) return static_cast<int>(len);
    try {
      return self(ud)->on_data(static_cast<const char*>(data), len);
    } catch (...) {
      return static_cast<int>(len);
    }
  };
  cb_.channel_eof_function = [](ssh_session, ssh_channel, void* ud) noexcept {
    self(ud)->eof_in_ = true;
  };
  cb_.channel_close_function = [](ssh_session, ssh_channel, void* ud) noexcept {
    self(ud)->done_ = true;
  };
  cb_.channel_subsystem_request_function = [](ssh_session, ssh_channel, const char* name,
                                              void* ud) noexcept -> int {
    try {
      return self(ud)->on_subsystem(name);
    } catch (...) {
      return -1;
    }
  };
  cb_.channel_env_request_function = [](ssh_session, ssh_channel, const char* name, const char*,
                                        void* ud) noexcept -> int {
    return self(ud)->on_env(name);
  };
  cb_.channel_pty_request_function = [](ssh_session, ssh_channel, const char*, int, int, int, int,
                                        void*) noexcept -> int { return -1; };
  cb_.channel_shell_request_function = [](ssh_session, ssh_channel, void* ud) noexcept -> int {
    try {
      self(ud)->refuse(i18n::tr("agent.door.shell_refused"));
      return 0;
    } catch (...) {
      return -1;
    }
  };
  cb_.channel_exec_request_function = [](ssh_session, ssh_channel, const char*,
                                         void* ud) noexcept -> int {
    try {
      self(ud)->refuse(i18n::tr("agent.door.exec_refused"));
      return 0;
    } catch (...) {
      return -1;
    }
  };
  cb_.channel_auth_agent_req_function = [](ssh_session, ssh_channel, void*) noexcept {
    log_line(LogLevel::kWarning, i18n::tr("agent.door.agent_forwarding_refused"));
  };
  cb_.channel_x11_req_function = [](ssh_session, ssh_channel, int, const char*, const char*,
                                    uint32_t, void*) noexcept {
    log_line(LogLevel::kWarning, i18n::tr("agent.door.x11_refused"));
  };
  ssh_callbacks_init(&cb_);
  ssh_set_channel_callbacks(ch_, &cb_);
}

int Channel::on_subsystem(std::string_view name) {
  if (mode_ != Mode::kNone) return -1;
  if (name == "rdiag-v1") {
    mode_ = Mode::kRpc;
    return 0;
  }
  if (name == "sftp") {
    refuse(i18n::tr("agent.door.sftp_refused"));
    return 0;
  }
  return -1;
}

int Channel::on_env(std::string_view name) {
  if (env_allowed(name)) return 0;
  log_line(LogLevel::kWarning, i18n::tr("agent.door.env_refused", name));
  return -1;
}

void Channel::refuse(std::string message) {
  if (mode_ != Mode::kNone) return;
  mode_ = Mode::kRefused;
  stderr_ = "rdiag-agent: " + std::move(message) + "\r\n";
}

int Channel::on_data(const char* data, std::size_t len) {
  if (mode_ != Mode::kRpc) return static_cast<int>(len);  // nothing listens: drop
  if (out_.size() > kMaxPendingOut) return 0;             // backpressure
  lines_.feed(
      std::string_view(data, len), [this](std::string_view line) { handle_line(line); },
      [this] { out_ += rpc_error(nullptr, rpc::kInvalidRequest, "request_too_large"); });
  return static_cast<int>(len);
}

void Channel::handle_line(std::string_view line) {
  auto parsed = rpc::parse_request(line);
  if (auto* failure = std::get_if<rpc::ParseFailure>(&parsed)) {
    out_ += rpc_error(failure->id, failure->code, failure->reason);
    return;
  }
  auto& req = std::get<rpc::Request>(parsed);
  std::string answer = dispatch(req);
  if (!req.is_notification) out_ += answer;  // JSON-RPC: never answer a notification
}

std::string Channel::dispatch(const rpc::Request& req) {
  if (req.method == "agent.info") {
    auto info = monitor_.mm_agent_info();
    if (!info)
      return rpc::error_line(req.id, rpc::kInternalError, "internal_error", info.error().message);
    return rpc::result_line(req.id, *info);
  }
  // Everything else is the monitor's to decide, authorization included: this
  // process only carries the request and its answer.
  if (req.method.size() +
          req.params.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size() >
      kMaxCallParams) {
    return rpc_error(req.id, rpc::kInvalidRequest, "request_too_large");
  }
  return call_answer_line(req.id, monitor_.mm_call(req.method, req.params));
}

void Channel::finish(int exit_status) {
  ssh_channel_request_send_exit_status(ch_, exit_status);
  ssh_channel_send_eof(ch_);
  ssh_channel_close(ch_);
  done_ = true;
}

void Channel::pump() {
  if (done_ || ch_ == nullptr) return;
  if (mode_ == Mode::kRefused) {
    ssh_channel_write_stderr(ch_, stderr_.data(), static_cast<uint32_t>(stderr_.size()));
    finish(1);
    return;
  }
  while (!out_.empty()) {
    const std::size_t room = std::min<std::size_t>(ssh_channel_window_size(ch_), kWriteChunk);
    if (room == 0) break;
    const std::size_t n = std::min(room, out_.size());
    const int wrote = ssh_channel_write(ch_, out_.data(), static_cast<uint32_t>(n));
    if (wrote <= 0) break;
    out_.erase(0, static_cast<std::size_t>(wrote));
  }
  // Every request that arrived before EOF has been answered: close, as sshd does.
  if (eof_in_ && out_.empty()) finish(0);
}

bool Channel::finished() const {
  return done_ || ch_ == nullptr;
}

}  // namespace rdiag::agent
