// Agent configuration (/etc/rdiag/agent.json or --config FILE). Unknown keys are
// an error naming the key; relative paths are relative to the config file's folder.
// Sections that later features own (logs, redact, shell, policy, relay, ...) are
// accepted and kept as raw JSON until those features parse them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/netaddr.h"
#include "common/result.h"

namespace rdiag {

struct MaxStartups {
  int start = 10;
  int rate = 30;
  int full = 100;
};

struct Limits {
  int max_connections = 128;
  MaxStartups max_startups;
  int max_per_source = 5;
  std::size_t max_request_bytes = 1048576;
  int pending_requests_per_key = 1;
  int requests_per_hour = 20;
};

struct AgentConfig {
  std::string source;  // the file it came from, for messages ("" = built-in defaults)
  std::optional<HostPort> listen;
  std::vector<Cidr> allow_from;  // empty = everyone
  std::string state_dir;
  std::string transfer_dir = "/var/lib/rdiag-transfer";
  std::string engineers_file;
  std::string control_socket = "/run/rdiag/control.sock";
  std::string admin_group = "rdiag-admin";
  std::vector<std::string> plugins_dirs;
  Limits limits;
  int retention_days = 365;
  nlohmann::json raw;  // the whole document, for sections parsed elsewhere
};

// Parses JSON text; path names the file in messages and anchors relative paths.
Result<AgentConfig> parse_agent_config(std::string_view text, const std::string& path);
Result<AgentConfig> load_agent_config(const std::string& path);
Result<MaxStartups> parse_max_startups(std::string_view text);

}  // namespace rdiag
