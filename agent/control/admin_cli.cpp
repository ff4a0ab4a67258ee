#include "agent/control/admin_cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <ctime>
#include <iostream>

#include "agent/control/client.h"
#include "agent/records/summary.h"
#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::agent {
namespace {

using i18n::tr;
using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRefused = 3;
constexpr int kMaxMinutes = 1440;
constexpr std::array<std::string_view, 4> kScopes = {"diagnose", "shell", "transfer", "fix"};
constexpr std::size_t kMaxCellWidth = 40;

int fail(const std::string& message, int code) {
  std::cerr << "rdiag-agent: " << message << "\n";
  return code;
}

// ---------------------------------------------------------------------------
// Reading results defensively: the agent may be newer or older than we are.

std::string str(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  return it->is_string() ? it->get<std::string>() : it->dump();
}

const json& list(const json& j, const char* key) {
  static const json empty = json::array();
  if (!j.is_object()) return empty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : empty;
}

std::optional<std::int64_t> integer(const json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<std::int64_t>();
}

std::string safe_cell(const std::string& text) {
  return fit_width(terminal_safe(text), kMaxCellWidth);
}

std::string scopes_text(const json& scopes) {
  std::string out;
  if (!scopes.is_array()) return out;
  for (const auto& s : scopes) {
    if (!out.empty()) out += ",";
    out += terminal_safe(s.is_string() ? s.get<std::string>() : s.dump());
  }
  return out;
}

// "张三 (E1001)", or the start of the fingerprint when the name is unknown.
std::string engineer_text(const json& e) {
  std::string out = terminal_safe(str(e, "name"));
  const std::string id = str(e, "id");
  if (!id.empty()) out += (out.empty() ? "(" : " (") + terminal_safe(id) + ")";
  if (out.empty()) {
    const std::string fp = str(e, "fingerprint");
    constexpr std::size_t kShown = 7 + 8;  // "SHA256:" and 8 characters
    out = terminal_safe(fp.size() > kShown ? fp.substr(0, kShown) + "…" : fp);
  }
  return out;
}

// A word of the wire (state, kind) in the reader's language, when we know it.
std::string word(const std::string& prefix, const std::string& w) {
  const std::string id = prefix + w;
  return i18n::has_id(id) ? tr(id) : terminal_safe(w);
}

std::string local_minute(const std::string& ts) {
  auto tp = parse_ts(ts);
  if (!tp) return terminal_safe(ts);
  const std::time_t t = std::chrono::system_clock::to_time_t(*tp);
  std::tm tm{};
  (void)::localtime_r(&t, &tm);
  std::array<char, 32> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%d %H:%M", &tm);
  return {buf.data(), n};
}

// "2026-05-01 16:30 (90 min left)"; remaining_s, when the agent sent it,
// counts (its clock for deadlines is CLOCK_BOOTTIME, not the wall clock).
std::string until_text(const std::string& ts, std::optional<std::int64_t> remaining_s,
                       SystemTime now) {
  if (ts.empty()) return {};
  if (!remaining_s) {
    auto tp = parse_ts(ts);
    if (!tp) return terminal_safe(ts);
    remaining_s = std::chrono::duration_cast<std::chrono::seconds>(*tp - now).count();
  }
  if (*remaining_s <= 0) return tr("agent.control.until_past", local_minute(ts));
  return tr("agent.control.until", local_minute(ts), (*remaining_s + 59) / 60);
}

// "2026-05-01 14:03 (12 min ago)": how long the engineer has been waiting.
std::string asked_text(const std::string& ts, SystemTime now) {
  auto tp = parse_ts(ts);
  if (!tp) return terminal_safe(ts);
  const auto ago = std::chrono::duration_cast<std::chrono::minutes>(now - *tp).count();
  return tr("agent.control.ago", local_minute(ts), std::max<std::int64_t>(ago, 0));
}

}  // namespace

// ---------------------------------------------------------------------------
// Pure parts

