// The closed list of requests a connection process may send to the monitor,
// in OpenSSH's monitor pattern: one typed request, one typed answer, over a
// socketpair. Client stubs are mm_<name> (agent/ssh/), monitor handlers are
// answer_<name> (agent/monitor.cpp).
//
// Frame: 4-byte big-endian length N, then N bytes: one type byte and a JSON
// object. The monitor kills a connection process that sends an unknown type,
// a malformed body, or a request its state does not permit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace rdiag::agent {

enum class MonType : std::uint8_t {
  kInit = 1,           // monitor -> child, first and once: host key, limits, language
  kKeyAllowed = 2,     // may this public key sign in from this peer? (probe)
  kAuthFailed = 3,     // a signed attempt failed (bad signature or refused key)
  kAuthSucceeded = 4,  // libssh verified a signature: bind the identity
  kAgentInfo = 5,      // agent.info
  // Any other JSON-RPC method, after authentication: {"method", "params"}.
  // Answer {"result": ...} or {"error": {"code", "reason", "message"}}. The
  // monitor alone decides what the caller may do (agent/rpc.h).
  kCall = 6,
  // monitor -> connection process, unsolicited, only after authentication:
  // {"method": "session.state", "params": {...}, "end": bool}. The process
  // writes it as a JSON-RPC notification line on every rdiag-v1 channel; with
  // "end": true it then closes every channel and disconnects (the grant it
  // was using ended). The monitor kills it 500 ms later if it is still there.
  kNotify = 7,
  // May this connection open a door? {"door": "shell"|"exec"|"sftp"}.
  // Answer {} (allowed) or {"error": {"code", "reason", "message"}}.
  kDoor = 8,
};
constexpr std::uint8_t kAnswerBit = 0x80;

// Requests carry JSON-RPC params (a request line is at most max_request_bytes,
// 1 MiB by default); a connection process refuses a bigger call itself
// rather than send a frame the monitor would treat as a violation.
constexpr std::size_t kMaxMonFrame = std::size_t{4} * 1024 * 1024;
// Answers carry pages of records (record.get bounds a page to a few MiB).
constexpr std::size_t kMaxMonAnswerFrame = std::size_t{32} * 1024 * 1024;

struct MonMessage {
  std::uint8_t type = 0;  // raw: the receiver decides what it accepts
  nlohmann::json body;
};

std::string encode_frame(std::uint8_t type, const nlohmann::json& body);

// Incremental decoder for a non-blocking reader (the monitor side).
class MonDecoder {
 public:
  // Appends bytes; returns false when the stream is malformed (oversized
  // frame, empty frame, body not a JSON object).
  bool feed(const char* data, std::size_t len, std::vector<MonMessage>& out);

 private:
  std::string buf_;
};

// Blocking helpers for the connection process (one outstanding request).
Result<void> send_frame(int fd, std::uint8_t type, const nlohmann::json& body);
// recv_frame reads answers, so it accepts frames up to kMaxMonAnswerFrame.
Result<MonMessage> recv_frame(int fd);

}  // namespace rdiag::agent
