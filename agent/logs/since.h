// The "since" cut of a log scan (DESIGN "Diagnostics": `--since`): a line is
// kept when its leading timestamp is at or after since. Log timestamps carry
// no offset as often as not; those are the server's local time, as the
// people who wrote the log read them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/result.h"

namespace rdiag::agent::logs {

// Milliseconds since the Unix epoch.
using EpochMs = std::int64_t;

// since as a job carries it: RFC 3339 ("2026-11-28T13:04:09.000Z",
// "2026-11-28T21:04:09+08:00"). Error reason "bad_job" naming the value.
Result<EpochMs> parse_since(std::string_view text);

// Remembers the local-time offset per hour, so a million lines cost a few
// mktime() calls (glibc's mktime re-checks the time zone on every call).
class LocalClock {
 public:
  // The timestamp text rdiag::redact::leading_timestamp found: ISO dates
  // with '-' or '/', optional fraction and offset, or syslog's "Nov 28
  // 13:04:09" (this year; last year when that would lie in the future).
  std::optional<EpochMs> parse(std::string_view ts);

 private:
  std::optional<EpochMs> local_hour(int year, int month, int day, int hour);
  std::int64_t cached_key_ = -1;
  EpochMs cached_hour_ = 0;
  int this_year_ = 0;
};

// Per line: keep or skip. A line without a timestamp (a stack trace, the
// body of a multi-line message) goes with the line before it.
class SinceFilter {
 public:
  explicit SinceFilter(std::optional<EpochMs> since) : since_(since) {}
  bool active() const { return since_.has_value(); }
  bool keep(std::string_view line);

 private:
  std::optional<EpochMs> since_;
  LocalClock clock_;
  bool keeping_ = true;  // before any timestamp: kept (the file changed after since)
};

}  // namespace rdiag::agent::logs
