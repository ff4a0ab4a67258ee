#include "common/redact/checks.h"

#include <array>
#include <cstddef>

namespace rdiag::redact {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Matches s at pos against a shape: 'd' is a digit, 'S' a date-time separator
// (space or 'T'), 'M' a letter, '_' a space or digit, anything else itself.
bool fits(std::string_view s, std::size_t pos, std::string_view shape) {
  if (s.size() - pos < shape.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const char c = s[pos + i];
    const char want = shape[i];
    const bool ok = want == 'd'   ? is_digit(c)
                    : want == 'S' ? (c == ' ' || c == 'T')
                    : want == 'M' ? ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
                    : want == '_' ? (c == ' ' || is_digit(c))
                                  : c == want;
    if (!ok) return false;
  }
  return true;
}

// Length of an optional fraction and zone after the seconds: they belong to
// the timestamp an engineer wants to see (two servers, two zones).
std::size_t tail_length(std::string_view s, std::size_t pos) {
  std::size_t i = pos;
  if (i + 1 < s.size() && (s[i] == '.' || s[i] == ',') && is_digit(s[i + 1])) {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
  }
  if (i < s.size() && s[i] == 'Z') return i + 1 - pos;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    if (fits(s, i + 1, "dd:dd")) return i + 6 - pos;
    if (fits(s, i + 1, "dddd")) return i + 5 - pos;
  }
  return i - pos;
}

}  // namespace

bool valid_id_card(std::string_view s) {
  // Weights 2^(17-i) mod 11 and the check characters, from GB 11643-1999.
  static constexpr std::array<int, 17> kWeights = {7, 9, 10, 5,  8, 4, 2, 1, 6,
                                                   3, 7, 9,  10, 5, 8, 4, 2};
  static constexpr std::string_view kCheck = "10X98765432";
  if (s.size() != 18) return false;
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) {
    if (!is_digit(s[i])) return false;
    sum += (s[i] - '0') * kWeights[i];
  }
  const char last = s[17] == 'x' ? 'X' : s[17];
  return kCheck[static_cast<std::size_t>(sum % 11)] == last;
}

bool valid_luhn(std::string_view s) {
  // From the right, every second digit doubled (and 9 taken off above 9).
  int sum = 0;
  int digits = 0;
  for (std::size_t i = s.size(); i-- > 0;) {
    const char c = s[i];
    if (c == ' ' || c == '-') continue;
    if (!is_digit(c)) return false;
    int d = c - '0';
    if (digits % 2 == 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
    ++digits;
  }
  return digits >= 13 && digits <= 19 && sum % 10 == 0;
}

std::string_view leading_timestamp(std::string_view line) {
  const std::size_t start = !line.empty() && line[0] == '[' ? 1 : 0;
  for (const std::string_view shape : {"dddd-dd-ddSdd:dd:dd", "dddd/dd/dd dd:dd:dd"}) {
    if (fits(line, start, shape)) {
      const std::size_t end = start + shape.size();
      return line.substr(start, end - start + tail_length(line, end));
    }
  }
  if (fits(line, start, "MMM _d dd:dd:dd")) return line.substr(start, 15);
  return {};
}

}  // namespace rdiag::redact
