#include "agent/ssh/channel.h"

#include <algorithm>
#include <cstring>

#include "agent/log.h"
#include "agent/monitor_proto.h"

namespace rdiag::agent {
namespace {

// Past this much unsent output we stop reading the peer's requests, so a client
// that never reads cannot make us buffer without bound (SSH window backpressure).
constexpr std::size_t kMaxPendingOut = std::size_t{16} * 1024 * 1024;
constexpr std::size_t kWriteChunk = std::size_t{64} * 1024;
// Request bytes we take from libssh while earlier requests wait for the
// monitor; past this libssh keeps them and stops widening the SSH window.
constexpr std::size_t kMaxHeldIn = std::size_t{64} * 1024;

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

// The monitor's kAgentInfo answer: the info object itself, or an error.
std::string info_answer_line(const nlohmann::json& id, const nlohmann::json& answer) {
  auto e = answer.find("error");
  if (e == answer.end()) return rpc::result_line(id, answer);
  const std::string message = e->is_object() ? e->value("message", "") : "";
  return rpc::error_line(id, rpc::kInternalError, "internal_error", message);
}

}  // namespace

Channel::Channel(ssh_session session, MonitorClient& monitor, std::size_t max_request_bytes)
    : ch_(ssh_channel_new(session)), monitor_(monitor), lines_(max_request_bytes) {
  if (ch_ != nullptr) install_callbacks();
}

Channel::~Channel() {
  monitor_.forget(waiting_);  // the answer may still come; nobody here to take it
  if (ch_ == nullptr) return;
  // Freeing an open channel closes it, and that flush may handle packets:
  // none of them may reach this half-destroyed object.
  ssh_remove_channel_callbacks(ch_, &cb_);
  ssh_channel_free(ch_);
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
      return self(ud)->on_door("shell");
    } catch (...) {
      return -1;
    }
  };
  cb_.channel_exec_request_function = [](ssh_session, ssh_channel, const char*,
                                         void* ud) noexcept -> int {
    try {
      return self(ud)->on_door("exec");
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
  if (name == "sftp") return on_door("sftp");
  return -1;
}

int Channel::on_env(std::string_view name) {
  if (env_allowed(name)) return 0;
  log_line(LogLevel::kWarning, i18n::tr("agent.door.env_refused", name));
  return -1;
}

// libssh replies to the channel request from this callback's return value, so
// the monitor's verdict cannot wait for it without stalling every other
// channel. The request is accepted at once and the verdict arrives as the
// door's outcome: a message on stderr and exit status 1 (what sshd does when
// a session cannot start), or, later, the door itself.
int Channel::on_door(const char* door) {
  if (mode_ != Mode::kNone || ending_) return -1;
  mode_ = Mode::kDoor;
  door_ = door;
  ask_door();
  return 0;
}

void Channel::ask_door() {
  if (mode_ != Mode::kDoor || waiting_ != 0 || monitor_.busy()) return;
  waiting_ =
      monitor_.mm_door(door_, [this](const nlohmann::json& answer) { on_door_answer(answer); });
}

void Channel::on_door_answer(const nlohmann::json& answer) {
  waiting_ = 0;
  auto e = answer.find("error");
  if (e == answer.end()) {
    // Allowed; the door itself comes in a later version of the agent.
    refuse(i18n::tr("agent.door.not_built", door_));
    return;
  }
  std::string message = e->is_object() ? e->value("message", "") : "";
  if (message.empty()) {
    message = i18n::tr("agent.door.refused", e->is_object() ? e->value("reason", "") : "");
  }
  refuse(message);
}

void Channel::refuse(const std::string& message) {
  mode_ = Mode::kRefused;
  stderr_ = "rdiag-agent: " + message + "\r\n";
}

int Channel::on_data(const char* data, std::size_t len) {
  if (mode_ != Mode::kRpc) return static_cast<int>(len);  // nothing listens: drop
  const std::size_t room = in_.size() < kMaxHeldIn ? kMaxHeldIn - in_.size() : 0;
  const std::size_t take = std::min(len, room);
  in_.append(data, take);
  // libssh keeps the rest and offers it again with the next packet only, so
  // pump() fetches it once there is room (pull_held_input).
  held_ = len - take;
  drain_requests();
  return static_cast<int>(take);
}

// Only called with bytes already in libssh's buffer: ssh_channel_read_nonblocking
// then copies them out without handling packets (no callback runs inside).
void Channel::pull_held_input() {
  if (held_ == 0 || in_.size() >= kMaxHeldIn) return;
  std::string buf(std::min(held_, kMaxHeldIn - in_.size()), '\0');
  const int n = ssh_channel_read_nonblocking(ch_, buf.data(), static_cast<uint32_t>(buf.size()), 0);
  if (n <= 0) {
    held_ = 0;  // nothing there after all: libssh offers anything new with its next packet
    return;
  }
  in_.append(buf.data(), static_cast<std::size_t>(n));
  held_ -= std::min(held_, static_cast<std::size_t>(n));
}

// Splits buffered bytes into request lines, one line at a time, and stops at
// the first line that needs the monitor while the monitor is taken, so the
// answers on this channel keep the order of its requests.
void Channel::drain_requests() {
  while (mode_ == Mode::kRpc && !ending_ && !done_ && waiting_ == 0 && !in_.empty() &&
         out_.size() <= kMaxPendingOut && !monitor_.busy()) {
    const std::size_t nl = in_.find('\n');
    const std::size_t take = nl == std::string::npos ? in_.size() : nl + 1;
    const std::string chunk = in_.substr(0, take);
    in_.erase(0, take);
    lines_.feed(
        chunk, [this](std::string_view line) { handle_line(line); },
        [this] { out_ += rpc_error(nullptr, rpc::kInvalidRequest, "request_too_large"); });
  }
}

void Channel::handle_line(std::string_view line) {
  auto parsed = rpc::parse_request(line);
  if (auto* failure = std::get_if<rpc::ParseFailure>(&parsed)) {
    out_ += rpc_error(failure->id, failure->code, failure->reason);
    return;
  }
  dispatch(std::get<rpc::Request>(parsed));
}

void Channel::dispatch(const rpc::Request& req) {
  // JSON-RPC: a notification is carried out but never answered.
  const bool answer_it = !req.is_notification;
  auto reply = [this, answer_it](const std::string& line) {
    waiting_ = 0;
    if (answer_it) out_ += line;
  };
  if (req.method == "agent.info") {
    waiting_ = monitor_.mm_agent_info(
        [reply, id = req.id](const nlohmann::json& a) { reply(info_answer_line(id, a)); });
    return;
  }
  // Everything else is the monitor's to decide, authorization included: this
  // process only carries the request and its answer.
  if (req.method.size() +
          req.params.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size() >
      kMaxCallParams) {
    if (answer_it) out_ += rpc_error(req.id, rpc::kInvalidRequest, "request_too_large");
    return;
  }
  waiting_ = monitor_.mm_call(
      req.method, req.params,
      [reply, id = req.id](const nlohmann::json& a) { reply(call_answer_line(id, a)); });
}

void Channel::notify(std::string_view line) {
  if (mode_ == Mode::kRpc && !done_) out_ += line;
}

void Channel::finish(int exit_status) {
  ssh_channel_request_send_exit_status(ch_, exit_status);
  ssh_channel_send_eof(ch_);
  ssh_channel_close(ch_);
  done_ = true;
}

void Channel::close_now() {
  if (!finished()) finish(1);
}

void Channel::write_output() {
  while (!out_.empty()) {
    const std::size_t room = std::min<std::size_t>(ssh_channel_window_size(ch_), kWriteChunk);
    if (room == 0) break;
    const std::size_t n = std::min(room, out_.size());
    const int wrote = ssh_channel_write(ch_, out_.data(), static_cast<uint32_t>(n));
    if (wrote <= 0) break;
    out_.erase(0, static_cast<std::size_t>(wrote));
  }
}

bool Channel::idle() const {
  return out_.empty() && in_.empty() && held_ == 0 && waiting_ == 0 && mode_ != Mode::kDoor;
}

void Channel::pump() {
  if (finished()) return;
  if (mode_ == Mode::kRefused) {
    ssh_channel_write_stderr(ch_, stderr_.data(), static_cast<uint32_t>(stderr_.size()));
    finish(1);
    return;
  }
  if (!ending_) ask_door();
  pull_held_input();
  drain_requests();
  write_output();
  // Every request that arrived before EOF has been answered: close, as sshd does.
  if (eof_in_ && idle()) finish(0);
}

bool Channel::finished() const {
  return done_ || ch_ == nullptr;
}

}  // namespace rdiag::agent
