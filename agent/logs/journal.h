// The systemd journal as a log source (Debian 12 has no /var/log/syslog by
// default). Entries become text lines "<local ISO time> <MESSAGE>", so the
// scanner, the since cut and the samples treat them as any log line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/logs/since.h"
#include "common/result.h"

namespace rdiag::agent::logs {

struct JournalRead {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  bool cut = false;  // stopped at max_bytes
};

// Entries of the units (OR; all entries when units is empty) from since on,
// oldest first, each handed to sink as one or more '\n'-terminated lines.
// No journal here (a container, or an account outside systemd-journal) is an
// Error with reason "no_journal" and a message saying what to do instead.
Result<JournalRead> read_journal(const std::vector<std::string>& units,
                                 std::optional<EpochMs> since, std::uint64_t max_bytes,
                                 const std::function<void(std::string_view)>& sink);

// The last `lines` entries, as text lines, oldest first.
Result<std::string> tail_journal(const std::vector<std::string>& units, std::size_t lines);

// "2026-11-28T21:04:09.123+08:00": the server's local time with its offset.
std::string local_iso(EpochMs t);

}  // namespace rdiag::agent::logs