Result<std::vector<std::string>> parse_scopes_option(const std::string& text) {
  std::array<bool, kScopes.size()> chosen{};
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    start = comma + 1;
    if (item.empty()) continue;
    const auto* it = std::find(kScopes.begin(), kScopes.end(), item);
    if (it == kScopes.end()) {
      return make_error(tr("agent.control.bad_scope", terminal_safe(item)), "usage");
    }
    chosen[static_cast<std::size_t>(it - kScopes.begin())] = true;
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < kScopes.size(); ++i) {
    if (chosen[i]) out.emplace_back(kScopes[i]);
  }
  if (out.empty()) return make_error(tr("agent.control.no_scopes"), "usage");
  return out;
}

Result<void> check_minutes_option(int minutes) {
  if (minutes >= 1 && minutes <= kMaxMinutes) return {};
  return make_error(tr("agent.control.bad_minutes", minutes, kMaxMinutes), "usage");
}

int admin_exit_code(const json& answer) {
  if (answer.contains("result")) return kExitOk;
  return str(answer.value("error", json::object()), "reason") == "not_permitted" ? kExitRefused
                                                                                 : kExitFailed;
}

std::string render_requests(const json& result, SystemTime now) {
  const json& requests = list(result, "requests");
  if (requests.empty()) return tr("agent.control.no_requests") + "\n";
  std::vector<std::vector<std::string>> table = {
      {tr("agent.control.col.request"), tr("agent.control.col.kind"),
       tr("agent.control.col.ticket"), tr("agent.control.col.engineer"),
       tr("agent.control.col.scopes"), tr("agent.control.col.minutes"),
       tr("agent.control.col.from"), tr("agent.control.col.asked")}};
  std::string reasons;
  for (const auto& r : requests) {
    const std::string id = terminal_safe(str(r, "request_id"));
    table.push_back({id, word("agent.control.kind.", str(r, "kind")), safe_cell(str(r, "ticket")),
                     fit_width(engineer_text(r.value("engineer", json::object())), kMaxCellWidth),
                     scopes_text(r.value("scopes", json::array())),
                     terminal_safe(str(r, "minutes")), safe_cell(str(r, "peer")),
                     asked_text(str(r, "created_at"), now)});
    // The reason decides the approval: shown whole, on its own line.
    reasons += tr("agent.control.reason_line", id, terminal_safe(str(r, "reason"))) + "\n";
  }
  return render_table(table) + "\n" + reasons + "\n" + tr("agent.control.requests_hint") + "\n";
}

std::string render_approved(const json& result, SystemTime now) {
  std::string out = tr("agent.control.approved", terminal_safe(str(result, "request_id")),
                       terminal_safe(str(result, "session_id"))) +
                    "\n";
  out += tr("agent.control.approved_scopes", scopes_text(result.value("scopes", json::array()))) +
         "\n";
  out += tr("agent.control.approved_until",
            until_text(str(result, "expires_at"), integer(result, "remaining_s"), now)) +
         "\n";
  return out + tr("agent.control.revoke_hint", terminal_safe(str(result, "session_id"))) + "\n";
}

std::string render_denied(const json& result) {
  return tr("agent.control.denied", terminal_safe(str(result, "request_id"))) + "\n";
}

std::string render_code(const json& result, SystemTime now) {
  const std::string engineer = str(result, "engineer");
  std::string out = tr("agent.control.code_head") + "\n\n";
  out += "        " + terminal_safe(str(result, "code")) + "\n\n";
  std::vector<std::vector<std::string>> table = {
      {tr("agent.control.code.scopes"), scopes_text(result.value("scopes", json::array()))},
      {tr("agent.control.code.minutes"),
       tr("agent.control.code.minutes_value", terminal_safe(str(result, "minutes")))},
      {tr("agent.control.code.engineer"),
       engineer.empty() ? tr("agent.control.code.anyone") : terminal_safe(engineer)},
      {tr("agent.control.code.use_before"),
       until_text(str(result, "expires_at"), std::nullopt, now)}};
  out += render_table(table) + "\n";
  return out + tr("agent.control.code_once") + "\n";
}

