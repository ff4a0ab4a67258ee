// The `network` collector: interfaces (/sys/class/net, /proc/net/dev,
// getifaddrs) and listening sockets with their owners (sockets.h).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::agent::collect {

struct NetDevCounters {
  std::string name;
  std::uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_dropped = 0;
  std::uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_dropped = 0;
};

// /proc/net/dev: two header lines, then "eth0: RX(8 fields) TX(8 fields)";
// large counters may touch the colon ("eth0:1234567").
Result<std::vector<NetDevCounters>> parse_net_dev(std::string_view text);
nlohmann::json to_json(const NetDevCounters& c);

struct Interface {
  std::string name;
  std::optional<std::string> operstate;  // "up", "down", "unknown" (loopback, tun)
  std::optional<std::uint64_t> mtu;
  std::optional<std::string> mac;  // absent for interfaces without one (tun, wireguard)
};

// Reads sys_root/class/net/NAME/{operstate,mtu,address}; sys_root is "/sys"
// live and a fixture tree in tests. Missing files leave fields unset.
std::vector<Interface> read_interfaces(const std::string& sys_root);
nlohmann::json to_json(const Interface& i);

// The prefix length of a netmask given as bytes: its leading one bits.
int prefix_length(const unsigned char* mask, std::size_t bytes);

}  // namespace rdiag::agent::collect
