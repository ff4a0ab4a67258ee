// libFuzzer target for the time stamps rdiag reads: the `since` an engineer
// sends (parse_since) and the leading time stamp of every log line, which is
// whatever an application logged (leading_timestamp, then LocalClock). Beyond
// "no crash": a found stamp is a prefix of the line, and a parsed `since`
// reads back inside the years a log can hold.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/logs/since.h"
#include "common/redact/checks.h"
#include "tests/fuzz/fuzz_require.h"

using rdiag::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto since = rdiag::agent::logs::parse_since(text); since) {
    // Years 0000..9999 are all RFC 3339 can spell.
    require(*since > -62'200'000'000'000LL && *since < 253'500'000'000'000LL);
  }
  const std::string_view ts = rdiag::redact::leading_timestamp(text);
  if (!ts.empty()) {
    require(ts.data() >= text.data() && ts.data() + ts.size() <= text.data() + text.size());
    rdiag::agent::logs::LocalClock clock;
    (void)clock.parse(ts);
  }
  return 0;
}
