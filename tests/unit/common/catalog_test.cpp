// Every message the code asks for exists in both languages, with the same
// placeholders, so no user ever sees a raw id or a broken sentence.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "common/i18n.h"

namespace rdiag::i18n {
namespace {

std::set<std::string> placeholders(std::string_view text) {
  std::set<std::string> out;
  const std::string s(text);
  static const std::regex kSlot(R"(\{[0-9]+\})");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), kSlot); it != std::sregex_iterator();
       ++it) {
    out.insert(it->str());
  }
  return out;
}

TEST(Catalog, EveryEntryHasBothLanguagesAndTheSamePlaceholders) {
  std::set<std::string_view> seen;
  for (std::string_view id : catalog_ids()) {
    EXPECT_TRUE(seen.insert(id).second) << "duplicate id " << id;
    const auto en = text_in(Lang::kEn, id);
    const auto zh = text_in(Lang::kZhCN, id);
    EXPECT_FALSE(en.empty()) << id;
    EXPECT_FALSE(zh.empty()) << id;
    EXPECT_EQ(placeholders(en), placeholders(zh)) << id;
  }
}

// Scans the tree for literal ids handed to the catalog (tr("x.y"), log_*("x.y"))
// and checks each is there: a typo would otherwise print the id itself.
TEST(Catalog, EveryIdUsedInTheSourceExists) {
  static const std::regex kUse(
      R"(\b(?:tr|text|log_info|log_warn|log_error|say|fail_with)\(\s*"((?:common|agent|console|consent|store)\.[a-z0-9_.]+)\")");
  int uses = 0;
  for (const char* dir : {"common", "agent", "console"}) {
    for (const auto& f :
         std::filesystem::recursive_directory_iterator(std::string(RDIAG_SOURCE_DIR) + "/" + dir)) {
      const auto ext = f.path().extension();
      if (ext != ".cpp" && ext != ".h") continue;
      std::ifstream in(f.path());
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string src = ss.str();
      for (auto it = std::sregex_iterator(src.begin(), src.end(), kUse);
           it != std::sregex_iterator(); ++it) {
        const std::string id = (*it)[1];
        if (id.back() == '.') continue;  // a prefix completed at run time
        ++uses;
        EXPECT_TRUE(has_id(id)) << id << " used in " << f.path() << " is not in the catalog";
      }
    }
  }
  EXPECT_GT(uses, 20) << "the scan found almost nothing: is the pattern still right?";
}

}  // namespace
}  // namespace rdiag::i18n
