#include "console/terminal.h"

#include <gtest/gtest.h>

#include <sstream>

namespace rdiag::console {
namespace {

TEST(Terminal, PadsByDisplayWidth) {
  EXPECT_EQ(pad_to_width("ab", 4), "ab  ");
  EXPECT_EQ(pad_to_width("名称", 6), "名称  ");  // two wide characters = 4 columns
  EXPECT_EQ(pad_to_width("toolong", 3), "toolong");
}

TEST(Terminal, TableAlignsCjk) {
  std::string table = render_table({{"名称", "主机"}, {"erp01", "10.0.0.5"}, {"华东站", "h"}});
  EXPECT_EQ(table,
            "名称    主机\n"
            "erp01   10.0.0.5\n"
            "华东站  h\n");
}

TEST(Terminal, TableTrimsTrailingBlanks) {
  EXPECT_EQ(render_table({{"a", ""}, {"bbb", "x"}}), "a\nbbb  x\n");
}

TEST(Terminal, FieldsAlignValues) {
  EXPECT_EQ(render_fields({{"OS", "Debian"}, {"主机名", "erp01"}}),
            "OS:      Debian\n"
            "主机名:  erp01\n");
}

TEST(Terminal, YesMeansYesAndEverythingElseNo) {
  for (const char* yes : {"y\n", "Y\n", "yes\n", " YES \n", "是\n"}) {
    std::istringstream in(yes);
    EXPECT_TRUE(read_yes(in)) << yes;
  }
  for (const char* no : {"\n", "n\n", "no\n", "yess\n", "", "nope"}) {
    std::istringstream in(no);
    EXPECT_FALSE(read_yes(in)) << no;
  }
}

}  // namespace
}  // namespace rdiag::console
