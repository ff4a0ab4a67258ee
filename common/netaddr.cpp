#include "common/netaddr.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "common/i18n.h"

namespace rdiag {
namespace {

using i18n::tr;

constexpr int kV4Bits = 32;
constexpr int kV6Bits = 128;
// ::ffff:0:0/96 (RFC 4291 section 2.5.5.2): an IPv4 peer on a dual-stack socket.
constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int bits_of(const IpAddress& addr) {
  return addr.v6 ? kV6Bits : kV4Bits;
}

// Whole decimal number made of digits only (no sign, no spaces), at most max.
std::optional<unsigned> parse_small_number(std::string_view text, unsigned max) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

void mask_host_bits(IpAddress& addr, int prefix) {
  for (int i = 0; i < kV6Bits / 8; ++i) {
    int keep = std::clamp(prefix - i * 8, 0, 8);
    auto mask = static_cast<std::uint8_t>(0xff00U >> keep);
    addr.bytes[static_cast<std::size_t>(i)] &= mask;
  }
}

// Reads an entry as OpenSSH's addr_pton_cidr() does. nullopt: not an address,
// so the entry is only a wildcard pattern. An Error: an address whose prefix
// is too long for its family or whose host bits are set, which OpenSSH treats
// as an error that fails the whole list.
std::optional<Result<Cidr>> strict_cidr(std::string_view entry) {
  auto slash = entry.find('/');
  auto given = parse_ip(entry.substr(0, slash));
  if (!given) return std::nullopt;
  if (slash != std::string_view::npos &&
      !parse_small_number(entry.substr(slash + 1), static_cast<unsigned>(kV6Bits))) {
    return std::nullopt;
  }
  auto cidr = parse_cidr(entry);
  if (cidr && !(cidr->base == *given)) {
    return Result<Cidr>(make_error(tr("common.net.host_bits", entry), "bad_pattern"));
  }
  return cidr;
}

// OpenSSH match_pattern(): '*' any run, '?' one character, the rest literal.
bool wildcard_match(std::string_view text, std::string_view pattern) {
  std::size_t t = 0;
  std::size_t p = 0;
  std::size_t star = std::string_view::npos;  // last '*' seen
  std::size_t resume = 0;                     // where in text that '*' is tried next
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++t;
      ++p;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Calls fn(entry, negated) for each comma-separated entry; stops when fn returns false.
template <typename Fn>
void for_each_entry(std::string_view list, Fn fn) {
  while (true) {
    auto comma = list.find(',');
    std::string_view entry = list.substr(0, comma);
    bool neg = !entry.empty() && entry.front() == '!';
    if (neg) entry.remove_prefix(1);
    if (!fn(entry, neg) || comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf) == nullptr) return "?";
  return buf;
}

Result<IpAddress> parse_ip(std::string_view text) {
  std::string s(text);  // inet_pton wants a NUL-terminated string
  IpAddress addr;
  if (::inet_pton(AF_INET, s.c_str(), addr.bytes.data()) == 1) return addr;
  if (::inet_pton(AF_INET6, s.c_str(), addr.bytes.data()) != 1) {
    return make_error(tr("common.net.bad_ip", text), "bad_address");
  }
  addr.v6 = true;
  if (std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), addr.bytes.begin())) {
    IpAddress v4;
    std::copy_n(addr.bytes.begin() + kV4MappedPrefix.size(), 4, v4.bytes.begin());
    return v4;
  }
  return addr;
}

bool Cidr::contains(const IpAddress& addr) const {
  if (addr.v6 != base.v6) return false;
  IpAddress masked = addr;
  mask_host_bits(masked, prefix);
  return masked == base;
}

Result<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  auto ip = parse_ip(text.substr(0, slash));
  if (!ip) return make_error(tr("common.net.bad_cidr", text), "bad_cidr");
  Cidr cidr{*ip, bits_of(*ip)};
  if (slash == std::string_view::npos) return cidr;
  // A v4-mapped base was folded to v4; its prefix counts the 96 mapped bits too.
  bool folded = !ip->v6 && text.substr(0, slash).find(':') != std::string_view::npos;
  int max = folded ? kV6Bits : bits_of(*ip);
  auto prefix = parse_small_number(text.substr(slash + 1), static_cast<unsigned>(max));
  if (!prefix || (folded && *prefix < kV6Bits - kV4Bits)) {
    return make_error(tr("common.net.bad_prefix", text, max), "bad_cidr");
  }
  cidr.prefix = static_cast<int>(*prefix) - (folded ? kV6Bits - kV4Bits : 0);
  mask_host_bits(cidr.base, cidr.prefix);
  return cidr;
}

// OpenSSH's match_host_and_ip() with UseDNS no: the host name is the address
// text, so each entry is tried as a CIDR (addr_match_list) and as a wildcard
// against the address text (match_hostname). Any negated match, or an entry
// that is an error, denies.
bool match_from_patterns(std::string_view pattern_list, const IpAddress& addr) {
  std::string text = addr.to_string();  // inet_ntop: lowercase, as sshd's ntop
  bool allowed = false;
  bool denied = false;
  for_each_entry(pattern_list, [&](std::string_view entry, bool neg) {
    auto cidr = entry.empty() ? std::nullopt : strict_cidr(entry);
    bool error = entry.empty() || (cidr && !*cidr);
    bool hit = !error && ((cidr && (*cidr)->contains(addr)) || wildcard_match(text, lower(entry)));
    if (error || (hit && neg)) {
      denied = true;
      return false;
    }
    allowed = allowed || hit;
    return true;
  });
  return allowed && !denied;
}

Result<void> validate_from_patterns(std::string_view pattern_list) {
  Result<void> result;
  for_each_entry(pattern_list, [&](std::string_view entry, bool) {
    if (entry.empty()) {
      result = make_error(tr("common.net.empty_pattern", pattern_list), "bad_pattern");
    } else if (auto cidr = strict_cidr(entry); cidr && !*cidr) {
      result = cidr->error();
    } else if (!cidr && entry.find('/') != std::string_view::npos) {
      // OpenSSH would take it as a wildcard that can never match; say so instead.
      result = make_error(tr("common.net.bad_cidr", entry), "bad_pattern");
    }
    return result.has_value();
  });
  return result;
}

Result<HostPort> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string_view::npos) {
      return make_error(tr("common.net.bad_host_port", text), "bad_address");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return make_error(tr("common.net.bad_host_port", text), "bad_address");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto number = parse_small_number(port, 65535);
  if (host.empty() || !number) {
    return make_error(tr("common.net.bad_host_port", text), "bad_address");
  }
  return HostPort{std::string(host), static_cast<std::uint16_t>(*number)};
}

}  // namespace rdiag
