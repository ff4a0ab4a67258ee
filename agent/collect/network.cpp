#include "agent/collect/network.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <bit>
#include <filesystem>
#include <map>
#include <memory>

#include "agent/collect/collector.h"
#include "agent/collect/read.h"
#include "agent/collect/sockets.h"
#include "agent/collect/text.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using i18n::tr;

constexpr std::string_view kNetDev = "/proc/net/dev";
constexpr std::string_view kNetDevShape =
    "NAME: RX_BYTES PACKETS ERRS DROP ... TX_BYTES PACKETS ERRS DROP ...";

std::optional<std::string> sys_value(const std::filesystem::path& file) {
  auto text = read_text(file.string(), 4096);
  if (!text || trim(*text).empty()) return std::nullopt;
  return std::string(trim(*text));
}

}  // namespace

Result<std::vector<NetDevCounters>> parse_net_dev(std::string_view text) {
  std::vector<NetDevCounters> out;
  std::string_view rest = text;
  std::string_view raw;
  for (int line_no = 1; next_line(rest, raw); ++line_no) {
    const std::string_view line = trim(raw);
    if (line.empty() || line_no <= 2) continue;  // "Inter-|   Receive ..." headers
    const auto colon = line.find(':');
    const auto w = colon == std::string_view::npos ? std::vector<std::string_view>{}
                                                   : split_ws(line.substr(colon + 1));
    if (w.size() < 16) {
      return make_error(tr("agent.collect.bad_line", kNetDev, line_no, line, kNetDevShape),
                        "malformed");
    }
    NetDevCounters c;
    c.name = std::string(trim(line.substr(0, colon)));
    // RX: bytes packets errs drop fifo frame compressed multicast; TX likewise.
    const std::pair<std::size_t, std::uint64_t*> slots[] = {
        {0, &c.rx_bytes}, {1, &c.rx_packets}, {2, &c.rx_errors},  {3, &c.rx_dropped},
        {8, &c.tx_bytes}, {9, &c.tx_packets}, {10, &c.tx_errors}, {11, &c.tx_dropped}};
    for (const auto& [at, slot] : slots) {
      const auto n = to_u64(w[at]);
      if (!n)
        return make_error(tr("agent.collect.bad_number", kNetDev, line_no, c.name, w[at]),
                          "malformed");
      *slot = *n;
    }
    out.push_back(std::move(c));
  }
  return out;
}

nlohmann::json to_json(const NetDevCounters& c) {
  return {{"rx_bytes", c.rx_bytes},     {"rx_packets", c.rx_packets}, {"rx_errors", c.rx_errors},
          {"rx_dropped", c.rx_dropped}, {"tx_bytes", c.tx_bytes},     {"tx_packets", c.tx_packets},
          {"tx_errors", c.tx_errors},   {"tx_dropped", c.tx_dropped}};
}

std::vector<Interface> read_interfaces(const std::string& sys_root) {
  std::vector<Interface> out;
  std::error_code ec;
  const std::filesystem::path base = std::filesystem::path(sys_root) / "class/net";
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    Interface i;
    i.name = entry.path().filename().string();
    i.operstate = sys_value(entry.path() / "operstate");
    if (const auto mtu = sys_value(entry.path() / "mtu")) {
      if (const auto n = to_u64(*mtu)) i.mtu = *n;
    }
    i.mac = sys_value(entry.path() / "address");
    if (i.mac && i.mac->empty()) i.mac.reset();
    out.push_back(std::move(i));
  }
  std::sort(out.begin(), out.end(),
            [](const Interface& a, const Interface& b) { return a.name < b.name; });
  return out;
}

nlohmann::json to_json(const Interface& i) {
  nlohmann::json j = {{"name", i.name}};
  if (i.operstate) j["operstate"] = *i.operstate;
  if (i.mtu) j["mtu"] = *i.mtu;
  if (i.mac) j["mac"] = *i.mac;
  return j;
}

int prefix_length(const unsigned char* mask, std::size_t bytes) {
  int bits = 0;
  for (std::size_t i = 0; i < bytes; ++i) {
    bits += std::countl_one(mask[i]);
    if (mask[i] != 0xff) break;
  }
  return bits;
}

// ---- the collector ----

namespace {

// "192.0.2.10/24" and "fe80::1/64" per interface name, from getifaddrs.
std::map<std::string, nlohmann::json> addresses() {
  std::map<std::string, nlohmann::json> out;
  ifaddrs* raw = nullptr;
  if (::getifaddrs(&raw) != 0) return out;
  const std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> list(raw, ::freeifaddrs);
  for (const ifaddrs* a = raw; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_netmask == nullptr) continue;
    const int family = a->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    const void* addr =
        family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr)
            : &reinterpret_cast<const sockaddr_in6*>(a->ifa_addr)->sin6_addr;
    const auto* mask = family == AF_INET
                           ? reinterpret_cast<const unsigned char*>(
                                 &reinterpret_cast<const sockaddr_in*>(a->ifa_netmask)->sin_addr)
                           : reinterpret_cast<const unsigned char*>(
                                 &reinterpret_cast<const sockaddr_in6*>(a->ifa_netmask)->sin6_addr);
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (::inet_ntop(family, addr, text.data(), text.size()) == nullptr) continue;
    const int prefix = prefix_length(mask, family == AF_INET ? 4 : 16);
    out[a->ifa_name].push_back(std::string(text.data()) + "/" + std::to_string(prefix));
  }
  return out;
}

nlohmann::json interfaces_json() {
  std::map<std::string, NetDevCounters> counters;
  if (auto text = read_text(std::string(kNetDev))) {
    if (auto parsed = parse_net_dev(*text)) {
      for (auto& c : *parsed) counters.emplace(c.name, c);
    }
  }
  auto addrs = addresses();
  nlohmann::json out = nlohmann::json::array();
  for (const Interface& i : read_interfaces("/sys")) {
    nlohmann::json j = to_json(i);
    j["addresses"] = addrs.count(i.name) ? addrs[i.name] : nlohmann::json::array();
    if (const auto it = counters.find(i.name); it != counters.end())
      j["counters"] = to_json(it->second);
    out.push_back(std::move(j));
  }
  return out;
}

Result<nlohmann::json> listening_json() {
  const SocketOwners owners = find_socket_owners();
  nlohmann::json rows = nlohmann::json::array();
  for (const std::string_view proto : {"tcp", "tcp6", "udp", "udp6"}) {
    const std::string path = "/proc/net/" + std::string(proto);
    auto text = read_text(path);
    if (!text) continue;  // IPv6 disabled at boot: no tcp6/udp6 files
    auto sockets = parse_listen_sockets(*text, proto, path);
    if (!sockets) return sockets.error();
    for (const ListenSocket& s : *sockets) rows.push_back(to_json(s, owners));
  }
  return nlohmann::json{{"sockets", std::move(rows)}, {"owners_complete", owners.complete}};
}

Result<nlohmann::json> network_collect(const CollectContext&) {
  auto listening = listening_json();
  if (!listening) return listening.error();
  return nlohmann::json{{"interfaces", interfaces_json()},
                        {"listening", std::move((*listening)["sockets"])},
                        {"owners_complete", (*listening)["owners_complete"]}};
}

}  // namespace

const Collector& network_collector() {
  static const Collector c{"network", "agent.collect.summary.network", network_collect};
  return c;
}

}  // namespace rdiag::agent::collect
