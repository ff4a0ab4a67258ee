// The monitor's side of the closed request list: it owns the state (keys,
// engineers, later grants and records) and answers each connection process
// only what that connection's phase permits, as OpenSSH's monitor does with
// MON_PERMIT flags. Anything else is a protocol violation: the caller kills
// that connection process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "agent/agent_info.h"
#include "agent/keys.h"
#include "agent/monitor_proto.h"
#include "agent/worker/jobs.h"
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
  // The key of an auth_succeeded the monitor refused (and recorded): the
  // connection process reports that same attempt as failed next.
  std::string refused_key;
  MonDecoder decoder;
  std::string out;  // answer bytes not yet written to fd
  // A session.wait the monitor answers later: when the request is decided or
  // at the deadline. The process sends nothing meanwhile.
  bool waiting = false;
  std::string wait_request;
  std::chrono::steady_clock::time_point wait_deadline;
  // A call running in the collector worker (diag.run, ...): answered when
  // the job ends; the process sends nothing meanwhile.
  std::optional<std::uint64_t> job;
  std::string job_method;
  std::string job_session;  // the grant's session when the job started
  // Set when the grant this connection used ended: the process was told to
  // go and is killed at this time if it has not.
  std::optional<std::chrono::steady_clock::time_point> end_by;
};

class Store;
struct ControlRequest;
struct ControlPeer;
namespace consent {
class Consent;
}

class Monitor {
 public:
  // store: the records writer, opened by the caller (cmd_run) before anything
  // listens, and outliving the monitor. Null only in tests of the request list
  // itself: then methods that record refuse with -32008 and failed
  // authentications are only logged.
  // consent: the grants (null in those tests too: nothing can be granted).
  Monitor(AgentConfig config, AgentKeys keys, EngineersFile engineers, Store* store = nullptr,
          consent::Consent* consent = nullptr);
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // The first frame every connection process receives.
  std::string init_frame(const ConnState& conn) const;
  // The answer frame, or nullopt for a violation (unknown type, bad body,
  // request not permitted in this phase).
  std::optional<std::string> answer(ConnState& conn, const MonMessage& msg);

  // SIGHUP: re-reads the engineers file; keeps the old one when it cannot be read.
  void reload_engineers();
  // Whether an authenticated connection's key is still in the file and unexpired.
  bool still_allowed(const ConnState& conn) const;

  // Time-driven record work (checkpoints); the listener calls it every few seconds.
  void tick();
  // Grant and request deadlines, waits that are due, notifications; the
  // listener calls it every 250 ms.
  void sweep();
  // The listener reaped this connection's process.
  void forget(const ConnState& conn);

  // A control-socket request from an admitted peer (agent/control/server.h).
  nlohmann::json control(const ControlRequest& req);
  // A peer that may not use the control socket asked for `command`.
  void control_refused(const ControlPeer& peer, const std::string& command);

  const AgentConfig& config() const { return config_; }

  // The collector worker jobs, polled by the listener beside the connections.
  Jobs& jobs() { return jobs_; }
  // Passes the jobs' progress to their connections and answers the calls
  // whose job ended; the listener calls it after every poll.
  void deliver_jobs();

 private:
  std::optional<std::string> answer_key_allowed(ConnState& conn, const nlohmann::json& body);
  std::optional<std::string> answer_auth_failed(ConnState& conn, const nlohmann::json& body);
  std::optional<std::string> answer_auth_succeeded(ConnState& conn, const nlohmann::json& body);
  std::optional<std::string> answer_agent_info(ConnState& conn);
  std::optional<std::string> answer_call(ConnState& conn, const nlohmann::json& body);
  std::optional<std::string> answer_door(ConnState& conn, const nlohmann::json& body);
  // -32007 when another address already uses this engineer's grant.
  std::optional<nlohmann::json> grant_in_use(const ConnState& conn) const;
  // Sends the consent flow's notices to the connections concerned and
  // answers the waits whose request was decided or whose time is up.
  void deliver();
  // The authenticated, live connection waiting for job `id`, or null.
  ConnState* job_conn(std::uint64_t id);
  // An auth.failed ledger line; a failure to write it is logged, not fatal
  // (the authentication is refused either way).
  void record_auth_failure(const ConnState& conn, const std::string& fingerprint,
                           std::string_view reason);
  // Writes the summary line for failures over the budget, opens a new window.
  void flush_auth_summary(std::chrono::steady_clock::time_point now);
  // The engineer a key blob names, if the file allows it from this peer now.
  const Engineer* allowed_engineer(const std::string& key_b64, const IpAddress& peer,
                                   KeyVerdict* verdict, std::string* fingerprint) const;

  AgentConfig config_;
  AgentKeys keys_;
  EngineersFile engineers_;
  nlohmann::json info_base_;  // agent.info without the caller
  Store* store_;
  consent::Consent* consent_;
  Jobs jobs_;
  std::map<std::uint64_t, pid_t> job_conns_;  // job id -> the connection waiting for it
  // Authenticated connections by process id (owned by the listener).
  std::map<pid_t, ConnState*> authed_;
  // auth.failed ledger lines: at most kAuthLinesPerWindow per window, the
  // rest counted into one summary line.
  static constexpr int kAuthLinesPerWindow = 10;
  static constexpr std::size_t kAuthSummaryPeers = 32;
  static constexpr std::chrono::seconds kAuthLineWindow{60};
  std::chrono::steady_clock::time_point auth_window_start_ = std::chrono::steady_clock::now();
  int auth_lines_in_window_ = 0;
  std::int64_t auth_suppressed_ = 0;
  std::map<std::string, std::int64_t> auth_suppressed_peers_;
  // control.refused ledger lines: the same budget, the rest only logged.
  std::chrono::steady_clock::time_point control_window_start_ = std::chrono::steady_clock::now();
  int control_lines_in_window_ = 0;
};

}  // namespace rdiag::agent
