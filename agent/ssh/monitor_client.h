// Client stubs for the monitor's closed list of requests (agent/monitor_proto.h).
// Each call blocks for its answer; any failure ends the connection process,
// because a connection that cannot reach its monitor must not go on alone.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "agent/monitor_proto.h"

namespace rdiag::agent {

class MonitorClient {
 public:
  explicit MonitorClient(int fd) : fd_(fd) {}
  int fd() const { return fd_; }

  Result<nlohmann::json> recv_init();
  bool mm_key_allowed(const std::string& key_b64);
  void mm_auth_failed(const std::string& key_b64, const std::string& why);
  // The engineer's identity ({fingerprint, name, role, id}) or an error.
  Result<nlohmann::json> mm_auth_succeeded(const std::string& key_b64, const std::string& user);
  Result<nlohmann::json> mm_agent_info();
  // Any other JSON-RPC method: the monitor's answer body as it came,
  // {"result": ...} or {"error": {"code", "reason", "message"}}.
  nlohmann::json mm_call(const std::string& method, const nlohmann::json& params);

 private:
  // One request, its answer body (or the end of this process).
  nlohmann::json exchange(MonType type, const nlohmann::json& body) const;
  Result<nlohmann::json> call(MonType type, const nlohmann::json& body) const;
  int fd_;
};

}  // namespace rdiag::agent
