// libFuzzer target for the bytes an unauthenticated-looking peer controls most
// directly: the NDJSON stream of the rdiag-v1 subsystem. Beyond "no crash",
// it checks the promises callers rely on (abort() makes libFuzzer keep the input).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "common/jsonrpc.h"
#include "common/text_safety.h"
#include "tests/fuzz/fuzz_require.h"

namespace {

using rdiag::rpc::LineAssembler;
using rdiag::rpc::ParseFailure;
using rdiag::rpc::Request;

// Small, so the fuzzer reaches the oversized path without megabyte inputs.
constexpr std::size_t kCap = 256;

using rdiag::fuzz::require;

// A reply must be exactly one line of valid UTF-8 JSON whatever went in.
void check_reply(const std::string& line) {
  require(!line.empty() && line.find('\n') == line.size() - 1);
  require(!rdiag::first_invalid_utf8(line).has_value());
  require(nlohmann::json::accept(line));
}

// What the agent does with one line: parse, then reply or log.
void handle_line(std::string_view line) {
  require(!line.empty() && line.size() <= kCap);
  require(line.find('\n') == std::string_view::npos);
  auto parsed = rdiag::rpc::parse_request(line);
  if (const auto* f = std::get_if<ParseFailure>(&parsed)) {
    require(f->code == rdiag::rpc::kParseError || f->code == rdiag::rpc::kInvalidRequest);
    check_reply(rdiag::rpc::error_line(f->id, f->code, f->reason, f->detail));
    return;
  }
  const auto& request = std::get<Request>(parsed);
  require(!request.method.empty());
  check_reply(rdiag::rpc::result_line(request.id, request.params));
  check_reply(rdiag::rpc::notification_line(request.method, request.params));
  const std::string shown = rdiag::terminal_safe(request.method);
  for (const char c : shown) require(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the feed() chunk size, so requests split across
  // reads are explored as well as many requests in one read.
  const std::size_t step = data[0] % 64 + 1;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  LineAssembler assembler(kCap);
  for (std::size_t at = 0; at < stream.size(); at += step) {
    assembler.feed(stream.substr(at, step), handle_line, [] {});
    require(assembler.buffered() <= kCap);
  }
  // Whole input as one line, to reach nesting and parsing without the cap.
  (void)rdiag::rpc::parse_request(stream);
  require(!rdiag::first_invalid_utf8(rdiag::sanitize_utf8(stream)).has_value());
  return 0;
}
