#include "console/consent_commands.h"

#include <algorithm>
#include <array>
#include <ctime>
#include <optional>
#include <ostream>

#include "common/i18n.h"
#include "common/records/chain.h"
#include "common/records/event.h"
#include "common/records/ledger.h"
#include "common/text_safety.h"
#include "console/exit_codes.h"
#include "console/site_session.h"
#include "console/sites.h"
#include "console/terminal.h"

namespace rdiag::console {
namespace {

using nlohmann::json;
using rdiag::i18n::tr;
using Clock = std::chrono::steady_clock;

constexpr std::array<std::string_view, 9> kStates = {"pending", "approved", "denied",
                                                     "expired", "extended", "joined",
                                                     "revoked", "closed",   "grant_expired"};

std::string string_field(const json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string scopes_text(const json& obj) {
  std::string out;
  auto it = obj.find("scopes");
  if (it == obj.end() || !it->is_array()) return out;
  for (const auto& s : *it) {
    if (s.is_string()) out += (out.empty() ? "" : ",") + terminal_safe(s.get<std::string>());
  }
  return out;
}

// approved_by: an actor word ("customer:li", "policy:weekday") or an object
// describing the approver; either way only text that is safe to show.
std::string approver_text(const json& v) {
  if (v.is_string()) return terminal_safe(v.get<std::string>());
  if (!v.is_object()) return {};
  for (const char* key : {"actor", "name", "user", "sudo_user"}) {
    if (auto text = string_field(v, key); !text.empty()) return terminal_safe(text);
  }
  return terminal_safe(v.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string engineer_text(const json& e) {
  std::string out = terminal_safe(string_field(e, "name"));
  std::string extra = terminal_safe(string_field(e, "id"));
  if (auto role = string_field(e, "role"); !role.empty()) {
    extra += (extra.empty() ? "" : ", ") + terminal_safe(role);
  }
  if (!extra.empty()) out += (out.empty() ? "(" : " (") + extra + ")";
  auto fp = terminal_safe(string_field(e, "fingerprint"));
  if (!fp.empty()) out += (out.empty() ? "" : " ") + fp;
  return out;
}

std::string engineers_text(const json& grant) {
  std::string out;
  auto it = grant.find("engineers");
  if (it == grant.end() || !it->is_array()) return out;
  for (const auto& e : *it) out += (out.empty() ? "" : "; ") + engineer_text(e);
  return out;
}

std::string expiry_text(const json& grant) {
  std::string when = local_time_text(string_field(grant, "expires_at"));
  auto left = grant.find("remaining_s");
  if (left == grant.end() || !left->is_number_integer()) return when;
  const std::int64_t s = std::max<std::int64_t>(0, left->get<std::int64_t>());
  return tr("console.consent.remaining", when, (s + 59) / 60);
}

std::string requests_table(const json& requests) {
  std::vector<std::vector<std::string>> rows = {
      {tr("console.consent.col.request"), tr("console.consent.col.kind"),
       tr("console.consent.col.state"), tr("console.consent.col.ticket"),
       tr("console.consent.col.scopes"), tr("console.consent.col.minutes"),
       tr("console.consent.col.created")}};
  for (const auto& r : requests) {
    auto minutes = r.find("minutes");
    rows.push_back({terminal_safe(string_field(r, "request_id")),
                    terminal_safe(string_field(r, "kind")), state_text(string_field(r, "state")),
                    terminal_safe(string_field(r, "ticket")), scopes_text(r),
                    minutes != r.end() && minutes->is_number_integer()
                        ? std::to_string(minutes->get<std::int64_t>())
                        : std::string(),
                    local_time_text(string_field(r, "created_at"))});
  }
  return render_table(rows);
}

}  // namespace

std::string local_time_text(std::string_view ts) {
  const auto tp = records::parse_ts(ts);
  if (!tp) return terminal_safe(ts);
  const std::time_t t = std::chrono::system_clock::to_time_t(*tp);
  std::tm local{};
  if (::localtime_r(&t, &local) == nullptr) return terminal_safe(ts);
  std::array<char, 64> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%d %H:%M %Z", &local);
  return terminal_safe(std::string_view(buf.data(), n));
}

std::string elapsed_text(std::chrono::seconds elapsed) {
  const auto s = std::max<std::int64_t>(0, elapsed.count());
  std::string sec = std::to_string(s % 60);
  return std::to_string(s / 60) + ":" + (sec.size() < 2 ? "0" : "") + sec;
}

std::string state_text(std::string_view state) {
  if (std::find(kStates.begin(), kStates.end(), state) == kStates.end()) {
    return terminal_safe(state);
  }
  return tr("console.consent.state." + std::string(state));
}

std::string render_status(const json& status) {
  std::string out;
  const json* grant = status.is_object() && status.contains("grant") ? &status["grant"] : nullptr;
  if (grant != nullptr && grant->is_object()) {
    std::vector<std::pair<std::string, std::string>> fields = {
        {tr("console.consent.field.session"), terminal_safe(string_field(*grant, "session_id")) +
                                                  " (" + state_text(string_field(*grant, "state")) +
                                                  ")"},
        {tr("console.consent.field.ticket"), terminal_safe(string_field(*grant, "ticket"))},
        {tr("console.consent.field.scopes"), scopes_text(*grant)},
        {tr("console.consent.field.engineers"), engineers_text(*grant)},
        {tr("console.consent.field.expires"), expiry_text(*grant)}};
    if (auto prev = string_field(*grant, "prev_session"); !prev.empty()) {
      fields.emplace_back(tr("console.consent.field.prev_session"), terminal_safe(prev));
    }
    out += tr("console.consent.status.grant") + "\n" + render_fields(fields);
  } else {
    out += tr("console.consent.status.no_grant") + "\n";
  }
  const json* requests =
      status.is_object() && status.contains("requests") ? &status["requests"] : nullptr;
  if (requests != nullptr && requests->is_array() && !requests->empty()) {
    out +=
        tr("console.consent.status.pending", requests->size()) + "\n" + requests_table(*requests);
  } else {
    out += tr("console.consent.status.no_requests") + "\n";
  }
  return out;
}

std::string render_approved(const json& result, Command command) {
  std::string session = string_field(result, "session_id");
  if (session.empty()) session = string_field(result, "request_id");
  const char* heading = command == Command::kExtend ? "console.consent.approved_extend"
                        : command == Command::kJoin ? "console.consent.approved_join"
                                                    : "console.consent.approved";
  std::vector<std::pair<std::string, std::string>> fields = {
      {tr("console.consent.field.session"), terminal_safe(session)},
      {tr("console.consent.field.scopes"), scopes_text(result)},
      {tr("console.consent.field.until"), local_time_text(string_field(result, "expires_at"))}};
  if (auto it = result.find("approved_by"); it != result.end()) {
    if (auto who = approver_text(*it); !who.empty()) {
      fields.emplace_back(tr("console.consent.field.approved_by"), who);
    }
  }
  return tr(heading, terminal_safe(session)) + "\n" + render_fields(fields);
}

std::string notified_state(const json& notification, std::string_view id) {
  if (string_field(notification, "method") != "session.state") return {};
  auto params = notification.find("params");
  if (params == notification.end() || !params->is_object()) return {};
  auto request = string_field(*params, "request_id");
  bool ours = request.empty() ? string_field(*params, "session_id") == id : request == id;
  return ours ? string_field(*params, "state") : std::string();
}

namespace {

constexpr int kWaitTimeoutS = 30;
// The agent holds session.wait for up to timeout_s; our call must outlast it.
constexpr std::chrono::seconds kWaitCallTimeout{40};
// Without a terminal the waiting line is a log line: one now, one a minute.
constexpr std::chrono::seconds kPlainEvery{60};
// Request ids are session ids, or "<session id>.x<N>" / ".j<N>".
constexpr std::size_t kMaxRequestId = 64;

// Tells the engineer we are still waiting: one line redrawn in place on a
// terminal, else a plain line at the start and every minute.
class WaitLine {
 public:
  WaitLine(Context& ctx, std::string id)
      : ctx_(ctx), id_(std::move(id)), started_(Clock::now()), last_plain_(started_) {
    if (ctx_.err_is_terminal) {
      redraw();
    } else {
      plain();
    }
  }
  ~WaitLine() {
    if (drawn_) ctx_.err << "\r\x1b[K" << std::flush;
  }
  WaitLine(const WaitLine&) = delete;
  WaitLine& operator=(const WaitLine&) = delete;

  void set_state(const std::string& state) {
    if (state.empty() || state == state_) return;
    state_ = state;
    if (ctx_.err_is_terminal) redraw();
  }
  void tick() {
    if (ctx_.err_is_terminal) {
      redraw();
    } else if (Clock::now() - last_plain_ >= kPlainEvery) {
      plain();
    }
  }

 private:
  std::string elapsed() const {
    return elapsed_text(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_));
  }
  void redraw() {
    ctx_.err << "\r\x1b[K" << tr("console.consent.waiting_live", id_, state_text(state_), elapsed())
             << std::flush;
    drawn_ = true;
  }
  void plain() {
    ctx_.err << tr("console.consent.waiting", id_, state_text(state_), elapsed()) << std::endl;
    last_plain_ = Clock::now();
  }

  Context& ctx_;
  std::string id_;  // terminal-safe
  std::string state_ = "pending";
  Clock::time_point started_;
  Clock::time_point last_plain_;
  bool drawn_ = false;
};

// Stops an SshClient's observer when the objects it points at go away.
struct ObserverReset {
  SshClient& client;
  ~ObserverReset() { client.set_observer({}); }
};

class ConsentRun {
 public:
  ConsentRun(const Invocation& inv, Context& ctx, SshClient& client)
      : inv_(inv), c_(inv.consent), ctx_(ctx), client_(client), site_(terminal_safe(inv.name)) {}

  int request() {
    json params = {{"ticket", c_.ticket},
                   {"reason", c_.reason},
                   {"scopes", c_.scopes},
                   {"minutes", c_.minutes}};
    if (!c_.code.empty()) params["code"] = c_.code;
    return ask("session.request", params, !c_.no_wait);
  }
  int extend() {
    return ask("session.extend", {{"minutes", c_.minutes}, {"reason", c_.reason}}, true);
  }
  int join() {
    return ask("session.join", {{"session_id", c_.session_id}, {"reason", c_.reason}}, true);
  }
  int status() {
    auto r = client_.call("session.status", json::object());
    if (!r) return refused(r.error());
    if (!r->is_object()) return refused(bad_answer("session.status"));
    if (ctx_.global.json) {
      print_json(*r);
    } else {
      ctx_.out << render_status(*r);
    }
    return kExitOk;
  }
  int close();

 private:
  int ask(const char* method, const json& params, bool wait);
  Result<json> wait_for(const std::string& id, bool show);
  int finish(const json& result, const std::string& id);

  Error bad_answer(const char* method) const {
    return make_error(tr("console.consent.bad_answer", client_.endpoint(), method), "bad_response");
  }
  int refused(const Error& e) {
    ctx_.err << "rdiag: " << e.message << "\n";
    return consent_exit_code(e, client_.last_rpc_code());
  }
  // One line, as scripts read it; escaped to ASCII on a terminal.
  void print_json(const json& doc) {
    ctx_.out << doc.dump(-1, ' ', ctx_.out_is_terminal, json::error_handler_t::replace) << "\n";
  }

  const Invocation& inv_;
  const ConsentOptions& c_;
  Context& ctx_;
  SshClient& client_;
  std::string site_;  // terminal-safe
};

// Sends a request, extension or join, then (wait) waits for the decision.
int ConsentRun::ask(const char* method, const json& params, bool wait) {
  auto r = client_.call(method, params);
  if (!r) return refused(r.error());
  const std::string id = string_field(*r, "request_id");
  if (id.empty() || id.size() > kMaxRequestId) return refused(bad_answer(method));
  if (!wait) {
    if (ctx_.global.json) {
      print_json(*r);
    } else {
      ctx_.out << tr("console.consent.requested", terminal_safe(id),
                     state_text(string_field(*r, "state")), site_)
               << "\n";
    }
    return kExitOk;
  }
  // Approved at once (a code, a policy rule): one session.wait fetches the
  // whole answer, with nobody to wait for.
  auto result = wait_for(id, string_field(*r, "state") == "pending");
  if (!result) {
    int code = refused(result.error());
    ctx_.err << tr("console.consent.wait_lost", terminal_safe(id), site_) << "\n";
    return code;
  }
  return finish(*result, id);
}

// session.wait until the state is no longer "pending". The agent ends a
// request that nobody answers (expired), so this loop ends too. With `show`,
// the engineer sees that we wait and how customer IT answers.
Result<json> ConsentRun::wait_for(const std::string& id, bool show) {
  std::optional<WaitLine> line;
  if (show) {
    ctx_.err << tr("console.consent.ask_it", terminal_safe(id)) << "\n";
    line.emplace(ctx_, terminal_safe(id));
    client_.set_observer({[&line, &id](const json& n) { line->set_state(notified_state(n, id)); },
                          [&line] { line->tick(); }});
  }
  ObserverReset reset{client_};
  const json params = {{"request_id", id}, {"timeout_s", kWaitTimeoutS}};
  for (;;) {
    auto r = client_.call("session.wait", params, kWaitCallTimeout);
    if (!r) return r;
    const std::string state = string_field(*r, "state");
    if (state.empty()) return bad_answer("session.wait");
    if (state != "pending") return r;
  }
}

int ConsentRun::finish(const json& result, const std::string& id) {
  if (ctx_.global.json) print_json(result);
  const std::string state = string_field(result, "state");
  const std::string safe_id = terminal_safe(id);
  if (state == "approved") {
    if (!ctx_.global.json) ctx_.out << render_approved(result, inv_.command);
    return kExitOk;
  }
  if (state == "denied") {
    const std::string reason = string_field(result, "reason");
    ctx_.err << "rdiag: "
             << (reason.empty() ? tr("console.consent.denied_no_reason", safe_id)
                                : tr("console.consent.denied", safe_id, terminal_safe(reason)))
             << "\n";
    return kExitRefused;
  }
  if (state == "expired") {
    ctx_.err << "rdiag: " << tr("console.consent.expired", safe_id, site_) << "\n";
    return kExitRefused;
  }
  return refused(bad_answer("session.wait"));
}

int ConsentRun::close() {
  json params = {{"outcome", c_.outcome}};
  auto given = [](const std::string& s) {
    return s.find_first_not_of(" \t\r\n") != std::string::npos;
  };
  if (given(c_.cause)) params["cause"] = c_.cause;
  if (given(c_.solution)) params["solution"] = c_.solution;
  auto r = client_.call("session.close", params);
  if (!r) return refused(r.error());
  const std::string session = string_field(*r, "session_id");
  auto seq = r->is_object() ? r->find("last_seq") : r->end();
  if (session.empty() || seq == r->end() || !seq->is_number_integer()) {
    return refused(bad_answer("session.close"));
  }
  if (ctx_.global.json) {
    print_json(*r);
    return kExitOk;
  }
  ctx_.out << tr("console.consent.closed", terminal_safe(session)) << "\n"
           << render_fields(
                  {{tr("console.consent.field.last_seq"), std::to_string(seq->get<std::int64_t>())},
                   {tr("console.consent.field.last_hash"),
                    terminal_safe(string_field(*r, "last_hash"))}});
  return kExitOk;
}

}  // namespace

int run_consent(const Invocation& inv, Context& ctx) {
  auto fail = [&ctx](const Error& e, int rpc_code = 0) {
    ctx.err << "rdiag: " << e.message << "\n";
    return exit_code_for(e, rpc_code);
  };
  auto list = load_sites(ctx.data_dir);
  if (!list) return fail(list.error());
  const Site* site = list->find(inv.name);
  if (site == nullptr) {
    return fail(make_error(tr("console.sites.unknown", terminal_safe(inv.name)), "not_found"));
  }
  SiteSession session(ctx, *site);
  if (auto r = session.open(); !r) return fail(r.error(), session.last_rpc_code());
  ConsentRun run(inv, ctx, session.client());
  switch (inv.command) {
    case Command::kRequest:
      return run.request();
    case Command::kSession:
      return run.status();
    case Command::kExtend:
      return run.extend();
    case Command::kJoin:
      return run.join();
    case Command::kClose:
      return run.close();
    default:
      return kExitUsage;
  }
}

}  // namespace rdiag::console
