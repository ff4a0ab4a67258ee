#include "agent/consent/consent.h"

#include <fmt/format.h>

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

// ---------------------------------------------------------------------------

Consent::Consent(Store& store, Options options, std::unique_ptr<Notifier> notifier)
    : impl_(std::make_unique<Impl>(store, std::move(options), std::move(notifier))) {}

Consent::~Consent() = default;

Result<std::unique_ptr<Consent>> Consent::open(Store& store, Options options,
                                               std::unique_ptr<Notifier> notifier) {
  std::unique_ptr<Consent> c(new Consent(store, std::move(options), std::move(notifier)));
  if (auto r = c->impl_->load(); !r) return r.error();
  return c;
}

json Consent::request(const EngineerRef& who, const std::string& peer, const json& params) {
  Impl& m = *impl_;
  json error;
  auto p = parse_session_request(params, &error);
  if (!p) return failed(std::move(error));
  if (auto refused = m.refuse_new_request(who)) return *refused;
  Request r = m.make_request(Kind::kRequest, who, peer);
  r.ticket = p->ticket;
  r.reason = p->reason;
  r.scopes = ordered(p->scopes);
  r.minutes = static_cast<int>(p->minutes);
  json data = {{"kind", "request"},
               {"ticket", r.ticket},
               {"reason", r.reason},
               {"scopes", r.scopes},
               {"minutes", r.minutes},
               {"engineer", {{"name", who.name}, {"id", who.id}, {"role", who.role}}},
               {"peer", peer}};
  if (p->code) data["code"] = true;
  // The answer goes out only once the record is durable: a request the
  // engineer was told about can never be missing after a crash.
  auto opened = m.store.open_session("request.created", actor_of(who), std::move(data));
  if (!opened) {
    log_error("agent.rpc.request_not_recorded", who.fingerprint, peer, opened.error().message);
    return recording_failed();
  }
  r.id = opened->session_id;
  r.session_id = opened->session_id;
  m.recent[who.fingerprint].push_back(BootClock::now());
  log_info("agent.rpc.request_created", r.id, terminal_safe(who.name), who.fingerprint, r.ticket);
  m.requests.push_back(r);
  Request& stored = m.requests.back();

  if (p->code) {
    if (!m.codes) {
      auto book = CodeBook::create();
      if (book) m.codes = std::move(*book);
    }
    Refused unavailable;
    unavailable.refusal = Refusal::kUnavailable;
    unavailable.message = tr("consent.flow.no_codes");
    Redemption outcome =
        m.codes ? m.codes->redeem(*p->code, Redeemer{who.fingerprint, who.id}, BootClock::now())
                : Redemption(std::move(unavailable));
    if (auto saved = m.save_codes(); !saved) {
      // A used code not saved as used could be used again after a restart:
      // grant nothing.
      log_error("consent.flow.state_not_saved", m.codes_path, saved.error().message);
      (void)m.decline(stored, "request.denied", "agent", json::object(), "state_not_saved", true);
      return recording_failed();
    }
    if (auto* refused = std::get_if<Refused>(&outcome)) {
      const std::string reason = "code_" + std::string(refused->reason());
      const std::string actor = refused->code_actor.empty() ? "agent" : refused->code_actor;
      auto rejected =
          m.store.append(r.id, "code.rejected", actor,
                         {{"reason", refused->reason()}, {"failures", refused->failures}});
      if (!rejected) return recording_failed();
      if (!m.decline(stored, "request.denied", "agent", json::object(), reason)) {
        return recording_failed();
      }
      return fail(rpc::kNoGrant, reason,
                  refused->message + " " + tr("consent.flow.code_request_closed", r.id));
    }
    const auto& granted = std::get<Redeemed>(outcome);
    std::vector<std::string> scopes;
    for (const auto& s : stored.scopes) {
      if (has(granted.scopes, s)) scopes.push_back(s);
    }
    if (scopes.empty()) {
      if (!m.decline(stored, "request.denied", granted.actor, json::object(), "code_scopes")) {
        return recording_failed();
      }
      return fail(rpc::kScopeDenied, "code_scopes",
                  tr("consent.flow.code_scopes", joined_words(granted.scopes)));
    }
    const int minutes = std::min(stored.minutes, granted.minutes);
    if (auto ok_ = m.approve(stored, scopes, minutes, granted.actor, {{"code", granted.actor}});
        !ok_) {
      return recording_failed();
    }
    return ok(m.wait_answer(stored));
  }

  std::time_t t = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&t, &local);
  if (auto rule = match_auto_approve(m.opt.policy, stored.scopes, who.role, local)) {
    if (auto ok_ =
            m.approve(stored, stored.scopes, stored.minutes, "policy:" + *rule, {{"rule", *rule}});
        !ok_) {
      return recording_failed();
    }
    return ok(m.wait_answer(stored));
  }
  m.start_notify(stored);
  return ok(m.wait_answer(stored));
}

