// The digit-run gate must flag every line that can hold a 身份证号, mobile or
// card number, wherever it sits relative to the scanner's 64-byte windows:
// a missed line would be a missed redaction. Checked against a plain
// byte-by-byte reference on text built to put runs across window edges.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "common/redact/digit_runs.h"
#include "common/redact/engine.h"

namespace rdiag::redact {
namespace {

bool digit(char c) {
  return c >= '0' && c <= '9';
}
bool sep(char c) {
  return c == ' ' || c == '-';
}

// Offsets where 11 digits in a row, or dddd?dddd?dddd?dddd, end.
std::set<std::size_t> reference(const std::string& t) {
  std::set<std::size_t> out;
  for (std::size_t i = 0; i < t.size(); ++i) {
    bool run = i >= 10;
    for (std::size_t k = 0; run && k < 11; ++k) run = digit(t[i - k]);
    bool grouped = i >= 18;
    for (std::size_t k = 0; grouped && k < 19; ++k) {
      grouped = (k % 5 == 4) ? sep(t[i - k]) : digit(t[i - k]);
    }
    if (run || grouped) out.insert(i);
  }
  return out;
}

std::set<std::size_t> scanned(const std::string& t) {
  std::set<std::size_t> out;
  detail::for_each_digit_run(t, [&](std::size_t pos) {
    out.insert(pos);
    return pos + 1;  // report everything, to compare position by position
  });
  return out;
}

TEST(RedactDigitRuns, MatchesTheReferenceAcrossWindowEdges) {
  // Every placement of each shape over the first windows, padded with text.
  for (const std::string shape : {"13812345678", "11010519491231002X", "6258 0710 0012 3452",
                                  "4111-1111-1111-1111", "1234567890", "1234 5678 9012 345"}) {
    for (std::size_t at = 0; at < 140; ++at) {
      const std::string t = std::string(at, 'x') + shape + std::string(at % 70, 'y');
      EXPECT_EQ(scanned(t), reference(t)) << "shape " << shape << " at " << at;
    }
  }
}

TEST(RedactDigitRuns, MatchesTheReferenceOnPseudoRandomText) {
  unsigned x = 12345;  // fixed seed: the same text every run
  const std::string alphabet = "0123456789012345678901234567890123456789 -ab\n";
  for (int round = 0; round < 200; ++round) {
    std::string t;
    for (int i = 0; i < 300; ++i) {
      x = x * 1103515245U + 12345U;
      t += alphabet[(x >> 16) % alphabet.size()];
    }
    ASSERT_EQ(scanned(t), reference(t)) << t;
  }
}

TEST(RedactDigitRuns, NumbersAtBlockEdgesOfALongTextAreRedacted) {
  auto e = Engine::build({}, {});
  ASSERT_TRUE(e) << e.error().message;
  std::string text;
  for (int i = 0; i < 50; ++i) {
    text += std::string(static_cast<std::size_t>(i), '.') + "13812345678\n";
  }
  Summary s;
  const std::string out = e->redact_text(text, &s);
  EXPECT_EQ(out.find("13812345678"), std::string::npos);
  EXPECT_EQ(s.counts["mobile"], 50U);
}

}  // namespace
}  // namespace rdiag::redact
