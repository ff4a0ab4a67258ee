#include "console/seal_pins.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "console/files.h"
#include "tests/unit/console/temp_dir.h"

namespace rdiag::console {
namespace {

using testing::kKeyA;
using testing::kKeyB;
using testing::TempDir;

TEST(SealPins, NameIsAlwaysBracketed) {
  EXPECT_EQ(pin_name("erp01", 2222), "[erp01]:2222");
  EXPECT_EQ(pin_name("erp01", 22), "[erp01]:22");
  EXPECT_EQ(pin_name("::1", 2222), "[::1]:2222");
}

TEST(SealPins, FindsByHostAndPort) {
  auto pins =
      SealPins::parse(std::string("[erp01]:2222 ") + kKeyA + "\n[erp01]:2200 " + kKeyB + "\n");
  EXPECT_EQ(pins.find("erp01", 2222), kKeyA);
  EXPECT_EQ(pins.find("erp01", 2200), kKeyB);
  EXPECT_FALSE(pins.find("erp02", 2222));
}

TEST(SealPins, SetAddsOrReplaces) {
  SealPins pins;
  pins.set("erp01", 2222, kKeyA);
  EXPECT_EQ(pins.to_text(), std::string("[erp01]:2222 ") + kKeyA + "\n");
  pins.set("erp01", 2222, kKeyB);
  pins.set("erp02", 2222, kKeyA);
  EXPECT_EQ(pins.to_text(),
            std::string("[erp01]:2222 ") + kKeyB + "\n[erp02]:2222 " + kKeyA + "\n");
}

TEST(SealPins, KeepsCommentsAndUnreadableLines) {
  std::string text = std::string("# pinned by hand\n\ngarbage\n[erp01]:2222 ") + kKeyA + "\n";
  auto pins = SealPins::parse(text);
  EXPECT_EQ(pins.to_text(), text);
  EXPECT_EQ(pins.find("erp01", 2222), kKeyA);
}

TEST(SealPins, IgnoresATrailingComment) {
  auto pins = SealPins::parse(std::string("[erp01]:2222 ") + kKeyA + " seal@erp01\n");
  EXPECT_EQ(pins.find("erp01", 2222), kKeyA);
}

TEST(SealPinsFile, WritesPrivatelyAndReadsBack) {
  TempDir dir;
  auto empty = load_seal_pins(dir.path());
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->find("erp01", 2222));
  SealPins pins;
  pins.set("erp01", 2222, kKeyA);
  ASSERT_TRUE(save_seal_pins(dir.path(), pins));
  struct stat st {};
  ASSERT_EQ(::stat(seal_pins_path(dir.path()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  auto back = load_seal_pins(dir.path());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->find("erp01", 2222), kKeyA);
  auto text = read_text_file(seal_pins_path(dir.path()));
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, std::string("[erp01]:2222 ") + kKeyA + "\n");
}

}  // namespace
}  // namespace rdiag::console
