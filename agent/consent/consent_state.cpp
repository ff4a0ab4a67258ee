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

namespace {

EngineerRef engineer_from(const json& j) {
  return {j.value("fingerprint", ""), j.value("name", ""), j.value("id", ""),
          j.value("role", "engineer")};
}

}  // namespace

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

std::string actor_of(const EngineerRef& e) {
  return "engineer:" + e.fingerprint;
}

bool has(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

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

json control_error(std::string_view reason, std::string message) {
  return {{"error", {{"reason", reason}, {"message", std::move(message)}}}};
}

EngineerRef engineer_ref(const Engineer& e) {
  return {e.fingerprint, e.name, e.id, e.role};
}

json Consent::Impl::grants_json() const {
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

Result<void> Consent::Impl::save_grants() {
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

Result<void> Consent::Impl::save_codes() {
  if (!codes) return {};
  return write_state(codes_path, codes->to_json(boot).dump() + "\n");
}

Result<void> Consent::Impl::write_state(const std::string& path, const std::string& text) {
  if (const int err = write_file_atomic(path, text, 0600, IfExists::kReplace); err != 0) {
    return make_error(path + ": " + errno_text(err), "recording_failed");
  }
  if (const int err = fsync_parent_dir(path); err != 0) {
    return make_error(path + ": " + errno_text(err), "recording_failed");
  }
  return {};
}

Result<std::optional<std::string>> Consent::Impl::read_state(const std::string& path) {
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

Result<void> Consent::Impl::load() {
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
bool Consent::Impl::ended_on_record(const std::string& session_id) const {
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
void Consent::Impl::continue_grant(Grant g, BootClock::time_point now) {
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

Grant* Consent::Impl::grant_of(const std::string& fp) {
  for (auto& [id, g] : grants) {
    for (const auto& e : g.engineers) {
      if (e.fingerprint == fp) return &g;
    }
  }
  return nullptr;
}

Request* Consent::Impl::find_request(const std::string& id) {
  for (auto& r : requests) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

int Consent::Impl::pending_of(const std::string& fp) const {
  return static_cast<int>(std::count_if(requests.begin(), requests.end(), [&](const Request& r) {
    return r.state == "pending" && r.engineer.fingerprint == fp;
  }));
}

void Consent::Impl::notice(std::vector<std::string> fps, json params, bool end) {
  notices.push_back(Notice{std::move(fps), std::move(params), end});
}

std::vector<std::string> Consent::Impl::fingerprints(const Grant& g) {
  std::vector<std::string> out;
  for (const auto& e : g.engineers) out.push_back(e.fingerprint);
  return out;
}

json Consent::Impl::request_json(const Request& r) const {
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

json Consent::Impl::wait_answer(const Request& r) const {
  json j = {{"request_id", r.id}, {"state", r.state},     {"session_id", r.session_id},
            {"scopes", r.scopes}, {"minutes", r.minutes}, {"kind", kind_word(r.kind)}};
  if (!r.expires_at.empty()) j["expires_at"] = r.expires_at;
  if (!r.approved_by.empty()) j["approved_by"] = r.approved_by;
  if (!r.deny_reason.empty()) j["reason"] = r.deny_reason;
  return j;
}

json Consent::Impl::grant_json(const Grant& g,
                               const std::map<std::string, int>* connections) const {
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

}  // namespace rdiag::agent::consent
