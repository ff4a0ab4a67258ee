#include <fmt/format.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <ctime>

#include "agent/consent/consent_impl.h"
#include "agent/consent/notify.h"
#include "agent/control/server.h"
#include "agent/log.h"
#include "agent/records/store.h"
#include "agent/rpc.h"
#include "agent/rpc_params.h"
#include "common/fs.h"
#include "common/jsonrpc.h"
#include "common/records/chain.h"
#include "common/records/ledger.h"
#include "common/records/seal.h"
#include "common/text_safety.h"

namespace rdiag::agent::consent {

using namespace rpcp;  // NOLINT(google-build-using-namespace): the method toolkit
using i18n::tr;

std::optional<json> Consent::Impl::refuse_new_request(const EngineerRef& who) {
  if (const Grant* g = grant_of(who.fingerprint)) {
    return failed(error_body(rpc::kConflict, "already_granted",
                             tr("consent.flow.already_granted", g->session_id)));
  }
  if (pending_of(who.fingerprint) >= opt.limits.pending_requests_per_key) {
    return failed(
        error_body(rpc::kLimitExceeded, "too_many_pending",
                   tr("consent.flow.too_many_pending", opt.limits.pending_requests_per_key)));
  }
  auto& times = recent[who.fingerprint];
  const auto now = BootClock::now();
  std::erase_if(times, [&](auto t) { return now - t >= kRateWindow; });
  if (static_cast<int>(times.size()) >= opt.limits.requests_per_hour) {
    return failed(error_body(rpc::kLimitExceeded, "too_many_requests",
                             tr("consent.flow.too_many_requests", opt.limits.requests_per_hour)));
  }
  struct statvfs vfs {};
  if (::statvfs(store.state_dir().c_str(), &vfs) == 0) {
    const std::uint64_t free_bytes = std::uint64_t{vfs.f_bavail} * vfs.f_frsize;
    if (free_bytes < opt.free_floor_bytes) {
      log_warn("consent.flow.low_space", store.state_dir(), free_bytes >> 20,
               opt.free_floor_bytes >> 20);
      return failed(
          error_body(rpc::kLimitExceeded, "low_disk_space", tr("consent.flow.low_disk_space")));
    }
  }
  return std::nullopt;
}

// Grants (or extends, or joins) what r asked, narrowed to scopes/minutes,
// by actor. The event is durable, and the grants file saved, before this
// returns the answer.
Result<void> Consent::Impl::approve(Request& r, std::vector<std::string> scopes, int minutes,
                                    const std::string& actor, json actor_data) {
  minutes = clamp_minutes(opt.policy, minutes);
  const auto now = BootClock::now();
  json data = std::move(actor_data);
  data["request_id"] = r.id;
  data["kind"] = kind_word(r.kind);
  Grant* g = nullptr;
  std::string type;
  Grant fresh;
  if (r.kind == Kind::kRequest) {
    if (const Grant* other = grant_of(r.engineer.fingerprint)) {
      return make_error(tr("consent.flow.already_granted", other->session_id), "conflict");
    }
    fresh.session_id = r.session_id;
    fresh.ticket = r.ticket;
    fresh.scopes = ordered(scopes);
    fresh.engineers = {r.engineer};
    fresh.expires = now + std::chrono::minutes(minutes);
    fresh.expires_at = wall_in(std::chrono::minutes(minutes));
    fresh.approved_by = actor;
    g = &fresh;
    type = "request.approved";
    data["scopes"] = fresh.scopes;
    data["minutes"] = minutes;
    data["expires_at"] = fresh.expires_at;
  } else {
    auto it = grants.find(r.session_id);
    if (it == grants.end())
      return make_error(tr("consent.flow.grant_gone", r.session_id), "not_found");
    g = &it->second;
    if (r.kind == Kind::kJoin) {
      if (grant_of(r.engineer.fingerprint) != nullptr) {
        return make_error(tr("consent.flow.joiner_busy", r.session_id), "conflict");
      }
      type = "session.joined";
      data["engineer"] = engineer_json(r.engineer);
    } else {
      type = "session.extended";
      data["minutes"] = minutes;
      data["expires_at"] = records::format_ts(std::chrono::system_clock::now() +
                                              std::chrono::seconds(seconds_left(g->expires, now)) +
                                              std::chrono::minutes(minutes));
    }
  }
  auto recorded = store.append(r.session_id, type, actor, data);
  if (!recorded) {
    log_error("consent.flow.not_recorded", r.id, recorded.error().message);
    return make_error(tr("agent.rpc.recording_failed"), "recording_failed");
  }
  std::vector<std::string> tell;
  if (r.kind == Kind::kRequest) {
    grants.emplace(fresh.session_id, fresh);
    g = &grants[fresh.session_id];
  } else if (r.kind == Kind::kJoin) {
    g->engineers.push_back(r.engineer);
    ++g->joins;
  } else {
    g->expires += std::chrono::minutes(minutes);
    g->expires_at = data["expires_at"].get<std::string>();
    ++g->extensions;
  }
  if (auto saved = save_grants(); !saved) {
    // An approval that would not survive a restart is not given.
    log_error("consent.flow.state_not_saved", grants_path, saved.error().message);
    end_grant(*g, "grant.revoked", "agent", {{"reason", "state_not_saved"}}, "revoked");
    return make_error(tr("agent.rpc.recording_failed"), "recording_failed");
  }
  r.state = "approved";
  r.approved_by = actor;
  r.expires_at = g->expires_at;
  r.scopes = g->scopes;
  r.forget_at = now + kRememberDecided;
  log_info("consent.flow.approved", r.id, actor, joined_words(g->scopes), g->expires_at);
  const std::string state = r.kind == Kind::kRequest ? "approved"
                            : r.kind == Kind::kJoin  ? "joined"
                                                     : "extended";
  notice(fingerprints(*g), {{"request_id", r.id},
                            {"session_id", g->session_id},
                            {"state", state},
                            {"scopes", g->scopes},
                            {"expires_at", g->expires_at},
                            {"approved_by", actor}});
  return {};
}

// A request that ends unanswered or refused; the session's own request
// seals its record.
// force: the request ends even when that cannot be recorded (expiry, a
// removed key); otherwise a failed write changes nothing.
Result<void> Consent::Impl::decline(Request& r, const std::string& type, const std::string& actor,
                                    json data, const std::string& reason, bool force) {
  data["request_id"] = r.id;
  data["kind"] = kind_word(r.kind);
  if (!reason.empty()) data["reason"] = reason;
  auto recorded = store.append(r.session_id, type, actor, std::move(data));
  if (!recorded) {
    log_error("consent.flow.not_recorded", r.id, recorded.error().message);
    if (!force) return make_error(tr("agent.rpc.recording_failed"), "recording_failed");
  } else if (r.kind == Kind::kRequest) {
    seal(r.session_id);
  }
  r.state = type == "request.expired" ? "expired" : "denied";
  r.deny_reason = reason;
  r.forget_at = BootClock::now() + kRememberDecided;
  log_info("consent.flow.declined", r.id, r.state, actor);
  notice(
      {r.engineer.fingerprint},
      {{"request_id", r.id}, {"session_id", r.session_id}, {"state", r.state}, {"reason", reason}});
  return {};
}

void Consent::Impl::seal(const std::string& session_id) {
  if (auto s = store.seal(session_id); !s) {
    log_error("consent.flow.not_sealed", session_id, s.error().message);
  }
}

// Ends a grant for everyone on it. Revocation and expiry must happen even
// when they cannot be recorded: the grant goes first, the log says what
// could not be written.
void Consent::Impl::end_grant(Grant& g, const std::string& type, const std::string& actor,
                              json data, const std::string& state) {
  const Grant ended = g;
  grants.erase(ended.session_id);
  // An empty type: the caller recorded the end itself (session.closed).
  auto recorded = type.empty() ? Result<records::Event>(records::Event{})
                               : store.append(ended.session_id, type, actor, std::move(data));
  if (!recorded) {
    log_error("consent.flow.not_recorded", ended.session_id, recorded.error().message);
  } else {
    seal(ended.session_id);
  }
  if (auto saved = save_grants(); !saved) {
    // Retried by sweep(); a restart meanwhile finds the end in the record.
    log_error("consent.flow.state_not_saved", grants_path, saved.error().message);
    grants_dirty = true;
  }
  // A pending extension or join of this session has nothing left to extend.
  for (auto& r : requests) {
    if (r.state == "pending" && r.session_id == ended.session_id) {
      r.state = "expired";
      r.forget_at = BootClock::now() + kRememberDecided;
    }
  }
  log_info("consent.flow.grant_ended", ended.session_id, state, actor);
  notice(fingerprints(ended), {{"session_id", ended.session_id}, {"state", state}},
         state != "closed");
}

void Consent::Impl::start_notify(const Request& r) {
  if (!notifier) return;
  std::map<std::string, std::string> values = {{"request_id", r.id},
                                               {"ticket", r.ticket},
                                               {"engineer", r.engineer.name},
                                               {"engineer_id", r.engineer.id},
                                               {"scopes", joined_words(r.scopes)},
                                               {"minutes", std::to_string(r.minutes)},
                                               {"kind", std::string(kind_word(r.kind))}};
  if (auto started = notifier->start(values, r.id); !started) {
    record_notify_failure(r.id, started.error().message);
  }
}

void Consent::Impl::record_notify_failure(const std::string& request_id, const std::string& why) {
  log_warn("consent.flow.notify_failed", request_id, why);
  const Request* r = find_request(request_id);
  // A sealed record takes no more events for this; the log has it.
  if (r == nullptr || (r->state != "pending" && grants.count(r->session_id) == 0)) return;
  // Never blocks the request: the failure is recorded, the request waits on.
  auto recorded = store.append(r->session_id, "notify.failed", "agent",
                               {{"request_id", request_id}, {"why", why}});
  if (!recorded) log_error("consent.flow.not_recorded", request_id, recorded.error().message);
}

Request Consent::Impl::make_request(Kind kind, const EngineerRef& who, const std::string& peer) {
  Request r;
  r.kind = kind;
  r.engineer = who;
  r.peer = peer;
  r.created_at = records::format_ts(std::chrono::system_clock::now());
  r.expires = BootClock::now() + kRequestLifetime;
  return r;
}

}  // namespace rdiag::agent::consent
