#include "console/known_hosts.h"

#include <sstream>

#include "common/ssh_key.h"

namespace rdiag::console {
namespace {

bool names_match(std::string_view patterns, std::string_view name) {
  while (!patterns.empty()) {
    auto comma = patterns.find(',');
    if (patterns.substr(0, comma) == name) return true;
    if (comma == std::string_view::npos) break;
    patterns.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string known_hosts_name(std::string_view host, std::uint16_t port) {
  if (port == 22) return std::string(host);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

std::vector<std::string> pinned_fingerprints(std::string_view known_hosts_text,
                                             std::string_view host, std::uint16_t port) {
  std::string name = known_hosts_name(host, port);
  std::vector<std::string> out;
  std::istringstream in{std::string(known_hosts_text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string names;
    std::string type;
    std::string b64;
    if (!(fields >> names >> type >> b64) || names[0] == '#' || names[0] == '@') continue;
    if (!names_match(names, name)) continue;
    type.append(" ").append(b64);
    auto key = parse_public_key_line(type);
    if (key) out.push_back(fingerprint_sha256(key->blob));
  }
  return out;
}

}  // namespace rdiag::console