std::string render_sessions(const json& result, SystemTime now, bool closed) {
  const json& sessions = list(result, "sessions");
  if (sessions.empty()) {
    return tr(closed ? "agent.control.no_sessions_at_all" : "agent.control.no_sessions") + "\n";
  }
  std::vector<std::vector<std::string>> table = {
      {tr("agent.control.col.session"), tr("agent.control.col.state"),
       tr("agent.control.col.ticket"), tr("agent.control.col.engineers"),
       tr("agent.control.col.scopes"), tr("agent.control.col.until"),
       tr("agent.control.col.connections"), tr("agent.control.col.approved_by")}};
  for (const auto& s : sessions) {
    std::string engineers;
    for (const auto& e : list(s, "engineers")) {
      engineers += (engineers.empty() ? "" : ", ") + engineer_text(e);
    }
    const std::string state = str(s, "state");
    // Only an active grant has time left; for the others it is when it ended.
    const std::string until = state == "active"
                                  ? until_text(str(s, "expires_at"), integer(s, "remaining_s"), now)
                                  : local_minute(str(s, "expires_at"));
    table.push_back({terminal_safe(str(s, "session_id")), word("agent.control.state.", state),
                     safe_cell(str(s, "ticket")), fit_width(engineers, kMaxCellWidth),
                     scopes_text(s.value("scopes", json::array())), until,
                     terminal_safe(str(s, "connections")), safe_cell(str(s, "approved_by"))});
  }
  return render_table(table);
}

std::string render_revoked(const json& result) {
  const json& revoked = list(result, "revoked");
  if (revoked.empty()) return tr("agent.control.revoked_none") + "\n";
  std::string out = tr("agent.control.revoked", revoked.size()) + "\n";
  for (const auto& id : revoked) {
    out += "  " + terminal_safe(id.is_string() ? id.get<std::string>() : id.dump()) + "\n";
  }
  return out;
}

// ---------------------------------------------------------------------------
// Command line

struct AdminCommands::Options {
  CLI::App* requests = nullptr;
  CLI::App* approve = nullptr;
  CLI::App* deny = nullptr;
  CLI::App* grant_code = nullptr;
  CLI::App* sessions = nullptr;
  CLI::App* revoke = nullptr;
  CLI::Option* minutes_opt = nullptr;
  CLI::Option* code_minutes_opt = nullptr;
  std::string id;
  int minutes = 0;
  std::string scopes;
  std::string reason;
  std::string engineer;
  bool closed = false;
  bool all = false;
};

namespace {

// The request for the chosen command, or a usage error.
// (Options is private to AdminCommands, hence the auto.)
Result<std::pair<std::string, json>> build_request(const auto& o) {
  if (o.requests->parsed()) return std::pair<std::string, json>("requests", json::object());
  if (o.sessions->parsed()) return std::pair<std::string, json>("sessions", {{"closed", o.closed}});
  if (o.approve->parsed()) {
    json args = {{"request_id", o.id}};
    if (o.minutes_opt->count() > 0) {
      if (auto r = check_minutes_option(o.minutes); !r) return r.error();
      args["minutes"] = o.minutes;
    }
    if (!o.scopes.empty()) {
      auto scopes = parse_scopes_option(o.scopes);
      if (!scopes) return scopes.error();
      args["scopes"] = *scopes;
    }
    return std::pair<std::string, json>("approve", std::move(args));
  }
  if (o.deny->parsed()) {
    if (o.reason.find_first_not_of(" \t") == std::string::npos) {
      return make_error(tr("agent.control.deny_needs_reason"), "usage");
    }
    return std::pair<std::string, json>("deny", {{"request_id", o.id}, {"reason", o.reason}});
  }
  if (o.grant_code->parsed()) {
    if (o.scopes.empty() || o.code_minutes_opt->count() == 0) {
      return make_error(tr("agent.control.code_needs"), "usage");
    }
    auto scopes = parse_scopes_option(o.scopes);
    if (!scopes) return scopes.error();
    if (auto r = check_minutes_option(o.minutes); !r) return r.error();
    json args = {{"scopes", *scopes}, {"minutes", o.minutes}};
    if (!o.engineer.empty()) args["engineer"] = o.engineer;
    return std::pair<std::string, json>("grant-code", std::move(args));
  }
  if (o.id.empty() == !o.all) return make_error(tr("agent.control.revoke_needs"), "usage");
  return std::pair<std::string, json>("revoke",
                                      o.all ? json{{"all", true}} : json{{"session_id", o.id}});
}

}  // namespace

