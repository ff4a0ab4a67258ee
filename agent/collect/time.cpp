#include "agent/collect/time.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <ctime>

#include "agent/collect/collector.h"
#include "agent/collect/read.h"
#include "agent/collect/text.h"
#include "common/fs.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {

ClockSync clock_sync(const struct timex& tx, int state) {
  ClockSync s;
  s.status = static_cast<std::uint64_t>(static_cast<unsigned>(tx.status));
  s.state = state;
  s.offset_ns = (tx.status & STA_NANO) != 0 ? static_cast<std::int64_t>(tx.offset)
                                            : static_cast<std::int64_t>(tx.offset) * 1000;
  s.maxerror_us = static_cast<std::int64_t>(tx.maxerror);
  s.esterror_us = static_cast<std::int64_t>(tx.esterror);
  s.synchronised =
      (tx.status & STA_UNSYNC) == 0 && state != TIME_ERROR && s.maxerror_us < kMaxErrorUnsyncUs;
  return s;
}

nlohmann::json to_json(const ClockSync& sync) {
  return {{"synchronised", sync.synchronised},
          {"offset_ns", sync.offset_ns},
          {"maxerror_us", sync.maxerror_us},
          {"esterror_us", sync.esterror_us},
          {"status", sync.status},
          {"state", sync.state}};
}

std::optional<std::string> zone_from_link(std::string_view target) {
  constexpr std::string_view kMarker = "zoneinfo/";
  const auto at = target.find(kMarker);
  if (at == std::string_view::npos || at + kMarker.size() >= target.size()) return std::nullopt;
  std::string_view zone = target.substr(at + kMarker.size());
  // Debian's "posix/" and "right/" trees hold the same zones.
  for (const std::string_view tree : {"posix/", "right/"}) {
    if (zone.starts_with(tree)) zone.remove_prefix(tree.size());
  }
  return std::string(zone);
}

// ---- the collector ----

namespace {

// /etc/timezone (Debian) names the zone; elsewhere only the link does.
std::optional<std::string> timezone_name() {
  if (auto text = read_text("/etc/timezone", 4096)) {
    if (!trim(*text).empty()) return std::string(trim(*text));
  }
  std::array<char, 4096> buf{};
  const ssize_t n = ::readlink("/etc/localtime", buf.data(), buf.size() - 1);
  if (n <= 0) return std::nullopt;
  return zone_from_link(std::string_view(buf.data(), static_cast<std::size_t>(n)));
}

Result<nlohmann::json> time_collect(const CollectContext&) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  nlohmann::json data = {{"realtime_s", static_cast<std::int64_t>(now.tv_sec)},
                         {"realtime_ns", static_cast<std::int64_t>(now.tv_nsec)}};
  if (const auto zone = timezone_name()) data["timezone"] = *zone;
  // modes = 0 only reads, which needs no privilege; a seccomp filter in a
  // container may still refuse it, and then the report says why.
  struct timex tx {};
  const int state = ::adjtimex(&tx);
  if (state < 0) {
    data["sync_error"] = i18n::tr("agent.collect.adjtimex_failed", errno_text(errno));
  } else {
    data["sync"] = to_json(clock_sync(tx, state));
  }
  return data;
}

}  // namespace

const Collector& time_collector() {
  static const Collector c{"time", "agent.collect.summary.time", time_collect};
  return c;
}

}  // namespace rdiag::agent::collect
