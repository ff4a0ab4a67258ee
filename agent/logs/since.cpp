#include "agent/logs/since.h"

#include <array>
#include <ctime>
#include <string>

#include "common/i18n.h"
#include "common/redact/checks.h"
#include "common/text_safety.h"

namespace rdiag::agent::logs {
namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr EpochMs kDayMs = 86'400'000;

// Digits at s[pos, pos+n); -1 when any is not a digit (or a space, for
// syslog's space-padded day).
int number(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] == ' ') continue;
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

struct Fields {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, ms = 0;
  std::optional<int> offset_min;  // absent: local time
};

// ".123" or ",123" (any number of digits, milliseconds kept), then "Z" or
// "+08:00" / "+0800" / "-05:00".
void read_tail(std::string_view s, std::size_t pos, Fields& f) {
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    int scale = 100;
    for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, scale /= 10) {
      f.ms += (s[pos] - '0') * scale;
    }
  }
  if (pos < s.size() && s[pos] == ' ') ++pos;  // "12:00:00 +0800"
  if (pos < s.size() && s[pos] == 'Z') f.offset_min = 0;
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int h = number(s, pos + 1, 2);
    const bool colon = pos + 3 < s.size() && s[pos + 3] == ':';
    const int m = number(s, pos + (colon ? 4 : 3), 2);
    if (h >= 0 && m >= 0) f.offset_min = (s[pos] == '-' ? -1 : 1) * (h * 60 + m);
  }
}

std::optional<Fields> read_iso(std::string_view s) {
  Fields f;
  f.year = number(s, 0, 4);
  f.month = number(s, 5, 2);
  f.day = number(s, 8, 2);
  f.hour = number(s, 11, 2);
  f.minute = number(s, 14, 2);
  f.second = number(s, 17, 2);
  if (f.year < 1970 || f.month < 1 || f.month > 12 || f.day < 1 || f.day > 31 || f.hour < 0 ||
      f.hour > 23 || f.minute < 0 || f.minute > 59 || f.second < 0 || f.second > 60) {
    return std::nullopt;
  }
  read_tail(s, 19, f);
  return f;
}

std::optional<Fields> read_syslog(std::string_view s) {
  Fields f;
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (s.substr(0, 3) == kMonths[i]) f.month = static_cast<int>(i) + 1;
  }
  f.day = number(s, 4, 2);
  f.hour = number(s, 7, 2);
  f.minute = number(s, 10, 2);
  f.second = number(s, 13, 2);
  if (f.month == 0 || f.day < 1 || f.hour < 0 || f.minute < 0 || f.second < 0) return std::nullopt;
  return f;
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard
// Hinnant's days_from_civil), so UTC needs no timegm and no time zone.
std::int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return std::int64_t{era} * 146097 + doe - 719468;
}

EpochMs utc_ms(const Fields& f) {
  const std::int64_t secs =
      days_from_civil(f.year, f.month, f.day) * 86400 + f.hour * 3600 + f.minute * 60 + f.second;
  return secs * 1000 + f.ms;
}

EpochMs now_ms() {
  return static_cast<EpochMs>(std::time(nullptr)) * 1000;
}

}  // namespace

Result<EpochMs> parse_since(std::string_view text) {
  auto f =
      text.size() >= 20 && (text[10] == 'T' || text[10] == ' ') ? read_iso(text) : std::nullopt;
  if (!f || !f->offset_min) {
    return make_error(i18n::tr("agent.logs.bad_since", sanitize_utf8(text)), "bad_job");
  }
  return utc_ms(*f) - EpochMs{*f->offset_min} * 60'000;
}

std::optional<EpochMs> LocalClock::local_hour(int year, int month, int day, int hour) {
  const std::int64_t key = ((std::int64_t{year} * 100 + month) * 100 + day) * 100 + hour;
  if (key == cached_key_) return cached_hour_;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_isdst = -1;  // let the zone rules decide summer time
  const std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  cached_key_ = key;
  cached_hour_ = static_cast<EpochMs>(t) * 1000;
  return cached_hour_;
}

std::optional<EpochMs> LocalClock::parse(std::string_view ts) {
  if (!ts.empty() && ts[0] == '[') ts.remove_prefix(1);
  std::optional<Fields> f;
  const bool syslog = !(ts.size() >= 19 && ts[4] == ts[7] && (ts[4] == '-' || ts[4] == '/'));
  if (!syslog) {
    f = read_iso(ts);
  } else if (ts.size() >= 15) {
    f = read_syslog(ts);
    if (f) {
      if (this_year_ == 0) {
        const std::time_t t = std::time(nullptr);
        std::tm tm{};
        localtime_r(&t, &tm);
        this_year_ = tm.tm_year + 1900;
      }
      f->year = this_year_;
    }
  }
  if (!f) return std::nullopt;
  if (f->offset_min) return utc_ms(*f) - EpochMs{*f->offset_min} * 60'000;
  auto hour = local_hour(f->year, f->month, f->day, f->hour);
  if (!hour) return std::nullopt;
  EpochMs t = *hour + (f->minute * 60 + f->second) * 1000 + f->ms;
  // Syslog has no year: a December line read in January is last year's.
  if (syslog && t > now_ms() + kDayMs) {
    hour = local_hour(f->year - 1, f->month, f->day, f->hour);
    if (hour) t = *hour + (f->minute * 60 + f->second) * 1000 + f->ms;
  }
  return t;
}

bool SinceFilter::keep(std::string_view line) {
  if (!since_) return true;
  const std::string_view ts = redact::leading_timestamp(line);
  if (ts.empty()) return keeping_;
  if (auto t = clock_.parse(ts)) keeping_ = *t >= *since_;
  return keeping_;
}

}  // namespace rdiag::agent::logs
