#include "agent/monitor.h"

#include <ctime>

#include "agent/log.h"
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

}  // namespace

Monitor::Monitor(AgentConfig config, AgentKeys keys, EngineersFile engineers)
    : config_(std::move(config)),
      keys_(std::move(keys)),
      engineers_(std::move(engineers)),
      info_base_(agent_info_base(read_host_facts(), keys_, config_.limits.max_request_bytes)) {}

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
  if (!key || ++conn.failures > kMaxAuthTries) return std::nullopt;
  std::string fp = "-";
  if (auto blob = base64_decode(*key)) fp = fingerprint_sha256(*blob);
  log_warn("agent.auth.failed", conn.peer_text, fp, terminal_safe(body.value("why", "")));
  return answer_frame(MonType::kAuthFailed, nlohmann::json::object());
}

std::optional<std::string> Monitor::answer_auth_succeeded(ConnState& conn,
                                                          const nlohmann::json& body) {
  auto key = key_field(body);
  if (!key) return std::nullopt;
  KeyVerdict verdict{};
  std::string fp;
  const Engineer* e = allowed_engineer(*key, conn.peer, &verdict, &fp);
  if (e == nullptr) {
    log_warn("agent.auth.refused", conn.peer_text, fp, verdict_word(verdict));
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
