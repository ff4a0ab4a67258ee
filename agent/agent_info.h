// agent.info: what an engineer may learn before any grant.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/keys.h"
#include "common/engineers.h"

namespace rdiag::agent {

// Host facts read once at start-up (they do not change while we run).
struct HostFacts {
  std::string hostname;
  std::string os;  // PRETTY_NAME from /etc/os-release
};
HostFacts read_host_facts();

nlohmann::json key_json(const Ed25519PrivateKey& key);
nlohmann::json engineer_json(const Engineer& engineer);
// Everything in agent.info but the caller, which answer_agent_info adds:
// built once at start-up, since none of it changes while the agent runs.
nlohmann::json agent_info_base(const HostFacts& host, const AgentKeys& keys,
                               std::size_t max_request_bytes);

// The plugins a diagnosis would run now, looked up afresh on each call (a
// plugin customer IT installs shows at once, as it does for diag.run):
// [{"name", "description", "collect": bool, "logs": [source names],
// "rules": N}], in discovery order. Refused plugins are left out here; a
// diagnosis lists them with the reason.
nlohmann::json plugins_json(const std::vector<std::string>& dirs, uid_t trusted_uid);

}  // namespace rdiag::agent
