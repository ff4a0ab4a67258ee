// Log bytes become valid UTF-8 whatever they were: GB18030 logs from Chinese
// ERP servers read correctly, broken bytes turn into U+FFFD instead of
// stopping a scan, and a wrong config word names itself.
#include <gtest/gtest.h>

#include "common/i18n.h"
#include "common/redact/checks.h"
#include "common/redact/encoding.h"

namespace rdiag::redact {
namespace {

constexpr std::string_view kFffd = "\xEF\xBF\xBD";

TEST(RedactEncoding, ParsesTheConfigWords) {
  EXPECT_EQ(*parse_encoding("auto"), Encoding::kAuto);
  EXPECT_EQ(*parse_encoding("utf-8"), Encoding::kUtf8);
  EXPECT_EQ(*parse_encoding("UTF8"), Encoding::kUtf8);
  EXPECT_EQ(*parse_encoding("gb18030"), Encoding::kGb18030);
}

TEST(RedactEncoding, UnknownWordIsNamedInTheError) {
  i18n::set_lang(i18n::Lang::kEn);
  const auto r = parse_encoding("latin-1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'latin-1'"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("gb18030"), std::string::npos) << r.error().message;
}

TEST(RedactEncoding, AutoKeepsUtf8AndDecodesGb18030) {
  const std::string utf8 = "数据库连接失败";
  EXPECT_EQ(to_utf8(utf8, Encoding::kAuto), utf8);
  const std::string gb = "\xCA\xFD\xBE\xDD\xBF\xE2";  // 数据库 in GB18030
  EXPECT_EQ(to_utf8(gb, Encoding::kAuto), "数据库");
  EXPECT_EQ(to_utf8(gb, Encoding::kGb18030), "数据库");
}

TEST(RedactEncoding, InvalidBytesBecomeReplacementCharacters) {
  // A stray continuation byte, an overlong and a truncated sequence in UTF-8.
  const std::string out = to_utf8("ok \x80 \xC0\xAF end \xE6\x95", Encoding::kUtf8);
  EXPECT_TRUE(is_valid_utf8(out));
  EXPECT_NE(out.find(std::string("ok ") + std::string(kFffd)), std::string::npos);
  EXPECT_NE(out.find("end"), std::string::npos);
  // 0xFF is no lead byte in GB18030 either.
  const std::string gb = to_utf8(
      "a\xFF"
      "b\xCA",
      Encoding::kGb18030);
  EXPECT_EQ(gb, "a" + std::string(kFffd) + "b" + std::string(kFffd));
}

TEST(RedactEncoding, Utf8PrefixNeverSplitsACharacter) {
  const std::string s = "ab数据";  // 2 + 3 + 3 bytes
  EXPECT_EQ(utf8_prefix(s, 4), 2U);
  EXPECT_EQ(utf8_prefix(s, 5), 5U);
  EXPECT_EQ(utf8_prefix(s, 100), s.size());
}

TEST(RedactChecks, IdCardCheckDigit) {
  EXPECT_TRUE(valid_id_card("11010519491231002X"));
  EXPECT_TRUE(valid_id_card("11010519491231002x"));
  EXPECT_TRUE(valid_id_card("310115198511204566"));
  EXPECT_FALSE(valid_id_card("310115198511204567"));
  EXPECT_FALSE(valid_id_card("3101151985112045"));
}

TEST(RedactChecks, Luhn) {
  EXPECT_TRUE(valid_luhn("4111111111111111"));
  EXPECT_TRUE(valid_luhn("6258 0710 0012 3452"));
  EXPECT_TRUE(valid_luhn("6222021234567890128"));
  EXPECT_FALSE(valid_luhn("6258071000123453"));
  EXPECT_FALSE(valid_luhn("0000"));  // too short to be a card
}

TEST(RedactChecks, LeadingTimestamps) {
  EXPECT_EQ(leading_timestamp("2024-05-01 08:00:01,123 INFO x"), "2024-05-01 08:00:01,123");
  EXPECT_EQ(leading_timestamp("[2024-05-01T08:00:01.5+08:00] x"), "2024-05-01T08:00:01.5+08:00");
  EXPECT_EQ(leading_timestamp("2024/05/01 08:00:01 x"), "2024/05/01 08:00:01");
  EXPECT_EQ(leading_timestamp("May  1 08:00:13 host x"), "May  1 08:00:13");
  EXPECT_EQ(leading_timestamp("connection pool exhausted"), "");
  EXPECT_EQ(leading_timestamp("2024-05"), "");
}

}  // namespace
}  // namespace rdiag::redact