std::optional<json> Consent::wait(const EngineerRef& who, const json& params,
                                  std::string* request_id, std::chrono::seconds* timeout) {
  Impl& m = *impl_;
  if (auto bad = check_keys(params, {"request_id", "timeout_s"})) return failed(std::move(*bad));
  if (auto bad = check_required(params, {"request_id"})) return failed(std::move(*bad));
  if (!params["request_id"].is_string()) {
    return failed(invalid(tr("consent.flow.request_id_invalid")));
  }
  int seconds = kDefaultWaitSeconds;
  if (params.contains("timeout_s")) {
    auto n = integer_in(params["timeout_s"], 1, kMaxWaitSeconds);
    if (!n) return failed(invalid(tr("consent.flow.timeout_invalid", kMaxWaitSeconds)));
    seconds = static_cast<int>(*n);
  }
  const std::string id = params["request_id"].get<std::string>();
  const Request* r = m.find_request(id);
  if (r == nullptr || r->engineer.fingerprint != who.fingerprint) {
    return fail(rpc::kNotFound, "not_found", tr("consent.flow.request_unknown", echoed(id)));
  }
  if (r->state != "pending") return ok(m.wait_answer(*r));
  *request_id = id;
  *timeout = std::chrono::seconds(seconds);
  return std::nullopt;
}

bool Consent::pending(const std::string& request_id) const {
  for (const auto& r : impl_->requests) {
    if (r.id == request_id) return r.state == "pending";
  }
  return false;
}

json Consent::wait_answer(const std::string& request_id) const {
  for (const auto& r : impl_->requests) {
    if (r.id == request_id) return ok(impl_->wait_answer(r));
  }
  return fail(rpc::kNotFound, "not_found", tr("consent.flow.request_unknown", request_id));
}

json Consent::status(const EngineerRef& who) const {
  const Impl& m = *impl_;
  json result = {{"grant", nullptr}, {"requests", json::array()}};
  for (const auto& [id, g] : m.grants) {
    for (const auto& e : g.engineers) {
      if (e.fingerprint == who.fingerprint) result["grant"] = m.grant_json(g, nullptr);
    }
  }
  for (const auto& r : m.requests) {
    if (r.state == "pending" && r.engineer.fingerprint == who.fingerprint) {
      result["requests"].push_back(m.request_json(r));
    }
  }
  return ok(std::move(result));
}

json Consent::extend(const EngineerRef& who, const std::string& peer, const json& params) {
  Impl& m = *impl_;
  if (auto bad = check_keys(params, {"minutes", "reason"})) return failed(std::move(*bad));
  if (auto bad = check_required(params, {"minutes", "reason"})) return failed(std::move(*bad));
  std::int64_t minutes = 0;
  if (auto bad = check_minutes(params["minutes"], &minutes)) return failed(std::move(*bad));
  if (auto bad = check_reason(params["reason"])) return failed(std::move(*bad));
  Grant* g = m.grant_of(who.fingerprint);
  if (g == nullptr) return failed(*check(who.fingerprint, ""));
  if (m.pending_of(who.fingerprint) >= m.opt.limits.pending_requests_per_key) {
    return fail(rpc::kLimitExceeded, "too_many_pending",
                tr("consent.flow.too_many_pending", m.opt.limits.pending_requests_per_key));
  }
  Request r = m.make_request(Kind::kExtend, who, peer);
  r.id = fmt::format("{}.x{}", g->session_id, ++g->asked_extensions);
  r.session_id = g->session_id;
  r.ticket = g->ticket;
  r.reason = params["reason"].get<std::string>();
  r.scopes = g->scopes;
  r.minutes = static_cast<int>(minutes);
  auto recorded = m.store.append(g->session_id, "request.created", actor_of(who),
                                 {{"kind", "extend"},
                                  {"request_id", r.id},
                                  {"reason", r.reason},
                                  {"minutes", r.minutes},
                                  {"peer", peer}});
  if (!recorded) return recording_failed();
  m.requests.push_back(r);
  // The id counter moved on: keep it across a restart (best effort; the
  // record holds the id either way).
  (void)m.save_grants();
  m.start_notify(m.requests.back());
  return ok(m.wait_answer(m.requests.back()));
}

