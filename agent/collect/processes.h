// The `processes` collector: counts by state and the top N processes by CPU
// (two samples) and by resident memory, from /proc/PID/{stat,status,cmdline}.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace rdiag::agent::collect {

// The /proc/PID/stat fields a report uses (proc(5) numbering in comments).
struct PidStat {
  pid_t pid = 0;                // (1)
  std::string comm;             // (2) without the parentheses; may hold spaces and ')'
  char state = '?';             // (3) R S D Z T t I X ...
  std::uint64_t utime = 0;      // (14) clock ticks
  std::uint64_t stime = 0;      // (15)
  std::uint64_t threads = 0;    // (20)
  std::uint64_t start = 0;      // (22) ticks after boot: tells a reused pid apart
  std::uint64_t rss_pages = 0;  // (24)
};

// "1234 (my (odd) name) S 1 ..."; the command ends at the LAST ')'.
Result<PidStat> parse_pid_stat(std::string_view text, std::string_view path);

// The real uid from /proc/PID/status ("Uid:\t1000\t1000\t1000\t1000").
Result<std::uint64_t> parse_status_uid(std::string_view text, std::string_view path);

// s with every invalid UTF-8 sequence (bad lead, bad continuation, overlong,
// surrogate, past U+10FFFF, cut short) replaced by U+FFFD.
std::string valid_utf8(std::string_view s);

// The longest prefix of valid UTF-8 s of at most max_bytes that does not end
// inside a character.
std::string_view cut_utf8(std::string_view s, std::size_t max_bytes);

// /proc/PID/cmdline (NUL-separated arguments) as one line of text: NULs to
// spaces, trailing ones dropped, valid UTF-8. Not yet redacted nor cut.
std::string cmdline_text(std::string_view raw);

// Per-mille of one CPU used by `ticks` of CPU time over `ms` of wall time
// (1000 = one full CPU; a busy multi-threaded process goes past it).
std::uint64_t cpu_permille(std::uint64_t ticks, std::uint64_t ticks_per_s, std::uint64_t ms);

}  // namespace rdiag::agent::collect
