#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "agent/consent/consent.h"
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
// Customer IT

namespace {

std::string customer_actor(const ControlPeer& peer) {
  std::string user = peer.user;
  const bool ok_name =
      !user.empty() && user.size() <= 32 && std::all_of(user.begin(), user.end(), [](char c) {
        return ascii_alnum(c) || c == '_' || c == '-' || c == '.';
      });
  return "customer:" + (ok_name ? user : std::to_string(peer.uid));
}

json customer_data(const ControlRequest& req) {
  // loginuid is left out when the kernel has none for the process (a
  // service, not a login session): events hold no nulls.
  json d = {{"uid", static_cast<std::int64_t>(req.peer.uid)}};
  if (req.peer.loginuid) d["loginuid"] = static_cast<std::int64_t>(*req.peer.loginuid);
  if (!req.sudo_user.empty()) d["sudo_user"] = sanitize_utf8(req.sudo_user.substr(0, 64));
  return d;
}

}  // namespace

json Consent::control(const ControlRequest& req, const std::map<std::string, int>& connections) {
  Impl& m = *impl_;
  const json& args = req.args;
  const std::string actor = customer_actor(req.peer);
  const auto str_arg = [&](const char* key) -> std::string {
    auto it = args.find(key);
    return it != args.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (req.command == "requests") {
    json list = json::array();
    for (const auto& r : m.requests) {
      if (r.state == "pending") list.push_back(m.request_json(r));
    }
    return ok({{"requests", std::move(list)}});
  }
  if (req.command == "sessions") {
    json list = json::array();
    for (const auto& [id, g] : m.grants) list.push_back(m.grant_json(g, &connections));
    return ok({{"sessions", std::move(list)}});
  }
  if (req.command == "approve" || req.command == "deny") {
    const std::string id = str_arg("request_id");
    Request* r = m.find_request(id);
    if (r == nullptr)
      return control_error("not_found", tr("consent.flow.request_unknown", echoed(id)));
    if (r->state != "pending") {
      return control_error("not_pending", tr("consent.flow.not_pending", r->id, r->state));
    }
    if (req.command == "deny") {
      const std::string reason = str_arg("reason");
      if (auto bad = check_text(json(reason), "reason", kMaxNoteBytes)) {
        return control_error("bad_request", (*bad)["message"].get<std::string>());
      }
      if (auto d = m.decline(*r, "request.denied", actor, customer_data(req), reason); !d) {
        return control_error("recording_failed", d.error().message);
      }
      return ok({{"request_id", r->id}, {"state", "denied"}});
    }
    // A joiner works with the grant's scopes until it ends; an extension
    // keeps the scopes and may only be shortened.
    if ((r->kind != Kind::kRequest && args.contains("scopes")) ||
        (r->kind == Kind::kJoin && args.contains("minutes"))) {
      return control_error("bad_request", tr("consent.flow.narrow_request_only", r->id));
    }
    std::vector<std::string> scopes = r->scopes;
    if (args.contains("scopes")) {
      std::vector<std::string> asked;
      if (auto bad = check_scopes(args["scopes"], &asked)) {
        return control_error("bad_request", (*bad)["message"].get<std::string>());
      }
      for (const auto& s : asked) {
        if (!has(r->scopes, s)) {
          return control_error("widens",
                               tr("consent.flow.widens_scope", s, joined_words(r->scopes)));
        }
      }
      scopes = ordered(asked);
    }
    int minutes = r->minutes;
    if (args.contains("minutes")) {
      std::int64_t n = 0;
      if (auto bad = check_minutes(args["minutes"], &n)) {
        return control_error("bad_request", (*bad)["message"].get<std::string>());
      }
      if (n > r->minutes) {
        return control_error("widens", tr("consent.flow.widens_minutes", n, r->minutes));
      }
      minutes = static_cast<int>(n);
    }
    if (auto a = m.approve(*r, scopes, minutes, actor, customer_data(req)); !a) {
      return control_error(a.error().reason.empty() ? "failed" : a.error().reason,
                           a.error().message);
    }
    json result = m.wait_answer(*r);
    return ok(std::move(result));
  }
  if (req.command == "grant-code") {
    if (args.contains("engineer") && !args["engineer"].is_string()) {
      return control_error("bad_request", tr("consent.flow.bad_arg", "engineer"));
    }
    std::vector<std::string> scopes;
    if (auto bad = check_scopes(args.value("scopes", json()), &scopes)) {
      return control_error("bad_request", (*bad)["message"].get<std::string>());
    }
    std::int64_t minutes = 0;
    if (auto bad = check_minutes(args.value("minutes", json()), &minutes)) {
      return control_error("bad_request", (*bad)["message"].get<std::string>());
    }
    minutes = clamp_minutes(m.opt.policy, static_cast<int>(minutes));
    if (!m.codes) {
      auto book = CodeBook::create();
      if (!book) return control_error("failed", book.error().message);
      m.codes = std::move(*book);
    }
    auto issued = m.codes->issue(scopes, static_cast<int>(minutes), str_arg("engineer"),
                                 BootClock::now(), std::chrono::system_clock::now());
    if (!issued) return control_error("bad_request", issued.error().message);
    if (auto saved = m.save_codes(); !saved) {
      return control_error("recording_failed", saved.error().message);
    }
    log_info("consent.flow.code_issued", issued->entry.actor(), actor,
             joined_words(issued->entry.scopes));
    return ok({{"code", issued->code},
               {"scopes", issued->entry.scopes},
               {"minutes", issued->entry.minutes},
               {"engineer", issued->entry.engineer},
               {"expires_at", issued->entry.expires_at}});
  }
  if (req.command == "revoke") {
    std::vector<std::string> ids;
    if (args.contains("all") && !args["all"].is_boolean()) {
      return control_error("bad_request", tr("consent.flow.bad_arg", "all"));
    }
    if (args.value("all", false)) {
      for (const auto& [id, g] : m.grants) ids.push_back(id);
    } else {
      const std::string id = str_arg("session_id");
      if (m.grants.find(id) == m.grants.end()) {
        return control_error("not_found", tr("consent.flow.session_unknown", echoed(id)));
      }
      ids.push_back(id);
    }
    json data = customer_data(req);
    for (const auto& id : ids) {
      auto it = m.grants.find(id);
      if (it != m.grants.end()) m.end_grant(it->second, "grant.revoked", actor, data, "revoked");
    }
    return ok({{"revoked", ids}});
  }
  return control_error("unknown_command", tr("consent.flow.unknown_command", echoed(req.command)));
}

}  // namespace rdiag::agent::consent
