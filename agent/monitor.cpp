#include "agent/monitor.h"

#include <ctime>

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

Monitor::Monitor(AgentConfig config, AgentKeys keys, EngineersFile engineers, Store* store)
    : config_(std::move(config)),
      keys_(std::move(keys)),
      engineers_(std::move(engineers)),
      info_base_(agent_info_base(read_host_facts(), keys_, config_.limits.max_request_bytes)),
      store_(store) {}

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
    case MonType::kInit:
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
  // The SSH user name means nothing to us (identity is the key); log it so
  // customer IT can see what the client claimed.
  log_info("agent.auth.accepted", terminal_safe(e->name), fp, conn.peer_text,
           terminal_safe(body.value("user", "")));
  return answer_frame(MonType::kAuthSucceeded, engineer_json(*e));
}

std::optional<std::string> Monitor::answer_agent_info(ConnState& conn) {
  nlohmann::json info = info_base_;
  info["engineer"] = engineer_json(*conn.engineer);
  return answer_frame(MonType::kAgentInfo, info);
}

std::optional<std::string> Monitor::answer_call(ConnState& conn, const nlohmann::json& body) {
  auto method = body.find("method");
  if (method == body.end() || !method->is_string()) return std::nullopt;
  nlohmann::json answer;
  if (!still_allowed(conn)) {
    // The sweep drops such connections within a second; nothing slips through meanwhile.
    answer = {{"error",
               {{"code", rpc::kUnauthenticated},
                {"reason", "unauthenticated"},
                {"message", i18n::tr("agent.rpc.key_gone")}}}};
  } else {
    const nlohmann::json params = body.contains("params") ? body["params"] : nlohmann::json();
    // The method code reads files an attacker may have written; whatever it
    // throws ends this one call, never the monitor.
    try {
      answer = call_method(RpcContext{store_, config_}, RpcCaller{*conn.engineer, conn.peer_text},
                           method->get_ref<const std::string&>(), params);
    } catch (const std::exception& e) {
      log_error("agent.rpc.call_failed", method->get_ref<const std::string&>(), e.what());
      answer = {{"error",
                 {{"code", rpc::kInternalError},
                  {"reason", "internal_error"},
                  {"message", i18n::tr("agent.rpc.internal_error")}}}};
    }
  }
  return answer_frame(MonType::kCall, answer);
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
}

bool Monitor::still_allowed(const ConnState& conn) const {
  if (!conn.engineer) return true;
  return check_engineer(engineers_, conn.engineer->fingerprint, conn.peer, now_epoch()) ==
         KeyVerdict::kAllowed;
}

}  // namespace rdiag::agent
