// The consent flow (DESIGN.md "Requests, grants, approval"): requests,
// approval by customer IT (control socket, one-time codes, policy rules),
// grants with scopes and deadlines, extension, join, close, revocation and
// expiry. It lives in the monitor, which alone holds grants: nothing an
// engineer's side sends can create one.
//
// Every step is an event in the session's record, durable before the step is
// acknowledged; grants.json (and codes.json) are saved before an approval is
// acknowledged too, so an agent restart keeps every grant it announced.
//
// The flow does not talk to connections: after each call the monitor takes
// the notices (take_notices) and tells, or cuts, the connections concerned.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/consent/codes.h"
#include "agent/consent/policy.h"
#include "common/config.h"
#include "common/engineers.h"
#include "common/result.h"

namespace rdiag::agent {

class Store;
class Notifier;
struct ControlRequest;

namespace consent {

// A pending request lives this long before it expires unanswered.
inline constexpr std::chrono::minutes kRequestLifetime{30};
// A decided request is remembered this long, for a late session.wait.
inline constexpr std::chrono::minutes kRememberDecided{10};
// Below this much free space in state_dir new requests are refused; records
// already open can still be written and closed.
inline constexpr std::uint64_t kDefaultFreeFloorBytes = std::uint64_t{64} << 20;

struct EngineerRef {
  std::string fingerprint;  // SHA256:...
  std::string name;
  std::string id;
  std::string role;
};
EngineerRef engineer_ref(const Engineer& e);

enum class Kind { kRequest, kExtend, kJoin };

struct Request {
  std::string id;  // the session id, or <session_id>.x<N> / .j<N>
  Kind kind = Kind::kRequest;
  std::string session_id;  // the record it writes to
  EngineerRef engineer;
  std::string ticket;
  std::string reason;
  std::string peer;
  std::string created_at;
  std::vector<std::string> scopes;
  int minutes = 0;
  BootClock::time_point expires{};
  // Once decided:
  std::string state = "pending";  // pending | approved | denied | expired
  std::string deny_reason;
  std::string approved_by;  // the actor
  std::string expires_at;   // of the grant, when approved
  BootClock::time_point forget_at{};
};

struct Grant {
  std::string session_id;
  std::string ticket;
  std::vector<std::string> scopes;
  std::vector<EngineerRef> engineers;  // [0] made the request; then joiners
  BootClock::time_point expires{};
  std::string expires_at;  // wall time, for people
  std::string approved_by;
  std::string prev_session;  // set when the grant outlived an agent restart
  int extensions = 0;        // approved
  int joins = 0;             // approved
  // Ids handed out so far (<session_id>.x<N>, .j<N>): only ever grow, so
  // an id is never given twice.
  int asked_extensions = 0;
  int asked_joins = 0;
};

// What the monitor must tell the connections of these engineers: a
// session.state notification, and with `end` the grant they used is gone, so
// their connections are cut.
struct Notice {
  std::vector<std::string> fingerprints;
  nlohmann::json params;
  bool end = false;
};

struct Options {
  Policy policy;
  Limits limits;
  std::uint64_t free_floor_bytes = kDefaultFreeFloorBytes;
};

class Consent {
 public:
  // Loads grants.json and codes.json from the store's state dir; an
  // unexpired grant from before a restart continues in a new session linked
  // by prev_session (the old one was sealed session.interrupted by the
  // store's recovery).
  static Result<std::unique_ptr<Consent>> open(Store& store, Options options,
                                               std::unique_ptr<Notifier> notifier);
  ~Consent();
  Consent(const Consent&) = delete;
  Consent& operator=(const Consent&) = delete;

  // --- the engineer's methods; each returns {"result"} or {"error"} ---
  nlohmann::json request(const EngineerRef& who, const std::string& peer,
                         const nlohmann::json& params);
  // session.wait: the answer now, or nullopt with *request_id and *timeout
  // set when the request is still pending (the monitor answers later with
  // wait_answer).
  std::optional<nlohmann::json> wait(const EngineerRef& who, const nlohmann::json& params,
                                     std::string* request_id, std::chrono::seconds* timeout);
  bool pending(const std::string& request_id) const;
  nlohmann::json wait_answer(const std::string& request_id) const;
  nlohmann::json status(const EngineerRef& who) const;
  nlohmann::json extend(const EngineerRef& who, const std::string& peer,
                        const nlohmann::json& params);
  nlohmann::json join(const EngineerRef& who, const std::string& peer,
                      const nlohmann::json& params);
  nlohmann::json close(const EngineerRef& who, const nlohmann::json& params);

  // nullopt when `fingerprint` holds a grant with `scope` ("" = any grant),
  // else the error body {code, reason, message}.
  std::optional<nlohmann::json> check(const std::string& fingerprint, std::string_view scope) const;
  const Grant* grant_of(const std::string& fingerprint) const;
  // Sessions whose records this engineer may read: own requests are checked
  // through the ledger; these are the ones joined.
  bool joined(const std::string& fingerprint, const std::string& session_id) const;

  // A connection of an engineer holding a grant came or went: recorded.
  // refused: why this connection may not use the grant ("" when it may).
  void connected(const std::string& fingerprint, const std::string& peer,
                 std::string_view refused = {});
  void disconnected(const std::string& fingerprint, const std::string& peer);

  // --- customer IT, through the control socket ---
  nlohmann::json control(const ControlRequest& req, const std::map<std::string, int>& connections);

  // Deadlines (requests, grants, codes), notify_command runs. Cheap; call
  // every 250 ms.
  void sweep();
  // The engineers file changed: keys gone or expired lose grants and requests.
  void engineers_changed(const EngineersFile& file);

  std::vector<Notice> take_notices();

 private:
  Consent(Store& store, Options options, std::unique_ptr<Notifier> notifier);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace consent
}  // namespace rdiag::agent
