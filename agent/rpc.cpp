#include "agent/rpc.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string>

#include "agent/log.h"
#include "agent/records/store.h"
#include "common/fs.h"
#include "common/jsonrpc.h"
#include "common/records/event.h"
#include "common/records/ledger.h"
#include "common/records/seal.h"
#include "common/text_safety.h"

namespace rdiag::agent {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 4> kScopes = {"diagnose", "shell", "transfer", "fix"};
constexpr std::size_t kMaxTicket = 64;
constexpr std::size_t kMaxReasonChars = 500;
constexpr std::int64_t kMaxMinutes = 240;
constexpr std::int64_t kDefaultPage = 200;
constexpr std::int64_t kMaxPage = 1000;
// A page also stops at this many bytes of event lines (at least one event is
// always sent): the answer crosses the monitor socket as one frame.
constexpr std::size_t kPageBytes = std::size_t{4} << 20;

json ok(json result) {
  return {{"result", std::move(result)}};
}

json error_body(int code, std::string_view reason, std::string message) {
  return {{"code", code}, {"reason", reason}, {"message", std::move(message)}};
}

json fail(int code, std::string_view reason, std::string message) {
  return {{"error", error_body(code, reason, std::move(message))}};
}

json invalid(std::string message) {
  return error_body(rpc::kInvalidParams, "invalid_params", std::move(message));
}

// Text the caller sent, cut short and made valid for quoting back in a message.
std::string echoed(std::string_view text) {
  constexpr std::size_t kMax = 64;
  if (text.size() <= kMax) return sanitize_utf8(text);
  return sanitize_utf8(text.substr(0, kMax)) + "...";
}

std::string join(std::initializer_list<std::string_view> words) {
  std::string out;
  for (auto w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

// nullopt when params is an object with only allowed keys, else the error.
std::optional<json> check_keys(const json& params,
                               std::initializer_list<std::string_view> allowed) {
  if (!params.is_object()) return invalid(i18n::tr("agent.rpc.params_not_object", join(allowed)));
  for (const auto& item : params.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
      return invalid(i18n::tr("agent.rpc.param_unknown", echoed(item.key()), join(allowed)));
    }
  }
  return std::nullopt;
}

bool ascii_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// ^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$
bool valid_ticket(std::string_view t) {
  if (t.empty() || t.size() > kMaxTicket || !ascii_alnum(t[0])) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return ascii_alnum(c) || c == '.' || c == '_' || c == '/' || c == '-';
  });
}

// Code points of valid UTF-8 text: every byte that does not continue a sequence.
std::size_t code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
  }));
}

bool blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// A whole number in [min, max], or nullopt.
std::optional<std::int64_t> integer_in(const json& v, std::int64_t min, std::int64_t max) {
  if (!v.is_number_integer()) return std::nullopt;
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
    return std::nullopt;
  }
  const auto n = v.get<std::int64_t>();
  if (n < min || n > max) return std::nullopt;
  return n;
}

// A one-time grant code as customer IT reads it out: XXXX-XXXX (hyphen
// optional, any case). Decoding it is the consent flow's business.
bool valid_code_shape(std::string s) {
  if (s.size() == 9 && s[4] == '-') s.erase(4, 1);
  return s.size() == 8 && std::all_of(s.begin(), s.end(), ascii_alnum);
}

std::optional<json> check_reason(const json& v) {
  if (!v.is_string()) return invalid(i18n::tr("agent.rpc.reason_invalid", kMaxReasonChars));
  const auto& s = v.get_ref<const std::string&>();
  // The JSON-RPC framing already refuses bad UTF-8; this keeps the rule true
  // whatever the transport becomes.
  if (first_invalid_utf8(s)) return invalid(i18n::tr("agent.rpc.reason_not_utf8"));
  const std::size_t n = code_points(s);
  if (n == 0 || blank(s)) return invalid(i18n::tr("agent.rpc.reason_empty", kMaxReasonChars));
  if (n > kMaxReasonChars)
    return invalid(i18n::tr("agent.rpc.reason_too_long", kMaxReasonChars, n));
  return std::nullopt;
}

std::optional<json> check_scopes(const json& v, std::vector<std::string>* out) {
  if (!v.is_array() || v.empty()) return invalid(i18n::tr("agent.rpc.scopes_invalid"));
  for (const auto& s : v) {
    if (!s.is_string()) return invalid(i18n::tr("agent.rpc.scopes_invalid"));
    const auto& name = s.get_ref<const std::string&>();
    if (std::find(kScopes.begin(), kScopes.end(), name) == kScopes.end()) {
      return invalid(i18n::tr("agent.rpc.scope_unknown", echoed(name)));
    }
    if (std::find(out->begin(), out->end(), name) != out->end()) {
      return invalid(i18n::tr("agent.rpc.scope_repeated", name));
    }
    out->push_back(name);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// session.request

json session_request(const RpcContext& ctx, const RpcCaller& caller, const json& params) {
  json error;
  auto p = parse_session_request(params, &error);
  if (!p) return {{"error", std::move(error)}};
  const Engineer& e = caller.engineer;
  if (ctx.store == nullptr) {
    return fail(rpc::kRecordingFailed, "recording_failed", i18n::tr("agent.rpc.recording_failed"));
  }
  json data = {{"ticket", p->ticket},
               {"reason", p->reason},
               {"scopes", p->scopes},
               {"minutes", p->minutes},
               {"engineer", {{"name", e.name}, {"id", e.id}, {"role", e.role}}},
               {"peer", caller.peer}};
  // The answer goes out only once the record is durable: a request the
  // engineer was told about can never be missing after a crash.
  auto opened = ctx.store->open_session("request.created", "engineer:" + e.fingerprint, data);
  if (!opened) {
    log_error("agent.rpc.request_not_recorded", e.fingerprint, caller.peer, opened.error().message);
    return fail(rpc::kRecordingFailed, "recording_failed", i18n::tr("agent.rpc.recording_failed"));
  }
  log_info("agent.rpc.request_created", opened->session_id, terminal_safe(e.name), e.fingerprint,
           p->ticket);
  return ok({{"request_id", opened->session_id}, {"state", "pending"}});
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
  // nothing of another engineer's session is read at all. Joined engineers
  // come with the consent flow's grant index.
  if (ls->engineer != caller.engineer.fingerprint) return not_found(p.session_id);
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
  Handler handler;
};

// The closed list. agent.info is answered by its own monitor request.
constexpr std::array<Method, 2> kMethods = {{
    {"session.request", &session_request},
    {"record.get", &record_get},
}};

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
  auto minutes = integer_in(params["minutes"], 1, kMaxMinutes);
  if (!minutes) {
    *error = invalid(i18n::tr("agent.rpc.minutes_invalid", kMaxMinutes));
    return std::nullopt;
  }
  p.minutes = *minutes;
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
    if (m.name == method) return m.handler(ctx, caller, params);
  }
  return fail(rpc::kMethodNotFound, "method_not_found",
              i18n::tr("agent.rpc.method_not_found_named", echoed(method)));
}

}  // namespace rdiag::agent
