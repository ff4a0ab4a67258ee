#include "common/redact/digit_runs.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace rdiag::redact::detail {
namespace {

Masks classify_full(const char* p) {
  Masks m;
#if defined(__SSE2__)
  const __m128i lo = _mm_set1_epi8('0' - 1);
  const __m128i hi = _mm_set1_epi8('9' + 1);
  const __m128i space = _mm_set1_epi8(' ');
  const __m128i dash = _mm_set1_epi8('-');
  for (std::size_t i = 0; i < 4; ++i) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    // Signed compares: bytes >= 0x80 (UTF-8) are negative, so never digits.
    const __m128i dig = _mm_and_si128(_mm_cmpgt_epi8(v, lo), _mm_cmplt_epi8(v, hi));
    const __m128i sep = _mm_or_si128(_mm_cmpeq_epi8(v, space), _mm_cmpeq_epi8(v, dash));
    m.digit |= static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(dig)))
               << (16 * i);
    m.sep |= static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(sep))) << (16 * i);
  }
#else
  for (unsigned i = 0; i < 64; ++i) {
    const char c = p[i];
    if (c >= '0' && c <= '9') m.digit |= 1ULL << i;
    if (c == ' ' || c == '-') m.sep |= 1ULL << i;
  }
#endif
  return m;
}

}  // namespace

Masks classify64(const char* p, std::size_t n) {
  if (n >= 64) return classify_full(p);
  // Only the last window of a text is short: it is copied into zeros, which
  // are neither digits nor separators.
  char buf[64] = {};
  std::memcpy(buf, p, n);
  return classify_full(buf);
}

}  // namespace rdiag::redact::detail
