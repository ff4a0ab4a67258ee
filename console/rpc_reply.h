// The console's side of JSON-RPC 2.0 over NDJSON, without the transport:
// splitting the agent's byte stream into bounded lines and matching a line to
// the request it answers. Pure, so the rules are unit-tested without SSH.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace rdiag::console {

// Responses are not capped by the agent (large results are paged), but a
// line this long means something is wrong; stop rather than eat memory.
constexpr std::size_t kMaxResponseLine = std::size_t{64} * 1024 * 1024;

class LineBuffer {
 public:
  explicit LineBuffer(std::size_t max_line = kMaxResponseLine) : max_(max_line) {}
  void append(std::string_view bytes) { buf_.append(bytes); }
  // The next complete line without its "\n" (and a trailing "\r").
  std::optional<std::string> next_line();
  // True once the unfinished line is longer than the cap.
  bool overflowed() const { return buf_.size() - start_ > max_; }

 private:
  std::size_t max_;
  std::string buf_;
  std::size_t start_ = 0;    // first byte of the unfinished line
  std::size_t scanned_ = 0;  // bytes already searched for '\n'
};

struct Reply {
  enum class Kind { kSkip, kResult, kError };
  Kind kind = Kind::kSkip;
  nlohmann::json result;  // kResult
  int code = 0;           // kError: the JSON-RPC error code
  std::string reason;     // kError: error.data.reason (snake_case) or ""
  std::string message;    // kError: error.message, made terminal-safe
  // kSkip for a notification: the whole object (method, params), untrusted
  // text; null for every other line.
  nlohmann::json notification;
};

// Notifications (no id), blank lines and answers to other ids are kSkip. An
// error with a null id answers us too: it is how an agent reports a request
// it could not parse, and we only ever have one request in flight.
Result<Reply> interpret_reply(std::string_view line, std::int64_t id);

// The request line for method(params) with id, newline-terminated.
std::string request_line(std::int64_t id, std::string_view method, const nlohmann::json& params);

}  // namespace rdiag::console
