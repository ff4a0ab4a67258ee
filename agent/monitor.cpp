#include "agent/monitor.h"

#include <ctime>

#include "agent/consent/consent.h"
#include "agent/control/server.h"
#include "agent/log.h"
#include "agent/records/store.h"
#include "agent/rpc.h"
#include "common/jsonrpc.h"
#include "common/text_safety.h"

namespace rdiag::agent {
namespace {

// Probes are cheap to answer but a connection gets no more than this many;
// its own cap is lower, so reaching ours means the process misbehaves.
constexpr int kMonitorMaxProbes = 64;
constexpr int kMaxAuthTries = 6;

std::string answer_frame(MonType type, const nlohmann::json& body) {
  return encode_frame(static_cast<std::uint8_t>(type) | kAnswerBit, body);
}

std::optional<std::string> key_field(const nlohmann::json& body) {
  auto it = body.find("key");
  if (it == body.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::int64_t now_epoch() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

const char* verdict_word(KeyVerdict v) {
  switch (v) {
    case KeyVerdict::kAllowed:
      return "allowed";
    case KeyVerdict::kUnknown:
      return "unknown_key";
    case KeyVerdict::kFromMismatch:
      return "from_mismatch";
    case KeyVerdict::kExpired:
      return "expired";
  }
  return "unknown_key";
}

// What the connection process says went wrong is its word, not ours: only
// the words it is known to send reach the ledger.
std::string_view failure_word(const std::string& why) {
  for (std::string_view w : {"bad_signature", "key_refused"}) {
    if (why == w) return w;
  }
  return "other";
}

}  // namespace

Monitor::Monitor(AgentConfig config, AgentKeys keys, EngineersFile engineers, Store* store,
                 consent::Consent* consent)
    : config_(std::move(config)),
      keys_(std::move(keys)),
      engineers_(std::move(engineers)),
      info_base_(agent_info_base(read_host_facts(), keys_, config_.limits.max_request_bytes)),
      store_(store),
      consent_(consent) {}

std::string Monitor::init_frame(const ConnState& conn) const {
  return encode_frame(static_cast<std::uint8_t>(MonType::kInit),
                      {{"host_key", keys_.host_pem},
                       {"lang", i18n::lang() == i18n::Lang::kZhCN ? "zh_CN" : "en"},
                       {"max_request_bytes", config_.limits.max_request_bytes},
                       {"max_auth_tries", kMaxAuthTries},
                       {"auth_timeout_s", 10},
                       {"peer", conn.peer_text}});
}

const Engineer* Monitor::allowed_engineer(const std::string& key_b64, const IpAddress& peer,
                                          KeyVerdict* verdict, std::string* fingerprint) const {
  auto blob = base64_decode(key_b64);
  if (!blob) {
    *verdict = KeyVerdict::kUnknown;
    return nullptr;
  }
  *fingerprint = fingerprint_sha256(*blob);
  *verdict = check_engineer(engineers_, *fingerprint, peer, now_epoch());
  return *verdict == KeyVerdict::kAllowed ? engineers_.find(*fingerprint) : nullptr;
}

std::optional<std::string> Monitor::answer(ConnState& conn, const MonMessage& msg) {
  const bool preauth = conn.phase == ConnState::Phase::kPreauth;
  // A process waiting for its session.wait or worker answer has nothing to ask.
  if (conn.waiting || conn.job) return std::nullopt;
  switch (static_cast<MonType>(msg.type)) {
    case MonType::kKeyAllowed:
      if (preauth) return answer_key_allowed(conn, msg.body);
      break;
    case MonType::kAuthFailed:
      if (preauth) return answer_auth_failed(conn, msg.body);
      break;
    case MonType::kAuthSucceeded:
      if (preauth) return answer_auth_succeeded(conn, msg.body);
      break;
    case MonType::kAgentInfo:
      if (!preauth) return answer_agent_info(conn);
      break;
    case MonType::kCall:
      if (!preauth) return answer_call(conn, msg.body);
      break;
    case MonType::kDoor:
      if (!preauth) return answer_door(conn, msg.body);
      break;
    case MonType::kInit:
    case MonType::kNotify:
      break;
  }
  return std::nullopt;
}

std::optional<std::string> Monitor::answer_key_allowed(ConnState& conn,
                                                       const nlohmann::json& body) {
  auto key = key_field(body);
  if (!key || ++conn.probes > kMonitorMaxProbes) return std::nullopt;
  KeyVerdict verdict{};
  std::string fp;
  const bool ok = allowed_engineer(*key, conn.peer, &verdict, &fp) != nullptr;
  return answer_frame(MonType::kKeyAllowed, {{"allowed", ok}});
}

std::optional<std::string> Monitor::answer_auth_failed(ConnState& conn,
                                                       const nlohmann::json& body) {
  auto key = key_field(body);
  if (!key) return std::nullopt;
  // A key the monitor refused was counted then; the process reports the same
  // attempt here, which must count (and be recorded) only once.
  const bool counted = !conn.refused_key.empty() && conn.refused_key == *key;
  if (!counted && ++conn.failures > kMaxAuthTries) return std::nullopt;
  std::string fp = "-";
  if (auto blob = base64_decode(*key)) fp = fingerprint_sha256(*blob);
  const std::string why =
      body.contains("why") && body["why"].is_string() ? body["why"].get<std::string>() : "";
  log_warn("agent.auth.failed", conn.peer_text, fp, terminal_safe(why));
  if (counted) {
    conn.refused_key.clear();
  } else {
    record_auth_failure(conn, fp, failure_word(why));
  }
  return answer_frame(MonType::kAuthFailed, nlohmann::json::object());
}

void Monitor::record_auth_failure(const ConnState& conn, const std::string& fingerprint,
                                  std::string_view reason) {
  if (store_ == nullptr) return;
  // Each line costs an fdatasync and ledger space: a flood of bad attempts
  // gets one line each up to a budget per minute, then one summary line
  // with the count, so it can neither stall the monitor nor fill the ledger.
  const auto now = std::chrono::steady_clock::now();
  if (now - auth_window_start_ >= kAuthLineWindow) flush_auth_summary(now);
  if (auth_lines_in_window_ >= kAuthLinesPerWindow) {
    ++auth_suppressed_;
    // Who keeps failing still matters under attack: counts per address, for
    // as many addresses as the summary line may name.
    auto it = auth_suppressed_peers_.find(conn.peer.to_string());
    if (it != auth_suppressed_peers_.end()) {
      ++it->second;
    } else if (auth_suppressed_peers_.size() < kAuthSummaryPeers) {
      auth_suppressed_peers_.emplace(conn.peer.to_string(), 1);
    }
    return;
  }
  ++auth_lines_in_window_;
  auto r = store_->ledger_append(
      "auth.failed", {{"peer", conn.peer_text}, {"fingerprint", fingerprint}, {"reason", reason}});
  if (!r) log_error("agent.rpc.auth_not_recorded", conn.peer_text, fingerprint, r.error().message);
}

void Monitor::flush_auth_summary(std::chrono::steady_clock::time_point now) {
  if (auth_suppressed_ > 0 && store_ != nullptr) {
    nlohmann::json peers = nlohmann::json::object();
    for (const auto& [peer, count] : auth_suppressed_peers_) peers[peer] = count;
    auto r = store_->ledger_append("auth.failed", {{"peer", "*"},
                                                   {"fingerprint", "*"},
                                                   {"reason", "rate_limited"},
                                                   {"count", auth_suppressed_},
                                                   {"peers", std::move(peers)}});
    if (!r) log_error("agent.rpc.auth_not_recorded", "*", "*", r.error().message);
  }
  auth_suppressed_ = 0;
  auth_suppressed_peers_.clear();
  auth_lines_in_window_ = 0;
  auth_window_start_ = now;
}

std::optional<std::string> Monitor::answer_auth_succeeded(ConnState& conn,
                                                          const nlohmann::json& body) {
  auto key = key_field(body);
  if (!key) return std::nullopt;
  KeyVerdict verdict{};
  std::string fp;
  const Engineer* e = allowed_engineer(*key, conn.peer, &verdict, &fp);
  if (e == nullptr) {
    // A refused key is a failed attempt like a bad signature: it counts
    // against the same per-connection cap.
    if (++conn.failures > kMaxAuthTries) return std::nullopt;
    log_warn("agent.auth.refused", conn.peer_text, fp, verdict_word(verdict));
    record_auth_failure(conn, fp.empty() ? "-" : fp, verdict_word(verdict));
    conn.refused_key = *key;
    return answer_frame(MonType::kAuthSucceeded,
                        {{"error", {{"reason", verdict_word(verdict)}, {"message", ""}}}});
  }
  conn.phase = ConnState::Phase::kAuthenticated;
  conn.engineer = *e;
  authed_[conn.pid] = &conn;
  if (consent_ != nullptr) {
    if (auto conflict = grant_in_use(conn)) {
      log_warn("agent.conn.grant_in_use", conn.peer_text, fp);
      consent_->connected(fp, conn.peer_text, "grant_in_use");
    } else {
      consent_->connected(fp, conn.peer_text);
    }
  }
  // The SSH user name means nothing to us (identity is the key); log it so
  // customer IT can see what the client claimed.
  log_info("agent.auth.accepted", terminal_safe(e->name), fp, conn.peer_text,
           terminal_safe(body.value("user", "")));
  return answer_frame(MonType::kAuthSucceeded, engineer_json(*e));
}

std::optional<std::string> Monitor::answer_agent_info(ConnState& conn) {
  nlohmann::json info = info_base_;
  info["engineer"] = engineer_json(*conn.engineer);
  info["plugins"] = plugins_json(config_.plugins_dirs, ::geteuid());
  return answer_frame(MonType::kAgentInfo, info);
}

std::optional<std::string> Monitor::answer_call(ConnState& conn, const nlohmann::json& body) {
  auto method = body.find("method");
  if (method == body.end() || !method->is_string()) return std::nullopt;
  const auto& name = method->get_ref<const std::string&>();
  const nlohmann::json params = body.contains("params") ? body["params"] : nlohmann::json();
  nlohmann::json answer;
  if (!still_allowed(conn)) {
    // The sweep drops such connections within a second; nothing slips through meanwhile.
    answer = {{"error",
               {{"code", rpc::kUnauthenticated},
                {"reason", "unauthenticated"},
                {"message", i18n::tr("agent.rpc.key_gone")}}}};
  } else if (auto conflict = grant_in_use(conn); conflict && name != "session.status") {
    answer = {{"error", std::move(*conflict)}};
  } else if (name == "session.wait" && consent_ != nullptr) {
    std::string request_id;
    std::chrono::seconds timeout{};
    auto now = consent_->wait(consent::engineer_ref(*conn.engineer), params, &request_id, &timeout);
    if (!now) {
      // Answered by deliver() once the request is decided or the time is up.
      conn.waiting = true;
      conn.wait_request = request_id;
      conn.wait_deadline = std::chrono::steady_clock::now() + timeout;
      return std::string();
    }
    answer = std::move(*now);
  } else {
    // The method code reads files an attacker may have written; whatever it
    // throws ends this one call, never the monitor.
    try {
      answer = call_method(RpcContext{store_, config_, consent_},
                           RpcCaller{*conn.engineer, conn.peer_text}, name, params);
      if (answer.contains("worker")) {
        auto started = jobs_.start(answer["worker"]);
        if (started) {
          // Answered by deliver_jobs() once the worker is done.
          conn.job = *started;
          conn.job_method = name;
          const consent::Grant* g =
              consent_ != nullptr ? consent_->grant_of(conn.engineer->fingerprint) : nullptr;
          conn.job_session = g != nullptr ? g->session_id : std::string();
          job_conns_[*started] = conn.pid;
          return std::string();
        }
        answer =
            finish_worker_call(RpcContext{store_, config_, consent_},
                               RpcCaller{*conn.engineer, conn.peer_text}, name, started.error());
      }
    } catch (const std::exception& e) {
      log_error("agent.rpc.call_failed", name, e.what());
      answer = {{"error",
                 {{"code", rpc::kInternalError},
                  {"reason", "internal_error"},
                  {"message", i18n::tr("agent.rpc.internal_error")}}}};
    }
  }
  std::string frame = answer_frame(MonType::kCall, answer);
  deliver();
  return frame;
}

std::optional<std::string> Monitor::answer_door(ConnState& conn, const nlohmann::json& body) {
  const std::string door = body.value("door", "");
  std::string_view scope;
  if (door == "shell" || door == "exec") {
    scope = "shell";
  } else if (door == "sftp") {
    scope = "transfer";
  } else {
    return std::nullopt;
  }
  nlohmann::json answer = nlohmann::json::object();
  std::optional<nlohmann::json> refused;
  if (!still_allowed(conn)) {
    refused = {{"code", rpc::kUnauthenticated},
               {"reason", "unauthenticated"},
               {"message", i18n::tr("agent.rpc.key_gone")}};
  } else if (consent_ == nullptr) {
    refused = {{"code", rpc::kNoGrant},
               {"reason", "no_grant"},
               {"message", i18n::tr("consent.flow.no_grant")}};
  } else if (auto conflict = grant_in_use(conn)) {
    refused = std::move(conflict);
  } else {
    refused = consent_->check(conn.engineer->fingerprint, scope);
  }
  if (refused) {
    log_info("agent.door.refused_by_grant", door, conn.engineer->fingerprint,
             refused->value("reason", ""));
    answer["error"] = std::move(*refused);
  }
  return answer_frame(MonType::kDoor, answer);
}

std::optional<nlohmann::json> Monitor::grant_in_use(const ConnState& conn) const {
  if (consent_ == nullptr || !conn.engineer) return std::nullopt;
  if (consent_->grant_of(conn.engineer->fingerprint) == nullptr) return std::nullopt;
  // The first address to hold the grant keeps it while it is connected.
  for (const auto& [pid, other] : authed_) {
    if (other == &conn || other->doomed || !other->engineer) continue;
    if (other->engineer->fingerprint != conn.engineer->fingerprint) continue;
    if (other->peer == conn.peer || other->started > conn.started) continue;
    return nlohmann::json{{"code", rpc::kConflict},
                          {"reason", "grant_in_use"},
                          {"message", i18n::tr("agent.rpc.grant_in_use", other->peer.to_string())}};
  }
  return std::nullopt;
}

void Monitor::deliver() {
  if (consent_ == nullptr) return;
  const auto now = std::chrono::steady_clock::now();
  for (auto& n : consent_->take_notices()) {
    const std::string frame =
        encode_frame(static_cast<std::uint8_t>(MonType::kNotify),
                     {{"method", "session.state"}, {"params", n.params}, {"end", n.end}});
    for (auto& [pid, conn] : authed_) {
      if (conn->doomed || !conn->engineer) continue;
      const auto& fps = n.fingerprints;
      if (std::find(fps.begin(), fps.end(), conn->engineer->fingerprint) == fps.end()) continue;
      conn->out += frame;
      // Cut at the latest half a second from now: the process closes at once
      // when it reads the notice; the listener kills it at end_by otherwise.
      if (n.end && !conn->end_by) conn->end_by = now + std::chrono::milliseconds(500);
    }
  }
  for (auto& [pid, conn] : authed_) {
    if (!conn->waiting || conn->doomed) continue;
    if (consent_->pending(conn->wait_request) && now < conn->wait_deadline) continue;
    conn->waiting = false;
    conn->out += answer_frame(MonType::kCall, consent_->wait_answer(conn->wait_request));
  }
}

void Monitor::sweep() {
  jobs_.sweep();
  deliver_jobs();
  if (consent_ == nullptr) return;
  consent_->sweep();
  deliver();
}

ConnState* Monitor::job_conn(std::uint64_t id) {
  auto it = job_conns_.find(id);
  if (it == job_conns_.end()) return nullptr;
  auto conn = authed_.find(it->second);
  if (conn == authed_.end() || conn->second->doomed) return nullptr;
  return conn->second;
}

void Monitor::deliver_jobs() {
  for (auto& p : jobs_.take_progress()) {
    ConnState* conn = job_conn(p.id);
    if (conn == nullptr) continue;
    conn->out += encode_frame(static_cast<std::uint8_t>(MonType::kNotify),
                              {{"method", "progress"}, {"params", std::move(p.progress)}});
  }
  for (auto& d : jobs_.take_done()) {
    ConnState* conn = job_conn(d.id);
    job_conns_.erase(d.id);
    if (conn == nullptr || !conn->engineer) continue;
    conn->job.reset();
    nlohmann::json answer;
    try {
      // The result belongs to the session it was asked in: if that grant
      // ended meanwhile (even if another began), nothing is kept.
      const consent::Grant* g =
          consent_ != nullptr ? consent_->grant_of(conn->engineer->fingerprint) : nullptr;
      if (!still_allowed(*conn) || g == nullptr || g->session_id != conn->job_session) {
        answer = {{"error",
                   {{"code", rpc::kNoGrant},
                    {"reason", "no_grant"},
                    {"message", i18n::tr("consent.flow.no_grant")}}}};
      } else {
        answer = finish_worker_call(RpcContext{store_, config_, consent_},
                                    RpcCaller{*conn->engineer, conn->peer_text}, conn->job_method,
                                    d.result);
      }
    } catch (const std::exception& e) {
      log_error("agent.rpc.call_failed", conn->job_method, e.what());
      answer = {{"error",
                 {{"code", rpc::kInternalError},
                  {"reason", "internal_error"},
                  {"message", i18n::tr("agent.rpc.internal_error")}}}};
    }
    conn->out += answer_frame(MonType::kCall, answer);
  }
}

void Monitor::forget(const ConnState& conn) {
  if (conn.job) {
    jobs_.cancel(*conn.job);
    job_conns_.erase(*conn.job);
  }
  if (authed_.erase(conn.pid) == 0) return;
  if (consent_ != nullptr && conn.engineer) {
    consent_->disconnected(conn.engineer->fingerprint, conn.peer_text);
  }
}

nlohmann::json Monitor::control(const ControlRequest& req) {
  if (consent_ == nullptr) {
    return {{"error", {{"reason", "unavailable"}, {"message", "no consent flow"}}}};
  }
  // Messages in the language the admin's command asked for.
  const i18n::Lang before = i18n::lang();
  i18n::set_lang(i18n::parse_lang(req.lang));
  std::map<std::string, int> connections;
  for (const auto& [pid, conn] : authed_) {
    if (!conn->doomed && conn->engineer) ++connections[conn->engineer->fingerprint];
  }
  nlohmann::json answer;
  try {
    answer = consent_->control(req, connections);
  } catch (...) {
    i18n::set_lang(before);
    throw;
  }
  i18n::set_lang(before);
  log_info("agent.monitor.control_command", req.peer.user, req.peer.uid, req.command,
           answer.contains("error") ? answer["error"].value("reason", "") : std::string("ok"));
  deliver();
  return answer;
}

void Monitor::control_refused(const ControlPeer& peer, const std::string& command) {
  log_warn("agent.monitor.control_refused", peer.uid, peer.pid, terminal_safe(command));
  if (store_ == nullptr) return;
  // A local user who can reach the socket must not be able to fill the
  // ledger: a budget of lines per minute, the rest only in the log.
  const auto now = std::chrono::steady_clock::now();
  if (now - control_window_start_ >= kAuthLineWindow) {
    control_window_start_ = now;
    control_lines_in_window_ = 0;
  }
  if (++control_lines_in_window_ > kAuthLinesPerWindow) return;
  auto r = store_->ledger_append("control.refused", {{"uid", static_cast<std::int64_t>(peer.uid)},
                                                     {"pid", static_cast<std::int64_t>(peer.pid)},
                                                     {"command", command}});
  if (!r)
    log_error("agent.rpc.auth_not_recorded", std::to_string(peer.uid), command, r.error().message);
}

void Monitor::tick() {
  const auto now = std::chrono::steady_clock::now();
  if (now - auth_window_start_ >= kAuthLineWindow) flush_auth_summary(now);
  if (store_ != nullptr) store_->tick();
}

void Monitor::reload_engineers() {
  auto fresh = load_engineers(config_.engineers_file);
  if (!fresh) {
    log_error("agent.engineers.reload_failed", fresh.error().message);
    return;
  }
  for (const auto& p : fresh->problems) log_warn("agent.engineers.problem", p.message);
  engineers_ = std::move(*fresh);
  log_info("agent.engineers.reloaded", config_.engineers_file, engineers_.engineers.size());
  if (consent_ != nullptr) {
    consent_->engineers_changed(engineers_);
    deliver();
  }
}

bool Monitor::still_allowed(const ConnState& conn) const {
  if (!conn.engineer) return true;
  return check_engineer(engineers_, conn.engineer->fingerprint, conn.peer, now_epoch()) ==
         KeyVerdict::kAllowed;
}

}  // namespace rdiag::agent
