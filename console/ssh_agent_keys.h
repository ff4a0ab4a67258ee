// Lists the identities an ssh-agent holds (SSH_AGENTC_REQUEST_IDENTITIES), so
// that when the rdiag agent refuses them the message can name their
// fingerprints: libssh 0.10 signs with agent keys but does not expose the list.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::console {

struct AgentIdentity {
  std::string fingerprint;  // SHA256:...
  std::string public_line;  // "type base64"
  std::string comment;
};

// Parses the body of an SSH_AGENT_IDENTITIES_ANSWER message (after the length).
Result<std::vector<AgentIdentity>> parse_identities_answer(std::string_view body);

// Asks the agent at socket_path; bounded by a short timeout.
Result<std::vector<AgentIdentity>> list_agent_identities(const std::string& socket_path);

}  // namespace rdiag::console
