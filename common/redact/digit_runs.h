// A fast gate for the personal-data rules (身份证号, mobile, bank card). They
// have no literal text for Vectorscan to anchor on, and digit-class patterns
// slowed the whole database to a tenth of its speed (0.38 vs 3.7 GB/s on
// bench/scan_bench's ERP log). Every such number is a run of 11+ digits or a
// card written in four groups of four, so this scanner finds those with SSE2
// bit masks, 64 bytes at a time; PCRE2 then decides on the flagged lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rdiag::redact::detail {

// Bits of a window of up to 64 bytes: which are digits, which ' ' or '-'.
struct Masks {
  std::uint64_t digit = 0;
  std::uint64_t sep = 0;
};
Masks classify64(const char* p, std::size_t n);

// Bit i of the result is m's bit i - k, reaching into prev (the window
// before) for the first k bits. 0 < k < 64.
inline std::uint64_t back(std::uint64_t m, std::uint64_t prev, unsigned k) {
  return (m << k) | (prev >> (64 - k));
}

// Calls on_end(pos) with the offset of the last byte of each candidate: 11
// digits in a row, or dddd?dddd?dddd?dddd with ? a space or dash. on_end
// returns the offset to go on from (e.g. the start of the next line), so a
// line is reported once however many digits it holds.
template <typename F>
void for_each_digit_run(std::string_view text, F&& on_end) {
  Masks prev;
  std::uint64_t prev_d4 = 0;
  std::size_t skip_to = 0;
  for (std::size_t base = 0; base < text.size(); base += 64) {
    const Masks m = classify64(text.data() + base, text.size() - base);
    const std::uint64_t d = m.digit;
    const std::uint64_t s = m.sep;
    // Runs of 2, 4, 8 and 11 digits ending at each bit (carrying in the
    // previous window's bits; 18 bytes is the longest look back).
    const std::uint64_t d2 = d & back(d, prev.digit, 1);
    const std::uint64_t d4 = d2 & back(d2, prev.digit & (prev.digit << 1), 2);
    const std::uint64_t d8 = d4 & back(d4, prev_d4, 4);
    const std::uint64_t d11 = d8 & back(d4, prev_d4, 7);
    const std::uint64_t grouped = d4 & back(s, prev.sep, 4) & back(d4, prev_d4, 5) &
                                  back(s, prev.sep, 9) & back(d4, prev_d4, 10) &
                                  back(s, prev.sep, 14) & back(d4, prev_d4, 15);
    for (std::uint64_t hits = d11 | grouped; hits != 0; hits &= hits - 1) {
      const std::size_t pos = base + static_cast<std::size_t>(__builtin_ctzll(hits));
      if (pos >= skip_to) skip_to = on_end(pos);
    }
    prev = Masks{d, s};
    prev_d4 = d4;
  }
}

}  // namespace rdiag::redact::detail
