// IPv4/IPv6 addresses and CIDR blocks, for allow_from and the engineers file's
// from= patterns.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace rdiag {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4; v4-mapped v6 is folded to v4
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

Result<IpAddress> parse_ip(std::string_view text);

struct Cidr {
  IpAddress base;
  int prefix = 0;
  bool contains(const IpAddress& addr) const;
};

// "10.0.0.0/8", "::1/128", or a bare address (full-length prefix).
Result<Cidr> parse_cidr(std::string_view text);

// OpenSSH's from="pattern-list" semantics: comma-separated patterns, each a
// wildcard (* ?) pattern against the address text or a CIDR, optionally
// negated with '!'. A negated match denies at once; otherwise any positive
// match allows. We never resolve host names: a pattern with letters only
// matches literally against the address text (so it never matches), as
// sshd does with UseDNS no.
bool match_from_patterns(std::string_view pattern_list, const IpAddress& addr);

// Checks a from= pattern list when the engineers file is read, so a typo is
// reported with its line instead of silently never matching: empty entries,
// a prefix too long for its family, host bits set ("10.0.0.1/8"), or a '/'
// entry that is not a CIDR.
Result<void> validate_from_patterns(std::string_view pattern_list);

// host:port, [v6]:port; port 0..65535.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
Result<HostPort> parse_host_port(std::string_view text);

}  // namespace rdiag
