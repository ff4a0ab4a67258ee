// The `network` collector's listening sockets: /proc/net/{tcp,tcp6,udp,udp6}
// decoded, and their owners found by matching socket inodes in /proc/PID/fd.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::agent::collect {

struct ListenSocket {
  std::string proto;    // "tcp", "tcp6", "udp", "udp6"
  std::string address;  // "127.0.0.1", "::", "::ffff:10.0.0.1"
  std::uint16_t port = 0;
  std::uint64_t uid = 0;
  std::uint64_t inode = 0;
};

// "0100007F" (IPv4) or four such words (IPv6) as the kernel prints them: each
// 32-bit word in the host's byte order. nullopt for any other text.
std::optional<std::string> decode_hex_address(std::string_view hex);

// The listening sockets in one /proc/net file: TCP in state LISTEN (0A), UDP
// bound and unconnected (state 07, remote port 0). `proto` is the file's
// name ("tcp6"), `path` names it in messages.
Result<std::vector<ListenSocket>> parse_listen_sockets(std::string_view text,
                                                       std::string_view proto,
                                                       std::string_view path);

// The inode in a /proc/PID/fd link target "socket:[12345]"; nullopt otherwise.
std::optional<std::uint64_t> socket_inode(std::string_view link);

struct SocketOwner {
  pid_t pid = 0;
  std::string command;  // /proc/PID/comm
};

struct SocketOwners {
  std::map<std::uint64_t, SocketOwner> by_inode;
  // False when some process's descriptors were not readable: run as the
  // unprivileged rdiag user, only its own processes are visible.
  bool complete = true;
};

// Walks /proc/PID/fd for every process (I/O; not for fixtures).
SocketOwners find_socket_owners();

nlohmann::json to_json(const ListenSocket& s, const SocketOwners& owners);

}  // namespace rdiag::agent::collect
