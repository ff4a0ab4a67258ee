// Read-only look-ups in the console's known_hosts file (OpenSSH format).
// libssh does the checking and the appending; this exists because libssh
// reports a changed host key without the pinned entry, and the refusal
// message must name both fingerprints.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rdiag::console {

// The name libssh files a host under: "host" for port 22, else "[host]:port".
std::string known_hosts_name(std::string_view host, std::uint16_t port);

// SHA256 fingerprints of every key pinned for host:port in the file's text.
// Hashed (|1|...) and unreadable lines are skipped.
std::vector<std::string> pinned_fingerprints(std::string_view known_hosts_text,
                                             std::string_view host, std::uint16_t port);

}  // namespace rdiag::console
