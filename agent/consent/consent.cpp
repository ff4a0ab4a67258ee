#include "agent/consent/consent.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <ctime>

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
namespace {

using json = nlohmann::json;
using namespace rpcp;  // NOLINT(google-build-using-namespace): the method toolkit
using i18n::tr;

constexpr std::string_view kGrantsFile = "grants.json";
constexpr std::string_view kCodesFile = "codes.json";
constexpr std::size_t kMaxStateBytes = std::size_t{4} << 20;
constexpr std::chrono::hours kRateWindow{1};
constexpr int kMaxWaitSeconds = 60;
constexpr int kDefaultWaitSeconds = 30;
constexpr std::array<std::string_view, 4> kOutcomes = {"resolved", "escalated", "onsite",
                                                       "unresolved"};

std::string read_boot_id() {
  ReadFileHooks hooks;
  hooks.io_error = [](int err) { return make_error(errno_text(err)); };
  hooks.too_big = [] { return make_error("too big"); };
  auto text = read_file_bounded("/proc/sys/kernel/random/boot_id", 128, hooks);
  if (!text) return "unknown";
  std::string id = *text;
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

std::string wall_in(BootClock::duration d) {
  return records::format_ts(std::chrono::system_clock::now() +
                            std::chrono::duration_cast<std::chrono::system_clock::duration>(d));
}

std::string_view kind_word(Kind k) {
  switch (k) {
    case Kind::kRequest:
      return "request";
    case Kind::kExtend:
      return "extend";
    case Kind::kJoin:
      return "join";
  }
  return "request";
}

json engineer_json(const EngineerRef& e) {
  return {{"fingerprint", e.fingerprint}, {"name", e.name}, {"id", e.id}, {"role", e.role}};
}

EngineerRef engineer_from(const json& j) {
  return {j.value("fingerprint", ""), j.value("name", ""), j.value("id", ""),
          j.value("role", "engineer")};
}

std::string actor_of(const EngineerRef& e) {
  return "engineer:" + e.fingerprint;
}

bool has(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Scopes in DESIGN's order, each once.
std::vector<std::string> ordered(const std::vector<std::string>& scopes) {
  std::vector<std::string> out;
  for (auto s : kScopes) {
    if (has(scopes, s)) out.emplace_back(s);
  }
  return out;
}

std::string joined_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ",") + w;
  return out;
}

std::int64_t seconds_left(BootClock::time_point deadline, BootClock::time_point now) {
  return std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::seconds>(deadline - now).count());
}

json recording_failed() {
  return fail(rpc::kRecordingFailed, "recording_failed", tr("agent.rpc.recording_failed"));
}

// An answer for the control socket: {"error": {"reason", "message"}}.
json control_error(std::string_view reason, std::string message) {
  return {{"error", {{"reason", reason}, {"message", std::move(message)}}}};
}

}  // namespace