json Consent::join(const EngineerRef& who, const std::string& peer, const json& params) {
  Impl& m = *impl_;
  if (auto bad = check_keys(params, {"session_id", "reason"})) return failed(std::move(*bad));
  if (auto bad = check_required(params, {"session_id", "reason"})) return failed(std::move(*bad));
  if (!params["session_id"].is_string()) return failed(invalid(tr("agent.rpc.session_id_invalid")));
  if (auto bad = check_reason(params["reason"])) return failed(std::move(*bad));
  const std::string sid = params["session_id"].get<std::string>();
  auto it = m.grants.find(sid);
  if (it == m.grants.end()) {
    return fail(rpc::kNotFound, "not_found", tr("consent.flow.session_unknown", echoed(sid)));
  }
  Grant& g = it->second;
  if (const Grant* own = m.grant_of(who.fingerprint)) {
    return fail(rpc::kConflict, "already_granted",
                tr("consent.flow.already_granted", own->session_id));
  }
  if (m.pending_of(who.fingerprint) >= m.opt.limits.pending_requests_per_key) {
    return fail(rpc::kLimitExceeded, "too_many_pending",
                tr("consent.flow.too_many_pending", m.opt.limits.pending_requests_per_key));
  }
  Request r = m.make_request(Kind::kJoin, who, peer);
  r.id = fmt::format("{}.j{}", sid, ++g.asked_joins);
  r.session_id = sid;
  r.ticket = g.ticket;
  r.reason = params["reason"].get<std::string>();
  r.scopes = g.scopes;
  r.minutes = static_cast<int>(seconds_left(g.expires, BootClock::now()) / 60);
  auto recorded = m.store.append(sid, "request.created", actor_of(who),
                                 {{"kind", "join"},
                                  {"request_id", r.id},
                                  {"reason", r.reason},
                                  {"engineer", engineer_json(who)},
                                  {"peer", peer}});
  if (!recorded) return recording_failed();
  m.requests.push_back(r);
  // The id counter moved on: keep it across a restart (best effort; the
  // record holds the id either way).
  (void)m.save_grants();
  Request& stored = m.requests.back();
  // An escalation join (the session named this engineer) may skip approval
  // when the customer's policy says so. session.escalate is not built yet.
  m.start_notify(stored);
  return ok(m.wait_answer(stored));
}

json Consent::close(const EngineerRef& who, const json& params) {
  Impl& m = *impl_;
  if (auto bad = check_keys(params, {"cause", "solution", "outcome"}))
    return failed(std::move(*bad));
  if (auto bad = check_required(params, {"outcome"})) return failed(std::move(*bad));
  const json& outcome = params["outcome"];
  if (!outcome.is_string() || std::find(kOutcomes.begin(), kOutcomes.end(),
                                        outcome.get<std::string>()) == kOutcomes.end()) {
    return failed(invalid(tr("consent.flow.outcome_invalid")));
  }
  const bool resolved = outcome == "resolved";
  json data = {{"outcome", outcome}};
  for (const char* field : {"cause", "solution"}) {
    if (!params.contains(field)) {
      if (resolved) return failed(invalid(tr("consent.flow.close_needs", field)));
      continue;
    }
    if (auto bad = check_text(params[field], field, kMaxNoteBytes)) return failed(std::move(*bad));
    data[field] = params[field];
  }
  if (auto refused = check(who.fingerprint, "")) return failed(std::move(*refused));
  Grant& g = *m.grant_of(who.fingerprint);
  const std::string sid = g.session_id;
  auto closed = m.store.append(sid, "session.closed", actor_of(who), std::move(data));
  if (!closed) {
    log_error("consent.flow.not_recorded", sid, closed.error().message);
    return recording_failed();
  }
  m.end_grant(g, "", "", json(), "closed");
  return ok({{"session_id", sid}, {"last_seq", closed->seq}, {"last_hash", closed->hash}});
}

