#include "agent/ssh/monitor_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

namespace rdiag::agent {
namespace {

[[noreturn]] void monitor_lost() {
  // Nothing to clean up that the kernel does not: the socket closes with us.
  ::_exit(70);
}

constexpr std::uint8_t kNotifyType = static_cast<std::uint8_t>(MonType::kNotify);
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;
// One on_readable() reads at most this much, so a 32 MiB answer cannot stall
// the SSH side; poll reports the socket readable again for the rest.
constexpr std::size_t kReadBudget = std::size_t{1024} * 1024;

std::uint32_t read_be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24U) | (std::uint32_t{u[1]} << 16U) | (std::uint32_t{u[2]} << 8U) |
         std::uint32_t{u[3]};
}

}  // namespace

Result<nlohmann::json> MonitorClient::recv_init() const {
  // Exactly one frame, read before anything else: rbuf_ is still empty.
  auto msg = recv_frame(fd_);
  if (!msg) return msg.error();
  if (msg->type != static_cast<std::uint8_t>(MonType::kInit)) {
    return make_error("monitor did not start with init");
  }
  return std::move(msg->body);
}

void MonitorClient::send(MonType type, const nlohmann::json& body) const {
  if (!send_frame(fd_, static_cast<std::uint8_t>(type), body)) monitor_lost();
}

bool MonitorClient::read_some(bool blocking) {
  char buf[kReadChunk];
  for (;;) {
    const ssize_t n =
        blocking ? ::read(fd_, buf, sizeof buf) : ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      rbuf_.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) monitor_lost();  // hang-up: the monitor wants us gone
    if (errno == EINTR) continue;
    if (!blocking && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    monitor_lost();
  }
}

std::vector<MonMessage> MonitorClient::take_frames() {
  std::vector<MonMessage> out;
  std::size_t pos = 0;
  while (rbuf_.size() - pos >= 4) {
    const std::uint32_t n = read_be32(rbuf_.data() + pos);
    if (n == 0 || n > kMaxMonAnswerFrame) monitor_lost();
    if (rbuf_.size() - pos - 4 < n) {
      rbuf_.reserve(pos + 4 + n);  // a large answer: grow once, not per read
      break;
    }
    MonMessage msg;
    msg.type = static_cast<std::uint8_t>(rbuf_[pos + 4]);
    msg.body = nlohmann::json::parse(std::string_view(rbuf_).substr(pos + 5, n - 1), nullptr,
                                     /*allow_exceptions=*/false);
    if (!msg.body.is_object()) monitor_lost();
    out.push_back(std::move(msg));
    pos += 4 + std::size_t{n};
  }
  rbuf_.erase(0, pos);
  return out;
}

void MonitorClient::notify(const nlohmann::json& body) {
  auto method = body.find("method");
  if (method == body.end() || !method->is_string() || method->get_ref<const std::string&>().empty())
    monitor_lost();
  auto end = body.find("end");
  if (end != body.end() && !end->is_boolean()) monitor_lost();
  if (!notify_) return;
  // The sink owns its errors: one that throws must not cost the frames
  // behind it (an answer lost would leave the connection busy for good).
  try {
    notify_(body);
  } catch (...) {
  }
}

void MonitorClient::deliver(MonMessage& msg) {
  if (msg.type == kNotifyType) {
    notify(msg.body);
    return;
  }
  // An answer to nothing, or to something else, is not our monitor talking.
  if (!busy() || msg.type != (in_flight_.type | kAnswerBit)) monitor_lost();
  AnswerFn on_answer = std::move(in_flight_.on_answer);
  in_flight_ = InFlight{};  // free before the asker runs: it may ask again
  if (!on_answer) return;   // forgotten: its asker is gone
  try {
    on_answer(std::move(msg.body));
  } catch (...) {
  }
}

void MonitorClient::on_readable() {
  std::size_t budget = kReadBudget;
  while (budget > 0) {
    const std::size_t before = rbuf_.size();
    if (!read_some(/*blocking=*/false)) return;
    budget -= std::min(budget, rbuf_.size() - before);
    for (auto& msg : take_frames()) deliver(msg);
  }
}

nlohmann::json MonitorClient::exchange(MonType type, const nlohmann::json& body) {
  if (busy()) monitor_lost();  // a second request in flight: the monitor would kill us anyway
  send(type, body);
  const auto want = static_cast<std::uint8_t>(static_cast<std::uint8_t>(type) | kAnswerBit);
  std::optional<nlohmann::json> answer;
  while (!answer) {
    read_some(/*blocking=*/true);
    // Every whole frame read goes out now, notifications after the answer
    // included: poll will not report bytes that already left the socket.
    for (auto& msg : take_frames()) {
      if (msg.type == kNotifyType) {
        notify(msg.body);
      } else if (msg.type == want && !answer) {
        answer = std::move(msg.body);
      } else {
        monitor_lost();
      }
    }
  }
  return std::move(*answer);
}

Result<nlohmann::json> MonitorClient::call(MonType type, const nlohmann::json& body) {
  nlohmann::json answer = exchange(type, body);
  if (answer.contains("error")) {
    const auto& e = answer["error"];
    return make_error(e.value("message", ""), e.value("reason", ""));
  }
  return answer;
}

bool MonitorClient::mm_key_allowed(const std::string& key_b64) {
  auto r = call(MonType::kKeyAllowed, {{"key", key_b64}});
  return r && r->value("allowed", false);
}

void MonitorClient::mm_auth_failed(const std::string& key_b64, const std::string& why) {
  (void)call(MonType::kAuthFailed, {{"key", key_b64}, {"why", why}});
}

Result<nlohmann::json> MonitorClient::mm_auth_succeeded(const std::string& key_b64,
                                                        const std::string& user) {
  return call(MonType::kAuthSucceeded, {{"key", key_b64}, {"user", user}});
}

MonitorClient::Ticket MonitorClient::start(MonType type, const nlohmann::json& body,
                                           AnswerFn on_answer) {
  if (busy()) monitor_lost();
  send(type, body);
  in_flight_ = InFlight{static_cast<std::uint8_t>(type), next_ticket_++, std::move(on_answer)};
  return in_flight_.ticket;
}

MonitorClient::Ticket MonitorClient::mm_agent_info(AnswerFn on_answer) {
  return start(MonType::kAgentInfo, nlohmann::json::object(), std::move(on_answer));
}

MonitorClient::Ticket MonitorClient::mm_call(const std::string& method,
                                             const nlohmann::json& params, AnswerFn on_answer) {
  return start(MonType::kCall, {{"method", method}, {"params", params}}, std::move(on_answer));
}

MonitorClient::Ticket MonitorClient::mm_door(const std::string& door, AnswerFn on_answer) {
  return start(MonType::kDoor, {{"door", door}}, std::move(on_answer));
}

void MonitorClient::forget(Ticket ticket) {
  if (ticket != 0 && in_flight_.ticket == ticket) in_flight_.on_answer = nullptr;
}

}  // namespace rdiag::agent
