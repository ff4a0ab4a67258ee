// The customer's admin commands: `rdiag-agent requests | approve | deny |
// grant-code | sessions | revoke`. Each is one request over the control
// socket (agent/control/client.h); the agent decides, this prints.
//
// Exit codes: 0 ok, 1 failed (agent not running, not found, ...), 2 usage,
// 3 refused (the socket or the agent does not let this user in).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/result.h"

namespace CLI {
class App;
}  // namespace CLI

namespace rdiag::agent {

class AdminCommands {
 public:
  // Adds the six subcommands to app (main_entry's).
  explicit AdminCommands(CLI::App& app);
  ~AdminCommands();
  AdminCommands(const AdminCommands&) = delete;
  AdminCommands& operator=(const AdminCommands&) = delete;

  // Whether the command line chose one of them.
  bool parsed() const;

  // Runs the chosen one; returns the exit code. resolve: main_entry's
  // config resolution (it applies --control-socket); json: the global --json.
  int run(const std::function<Result<AgentConfig>()>& resolve, bool json) const;

 private:
  struct Options;
  std::unique_ptr<Options> o_;
};

// ---------------------------------------------------------------------------
// The pure parts, for tests.

// "diagnose,shell": each from diagnose, shell, transfer, fix; returned once
// each in that order. Error reason "usage" with a message saying what to type.
Result<std::vector<std::string>> parse_scopes_option(const std::string& text);
// minutes 1..1440; error reason "usage".
Result<void> check_minutes_option(int minutes);

// The exit code an answer ({"result"} or {"error"}) maps to.
int admin_exit_code(const nlohmann::json& answer);

// The text each command prints for its result (the wire's "result" object),
// times in the local time zone relative to now. Text from engineers and
// peers is terminal-safe.
using SystemTime = std::chrono::system_clock::time_point;
std::string render_requests(const nlohmann::json& result, SystemTime now);
std::string render_approved(const nlohmann::json& result, SystemTime now);
std::string render_denied(const nlohmann::json& result);
std::string render_code(const nlohmann::json& result, SystemTime now);
std::string render_sessions(const nlohmann::json& result, SystemTime now, bool closed);
std::string render_revoked(const nlohmann::json& result);

}  // namespace rdiag::agent
