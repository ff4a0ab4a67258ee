#include "agent/rpc.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string>

#include "agent/consent/consent.h"
#include "agent/log.h"
#include "agent/records/store.h"
#include "agent/rpc_bundle.h"
#include "agent/rpc_diag.h"
#include "agent/rpc_logs.h"
#include "agent/rpc_params.h"
#include "common/fs.h"
#include "common/jsonrpc.h"
#include "common/records/event.h"
#include "common/records/ledger.h"
#include "common/records/seal.h"
#include "common/text_safety.h"

namespace rdiag::agent {
namespace {

using json = nlohmann::json;
using namespace rpcp;  // NOLINT(google-build-using-namespace): the method toolkit

constexpr std::int64_t kDefaultPage = 200;
constexpr std::int64_t kMaxPage = 1000;
// A page also stops at this many bytes of event lines (at least one event is
// always sent): the answer crosses the monitor socket as one frame.
constexpr std::size_t kPageBytes = std::size_t{4} << 20;

// A one-time grant code as customer IT reads it out: XXXX-XXXX (hyphen
// optional, any case). Decoding it is the consent flow's business.
bool valid_code_shape(std::string s) {
  if (s.size() == 9 && s[4] == '-') s.erase(4, 1);
  return s.size() == 8 && std::all_of(s.begin(), s.end(), ascii_alnum);
}

// ---------------------------------------------------------------------------
// session.request

json no_records() {
  return fail(rpc::kRecordingFailed, "recording_failed", i18n::tr("agent.rpc.recording_failed"));
}

consent::EngineerRef who(const RpcCaller& caller) {
  return consent::engineer_ref(caller.engineer);
}

json session_request(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  if (ctx.consent == nullptr) {
    json error;
    if (!parse_session_request(params, &error)) return failed(std::move(error));
    return no_records();
  }
  return ctx.consent->request(who(caller), caller.peer, params);
}

json session_status(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  if (auto bad = check_keys(params.is_null() ? json::object() : params, {})) {
    return failed(std::move(*bad));
  }
  if (ctx.consent == nullptr) return ok({{"grant", nullptr}, {"requests", json::array()}});
  return ctx.consent->status(who(caller));
}

json session_extend(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  return ctx.consent->extend(who(caller), caller.peer, params);
}

json session_join(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  if (ctx.consent == nullptr) return no_records();
  return ctx.consent->join(who(caller), caller.peer, params);
}

json session_close(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  return ctx.consent->close(who(caller), params);
}

// A method of DESIGN's table that this version does not have: the caller
// learns that only once the grant would have let it through.
json not_built(const RpcContext&, const RpcCaller&, const json&) {
  return fail(rpc::kMethodNotFound, "not_built", i18n::tr("agent.rpc.not_built"));
}

// ---------------------------------------------------------------------------
// record.get

struct RecordGetParams {
  std::string session_id;
  std::int64_t from_seq = 1;
  std::int64_t limit = kDefaultPage;
};

std::optional<json> parse_record_get(const json& params, RecordGetParams* p) {
  if (auto bad = check_keys(params, {"session_id", "from_seq", "limit"})) return bad;
  auto id = params.find("session_id");
  if (id == params.end() || !id->is_string() ||
      !records::is_valid_session_id(id->get_ref<const std::string&>())) {
    return invalid(i18n::tr("agent.rpc.session_id_invalid"));
  }
  p->session_id = id->get<std::string>();
  if (auto it = params.find("from_seq"); it != params.end()) {
    auto n = integer_in(*it, 1, INT64_MAX);
    if (!n) return invalid(i18n::tr("agent.rpc.from_seq_invalid"));
    p->from_seq = *n;
  }
  if (auto it = params.find("limit"); it != params.end()) {
    auto n = integer_in(*it, 1, kMaxPage);
    if (!n) return invalid(i18n::tr("agent.rpc.limit_invalid", kMaxPage));
    p->limit = *n;
  }
  return std::nullopt;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> out;
  records::for_each_line(
      text, [&](std::size_t, std::string_view line, std::size_t) { out.push_back(line); });
  return out;
}

Result<std::string> read_bounded(const std::string& path, std::size_t max) {
  ReadFileHooks hooks;
  hooks.io_error = [&](int err) { return make_error(path + ": " + errno_text(err), "io_error"); };
  hooks.too_big = [&] { return make_error(path + ": too big", "too_big"); };
  return read_file_bounded(path, max, hooks);
}

json not_found(const std::string& id) {
  return fail(rpc::kNotFound, "not_found", i18n::tr("agent.rpc.record_not_found", id));
}

json read_failed(const std::string& id, const std::string& cause) {
  log_error("agent.rpc.record_read_failed", id, cause);
  return fail(rpc::kInternalError, "internal_error", i18n::tr("agent.rpc.record_unreadable", id));
}

// The engineer learns which file and line; the details (paths, what the
// parser saw) stay in the agent's log for customer IT.
json tampered(const std::string& id, const records::SealCheck& check) {
  log_error("agent.rpc.record_tampered_log", id, check.message);
  const std::string where =
      check.bad_line > 0 ? fmt::format("{} line {}", check.file, check.bad_line) : check.file;
  return fail(rpc::kInternalError, "record_tampered",
              i18n::tr("agent.rpc.record_tampered", id, where));
}

// seals, attachments and ledger_entry: what a client needs to check the page
// against the seal key it pinned.
Result<void> add_evidence(const Store& store, const records::LedgerSession& ls,
                          const std::string& dir, int seals, json& out) {
  out["seals"] = json::array();
  for (int n = 1; n <= seals; ++n) {
    const std::string file = fmt::format("seal-{}.sshsig", n);
    auto text = read_bounded(fmt::format("{}/{}", dir, file), records::kMaxSealFileBytes);
    if (!text) return text.error();
    out["seals"].push_back({{"file", file}, {"signature", std::move(*text)}});
  }
  auto attachments = records::list_attachments(dir);
  if (!attachments) return attachments.error();
  out["attachments"] = json::array();
  for (const auto& a : *attachments)
    out["attachments"].push_back({{"name", a.name}, {"sha256", a.sha256}});
  std::vector<std::size_t> wanted{ls.opened_line};
  for (const auto& s : ls.seals) wanted.push_back(s.line);
  auto lines = store.ledger_lines(wanted);
  if (!lines) return lines.error();
  json entry = {{"opened", json::parse((*lines)[0], nullptr, false)}, {"seals", json::array()}};
  for (std::size_t i = 1; i < lines->size(); ++i) {
    entry["seals"].push_back(json::parse((*lines)[i], nullptr, false));
  }
  out["ledger_entry"] = std::move(entry);
  return {};
}

json record_get(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  RecordGetParams p;
  if (auto bad = parse_record_get(params, &p)) return {{"error", std::move(*bad)}};
  if (ctx.store == nullptr) return not_found(p.session_id);
  const Store& store = *ctx.store;
  const records::LedgerSession* ls = store.ledger_session(p.session_id);
  if (ls == nullptr || ls->voided || ls->pruned) return not_found(p.session_id);
  // Authorized from the ledger (which the agent verified at start-up), so
  // nothing of another engineer's session is read at all; an engineer who
  // joined a session reads it while on its grant.
  const bool joined =
      ctx.consent != nullptr && ctx.consent->joined(caller.engineer.fingerprint, p.session_id);
  if (ls->engineer != caller.engineer.fingerprint && !joined) return not_found(p.session_id);
  const std::string dir = store.session_dir(p.session_id);
  const auto check =
      records::verify_session_dir(dir, p.session_id, ls->genesis, store.trusted_fingerprints());
  if (!check.ok) return tampered(p.session_id, check);
  auto text =
      read_bounded(fmt::format("{}/{}", dir, records::kEventsFile), records::kMaxEventsFileBytes);
  if (!text) return read_failed(p.session_id, text.error().message);
  const auto lines = split_lines(*text);
  if (static_cast<std::size_t>(check.seals) != ls->seals.size()) {
    records::SealCheck differ = check;
    differ.message = i18n::tr("agent.rpc.record_seals_differ", check.seals, ls->seals.size());
    differ.file = "seal-" + std::to_string(check.seals + 1) + ".sshsig";
    differ.bad_line = 0;
    return tampered(p.session_id, differ);
  }
  json result = {{"session_id", p.session_id},
                 {"events", json::array()},
                 {"last_seq", static_cast<std::int64_t>(lines.size())}};
  std::size_t bytes = 0;
  const auto total = static_cast<std::int64_t>(lines.size());
  std::int64_t seq = p.from_seq;
  for (; seq <= total && seq < p.from_seq + p.limit; ++seq) {
    const auto line = lines[static_cast<std::size_t>(seq - 1)];
    if (bytes > 0 && bytes + line.size() > kPageBytes) break;
    bytes += line.size();
    result["events"].push_back(json::parse(line, nullptr, false));
  }
  if (seq <= total) result["next_seq"] = seq;
  if (auto r = add_evidence(store, *ls, dir, check.seals, result); !r) {
    return read_failed(p.session_id, r.error().message);
  }
  return ok(std::move(result));
}

// ---------------------------------------------------------------------------

using Handler = json (*)(const RpcContext&, const RpcCaller&, const json&);
struct Method {
  std::string_view name;
  // What the caller must hold: "" nothing, "grant" any grant, else a scope
  // ("diagnose|transfer": either).
  std::string_view needs;
  Handler handler;
};

// The closed list. agent.info is answered by its own monitor request, and
// session.wait by the monitor (its answer may come later).
constexpr std::array<Method, 16> kMethods = {{
    {"session.request", "", &session_request},
    {"session.status", "", &session_status},
    {"session.extend", "grant", &session_extend},
    {"session.join", "", &session_join},
    {"session.close", "grant", &session_close},
    {"record.get", "", &record_get},
    {"diag.run", "diagnose", &diag_run},
    {"report.get", "diagnose", &report_get},
    {"logs.scan", "diagnose", &logs_scan},
    {"logs.tail", "diagnose", &logs_tail},
    {"bundle.create", "diagnose", &bundle_create},
    {"file.read", "diagnose|transfer", &file_read},
    {"fix.run", "fix", &not_built},
    {"session.note", "grant", &not_built},
    {"session.escalate", "grant", &not_built},
    {"session.wait", "", &not_built},
}};

// nullopt when the caller holds what the method needs, else the error body.
std::optional<json> refuse_needs(const RpcContext& ctx, const RpcCaller& caller,
                                 std::string_view needs) {
  if (needs.empty()) return std::nullopt;
  if (ctx.consent == nullptr) {
    return error_body(rpc::kNoGrant, "no_grant", i18n::tr("consent.flow.no_grant"));
  }
  const std::string& fp = caller.engineer.fingerprint;
  if (needs == "grant") return ctx.consent->check(fp, "");
  std::optional<json> first;
  for (std::size_t at = 0; at <= needs.size();) {
    const std::size_t bar = std::min(needs.find('|', at), needs.size());
    auto refused = ctx.consent->check(fp, needs.substr(at, bar - at));
    if (!refused) return std::nullopt;
    if (!first) first = std::move(refused);
    at = bar + 1;
  }
  return first;
}

}  // namespace

std::optional<SessionRequestParams> parse_session_request(const json& params, json* error) {
  if (auto bad = check_keys(params, {"ticket", "reason", "scopes", "minutes", "code"})) {
    *error = std::move(*bad);
    return std::nullopt;
  }
  for (const char* required : {"ticket", "reason", "scopes", "minutes"}) {
    if (!params.contains(required)) {
      *error = invalid(i18n::tr("agent.rpc.param_missing", required));
      return std::nullopt;
    }
  }
  SessionRequestParams p;
  const json& ticket = params["ticket"];
  if (!ticket.is_string() || !valid_ticket(ticket.get_ref<const std::string&>())) {
    *error = invalid(i18n::tr("agent.rpc.ticket_invalid", kMaxTicket));
    return std::nullopt;
  }
  p.ticket = ticket.get<std::string>();
  if (auto bad = check_reason(params["reason"])) {
    *error = std::move(*bad);
    return std::nullopt;
  }
  p.reason = params["reason"].get<std::string>();
  if (auto bad = check_scopes(params["scopes"], &p.scopes)) {
    *error = std::move(*bad);
    return std::nullopt;
  }
  if (auto bad = check_minutes(params["minutes"], &p.minutes)) {
    *error = std::move(*bad);
    return std::nullopt;
  }
  if (auto it = params.find("code"); it != params.end()) {
    if (!it->is_string() || !valid_code_shape(it->get<std::string>())) {
      *error = invalid(i18n::tr("agent.rpc.code_invalid"));
      return std::nullopt;
    }
    p.code = it->get<std::string>();
  }
  return p;
}

json call_method(const RpcContext& ctx, const RpcCaller& caller, std::string_view method,
                 const json& params) {
  for (const auto& m : kMethods) {
    if (m.name != method) continue;
    if (auto refused = refuse_needs(ctx, caller, m.needs)) return failed(std::move(*refused));
    return m.handler(ctx, caller, params);
  }
  return fail(rpc::kMethodNotFound, "method_not_found",
              i18n::tr("agent.rpc.method_not_found_named", echoed(method)));
}

json finish_worker_call(const RpcContext& ctx, const RpcCaller& caller, std::string_view method,
                        const Result<json>& outcome) {
  if (method == "diag.run") return finish_diag_run(ctx, caller, outcome);
  if (method == "logs.scan") return finish_logs_scan(ctx, caller, outcome);
  if (method == "logs.tail") return finish_logs_tail(ctx, caller, outcome);
  if (method == "bundle.create") return finish_bundle_create(ctx, caller, outcome);
  return fail(rpc::kInternalError, "internal_error", i18n::tr("agent.rpc.internal_error"));
}

}  // namespace rdiag::agent
