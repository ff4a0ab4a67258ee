// The client side of the control socket, for the admin commands: one
// connection, one request line out, one answer line back.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"

namespace rdiag::agent {

struct ControlTarget {
  std::string path;         // the config's control_socket (or --control-socket)
  std::string admin_group;  // named in the message when the socket refuses us
};

// {"command", "args", "sudo_user": $SUDO_USER or "", "lang"}: the request as
// sent (lang is the catalog's current language).
nlohmann::json control_request(const std::string& command, const nlohmann::json& args);

// Sends the request and returns the agent's answer, an object holding
// "result" or "error". Failures to get one are Errors whose message names
// the socket and what to do, with reason "not_running" (no socket, nobody
// listening), "access" (the socket's mode keeps us out), "timeout",
// "io_error" or "bad_answer".
Result<nlohmann::json> control_call(const ControlTarget& target, const std::string& command,
                                    const nlohmann::json& args,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace rdiag::agent
