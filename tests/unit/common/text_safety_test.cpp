#include "common/text_safety.h"

#include <gtest/gtest.h>

namespace rdiag {
namespace {

TEST(TerminalSafe, EngineerNameCannotRetitleTheTerminal) {
  const std::string shown = terminal_safe("\x1b]0;pwned\x07李伟");
  EXPECT_EQ(shown, "\\x1b]0;pwned\\x07李伟");
  EXPECT_EQ(shown.find('\x1b'), std::string::npos);
  EXPECT_EQ(shown.find('\x07'), std::string::npos);
  EXPECT_NE(shown.find("李伟"), std::string::npos);
}

TEST(TerminalSafe, BidiOverridesAndIsolatesAreEscaped) {
  EXPECT_EQ(terminal_safe("invoice\u202Efdp.exe"), "invoice\\u{202E}fdp.exe");
  EXPECT_EQ(terminal_safe("a\u2066b\u2069c"), "a\\u{2066}b\\u{2069}c");
  EXPECT_EQ(terminal_safe("\u200E\u200F\u061C"), "\\u{200E}\\u{200F}\\u{061C}");
  EXPECT_EQ(terminal_safe("\u202A\u202B\u202C\u202D"), "\\u{202A}\\u{202B}\\u{202C}\\u{202D}");
}

TEST(TerminalSafe, C1ControlsAndDeleteAreEscaped) {
  EXPECT_EQ(terminal_safe("\u009B31m"), "\\u{009B}31m");  // CSI as one code point
  EXPECT_EQ(terminal_safe("\u0080\u009F"), "\\u{0080}\\u{009F}");
  EXPECT_EQ(terminal_safe("x\x7fy"), "x\\x7fy");
  EXPECT_EQ(terminal_safe(std::string_view("\0", 1)), "\\x00");
}

TEST(TerminalSafe, NewlinesAndTabsOnlyWhenAllowed) {
  EXPECT_EQ(terminal_safe("a\tb\nc\rd"), "a\\x09b\\x0ac\\x0dd");
  EXPECT_EQ(terminal_safe("a\tb\nc\rd", true), "a\tb\nc\\x0dd");
}

TEST(TerminalSafe, LeavesOrdinaryTextAndBackslashAlone) {
  EXPECT_EQ(terminal_safe(R"(C:\erp\logs 库存 ✓ 😀)"), R"(C:\erp\logs 库存 ✓ 😀)");
}

TEST(TerminalSafe, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(terminal_safe("a\xffz"), "a\uFFFDz");
  // A C1 control smuggled as an overlong stays harmless.
  EXPECT_EQ(terminal_safe("\xc2\x1b"), "\uFFFD\\x1b");
}

TEST(SanitizeUtf8, EachInvalidByteBecomesReplacementCharacter) {
  EXPECT_EQ(sanitize_utf8("a\xff"
                          "b"),
            "a\uFFFDb");
  EXPECT_EQ(sanitize_utf8("\xc0\xaf"), "\uFFFD\uFFFD");                      // overlong '/'
  EXPECT_EQ(sanitize_utf8("\xe0\x80\xaf"), "\uFFFD\uFFFD\uFFFD");            // overlong '/'
  EXPECT_EQ(sanitize_utf8("\xed\xa0\x80"), "\uFFFD\uFFFD\uFFFD");            // surrogate D800
  EXPECT_EQ(sanitize_utf8("\xf4\x90\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");  // U+110000
  EXPECT_EQ(sanitize_utf8("\xe4\xb8"), "\uFFFD\uFFFD");                      // truncated
  EXPECT_EQ(sanitize_utf8("\x80x"), "\uFFFDx");                              // stray continuation
}

TEST(SanitizeUtf8, ValidTextIsUnchanged) {
  for (const std::string_view ok : {"", "plain", "李伟", "😀", "\U0010FFFF", "\uD7FF\uE000"}) {
    EXPECT_EQ(sanitize_utf8(ok), ok);
    EXPECT_FALSE(first_invalid_utf8(ok).has_value());
  }
  EXPECT_EQ(first_invalid_utf8("ab\xff"), 2u);
}

TEST(CsvCell, FormulaStartGetsApostrophe) {
  EXPECT_EQ(csv_cell("=1+2"), "'=1+2");
  EXPECT_EQ(csv_cell("+1"), "'+1");
  EXPECT_EQ(csv_cell("-1"), "'-1");
  EXPECT_EQ(csv_cell("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(csv_cell("\tx"), "'\tx");
  EXPECT_EQ(csv_cell("\rx"), "\"'\rx\"");
  EXPECT_EQ(csv_cell(R"(=HYPERLINK("http://x","y"))"), R"x("'=HYPERLINK(""http://x"",""y"")")x");
}

TEST(CsvCell, LeadingSpacesDoNotHideAFormula) {
  EXPECT_EQ(csv_cell("  =1"), "'  =1");
}

TEST(CsvCell, QuotedOnlyWhenNeeded) {
  EXPECT_EQ(csv_cell("plain 库存"), "plain 库存");
  EXPECT_EQ(csv_cell(""), "");
  EXPECT_EQ(csv_cell("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_cell("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_cell(" pad"), "\" pad\"");
  EXPECT_EQ(csv_cell("pad "), "\"pad \"");
}

TEST(HtmlEscape, EscapesMarkupAndQuotes) {
  EXPECT_EQ(html_escape(R"(<a href="x" title='y'>&</a>)"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  EXPECT_EQ(html_escape("李伟\xff"), "李伟\uFFFD");
}

TEST(DisplayWidth, WideCharactersTakeTwoColumns) {
  EXPECT_EQ(display_width("李伟"), 4u);
  EXPECT_EQ(display_width("abc"), 3u);
  EXPECT_EQ(display_width("한국"), 4u);
  EXPECT_EQ(display_width("ＡＢ"), 4u);  // fullwidth Latin
  EXPECT_EQ(display_width("ｱｲ"), 2u);    // halfwidth katakana
  EXPECT_EQ(display_width("😀🤖"), 4u);
  EXPECT_EQ(display_width("\U00020000"), 2u);  // CJK extension B
  EXPECT_EQ(display_width(""), 0u);
}

TEST(DisplayWidth, CombiningMarksTakeNoColumn) {
  EXPECT_EQ(display_width("e\u0301"), 1u);
  EXPECT_EQ(display_width("a\u20DD"), 1u);
}

}  // namespace
}  // namespace rdiag
