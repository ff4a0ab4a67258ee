// The `time` collector: the wall clock, the time zone and the kernel's NTP
// state from adjtimex(2) (what chrony, ntpd and timesyncd all steer).
#pragma once

#include <sys/timex.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace rdiag::agent::collect {

// The kernel counts the clock as unsynchronised once its maximum error
// passes NTP_PHASE_LIMIT, 16 s: a synchronising daemon keeps it far lower.
inline constexpr std::int64_t kMaxErrorUnsyncUs = 16'000'000;

struct ClockSync {
  bool synchronised = false;   // STA_UNSYNC clear, state not TIME_ERROR, maxerror sane
  std::int64_t offset_ns = 0;  // last offset the daemon measured
  std::int64_t maxerror_us = 0;
  std::int64_t esterror_us = 0;
  std::uint64_t status = 0;  // the STA_* bits as they are
  int state = 0;             // adjtimex's return: TIME_OK, TIME_INS, ..., TIME_ERROR
};

// Pure: what a copy of struct timex and adjtimex's return value say.
// offset is in microseconds unless STA_NANO is set.
ClockSync clock_sync(const struct timex& tx, int state);
nlohmann::json to_json(const ClockSync& sync);

// "Asia/Shanghai" from a /etc/localtime link target such as
// "/usr/share/zoneinfo/Asia/Shanghai" or "../usr/share/zoneinfo/UTC".
std::optional<std::string> zone_from_link(std::string_view target);

}  // namespace rdiag::agent::collect