EngineerRef engineer_ref(const Engineer& e) {
  return {e.fingerprint, e.name, e.id, e.role};
}

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

  json grants_json() const {
    json out = json::array();
    for (const auto& [id, g] : grants) {
      json engineers = json::array();
      for (const auto& e : g.engineers) engineers.push_back(engineer_json(e));
      out.push_back({{"session_id", g.session_id},
                     {"ticket", g.ticket},
                     {"scopes", g.scopes},
                     {"engineers", std::move(engineers)},
                     {"expires_boot_ns", boot_ns(g.expires)},
                     {"expires_at", g.expires_at},
                     {"approved_by", g.approved_by},
                     {"prev_session", g.prev_session},
                     {"extensions", g.extensions},
                     {"joins", g.joins},
                     {"asked_extensions", g.asked_extensions},
                     {"asked_joins", g.asked_joins}});
    }
    return out;
  }

  Result<void> save_grants() {
    json recent_json = json::array();
    for (const auto& [fp, times] : recent) {
      json t = json::array();
      for (auto tp : times) t.push_back(boot_ns(tp));
      recent_json.push_back({{"fingerprint", fp}, {"times_boot_ns", std::move(t)}});
    }
    const json doc = {
        {"v", 1}, {"boot_id", boot}, {"grants", grants_json()}, {"recent", std::move(recent_json)}};
    return write_state(grants_path, doc.dump() + "\n");
  }

  Result<void> save_codes() {
    if (!codes) return {};
    return write_state(codes_path, codes->to_json(boot).dump() + "\n");
  }

  static Result<void> write_state(const std::string& path, const std::string& text) {
    if (const int err = write_file_atomic(path, text, 0600, IfExists::kReplace); err != 0) {
      return make_error(path + ": " + errno_text(err), "recording_failed");
    }
    if (const int err = fsync_parent_dir(path); err != 0) {
      return make_error(path + ": " + errno_text(err), "recording_failed");
    }
    return {};
  }

  static Result<std::optional<std::string>> read_state(const std::string& path) {
    ReadFileHooks hooks;
    bool missing = false;
    hooks.io_error = [&](int err) {
      missing = err == ENOENT;
      return make_error(path + ": " + errno_text(err));
    };
    hooks.too_big = [&] { return make_error(path + ": too big"); };
    auto text = read_file_bounded(path, kMaxStateBytes, hooks);
    if (!text) {
      if (missing) return std::optional<std::string>();
      return text.error();
    }
    return std::optional<std::string>(std::move(*text));
  }

  Result<void> load() {
    auto codes_text = read_state(codes_path);
    if (!codes_text) return codes_text.error();
    if (*codes_text) {
      auto book = CodeBook::from_json(**codes_text, boot);
      if (!book) return make_error(tr("consent.flow.state_bad", codes_path, book.error().message));
      codes = std::move(*book);
    }
    auto text = read_state(grants_path);
    if (!text) return text.error();
    if (!*text) return {};
    const json doc = json::parse(**text, nullptr, false);
    std::vector<Grant> saved;
    bool same_boot = false;
    try {
      if (!doc.is_object() || doc.value("v", 0) != 1 || !doc.contains("grants") ||
          !doc["grants"].is_array()) {
        return make_error(
            tr("consent.flow.state_bad", grants_path, "not a grants file of version 1"));
      }
      same_boot = doc.value("boot_id", "") == boot;
      for (const auto& j : doc["grants"]) {
        Grant g;
        g.session_id = j.at("session_id").get<std::string>();
        g.ticket = j.at("ticket").get<std::string>();
        g.scopes = j.at("scopes").get<std::vector<std::string>>();
        for (const auto& e : j.at("engineers")) g.engineers.push_back(engineer_from(e));
        g.expires = from_boot_ns(j.at("expires_boot_ns").get<std::int64_t>());
        g.expires_at = j.at("expires_at").get<std::string>();
        g.approved_by = j.at("approved_by").get<std::string>();
        g.prev_session = j.value("prev_session", "");
        g.extensions = j.value("extensions", 0);
        g.joins = j.value("joins", 0);
        g.asked_extensions = j.value("asked_extensions", g.extensions);
        g.asked_joins = j.value("asked_joins", g.joins);
        if (g.engineers.empty()) throw std::runtime_error("a grant without engineers");
        saved.push_back(std::move(g));
      }
      if (same_boot && doc.contains("recent")) {
        for (const auto& r : doc["recent"]) {
          auto& times = recent[r.at("fingerprint").get<std::string>()];
          for (const auto& t : r.at("times_boot_ns"))
            times.push_back(from_boot_ns(t.get<std::int64_t>()));
        }
      }
    } catch (const std::exception& e) {
      return make_error(tr("consent.flow.state_bad", grants_path, e.what()));
    }
    const auto now = BootClock::now();
    for (auto& g : saved) {
      // After a reboot the deadlines mean nothing: such grants end (fail
      // closed). A grant whose record says it ended (a revocation or close
      // whose grants.json update was lost) stays ended.
      if (!same_boot || g.expires <= now || ended_on_record(g.session_id)) {
        log_info("consent.flow.grant_not_resumed", g.session_id,
                 same_boot ? "expired" : "the machine restarted");
        continue;
      }
      continue_grant(std::move(g), now);
    }
    return save_grants();
  }

  // Whether the session's record ended the grant itself: anything terminal
  // but the interruption the store's recovery wrote.
  bool ended_on_record(const std::string& session_id) const {
    ReadFileHooks hooks;
    hooks.io_error = [](int err) { return make_error(errno_text(err)); };
    hooks.too_big = [] { return make_error("too big"); };
    auto text = read_file_bounded(store.session_dir(session_id) + "/events.jsonl",
                                  records::kMaxEventsFileBytes, hooks);
    if (!text) return true;  // nothing to continue from: fail closed
    bool ended = false;
    records::for_each_line(*text, [&](std::size_t, std::string_view line, std::size_t) {
      const json e = json::parse(line, nullptr, false);
      if (!e.is_object() || !e.contains("type") || !e["type"].is_string()) return;
      const auto& type = e["type"].get_ref<const std::string&>();
      const json data = e.contains("data") ? e["data"] : json::object();
      if (type != "session.interrupted" && records::ends_session(type, data)) ended = true;
    });
    return ended;
  }

  // The old session was sealed session.interrupted by the store's recovery;
  // the grant goes on in a new one that names it.
  void continue_grant(Grant g, BootClock::time_point now) {
    const std::string prev = g.session_id;
    const EngineerRef& owner = g.engineers.front();
    const auto minutes = (seconds_left(g.expires, now) + 59) / 60;
    json data = {{"kind", "request"},
                 {"ticket", g.ticket},
                 {"reason", "continues " + prev + " after an agent restart"},
                 {"scopes", g.scopes},
                 {"minutes", minutes},
                 {"engineer", {{"name", owner.name}, {"id", owner.id}, {"role", owner.role}}},
                 {"prev_session", prev}};
    // The record belongs to the engineer who asked for the grant, so that
    // record.get serves it to them later as their own.
    auto opened = store.open_session("request.created", actor_of(owner), std::move(data));
    if (!opened) {
      log_error("consent.flow.grant_not_resumed", prev, opened.error().message);
      return;
    }
    g.session_id = opened->session_id;
    g.prev_session = prev;
    json engineers = json::array();
    for (const auto& e : g.engineers) engineers.push_back(engineer_json(e));
    auto approved = store.append(g.session_id, "request.approved", "agent",
                                 {{"request_id", g.session_id},
                                  {"kind", "request"},
                                  {"scopes", g.scopes},
                                  {"minutes", minutes},
                                  {"expires_at", g.expires_at},
                                  {"prev_session", prev},
                                  {"approved_by", g.approved_by},
                                  {"engineers", std::move(engineers)}});
    if (!approved) {
      log_error("consent.flow.grant_not_resumed", prev, approved.error().message);
      return;
    }
    log_info("consent.flow.grant_resumed", prev, g.session_id);
    grants.emplace(g.session_id, std::move(g));
  }

  // --- lookups ---

  Grant* grant_of(const std::string& fp) {
    for (auto& [id, g] : grants) {
      for (const auto& e : g.engineers) {
        if (e.fingerprint == fp) return &g;
      }
    }
    return nullptr;
  }

  Request* find_request(const std::string& id) {
    for (auto& r : requests) {
      if (r.id == id) return &r;
    }
    return nullptr;
  }

  int pending_of(const std::string& fp) const {
    return static_cast<int>(std::count_if(requests.begin(), requests.end(), [&](const Request& r) {
      return r.state == "pending" && r.engineer.fingerprint == fp;
    }));
  }

  void notice(std::vector<std::string> fps, json params, bool end = false) {
    notices.push_back(Notice{std::move(fps), std::move(params), end});
  }

  static std::vector<std::string> fingerprints(const Grant& g) {
    std::vector<std::string> out;
    for (const auto& e : g.engineers) out.push_back(e.fingerprint);
    return out;
  }

  json request_json(const Request& r) const {
    json j = {{"request_id", r.id},
              {"kind", kind_word(r.kind)},
              {"state", r.state},
              {"session_id", r.session_id},
              {"ticket", r.ticket},
              {"reason", r.reason},
              {"scopes", r.scopes},
              {"minutes", r.minutes},
              {"engineer", engineer_json(r.engineer)},
              {"peer", r.peer},
              {"created_at", r.created_at}};
    return j;
  }

  json wait_answer(const Request& r) const {
    json j = {{"request_id", r.id}, {"state", r.state},     {"session_id", r.session_id},
              {"scopes", r.scopes}, {"minutes", r.minutes}, {"kind", kind_word(r.kind)}};
    if (!r.expires_at.empty()) j["expires_at"] = r.expires_at;
    if (!r.approved_by.empty()) j["approved_by"] = r.approved_by;
    if (!r.deny_reason.empty()) j["reason"] = r.deny_reason;
    return j;
  }

  json grant_json(const Grant& g, const std::map<std::string, int>* connections) const {
    json engineers = json::array();
    for (const auto& e : g.engineers) engineers.push_back(engineer_json(e));
    json j = {{"session_id", g.session_id},
              {"state", "active"},
              {"ticket", g.ticket},
              {"scopes", g.scopes},
              {"expires_at", g.expires_at},
              {"remaining_s", seconds_left(g.expires, BootClock::now())},
              {"engineers", std::move(engineers)},
              {"approved_by", g.approved_by}};
    if (!g.prev_session.empty()) j["prev_session"] = g.prev_session;
    if (connections != nullptr) {
      int n = 0;
      for (const auto& e : g.engineers) {
        auto it = connections->find(e.fingerprint);
        if (it != connections->end()) n += it->second;
      }
      j["connections"] = n;
    }
    return j;
  }

  // --- steps ---

  std::optional<json> refuse_new_request(const EngineerRef& who) {
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
  Result<void> approve(Request& r, std::vector<std::string> scopes, int minutes,
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
        data["expires_at"] = records::format_ts(
            std::chrono::system_clock::now() + std::chrono::seconds(seconds_left(g->expires, now)) +
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
  Result<void> decline(Request& r, const std::string& type, const std::string& actor, json data,
                       const std::string& reason, bool force = false) {
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
    notice({r.engineer.fingerprint}, {{"request_id", r.id},
                                      {"session_id", r.session_id},
                                      {"state", r.state},
                                      {"reason", reason}});
    return {};
  }

  void seal(const std::string& session_id) {
    if (auto s = store.seal(session_id); !s) {
      log_error("consent.flow.not_sealed", session_id, s.error().message);
    }
  }

  // Ends a grant for everyone on it. Revocation and expiry must happen even
  // when they cannot be recorded: the grant goes first, the log says what
  // could not be written.
  void end_grant(Grant& g, const std::string& type, const std::string& actor, json data,
                 const std::string& state) {
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

  void start_notify(const Request& r) {
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

  void record_notify_failure(const std::string& request_id, const std::string& why) {
    log_warn("consent.flow.notify_failed", request_id, why);
    const Request* r = find_request(request_id);
    // A sealed record takes no more events for this; the log has it.
    if (r == nullptr || (r->state != "pending" && grants.count(r->session_id) == 0)) return;
    // Never blocks the request: the failure is recorded, the request waits on.
    auto recorded = store.append(r->session_id, "notify.failed", "agent",
                                 {{"request_id", request_id}, {"why", why}});
    if (!recorded) log_error("consent.flow.not_recorded", request_id, recorded.error().message);
  }

  Request make_request(Kind kind, const EngineerRef& who, const std::string& peer) {
    Request r;
    r.kind = kind;
    r.engineer = who;
    r.peer = peer;
    r.created_at = records::format_ts(std::chrono::system_clock::now());
    r.expires = BootClock::now() + kRequestLifetime;
    return r;
  }
};

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
