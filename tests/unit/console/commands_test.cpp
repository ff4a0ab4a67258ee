#include "console/commands.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/i18n.h"
#include "tests/unit/console/temp_dir.h"

namespace rdiag::console {
namespace {

using testing::TempDir;

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run run_cmd(const std::string& data_dir, Command cmd, std::string name = {},
            std::string address = {}, std::vector<std::string> tags = {}, bool json = false) {
  Invocation inv;
  inv.global.data_dir = data_dir;
  inv.global.json = json;
  inv.command = cmd;
  inv.name = std::move(name);
  inv.address = std::move(address);
  inv.tags = std::move(tags);
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  Context ctx{inv.global, {}, in, out, err, false};
  int code = run_with(inv, ctx);
  return {code, out.str(), err.str()};
}

class Commands : public ::testing::Test {
 protected:
  void SetUp() override { i18n::set_lang(i18n::Lang::kEn); }
  TempDir dir_;
};

TEST_F(Commands, SitesAddListRemove) {
  std::string d = dir_.path() + "/data";
  EXPECT_EQ(run_cmd(d, Command::kSitesAdd, "erp01", "10.0.0.5", {"prod"}).code, 0);
  EXPECT_EQ(run_cmd(d, Command::kSitesAdd, "erp02", "[::1]:2223").code, 0);
  auto list = run_cmd(d, Command::kSitesList);
  EXPECT_EQ(list.code, 0);
  EXPECT_EQ(list.out,
            "NAME   HOST      PORT  TAGS\n"
            "erp01  10.0.0.5  2222  prod\n"
            "erp02  ::1       2223\n");
  EXPECT_EQ(run_cmd(d, Command::kSitesRemove, "erp01").code, 0);
  auto json = run_cmd(d, Command::kSitesList, {}, {}, {}, true);
  EXPECT_EQ(
      nlohmann::json::parse(json.out),
      nlohmann::json::parse(R"({"sites":[{"name":"erp02","host":"::1","port":2223,"tags":[]}]})"));
}

TEST_F(Commands, EmptyListSaysHowToAdd) {
  auto list = run_cmd(dir_.path(), Command::kSitesList);
  EXPECT_EQ(list.code, 0);
  EXPECT_NE(list.out.find("rdiag sites add"), std::string::npos);
  auto json = run_cmd(dir_.path(), Command::kSitesList, {}, {}, {}, true);
  EXPECT_EQ(nlohmann::json::parse(json.out), nlohmann::json::parse(R"({"sites":[]})"));
}

TEST_F(Commands, ErrorsExitOneWithPrefix) {
  ASSERT_EQ(run_cmd(dir_.path(), Command::kSitesAdd, "erp01", "h").code, 0);
  auto dup = run_cmd(dir_.path(), Command::kSitesAdd, "erp01", "h");
  EXPECT_EQ(dup.code, 1);
  EXPECT_EQ(dup.err.rfind("rdiag: ", 0), 0U);
  auto bad = run_cmd(dir_.path(), Command::kSitesAdd, "bad/name", "h");
  EXPECT_EQ(bad.code, 1);
  auto unknown = run_cmd(dir_.path(), Command::kSitesRemove, "ghost");
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("ghost"), std::string::npos);
  auto info = run_cmd(dir_.path(), Command::kInfo, "ghost");
  EXPECT_EQ(info.code, 1);
  EXPECT_NE(info.err.find("unknown site ghost"), std::string::npos);
}

TEST_F(Commands, ChineseTableHeaders) {
  i18n::set_lang(i18n::Lang::kZhCN);
  ASSERT_EQ(run_cmd(dir_.path(), Command::kSitesAdd, "erp01", "h").code, 0);
  auto list = run_cmd(dir_.path(), Command::kSitesList);
  i18n::set_lang(i18n::Lang::kEn);
  EXPECT_EQ(list.out.rfind("名称", 0), 0U) << list.out;
}

TEST_F(Commands, ConnectionRefusedNamesHostAndPort) {
  // Port 1 on loopback: nothing listens there on a test machine.
  ASSERT_EQ(run_cmd(dir_.path(), Command::kSitesAdd, "closed", "127.0.0.1:1").code, 0);
  auto info = run_cmd(dir_.path(), Command::kInfo, "closed");
  EXPECT_EQ(info.code, 1);
  EXPECT_NE(info.err.find("127.0.0.1:1"), std::string::npos) << info.err;
}

}  // namespace
}  // namespace rdiag::console
