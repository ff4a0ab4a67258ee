// The agent's state dir and its two keys: the host key (SSH server identity)
// and the seal key (signs records; only the monitor ever holds it).
#pragma once

#include <string>

#include "common/result.h"
#include "common/ssh_key.h"

namespace rdiag::agent {

struct AgentKeys {
  Ed25519PrivateKey host;
  Ed25519PrivateKey seal;
  std::string host_pem;  // handed to each connection process over the monitor socket
};

// Makes state_dir (0700) when missing; refuses one that others can write.
Result<void> ensure_state_dir(const std::string& state_dir);

// Loads host_ed25519 and seal_ed25519 from state_dir, making them on first use.
Result<AgentKeys> load_agent_keys(const std::string& state_dir);

}  // namespace rdiag::agent
