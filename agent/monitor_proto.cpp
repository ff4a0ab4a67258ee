#include "agent/monitor_proto.h"

#include <unistd.h>

#include <cerrno>

#include "common/fs.h"

namespace rdiag::agent {
namespace {

std::uint32_t read_be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24U) | (std::uint32_t{u[1]} << 16U) | (std::uint32_t{u[2]} << 8U) |
         std::uint32_t{u[3]};
}

bool parse_body(std::string_view payload, MonMessage& msg) {
  msg.type = static_cast<std::uint8_t>(payload[0]);
  msg.body = nlohmann::json::parse(payload.substr(1), nullptr, /*allow_exceptions=*/false);
  return msg.body.is_object();
}

Result<void> read_exact(int fd, char* buf, std::size_t len) {
  std::size_t off = 0;
  while (off < len) {
    ssize_t n = ::read(fd, buf + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return make_error("monitor closed the connection", "monitor_gone");
    if (n < 0) return make_error("monitor socket read: " + errno_text(errno));
    off += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

std::string encode_frame(std::uint8_t type, const nlohmann::json& body) {
  std::string payload(1, static_cast<char>(type));
  payload += body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const auto n = static_cast<std::uint32_t>(payload.size());
  std::string frame;
  frame.reserve(payload.size() + 4);
  for (int shift = 24; shift >= 0; shift -= 8) {
    frame.push_back(static_cast<char>((n >> static_cast<unsigned>(shift)) & 0xFFU));
  }
  frame += payload;
  return frame;
}

bool MonDecoder::feed(const char* data, std::size_t len, std::vector<MonMessage>& out) {
  buf_.append(data, len);
  while (buf_.size() >= 4) {
    const std::uint32_t n = read_be32(buf_.data());
    if (n == 0 || n > kMaxMonFrame) return false;
    if (buf_.size() < 4 + std::size_t{n}) break;
    MonMessage msg;
    if (!parse_body(std::string_view(buf_).substr(4, n), msg)) return false;
    out.push_back(std::move(msg));
    buf_.erase(0, 4 + std::size_t{n});
  }
  return true;
}

Result<void> send_frame(int fd, std::uint8_t type, const nlohmann::json& body) {
  if (!write_all(fd, encode_frame(type, body))) {
    return make_error("monitor socket write: " + errno_text(errno));
  }
  return {};
}

Result<MonMessage> recv_frame(int fd) {
  char hdr[4];
  if (auto r = read_exact(fd, hdr, sizeof hdr); !r) return r.error();
  const std::uint32_t n = read_be32(hdr);
  if (n == 0 || n > kMaxMonAnswerFrame) return make_error("monitor sent a malformed frame");
  std::string payload(n, '\0');
  if (auto r = read_exact(fd, payload.data(), n); !r) return r.error();
  MonMessage msg;
  if (!parse_body(payload, msg)) return make_error("monitor sent a malformed frame");
  return msg;
}

}  // namespace rdiag::agent
