#include "common/i18n.h"

#include <gtest/gtest.h>

namespace rdiag::i18n {
namespace {

TEST(Catalog, ChineseAndEnglishDiffer) {
  set_lang(Lang::kZhCN);
  EXPECT_EQ(text("common.placeholder"), "（无）");
  set_lang(Lang::kEn);
  EXPECT_EQ(text("common.placeholder"), "(none)");
}

TEST(Catalog, UnknownIdFallsBackToId) {
  EXPECT_EQ(text("no.such.id"), "no.such.id");
}

TEST(Catalog, LangFlagWinsOverEnvironment) {
  EXPECT_EQ(detect("zh_CN"), Lang::kZhCN);
  EXPECT_EQ(detect("en"), Lang::kEn);
  EXPECT_EQ(parse_lang("zh_CN.UTF-8"), Lang::kZhCN);
  EXPECT_EQ(parse_lang("C.UTF-8"), Lang::kEn);
}

}  // namespace
}  // namespace rdiag::i18n
