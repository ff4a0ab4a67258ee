// The consent flow's inside (agent/consent/consent.h has the outside): the
// state the monitor keeps and the steps every method is made of. Split by
// what each file does: consent_state.cpp keeps and reads the state (grants
// and codes files, lookups, the JSON views), consent_steps.cpp takes the
// steps (approve, decline, end a grant, notify), consent.cpp answers the
// engineers, consent_control.cpp answers customer IT.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/consent/consent.h"
#include "agent/consent/notify.h"
#include "agent/records/store.h"

namespace rdiag::agent::consent {

using json = nlohmann::json;

inline constexpr std::string_view kGrantsFile = "grants.json";
inline constexpr std::string_view kCodesFile = "codes.json";
inline constexpr std::size_t kMaxStateBytes = std::size_t{4} << 20;
inline constexpr std::chrono::hours kRateWindow{1};
inline constexpr int kMaxWaitSeconds = 60;
inline constexpr int kDefaultWaitSeconds = 30;
inline constexpr std::array<std::string_view, 4> kOutcomes = {"resolved", "escalated", "onsite",
                                                              "unresolved"};

std::string read_boot_id();
// The wall time d from now, as a record ts.
std::string wall_in(BootClock::duration d);
std::string_view kind_word(Kind k);
json engineer_json(const EngineerRef& e);
std::string actor_of(const EngineerRef& e);
bool has(const std::vector<std::string>& v, std::string_view s);
// Scopes in DESIGN's order, each once.
std::vector<std::string> ordered(const std::vector<std::string>& scopes);
std::string joined_words(const std::vector<std::string>& words);
std::int64_t seconds_left(BootClock::time_point deadline, BootClock::time_point now);
// The engineer's answer when a write failed: -32008, nothing was done.
json recording_failed();
// An answer for the control socket: {"error": {"reason", "message"}}.
json control_error(std::string_view reason, std::string message);

struct Consent::Impl {
  Store& store;
  Options opt;
  std::unique_ptr<Notifier> notifier;
  std::string grants_path;
  std::string codes_path;
  std::string boot;
  std::vector<Request> requests;        // pending, and decided ones for a while
  std::map<std::string, Grant> grants;  // by session id
  std::map<std::string, std::vector<BootClock::time_point>> recent;  // request times per key
  std::optional<CodeBook> codes;
  std::vector<Notice> notices;
  bool grants_dirty = false;  // grants.json is behind memory: save again

  Impl(Store& s, Options o, std::unique_ptr<Notifier> n)
      : store(s),
        opt(std::move(o)),
        notifier(std::move(n)),
        grants_path(s.state_dir() + "/" + std::string(kGrantsFile)),
        codes_path(s.state_dir() + "/" + std::string(kCodesFile)),
        boot(read_boot_id()) {}

  // --- persistence ---

  json grants_json() const;

  Result<void> save_grants();

  Result<void> save_codes();

  static Result<void> write_state(const std::string& path, const std::string& text);

  static Result<std::optional<std::string>> read_state(const std::string& path);

  Result<void> load();

  // Whether the session's record ended the grant itself: anything terminal
  // but the interruption the store's recovery wrote.
  bool ended_on_record(const std::string& session_id) const;

  // The old session was sealed session.interrupted by the store's recovery;
  // the grant goes on in a new one that names it.
  void continue_grant(Grant g, BootClock::time_point now);

  // --- lookups ---

  Grant* grant_of(const std::string& fp);

  Request* find_request(const std::string& id);

  int pending_of(const std::string& fp) const;

  void notice(std::vector<std::string> fps, json params, bool end = false);

  static std::vector<std::string> fingerprints(const Grant& g);

  json request_json(const Request& r) const;

  json wait_answer(const Request& r) const;

  json grant_json(const Grant& g, const std::map<std::string, int>* connections) const;

  // --- steps ---

  std::optional<json> refuse_new_request(const EngineerRef& who);

  // Grants (or extends, or joins) what r asked, narrowed to scopes/minutes,
  // by actor. The event is durable, and the grants file saved, before this
  // returns the answer.
  Result<void> approve(Request& r, std::vector<std::string> scopes, int minutes,
                       const std::string& actor, json actor_data);

  // A request that ends unanswered or refused; the session's own request
  // seals its record.
  // force: the request ends even when that cannot be recorded (expiry, a
  // removed key); otherwise a failed write changes nothing.
  Result<void> decline(Request& r, const std::string& type, const std::string& actor, json data,
                       const std::string& reason, bool force = false);

  void seal(const std::string& session_id);

  // Ends a grant for everyone on it. Revocation and expiry must happen even
  // when they cannot be recorded: the grant goes first, the log says what
  // could not be written.
  void end_grant(Grant& g, const std::string& type, const std::string& actor, json data,
                 const std::string& state);

  void start_notify(const Request& r);

  void record_notify_failure(const std::string& request_id, const std::string& why);

  Request make_request(Kind kind, const EngineerRef& who, const std::string& peer);
};

}  // namespace rdiag::agent::consent
