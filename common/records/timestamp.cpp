// Record timestamps (declared in chain.h and event.h). A file of their own
// so that programs that only stamp times, such as the collector worker, do
// not pull in the chain's hashing and with it OpenSSL.
#include <fmt/format.h>

#include <ctime>

#include "common/records/chain.h"
#include "common/records/event.h"

namespace rdiag::records {
namespace {

constexpr std::string_view kDigits = "0123456789";

int digits_at(std::string_view s, std::size_t pos, std::size_t count) {
  int n = 0;
  for (std::size_t i = pos; i < pos + count; ++i) n = n * 10 + (s[i] - '0');
  return n;
}

}  // namespace

bool is_valid_ts(std::string_view ts) {
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (ts.size() != kShape.size()) return false;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const bool ok =
        kShape[i] == 'd' ? kDigits.find(ts[i]) != std::string_view::npos : ts[i] == kShape[i];
    if (!ok) return false;
  }
  using namespace std::chrono;
  const year_month_day date{year{digits_at(ts, 0, 4)},
                            month{static_cast<unsigned>(digits_at(ts, 5, 2))},
                            day{static_cast<unsigned>(digits_at(ts, 8, 2))}};
  // No :60: system_clock does not show leap seconds, so our writers never do.
  return date.ok() && digits_at(ts, 11, 2) < 24 && digits_at(ts, 14, 2) < 60 &&
         digits_at(ts, 17, 2) < 60;
}

std::string format_ts(std::chrono::system_clock::time_point tp) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(tp);
  const auto day = floor<days>(ms);
  const year_month_day date{day};
  const hh_mm_ss<milliseconds> time{ms - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     time.hours().count(), time.minutes().count(), time.seconds().count(),
                     time.subseconds().count());
}

std::optional<std::chrono::system_clock::time_point> parse_ts(std::string_view ts) {
  if (!is_valid_ts(ts)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = digits_at(ts, 0, 4) - 1900;
  tm.tm_mon = digits_at(ts, 5, 2) - 1;
  tm.tm_mday = digits_at(ts, 8, 2);
  tm.tm_hour = digits_at(ts, 11, 2);
  tm.tm_min = digits_at(ts, 14, 2);
  tm.tm_sec = digits_at(ts, 17, 2);
  const auto tp = std::chrono::system_clock::from_time_t(::timegm(&tm)) +
                  std::chrono::milliseconds(digits_at(ts, 20, 3));
  // timegm carries Feb 30 into March: only a date that reads back is real.
  if (format_ts(tp) != ts) return std::nullopt;
  return tp;
}

}  // namespace rdiag::records
