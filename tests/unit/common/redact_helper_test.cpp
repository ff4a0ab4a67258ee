// Vectorscan compiles in the `rdiag-compile` helper (hs_child.h): an engine
// built through the real helper behaves as one compiled in-process, a refused
// pattern is still named, and a helper that misbehaves (floods its answer,
// answers garbage, fails) gives a clear error instead of a broken engine.
// serve_compile, the helper's whole life, refuses malformed requests.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "common/fs.h"
#include "common/i18n.h"
#include "common/redact/engine.h"
#include "common/redact/hs_child.h"

namespace rdiag::redact {
namespace {

// Every compile of this test goes through the executable at `path`.
class HelperCompile : public ::testing::Test {
 protected:
  void use(const char* path) {
    exe_ = UniqueFd(::open(path, O_PATH | O_CLOEXEC));
    ASSERT_GE(exe_.get(), 0) << path;
    compile_in_helper(exe_.get());
  }
  void SetUp() override { i18n::set_lang(i18n::Lang::kEn); }
  void TearDown() override { compile_in_helper(-1); }
  UniqueFd exe_;
};

TEST_F(HelperCompile, RealHelperGivesAnEngineThatRedactsAsInProcess) {
  auto direct = Engine::build({{"oom", "OutOfMemoryError"}}, {{"erp-token", "ERPTOKEN=[A-Z0-9]+"}});
  ASSERT_TRUE(direct) << direct.error().message;
  use(RDIAG_COMPILE_BIN);
  auto helped = Engine::build({{"oom", "OutOfMemoryError"}}, {{"erp-token", "ERPTOKEN=[A-Z0-9]+"}});
  ASSERT_TRUE(helped) << helped.error().message;
  const std::string text =
      "db password=Hunter2xyz ERPTOKEN=AB12CD url=jdbc:mysql://h/db?password=s3cret\n"
      "身份证 11010519491231002X 13812345678";
  Summary a;
  Summary b;
  EXPECT_EQ(helped->redact_text(text, &b), direct->redact_text(text, &a));
  EXPECT_EQ(b.counts, a.counts);
  EXPECT_EQ(b.counts["erp-token"], 1);
  EXPECT_EQ(helped->redact_text(text).find("Hunter2xyz"), std::string::npos);
  // The scan rule counts through the helper's database too.
  auto scan = helped->start(Encoding::kUtf8);
  scan.feed("java.lang.OutOfMemoryError: heap\nfine\nOutOfMemoryError again\n");
  const ScanResult r = scan.finish();
  ASSERT_EQ(r.rules.size(), 1U);
  EXPECT_EQ(r.rules[0].count, 2U);
}

TEST_F(HelperCompile, PatternRefusedInTheHelperIsNamed) {
  use(RDIAG_COMPILE_BIN);
  const auto hs = Engine::build({}, {{"empty-match", "x*"}});
  ASSERT_FALSE(hs);
  EXPECT_NE(hs.error().message.find("'empty-match'"), std::string::npos) << hs.error().message;
  EXPECT_NE(hs.error().message.find("Vectorscan"), std::string::npos) << hs.error().message;
  const auto adhoc = compile_adhoc({"ok", "y*"});
  ASSERT_FALSE(adhoc);
  EXPECT_NE(adhoc.error().message.find("pattern 2 'y*'"), std::string::npos)
      << adhoc.error().message;
}

TEST_F(HelperCompile, LookbehindStillFallsBackToPrefilterThroughTheHelper) {
  use(RDIAG_COMPILE_BIN);
  auto e = Engine::build({}, {{"guarded", "(?<!no)secretword"}});
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->redact_text("the secretword is here"), "the [REDACTED:guarded] is here");
}

// `yes` writes forever: the answer's size limit (RLIMIT_FSIZE) stops it.
TEST_F(HelperCompile, FloodingHelperIsStoppedAndReported) {
  use("/usr/bin/yes");
  const auto e = Engine::build({}, {});
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().reason, "too_costly");  // SIGXFSZ: the answer cap
  EXPECT_NE(e.error().message.find("would exceed 256 MiB"), std::string::npos) << e.error().message;
}

TEST_F(HelperCompile, HelperWithAnUnreadableAnswerIsReported) {
  use("/bin/echo");  // exits 0 having written "\n"
  const auto e = Engine::build({}, {});
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().reason, "compile_unavailable");
  EXPECT_NE(e.error().message.find("cannot be loaded"), std::string::npos) << e.error().message;
}

TEST_F(HelperCompile, FailingHelperIsReportedWithItsStatus) {
  use("/bin/false");
  const auto e = compile_adhoc({"abc"});
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().reason, "compile_unavailable");
  EXPECT_NE(e.error().message.find("status 1"), std::string::npos) << e.error().message;
}

// serve_compile on a request in a memory file; returns (status, answer).
std::pair<int, std::string> serve(const std::string& request) {
  const UniqueFd in(::memfd_create("req", MFD_CLOEXEC));
  const UniqueFd out(::memfd_create("ans", MFD_CLOEXEC));
  EXPECT_TRUE(write_all(in.get(), request));
  ::lseek(in.get(), 0, SEEK_SET);
  const int status = detail::serve_compile(in.get(), out.get());
  std::string answer(1 << 20, '\0');
  const ssize_t n = ::pread(out.get(), answer.data(), answer.size(), 0);
  answer.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return {status, answer};
}

std::string u32(std::uint32_t v) {
  return {reinterpret_cast<const char*>(&v), sizeof v};
}

std::string request(const std::vector<std::string>& patterns, std::uint32_t flags = 0) {
  std::string r = std::string("RDHC1") + u32(static_cast<std::uint32_t>(patterns.size()));
  for (const std::string& p : patterns)
    r += u32(flags) + u32(static_cast<std::uint32_t>(p.size())) + p;
  return r;
}

TEST(CompileHelperServe, AnswersADatabaseOrTheRefusedExpression) {
  const auto [ok_status, ok] = serve(request({"abc", "d[0-9]+e"}));
  EXPECT_EQ(ok_status, 0);
  ASSERT_FALSE(ok.empty());
  EXPECT_EQ(ok[0], 'D');
  const auto [bad_status, bad] = serve(request({"abc", "x*"}));
  EXPECT_EQ(bad_status, 0);
  ASSERT_GE(bad.size(), 5U);
  EXPECT_EQ(bad[0], 'E');
  std::int32_t index = -1;
  std::memcpy(&index, bad.data() + 1, sizeof index);
  EXPECT_EQ(index, 1);
  EXPECT_NE(bad.find("empty"), std::string::npos) << bad.substr(5);
}

TEST(CompileHelperServe, MalformedRequestsAreRefusedWithoutAnAnswer) {
  const std::string good = request({"abc"});
  for (const std::string& req : {
           std::string(),                          // nothing
           std::string("RDHC9") + good.substr(5),  // wrong magic
           std::string("RDHC1") + u32(0),          // no expressions
           std::string("RDHC1") + u32(100001),     // too many
           good.substr(0, good.size() - 1),        // cut short
           good + "x",                             // trailing bytes
           std::string("RDHC1") + u32(1) + u32(0) + u32(3) + std::string("a\0c", 3),  // NUL
           std::string("RDHC1") + u32(1) + u32(0) + u32((1U << 20) + 1),              // huge length
       }) {
    const auto [status, answer] = serve(req);
    EXPECT_EQ(status, 2) << req.size();
    EXPECT_TRUE(answer.empty());
  }
}

}  // namespace
}  // namespace rdiag::redact