std::optional<json> Consent::check(const std::string& fingerprint, std::string_view scope) const {
  const Grant* g = grant_of(fingerprint);
  if (g == nullptr) return error_body(rpc::kNoGrant, "no_grant", tr("consent.flow.no_grant"));
  if (g->expires <= BootClock::now()) {
    return error_body(rpc::kGrantExpired, "grant_expired",
                      tr("consent.flow.grant_expired", g->session_id));
  }
  if (!scope.empty() && !has(g->scopes, scope)) {
    return error_body(rpc::kScopeDenied, "scope_denied",
                      tr("consent.flow.scope_denied", std::string(scope), joined_words(g->scopes)));
  }
  return std::nullopt;
}

const Grant* Consent::grant_of(const std::string& fingerprint) const {
  return impl_->grant_of(fingerprint);
}

bool Consent::joined(const std::string& fingerprint, const std::string& session_id) const {
  auto it = impl_->grants.find(session_id);
  if (it == impl_->grants.end()) return false;
  for (const auto& e : it->second.engineers) {
    if (e.fingerprint == fingerprint) return true;
  }
  return false;
}

void Consent::connected(const std::string& fingerprint, const std::string& peer,
                        std::string_view refused) {
  if (const Grant* g = grant_of(fingerprint)) {
    json data = {{"peer", peer}};
    if (!refused.empty()) data["refused"] = refused;
    auto r = impl_->store.append(g->session_id, "session.connected", "engineer:" + fingerprint,
                                 std::move(data));
    if (!r) log_error("consent.flow.not_recorded", g->session_id, r.error().message);
  }
}

void Consent::disconnected(const std::string& fingerprint, const std::string& peer) {
  if (const Grant* g = grant_of(fingerprint)) {
    auto r = impl_->store.append(g->session_id, "session.disconnected", "engineer:" + fingerprint,
                                 {{"peer", peer}});
    if (!r) log_error("consent.flow.not_recorded", g->session_id, r.error().message);
  }
}

void Consent::sweep() {
  Impl& m = *impl_;
  const auto now = BootClock::now();
  for (auto& r : m.requests) {
    if (r.state == "pending" && r.expires <= now) {
      (void)m.decline(r, "request.expired", "agent", json::object(), "", true);
    }
  }
  std::erase_if(m.requests,
                [&](const Request& r) { return r.state != "pending" && r.forget_at <= now; });
  std::vector<std::string> due;
  for (const auto& [id, g] : m.grants) {
    if (g.expires <= now) due.push_back(id);
  }
  for (const auto& id : due) {
    auto it = m.grants.find(id);
    if (it != m.grants.end()) {
      m.end_grant(it->second, "grant.expired", "agent", {{"expires_at", it->second.expires_at}},
                  "grant_expired");
    }
  }
  if (m.grants_dirty && m.save_grants()) m.grants_dirty = false;
  if (m.codes && m.codes->purge(now) > 0) {
    if (auto saved = m.save_codes(); !saved) {
      log_error("consent.flow.state_not_saved", m.codes_path, saved.error().message);
    }
  }
  if (m.notifier) {
    for (const auto& outcome : m.notifier->poll()) {
      if (!outcome.ok) m.record_notify_failure(outcome.tag, outcome.why);
    }
  }
}

void Consent::engineers_changed(const EngineersFile& file) {
  Impl& m = *impl_;
  const auto now_s = static_cast<std::int64_t>(std::time(nullptr));
  const auto gone = [&](const std::string& fp) {
    const Engineer* e = file.find(fp);
    return e == nullptr || (e->expires_at && *e->expires_at <= now_s);
  };
  for (auto& r : m.requests) {
    if (r.state == "pending" && gone(r.engineer.fingerprint)) {
      (void)m.decline(r, "request.denied", "agent", json::object(), "key_removed", true);
    }
  }
  std::vector<std::string> ending;
  for (const auto& [id, g] : m.grants) {
    if (std::any_of(g.engineers.begin(), g.engineers.end(),
                    [&](const EngineerRef& e) { return gone(e.fingerprint); })) {
      ending.push_back(id);
    }
  }
  for (const auto& id : ending) {
    auto it = m.grants.find(id);
    if (it != m.grants.end()) {
      m.end_grant(it->second, "grant.revoked", "agent", {{"reason", "key_removed"}}, "revoked");
    }
  }
}

std::vector<Notice> Consent::take_notices() {
  return std::exchange(impl_->notices, {});
}

}  // namespace rdiag::agent::consent
