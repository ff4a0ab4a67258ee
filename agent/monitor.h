// The monitor's side of the closed request list: it owns the state (keys,
// engineers, later grants and records) and answers each connection process
// only what that connection's phase permits, as OpenSSH's monitor does with
// MON_PERMIT flags. Anything else is a protocol violation: the caller kills
// that connection process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "agent/agent_info.h"
#include "agent/keys.h"
#include "agent/monitor_proto.h"
#include "common/config.h"
#include "common/engineers.h"
#include "common/netaddr.h"

namespace rdiag::agent {

struct ConnState {
  enum class Phase { kPreauth, kAuthenticated };
  pid_t pid = -1;
  int fd = -1;  // monitor end of the socketpair
  IpAddress peer;
  std::string peer_text;  // "127.0.0.1:51234"
  std::chrono::steady_clock::time_point started;
  Phase phase = Phase::kPreauth;
  bool doomed = false;  // killed, waiting to be reaped
  int failures = 0;
  int probes = 0;
  std::optional<Engineer> engineer;
  MonDecoder decoder;
};

class Monitor {
 public:
  Monitor(AgentConfig config, AgentKeys keys, EngineersFile engineers);

  // The first frame every connection process receives.
  std::string init_frame(const ConnState& conn) const;
  // The answer frame, or nullopt for a violation (unknown type, bad body,
  // request not permitted in this phase).
  std::optional<std::string> answer(ConnState& conn, const MonMessage& msg);

  // SIGHUP: re-reads the engineers file; keeps the old one when it cannot be read.
  void reload_engineers();
  // Whether an authenticated connection's key is still in the file and unexpired.
  bool still_allowed(const ConnState& conn) const;

  const AgentConfig& config() const { return config_; }

 private:
  std::optional<std::string> answer_key_allowed(ConnState& conn, const nlohmann::json& body);
  std::optional<std::string> answer_auth_failed(ConnState& conn, const nlohmann::json& body);
  std::optional<std::string> answer_auth_succeeded(ConnState& conn, const nlohmann::json& body);
  std::optional<std::string> answer_agent_info(ConnState& conn);
  // The engineer a key blob names, if the file allows it from this peer now.
  const Engineer* allowed_engineer(const std::string& key_b64, const IpAddress& peer,
                                   KeyVerdict* verdict, std::string* fingerprint) const;

  AgentConfig config_;
  AgentKeys keys_;
  EngineersFile engineers_;
  nlohmann::json info_base_;  // agent.info without the caller
};

}  // namespace rdiag::agent
