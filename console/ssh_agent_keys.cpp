#include "console/ssh_agent_keys.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>

#include "common/ssh_key.h"

namespace rdiag::console {
namespace {

constexpr std::uint8_t kRequestIdentities = 11;
constexpr std::uint8_t kIdentitiesAnswer = 12;
// An answer larger than this is not an agent we want to talk to.
constexpr std::uint32_t kMaxAnswer = 256 * 1024;

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  std::optional<std::uint32_t> u32() {
    if (data_.size() < 4) return std::nullopt;
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v = (v << 8) | static_cast<unsigned char>(data_[static_cast<std::size_t>(i)]);
    data_.remove_prefix(4);
    return v;
  }
  std::optional<std::string_view> str() {
    auto len = u32();
    if (!len || *len > data_.size()) return std::nullopt;
    std::string_view s = data_.substr(0, *len);
    data_.remove_prefix(*len);
    return s;
  }
  std::optional<std::uint8_t> byte() {
    if (data_.empty()) return std::nullopt;
    auto b = static_cast<std::uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return b;
  }

 private:
  std::string_view data_;
};

Error agent_error(std::string detail) {
  return make_error(std::move(detail), "ssh_agent");
}

bool io_all(int fd, char* buf, std::size_t len, bool writing) {
  while (len > 0) {
    ssize_t n = writing ? ::send(fd, buf, len, MSG_NOSIGNAL) : ::recv(fd, buf, len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

int connect_agent(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return -1;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};  // a wedged agent must not hang the console
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

Result<std::string> exchange(int fd) {
  std::array<char, 5> request = {0, 0, 0, 1, static_cast<char>(kRequestIdentities)};
  std::array<char, 4> len_buf{};
  if (!io_all(fd, request.data(), request.size(), true) ||
      !io_all(fd, len_buf.data(), len_buf.size(), false)) {
    return agent_error("no answer from ssh-agent");
  }
  auto len = Reader(std::string_view(len_buf.data(), len_buf.size())).u32();
  if (!len || *len == 0 || *len > kMaxAnswer) return agent_error("bad answer from ssh-agent");
  std::string body(*len, '\0');
  if (!io_all(fd, body.data(), body.size(), false))
    return agent_error("short answer from ssh-agent");
  return body;
}

}  // namespace

Result<std::vector<AgentIdentity>> parse_identities_answer(std::string_view body) {
  Reader r(body);
  auto type = r.byte();
  auto count = r.u32();
  if (!type || *type != kIdentitiesAnswer || !count)
    return agent_error("bad answer from ssh-agent");
  std::vector<AgentIdentity> out;
  for (std::uint32_t i = 0; i < *count; ++i) {
    auto blob = r.str();
    auto comment = r.str();
    if (!blob || !comment) return agent_error("bad answer from ssh-agent");
    Bytes bytes(blob->begin(), blob->end());
    auto key = public_key_from_blob(bytes);
    if (!key) continue;  // a key type we cannot name (e.g. a certificate): skip it
    out.push_back({fingerprint_sha256(bytes),
                   key->type + " " + base64_encode(bytes.data(), bytes.size()),
                   std::string(*comment)});
  }
  return out;
}

Result<std::vector<AgentIdentity>> list_agent_identities(const std::string& socket_path) {
  int fd = connect_agent(socket_path);
  if (fd < 0) return agent_error("cannot connect to ssh-agent at " + socket_path);
  auto body = exchange(fd);
  ::close(fd);
  if (!body) return body.error();
  return parse_identities_answer(*body);
}

}  // namespace rdiag::console