AdminCommands::AdminCommands(CLI::App& app) : o_(std::make_unique<Options>()) {
  Options& o = *o_;
  o.requests = app.add_subcommand("requests", tr("agent.control.requests_about"));
  o.approve = app.add_subcommand("approve", tr("agent.control.approve_about"));
  o.approve->add_option("request", o.id, tr("agent.control.opt_request"))->required();
  o.minutes_opt = o.approve->add_option("--minutes", o.minutes, tr("agent.control.opt_minutes"));
  o.approve->add_option("--scopes", o.scopes, tr("agent.control.opt_scopes"));
  o.deny = app.add_subcommand("deny", tr("agent.control.deny_about"));
  o.deny->add_option("request", o.id, tr("agent.control.opt_request"))->required();
  o.deny->add_option("--reason", o.reason, tr("agent.control.opt_reason"));
  o.grant_code = app.add_subcommand("grant-code", tr("agent.control.grant_code_about"));
  o.grant_code->add_option("--scopes", o.scopes, tr("agent.control.opt_code_scopes"));
  o.code_minutes_opt =
      o.grant_code->add_option("--minutes", o.minutes, tr("agent.control.opt_code_minutes"));
  o.grant_code->add_option("--engineer", o.engineer, tr("agent.control.opt_engineer"));
  o.sessions = app.add_subcommand("sessions", tr("agent.control.sessions_about"));
  o.sessions->add_flag("--closed", o.closed, tr("agent.control.opt_closed"));
  o.revoke = app.add_subcommand("revoke", tr("agent.control.revoke_about"));
  o.revoke->add_option("session", o.id, tr("agent.control.opt_session"));
  o.revoke->add_flag("--all", o.all, tr("agent.control.opt_all"));
}

AdminCommands::~AdminCommands() = default;

bool AdminCommands::parsed() const {
  const Options& o = *o_;
  return o.requests->parsed() || o.approve->parsed() || o.deny->parsed() ||
         o.grant_code->parsed() || o.sessions->parsed() || o.revoke->parsed();
}

int AdminCommands::run(const std::function<Result<AgentConfig>()>& resolve, bool as_json) const {
  const Options& o = *o_;
  auto request = build_request(o);
  if (!request) return fail(request.error().message, kExitUsage);
  auto cfg = resolve();
  if (!cfg) return fail(cfg.error().message, kExitFailed);
  const ControlTarget target{cfg->control_socket, cfg->admin_group};
  auto answer = control_call(target, request->first, request->second);
  if (!answer) {
    return fail(answer.error().message,
                answer.error().reason == "access" ? kExitRefused : kExitFailed);
  }
  const int code = admin_exit_code(*answer);
  if (code != kExitOk) {
    const json& err = (*answer)["error"];
    const std::string message = str(err, "message");
    return fail(terminal_safe(message.empty() ? str(err, "reason") : message), code);
  }
  const json& result = (*answer)["result"];
  if (as_json) {
    std::cout << result.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  const auto now = std::chrono::system_clock::now();
  const std::string& cmd = request->first;
  if (cmd == "requests") std::cout << render_requests(result, now);
  if (cmd == "approve") std::cout << render_approved(result, now);
  if (cmd == "deny") std::cout << render_denied(result);
  if (cmd == "grant-code") std::cout << render_code(result, now);
  if (cmd == "sessions") std::cout << render_sessions(result, now, o.closed);
  if (cmd == "revoke") std::cout << render_revoked(result);
  return kExitOk;
}

}  // namespace rdiag::agent
