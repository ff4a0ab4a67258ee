#include "agent/agent_info.h"

#include <unistd.h>

#include <array>
#include <fstream>
#include <string>

#include "agent/collect/collector.h"
#include "agent/plugins/discovery.h"
#include "common/i18n.h"
#include "common/version.h"

namespace rdiag::agent {
namespace {

std::string os_pretty_name() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string v = line.substr(12);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) v = v.substr(1, v.size() - 2);
    return v;
  }
  return "Linux";
}

// The built-in collectors: [{"name", "summary"}], summary in the agent's language.
nlohmann::json collectors_json() {
  nlohmann::json out = nlohmann::json::array();
  for (const collect::Collector& c : collect::registry()) {
    out.push_back({{"name", c.name}, {"summary", i18n::tr(c.summary_id)}});
  }
  return out;
}

}  // namespace

HostFacts read_host_facts() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) name[0] = '\0';
  return HostFacts{name.data(), os_pretty_name()};
}

nlohmann::json key_json(const Ed25519PrivateKey& key) {
  const PublicKey pub = key.public_key();
  return {{"fingerprint", fingerprint_sha256(pub.blob)},
          {"public", public_key_line(PublicKey{pub.type, pub.blob, {}})}};
}

nlohmann::json engineer_json(const Engineer& e) {
  return {{"fingerprint", e.fingerprint}, {"name", e.name}, {"role", e.role}, {"id", e.id}};
}

nlohmann::json agent_info_base(const HostFacts& host, const AgentKeys& keys,
                               std::size_t max_request_bytes) {
  return {{"version", kVersion},
          {"hostname", host.hostname},
          {"os", host.os},
          {"host_key", key_json(keys.host)},
          {"seal_key", key_json(keys.seal)},
          {"plugins", nlohmann::json::array()},
          {"collectors", collectors_json()},
          {"fixes", nlohmann::json::array()},
          {"relay", {{"state", "off"}}},
          {"limits", {{"max_request_bytes", max_request_bytes}}}};
}

nlohmann::json plugins_json(const std::vector<std::string>& dirs, uid_t trusted_uid) {
  nlohmann::json out = nlohmann::json::array();
  for (const plugins::Plugin& p : plugins::discover(dirs, trusted_uid).plugins) {
    nlohmann::json logs = nlohmann::json::array();
    for (const plugins::LogSpec& l : p.logs) logs.push_back(l.name);
    out.push_back({{"name", p.name},
                   {"description", p.description},
                   {"collect", p.collect.has_value()},
                   {"logs", std::move(logs)},
                   {"rules", p.rules.size()}});
  }
  return out;
}

}  // namespace rdiag::agent
