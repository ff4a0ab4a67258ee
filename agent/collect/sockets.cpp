#include "agent/collect/sockets.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include "agent/collect/read.h"
#include "agent/collect/text.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using i18n::tr;

constexpr std::string_view kSocketShape =
    "SL: LOCAL_HEX:PORT REMOTE_HEX:PORT STATE TX:RX TR:WHEN RETRNSMT UID TIMEOUT INODE ...";
constexpr std::string_view kTcpListen = "0A";
constexpr std::string_view kUdpUnconnected = "07";

// One word of the kernel's "%08X" of a __be32 read as a host-order integer:
// copying the integer's bytes back out gives network order on any host.
bool hex_words(std::string_view hex, unsigned char* out) {
  for (std::size_t i = 0; i * 8 < hex.size(); ++i) {
    const auto v = to_u64(hex.substr(i * 8, 8), 16);
    if (!v) return false;
    const auto word = static_cast<std::uint32_t>(*v);
    std::memcpy(out + i * 4, &word, 4);
  }
  return true;
}

struct Endpoint {
  std::string address;
  std::uint16_t port = 0;
};

std::optional<Endpoint> endpoint(std::string_view word) {
  const auto colon = word.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto address = decode_hex_address(word.substr(0, colon));
  const auto port = to_u64(word.substr(colon + 1), 16);
  if (!address || !port || *port > 65535) return std::nullopt;
  return Endpoint{*address, static_cast<std::uint16_t>(*port)};
}

// One data line; nullopt when it is not a listening socket, an Error when it
// does not have the shape of a socket line.
Result<std::optional<ListenSocket>> socket_line(std::string_view line, std::string_view proto,
                                                std::string_view path, int line_no) {
  const auto w = split_ws(line);
  const auto bad = [&] {
    return make_error(tr("agent.collect.bad_line", path, line_no, line, kSocketShape), "malformed");
  };
  if (w.size() < 10 || !w[0].ends_with(':')) return bad();
  const auto local = endpoint(w[1]);
  const auto remote = endpoint(w[2]);
  const auto uid = to_u64(w[7]);
  const auto inode = to_u64(w[9]);
  if (!local || !remote || !uid || !inode) return bad();
  const bool tcp = proto.starts_with("tcp");
  const bool listening = tcp ? w[3] == kTcpListen : (w[3] == kUdpUnconnected && remote->port == 0);
  if (!listening) return std::optional<ListenSocket>();
  return std::optional<ListenSocket>(
      ListenSocket{std::string(proto), local->address, local->port, *uid, *inode});
}

std::string read_comm(pid_t pid) {
  auto text = read_text("/proc/" + std::to_string(pid) + "/comm", 4096);
  return text ? std::string(trim(*text)) : std::string();
}

// Adds the sockets pid holds; false when its fd folder is not readable.
bool scan_fds(pid_t pid, SocketOwners& owners) {
  const std::string dir_path = "/proc/" + std::to_string(pid) + "/fd";
  const std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(dir_path.c_str()), ::closedir);
  if (!dir) return errno != EACCES && errno != EPERM;  // a vanished process is no gap
  std::string comm;
  while (const dirent* e = ::readdir(dir.get())) {
    std::array<char, 64> buf{};
    const std::string link = dir_path + "/" + e->d_name;
    const ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size() - 1);
    if (n <= 0) continue;
    const auto inode = socket_inode(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    if (!inode) continue;
    if (comm.empty()) comm = read_comm(pid);
    owners.by_inode.emplace(*inode, SocketOwner{pid, comm});
  }
  return true;
}

}  // namespace

std::optional<std::string> decode_hex_address(std::string_view hex) {
  if (hex.size() != 8 && hex.size() != 32) return std::nullopt;
  std::array<unsigned char, 16> bytes{};
  if (!hex_words(hex, bytes.data())) return std::nullopt;
  std::array<char, INET6_ADDRSTRLEN> text{};
  const int family = hex.size() == 8 ? AF_INET : AF_INET6;
  if (::inet_ntop(family, bytes.data(), text.data(), text.size()) == nullptr) return std::nullopt;
  return std::string(text.data());
}

Result<std::vector<ListenSocket>> parse_listen_sockets(std::string_view text,
                                                       std::string_view proto,
                                                       std::string_view path) {
  std::vector<ListenSocket> out;
  std::string_view rest = text;
  std::string_view raw;
  for (int line_no = 1; next_line(rest, raw); ++line_no) {
    const std::string_view line = trim(raw);
    if (line.empty() || (line_no == 1 && line.starts_with("sl"))) continue;
    auto s = socket_line(line, proto, path, line_no);
    if (!s) return s.error();
    if (*s) out.push_back(std::move(**s));
  }
  return out;
}

std::optional<std::uint64_t> socket_inode(std::string_view link) {
  if (!link.starts_with("socket:[") || !link.ends_with(']')) return std::nullopt;
  return to_u64(link.substr(8, link.size() - 9));
}

SocketOwners find_socket_owners() {
  SocketOwners owners;
  for (const int pid : list_pids()) {
    if (!scan_fds(pid, owners)) owners.complete = false;
  }
  return owners;
}

nlohmann::json to_json(const ListenSocket& s, const SocketOwners& owners) {
  nlohmann::json j = {{"proto", s.proto},
                      {"address", s.address},
                      {"port", s.port},
                      {"uid", s.uid},
                      {"inode", s.inode}};
  if (const auto it = owners.by_inode.find(s.inode); it != owners.by_inode.end()) {
    j["pid"] = it->second.pid;
    j["command"] = it->second.command;
  }
  return j;
}

}  // namespace rdiag::agent::collect
