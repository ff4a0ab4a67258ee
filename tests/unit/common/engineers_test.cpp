#include "common/engineers.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "common/i18n.h"

namespace rdiag {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPath = "/etc/rdiag/engineers";

// A fresh key line "ssh-ed25519 AAAA... comment" and its fingerprint.
struct TestKey {
  std::string line;
  std::string fingerprint;
};

TestKey make_key(const std::string& comment = "engineer@vendor") {
  auto key = generate_ed25519(comment);
  EXPECT_TRUE(key);
  PublicKey pub = key->public_key();
  return {public_key_line(pub), fingerprint_sha256(pub.blob)};
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

class Engineers : public ::testing::Test {
 protected:
  void SetUp() override { i18n::set_lang(i18n::Lang::kEn); }
  void TearDown() override { i18n::set_lang(i18n::Lang::kEn); }
  TestKey k1_ = make_key();
  TestKey k2_ = make_key();
};

TEST_F(Engineers, ReadsRdiagOptionsAndChineseName) {
  auto file = parse_engineers(
      "rdiag-name=\"李伟\",rdiag-role=\"senior\",rdiag-id=\"E1024\" " + k1_.line + "\n", kPath);
  ASSERT_TRUE(file.problems.empty()) << file.problems[0].message;
  ASSERT_EQ(file.engineers.size(), 1U);
  const Engineer& e = file.engineers[0];
  EXPECT_EQ(e.name, "李伟");
  EXPECT_EQ(e.role, "senior");
  EXPECT_EQ(e.id, "E1024");
  EXPECT_EQ(e.fingerprint, k1_.fingerprint);
  EXPECT_EQ(e.key.comment, "engineer@vendor");
  EXPECT_EQ(e.line, 1);
  EXPECT_EQ(file.find(k1_.fingerprint), &e);
  EXPECT_EQ(file.find(k2_.fingerprint), nullptr);
}

TEST_F(Engineers, PlainKeyIsAnEngineerWithNoName) {
  auto file = parse_engineers(k1_.line, kPath);
  ASSERT_EQ(file.engineers.size(), 1U);
  EXPECT_EQ(file.engineers[0].role, "engineer");
  EXPECT_TRUE(file.engineers[0].name.empty());
  EXPECT_FALSE(file.engineers[0].from);
  EXPECT_FALSE(file.engineers[0].expires_at);
}

TEST_F(Engineers, SkipsBlankAndCommentLinesButCountsThem) {
  std::string text = "# vendor engineers\n\n   \n  # indented comment\r\n" + k1_.line + "\r\n";
  auto file = parse_engineers("\xEF\xBB\xBF" + text, kPath);
  ASSERT_TRUE(file.problems.empty()) << file.problems[0].message;
  ASSERT_EQ(file.engineers.size(), 1U);
  EXPECT_EQ(file.engineers[0].line, 5);
  EXPECT_EQ(file.engineers[0].fingerprint, k1_.fingerprint);
}

TEST_F(Engineers, QuotedValuesKeepCommasSpacesAndEscapedQuotes) {
  auto file = parse_engineers(
      R"(rdiag-name="Li, \"Bill\" Wei",from="10.0.0.0/8,!10.9.9.9" )" + k1_.line, kPath);
  ASSERT_TRUE(file.problems.empty()) << file.problems[0].message;
  ASSERT_EQ(file.engineers.size(), 1U);
  EXPECT_EQ(file.engineers[0].name, "Li, \"Bill\" Wei");
  EXPECT_EQ(file.engineers[0].from, "10.0.0.0/8,!10.9.9.9");
}

TEST_F(Engineers, RefusesCommandOptionWithLineNumber) {
  auto file = parse_engineers("# first\n" + std::string("command=\"/bin/ls\" ") + k1_.line, kPath);
  EXPECT_TRUE(file.engineers.empty());
  ASSERT_EQ(file.problems.size(), 1U);
  const EngineersProblem& p = file.problems[0];
  EXPECT_TRUE(p.refused);
  EXPECT_EQ(p.line, 2);
  EXPECT_TRUE(contains(p.message, kPath)) << p.message;
  EXPECT_TRUE(contains(p.message, "line 2")) << p.message;
  EXPECT_TRUE(contains(p.message, "'command'")) << p.message;
  EXPECT_TRUE(contains(p.message, "remove the option")) << p.message;
}

TEST_F(Engineers, RefusesEveryRestrictingOption) {
  for (std::string opt :
       {"principals=\"ops\"", "cert-authority", "permitopen=\"db:5432\"", "permitlisten=\"8080\"",
        "verify-required", "restrict", "no-port-forwarding", "no-pty", "no-agent-forwarding",
        "no-X11-forwarding", "no-user-rc", "no-touch-required", "environment=\"A=b\"",
        "tunnel=\"1\"", "COMMAND=\"x\"", "rdiag-name=\"Li\",restrict"}) {
    auto file = parse_engineers(opt + " " + k1_.line, kPath);
    EXPECT_TRUE(file.engineers.empty()) << opt;
    ASSERT_EQ(file.problems.size(), 1U) << opt;
    EXPECT_TRUE(file.problems[0].refused) << opt;
    EXPECT_TRUE(contains(file.problems[0].message, "line 1")) << file.problems[0].message;
  }
}

TEST_F(Engineers, UnknownOptionIsMalformedAndSkipped) {
  auto file = parse_engineers(k2_.line + "\nsome-option=\"x\" " + k1_.line, kPath);
  ASSERT_EQ(file.engineers.size(), 1U);
  EXPECT_EQ(file.engineers[0].fingerprint, k2_.fingerprint);
  ASSERT_EQ(file.problems.size(), 1U);
  EXPECT_FALSE(file.problems[0].refused);
  EXPECT_EQ(file.problems[0].line, 2);
  EXPECT_TRUE(contains(file.problems[0].message, "'some-option'")) << file.problems[0].message;
  EXPECT_TRUE(contains(file.problems[0].message, "line 2")) << file.problems[0].message;
}

TEST_F(Engineers, MalformedLinesAreReportedWithLineNumbers) {
  std::string body = k1_.line.substr(k1_.line.find(' '));  // " AAAA... comment"
  std::vector<std::pair<std::string, std::string_view>> cases = {
      {"ssh-ed25519 AAAA!!!notbase64", "base64"},
      {"ssh-dss AAAAB3NzaC1kc3MAAACBAP comment", "'ssh-dss'"},
      {"rdiag-name=\"unclosed " + k1_.line, "double quote"},
      {"rdiag-name=Li " + k1_.line, "rdiag-name"},
      {"rdiag-role=\"admin\" " + k1_.line, "'admin'"},
      {"rdiag-name=\"a\",rdiag-name=\"b\" " + k1_.line, "twice"},
      {"rdiag-name=\"a\", " + k1_.line, "malformed"},
      {"from=\"10.0.0.1/8\" " + k1_.line, "10.0.0.1/8"},
      {"expiry-time=\"20300230\" " + k1_.line, "20300230"},
      {"rdiag-id=\"a\x1b[2Jb\" " + k1_.line, "control"},
      {"ssh-rsa" + body, "ssh-rsa"},
  };
  for (const auto& [line, why] : cases) {
    auto file = parse_engineers("\n\n" + line + "\n", kPath);
    EXPECT_TRUE(file.engineers.empty()) << line;
    ASSERT_EQ(file.problems.size(), 1U) << line;
    EXPECT_FALSE(file.problems[0].refused) << line;
    EXPECT_EQ(file.problems[0].line, 3) << line;
    EXPECT_TRUE(contains(file.problems[0].message, "line 3")) << file.problems[0].message;
    EXPECT_TRUE(contains(file.problems[0].message, why)) << file.problems[0].message;
  }
}

TEST_F(Engineers, NameKeepsControlCharactersForOutputToEscape) {
  auto file = parse_engineers("rdiag-name=\"\x1b]0;x\x07Evil\" " + k1_.line + "\n", kPath);
  ASSERT_EQ(file.engineers.size(), 1U);
  EXPECT_EQ(file.engineers[0].name, "\x1b]0;x\x07Evil");
}

TEST_F(Engineers, RefusesLaterLineWithTheSameKey) {
  auto file = parse_engineers(
      k1_.line + "\n" + k2_.line + "\nrdiag-name=\"again\" " + k1_.line + "\n", kPath);
  ASSERT_EQ(file.engineers.size(), 2U);
  EXPECT_EQ(file.engineers[0].line, 1);
  ASSERT_EQ(file.problems.size(), 1U);
  EXPECT_TRUE(file.problems[0].refused);
  EXPECT_EQ(file.problems[0].line, 3);
  EXPECT_TRUE(contains(file.problems[0].message, "line 3")) << file.problems[0].message;
  EXPECT_TRUE(contains(file.problems[0].message, "line 1")) << file.problems[0].message;
  EXPECT_TRUE(contains(file.problems[0].message, k1_.fingerprint)) << file.problems[0].message;
}

TEST_F(Engineers, KeyRefusedEarlierIsNotWidenedByALaterLine) {
  auto file = parse_engineers("command=\"true\" " + k1_.line + "\n" + k1_.line, kPath);
  EXPECT_TRUE(file.engineers.empty());
  ASSERT_EQ(file.problems.size(), 2U);
  EXPECT_TRUE(file.problems[0].refused);
  EXPECT_TRUE(file.problems[1].refused);
  EXPECT_EQ(file.problems[1].line, 2);
}

// Runs a test body with TZ set (POSIX form, no tzdata needed), then restores it.
class WithTimeZone {
 public:
  explicit WithTimeZone(const char* tz) {
    const char* old = std::getenv("TZ");  // NOLINT(concurrency-mt-unsafe): single-threaded test
    old_ = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
    ::setenv("TZ", tz, 1);  // NOLINT(concurrency-mt-unsafe): single-threaded test
    ::tzset();
  }
  ~WithTimeZone() {
    if (old_) {
      ::setenv("TZ", old_->c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
    } else {
      ::unsetenv("TZ");  // NOLINT(concurrency-mt-unsafe)
    }
    ::tzset();
  }

 private:
  std::optional<std::string> old_;
};

TEST_F(Engineers, ExpiryTimeIsServerLocalTime) {
  WithTimeZone china("CST-8");  // UTC+8, no DST
  auto file = parse_engineers("expiry-time=\"20300101\" " + k1_.line + "\n" +
                                  "expiry-time=\"203001010930\" " + k2_.line + "\n",
                              kPath);
  ASSERT_TRUE(file.problems.empty()) << file.problems[0].message;
  ASSERT_EQ(file.engineers.size(), 2U);
  constexpr std::int64_t kNewYear2030Utc = 1893456000;
  constexpr std::int64_t kHour = 3600;
  EXPECT_EQ(file.engineers[0].expires_at, kNewYear2030Utc - 8 * kHour);
  EXPECT_EQ(file.engineers[1].expires_at, kNewYear2030Utc + kHour * (9 - 8) + 30 * 60);
}

TEST_F(Engineers, ExpiryTimeWithZIsUtc) {
  auto file = parse_engineers("expiry-time=\"20300101000005Z\" " + k1_.line, kPath);
  ASSERT_EQ(file.engineers.size(), 1U);
  EXPECT_EQ(file.engineers[0].expires_at, 1893456005);
}

TEST_F(Engineers, RefusesBadExpiryDates) {
  for (std::string bad :
       {"2030", "20301301", "20300229", "203001012460", "2030010100", "x0300101"}) {
    auto file = parse_engineers("expiry-time=\"" + bad + "\" " + k1_.line, kPath);
    EXPECT_TRUE(file.engineers.empty()) << bad;
    EXPECT_EQ(file.problems.size(), 1U) << bad;
  }
}

TEST_F(Engineers, CheckEngineerVerdicts) {
  auto file = parse_engineers("from=\"10.0.0.0/8,!10.9.9.9\" " + k1_.line + "\n" +
                                  "expiry-time=\"20300101000000Z\" " + k2_.line,
                              kPath);
  ASSERT_EQ(file.engineers.size(), 2U);
  auto peer = [](std::string_view text) { return *parse_ip(text); };
  std::int64_t now = 1893456000 - 1;
  EXPECT_EQ(check_engineer(file, k1_.fingerprint, peer("10.1.2.3"), now), KeyVerdict::kAllowed);
  EXPECT_EQ(check_engineer(file, k1_.fingerprint, peer("::ffff:10.1.2.3"), now),
            KeyVerdict::kAllowed);
  EXPECT_EQ(check_engineer(file, k1_.fingerprint, peer("10.9.9.9"), now),
            KeyVerdict::kFromMismatch);
  EXPECT_EQ(check_engineer(file, k1_.fingerprint, peer("192.0.2.1"), now),
            KeyVerdict::kFromMismatch);
  EXPECT_EQ(check_engineer(file, k2_.fingerprint, peer("192.0.2.1"), now), KeyVerdict::kAllowed);
  EXPECT_EQ(check_engineer(file, k2_.fingerprint, peer("192.0.2.1"), now + 1),
            KeyVerdict::kExpired);
  EXPECT_EQ(check_engineer(file, "SHA256:nobody", peer("10.1.2.3"), now), KeyVerdict::kUnknown);
}

TEST_F(Engineers, MessagesComeInChinese) {
  i18n::set_lang(i18n::Lang::kZhCN);
  auto file = parse_engineers("\nno-pty " + k1_.line, kPath);
  ASSERT_EQ(file.problems.size(), 1U);
  EXPECT_TRUE(contains(file.problems[0].message, "第 2 行")) << file.problems[0].message;
  EXPECT_TRUE(contains(file.problems[0].message, "no-pty")) << file.problems[0].message;
}

class EngineersFileOnDisk : public Engineers {
 protected:
  void SetUp() override {
    Engineers::SetUp();
    std::string tmpl = (fs::path(::testing::TempDir()) / "rdiag-eng-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& text, mode_t mode) {
    std::string path = dir_ + "/engineers";
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(EngineersFileOnDisk, LoadsFile) {
  auto file = load_engineers(write("rdiag-name=\"李伟\" " + k1_.line + "\n", 0644));
  ASSERT_TRUE(file) << file.error().message;
  ASSERT_EQ(file->engineers.size(), 1U);
  EXPECT_EQ(file->engineers[0].name, "李伟");
}

TEST_F(EngineersFileOnDisk, MissingFileNamesPath) {
  std::string path = dir_ + "/nope";
  auto file = load_engineers(path);
  ASSERT_FALSE(file);
  EXPECT_TRUE(contains(file.error().message, path)) << file.error().message;
}

TEST_F(EngineersFileOnDisk, RefusesGroupWritableFile) {
  std::string path = write(k1_.line, 0664);
  auto file = load_engineers(path);
  ASSERT_FALSE(file);
  EXPECT_TRUE(contains(file.error().message, "chmod go-w " + path)) << file.error().message;
}

}  // namespace
}  // namespace rdiag
