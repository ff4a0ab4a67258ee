// Moving one file's bytes into an Engine::Scan, with the since cut and the
// per-source byte budget applied on the way (internal to agent/logs).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "agent/logs/reader.h"
#include "agent/logs/since.h"
#include "common/redact/engine.h"
#include "common/result.h"

namespace rdiag::agent::logs {

struct FeedStats {
  std::uint64_t lines = 0;   // lines scanned (kept by the since cut)
  std::uint64_t bytes = 0;   // bytes read, decompressed
  bool cut = false;          // the byte budget (or the time) ran out
  bool out_of_time = false;  // cut because the job's deadline came
};

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

// Lines the since cut skips are fed as empty lines, so the engine's line
// numbers stay the file's own and nothing of a skipped line reaches it.
// With a deadline, reading stops at the first chunk (1 MiB) after it.
Result<FeedStats> feed_file(LogReader& reader, redact::Engine::Scan& scan, SinceFilter filter,
                            std::uint64_t budget, Deadline deadline = std::nullopt);

}  // namespace rdiag::agent::logs
