// Every message id the console uses is in the catalog, in both languages,
// with the same placeholders.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "common/i18n.h"

namespace rdiag::console {
namespace {

std::filesystem::path console_dir() {
  // Not __FILE__: a compiler cache may rewrite it to a relative path.
  return std::filesystem::path(RDIAG_SOURCE_DIR) / "console";
}

std::set<std::string> ids_used() {
  std::set<std::string> ids;
  std::regex id_re(R"re("(console\.[A-Za-z0-9_.]+)")re");
  for (const auto& entry : std::filesystem::directory_iterator(console_dir())) {
    if (entry.path().extension() != ".cpp" && entry.path().extension() != ".h") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    for (std::sregex_iterator it(s.begin(), s.end(), id_re), end; it != end; ++it) {
      std::string id = (*it)[1];
      if (id.back() != '.') ids.insert(id);  // a prefix completed at run time
    }
  }
  return ids;
}

std::set<std::string> placeholders(std::string_view text) {
  std::set<std::string> out;
  std::regex ph(R"(\{[0-9]+\})");
  std::string s(text);
  for (std::sregex_iterator it(s.begin(), s.end(), ph), end; it != end; ++it) out.insert(it->str());
  return out;
}

TEST(ConsoleCatalog, EveryUsedIdIsTranslated) {
  auto ids = ids_used();
  ASSERT_GT(ids.size(), 50U) << "could not read " << console_dir();
  for (const auto& id : ids) {
    ASSERT_TRUE(i18n::has_id(id)) << id;
    auto en = i18n::text_in(i18n::Lang::kEn, id);
    auto zh = i18n::text_in(i18n::Lang::kZhCN, id);
    EXPECT_FALSE(en.empty()) << id;
    EXPECT_FALSE(zh.empty()) << id;
    EXPECT_EQ(placeholders(en), placeholders(zh)) << id;
  }
}

TEST(ConsoleCatalog, HelpLabelsAreTranslated) {
  for (const char* label : {"Usage", "OPTIONS", "SUBCOMMAND", "SUBCOMMANDS", "Positionals",
                            "REQUIRED", "Env", "Needs", "Excludes", "Options"}) {
    EXPECT_TRUE(i18n::has_id(std::string("console.cli.label.") + label)) << label;
  }
}

}  // namespace
}  // namespace rdiag::console
