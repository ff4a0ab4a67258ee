// Vectorscan compiles in a helper process of its own (`rdiag-compile`), so
// the worker that scans never maps the compiler: the compiler is most of
// libhs's code and needs several MiB of heap for a moment, the scanning
// runtime a fraction of that. The helper is also where a pathological
// pattern (an engineer's ad-hoc probe with a huge repeat count) meets its
// CPU and memory limits: it costs a helper, never the job's redaction.
//
// The exchange is two memory files, no parsing of anything textual:
//   request (the helper's stdin):  "RDHC1", u32 count, then per expression
//                                  u32 Vectorscan flags, u32 length, bytes
//   answer (the helper's stdout):  'D' + hs_serialize_database() bytes, or
//                                  'E' + i32 expression index + message
// Integers are in the machine's byte order (both ends are the same machine).
#pragma once

#include <cstddef>
#include <cstdint>

namespace rdiag::redact::detail {

inline constexpr char kHelperMagic[] = "RDHC1";  // 5 bytes, no terminator on the wire
inline constexpr std::size_t kHelperMagicSize = 5;
inline constexpr char kHelperDatabase = 'D';
inline constexpr char kHelperError = 'E';
// Bounds the helper checks before it allocates anything for a request.
inline constexpr std::uint32_t kHelperMaxExpressions = 100000;
inline constexpr std::uint32_t kHelperMaxPatternBytes = 1U << 20;
inline constexpr std::size_t kHelperMaxRequestBytes = std::size_t{64} << 20;

// The helper's whole life: reads the request from in_fd, compiles, writes
// the answer to out_fd. Returns the exit status: 0 when an answer was
// written (a database or a compile error), 2 for a malformed request, 3 when
// the answer could not be written.
int serve_compile(int in_fd, int out_fd);

}  // namespace rdiag::redact::detail
