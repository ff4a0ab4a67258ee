// The collectors' I/O helpers: reading a /proc, /sys or /etc file whole and
// listing process ids. The parsers never call these; collect functions do.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/result.h"

namespace rdiag::agent::collect {

// /proc files report size 0, so this reads to EOF, capped: the largest file
// read here (/proc/net/tcp6 on a busy server) stays far below 16 MiB.
inline constexpr std::size_t kMaxReadBytes = 16u << 20;

// The whole file; an error names the path and errno text (reason "io").
Result<std::string> read_text(const std::string& path, std::size_t max_bytes = kMaxReadBytes);

// The numeric entries of /proc, sorted. Processes come and go while we walk,
// so every later read of /proc/PID/... may fail and callers skip those.
std::vector<int> list_pids();

}  // namespace rdiag::agent::collect
