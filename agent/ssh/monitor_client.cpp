#include "agent/ssh/monitor_client.h"

#include <unistd.h>

#include <cstdlib>

namespace rdiag::agent {
namespace {

[[noreturn]] void monitor_lost() {
  // Nothing to clean up that the kernel does not: the socket closes with us.
  ::_exit(70);
}

}  // namespace

nlohmann::json MonitorClient::exchange(MonType type, const nlohmann::json& body) const {
  if (!send_frame(fd_, static_cast<std::uint8_t>(type), body)) monitor_lost();
  auto answer = recv_frame(fd_);
  if (!answer) monitor_lost();
  if (answer->type != (static_cast<std::uint8_t>(type) | kAnswerBit)) monitor_lost();
  return std::move(answer->body);
}

Result<nlohmann::json> MonitorClient::call(MonType type, const nlohmann::json& body) const {
  nlohmann::json answer = exchange(type, body);
  if (answer.contains("error")) {
    const auto& e = answer["error"];
    return make_error(e.value("message", ""), e.value("reason", ""));
  }
  return answer;
}

Result<nlohmann::json> MonitorClient::recv_init() {
  auto msg = recv_frame(fd_);
  if (!msg) return msg.error();
  if (msg->type != static_cast<std::uint8_t>(MonType::kInit)) {
    return make_error("monitor did not start with init");
  }
  return std::move(msg->body);
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

Result<nlohmann::json> MonitorClient::mm_agent_info() {
  return call(MonType::kAgentInfo, nlohmann::json::object());
}

nlohmann::json MonitorClient::mm_call(const std::string& method, const nlohmann::json& params) {
  return exchange(MonType::kCall, {{"method", method}, {"params", params}});
}

}  // namespace rdiag::agent
