// JSON-RPC 2.0 over NDJSON: one object per line, UTF-8.
// A line over the cap gets -32600 and is discarded up to its newline; nesting
// deeper than 16 gets -32600; malformed JSON -32700; the connection stays usable.
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace rdiag::rpc {

enum Code : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  kUnauthenticated = -32001,
  kNoGrant = -32002,
  kScopeDenied = -32003,
  kGrantExpired = -32004,
  kNotFound = -32005,
  kLimitExceeded = -32006,
  kConflict = -32007,
  kRecordingFailed = -32008,
};

constexpr std::size_t kMaxRequestBytes = 1048576;
constexpr int kMaxDepth = 16;

// Splits a byte stream into lines without ever holding more than the cap.
// feed() calls on_line for each complete line (without "\n", a trailing "\r"
// removed) and on_oversized once for each line that went over the cap (that
// line's bytes are dropped up to and including its newline).
// The cap counts every byte before the "\n", a trailing "\r" included.
// Empty lines are skipped.
class LineAssembler {
 public:
  explicit LineAssembler(std::size_t max_line = kMaxRequestBytes) : max_(max_line) {}
  void feed(std::string_view bytes, const std::function<void(std::string_view)>& on_line,
            const std::function<void()>& on_oversized);
  std::size_t buffered() const { return buf_.size(); }

 private:
  std::size_t max_;
  std::string buf_;
  bool discarding_ = false;
};

struct Request {
  nlohmann::json id;  // null for notifications
  bool is_notification = false;
  std::string method;
  nlohmann::json params;  // object, array or null
};

struct ParseFailure {
  int code;            // kParseError or kInvalidRequest
  std::string reason;  // parse_error | too_deep | batch_not_supported | not_an_object |
                       // bad_version | bad_method | bad_id | bad_params
  std::string detail;  // English detail for logs
  nlohmann::json id;   // the id when it could be recovered, else null
};

// Checks depth before building the tree (so 100k '[' cannot exhaust the stack),
// then validates the JSON-RPC 2.0 envelope.
std::variant<Request, ParseFailure> parse_request(std::string_view line, int max_depth = kMaxDepth);

// Depth of nesting of a JSON text, scanning brackets outside strings; stops
// counting once past limit.
int nesting_depth(std::string_view text, int limit);

// A response line, newline-terminated. Error messages are the caller's
// (translated) sentence; reason is the stable snake_case word in error.data.reason.
std::string result_line(const nlohmann::json& id, const nlohmann::json& result);
std::string error_line(const nlohmann::json& id, int code, std::string_view reason,
                       std::string_view message);
std::string notification_line(std::string_view method, const nlohmann::json& params);

}  // namespace rdiag::rpc
