// Engine::Scan over fixture logs: rules count on the original text, samples
// and every line handed out are redacted, the summary counts each secret once,
// chunking never changes the answer, and ad-hoc patterns cannot see secrets.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "common/redact/engine.h"

namespace rdiag::redact {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(RDIAG_SOURCE_DIR) + "/tests/fixtures/logs/" + name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

Engine build_engine() {
  auto r = Engine::build({{"pg-auth-failed", "password authentication failed"},
                          {"pool-exhausted", "connection pool exhausted"},
                          {"db-connect-failed", "数据库连接失败"}},
                         {{"erp-token", "ERPTOKEN=[A-Za-z0-9]+"}});
  EXPECT_TRUE(r) << r.error().message;
  return *r;
}

const Engine& engine() {
  static const Engine e = build_engine();
  return e;
}

struct Output {
  ScanResult result;
  std::string text;  // every line from on_line, joined with '\n'
};

Output scan(const std::string& bytes, std::size_t chunk, Encoding enc = Encoding::kAuto,
            const AdHoc* adhoc = nullptr) {
  Output out;
  ScanOptions opt;
  opt.adhoc = adhoc;
  opt.on_line = [&](std::uint64_t, std::string_view line) {
    out.text.append(line);
    out.text += '\n';
  };
  auto s = engine().start(enc, opt);
  for (std::size_t i = 0; i < bytes.size(); i += chunk) {
    s.feed(std::string_view(bytes).substr(i, chunk));
  }
  out.result = s.finish();
  return out;
}

const RuleStats& rule(const ScanResult& r, const std::string& id) {
  for (const auto& s : r.rules) {
    if (s.id == id) return s;
  }
  static const RuleStats kNone;
  ADD_FAILURE() << "no rule " << id;
  return kNone;
}

TEST(ScanLog, NoPlantedSecretSurvivesAndEachIsCountedOnce) {
  const Output out = scan(fixture("erp_app.log"), 1 << 16);
  EXPECT_EQ(out.result.lines, 27U);
  for (const char* secret : {"Sup3rS3cret",
                             "JdbcPw0rd",
                             "Odbc;Pw d",
                             "OraTiger9",
                             "UrlPassw0rd",
                             "CliS3cret",
                             "LongOpt5ecret",
                             "SpaceOpt5ecret",
                             "abcDEF123456ghiJKL",
                             "c2lnbmF0dXJlLXNlY3JldA",
                             "AKIAIOSFODNN7EXAMPLE",
                             "wJalrXUtnFEMI",
                             "LTAI5tQ9zXpLmN3vB7cR2",
                             "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA",
                             "11010519491231002X",
                             "mobile 13812345678",
                             "13987654321",
                             "0012 3452",
                             "Retry5ecret",
                             "abc123XYZ"}) {
    EXPECT_EQ(out.text.find(secret), std::string::npos) << secret;
  }
  const std::map<std::string, std::uint64_t, std::less<>> expected = {
      {"password", 2},   {"jdbc-odbc", 3},   {"url-password", 1}, {"cli-password", 3},
      {"bearer", 1},     {"jwt", 1},         {"aws-key", 1},      {"cloud-secret", 1},
      {"aliyun-key", 1}, {"tencent-key", 1}, {"id-card", 1},      {"mobile", 2},
      {"bank-card", 1},  {"erp-token", 1}};
  EXPECT_EQ(out.result.redactions.counts, expected);
  EXPECT_EQ(out.result.redactions.lines_failed_closed, 0U);
  // Numbers that only look like personal data are left alone.
  EXPECT_NE(out.text.find("310115198511204567"), std::string::npos);
  EXPECT_NE(out.text.find("6258071000123453"), std::string::npos);
  EXPECT_NE(out.text.find("order 813812345678901"), std::string::npos);
}

TEST(ScanLog, RulesCountOnOriginalTextButSamplesAreRedacted) {
  const ScanResult r = scan(fixture("erp_app.log"), 1 << 16).result;
  const RuleStats& pg = rule(r, "pg-auth-failed");
  EXPECT_EQ(pg.count, 2U);
  EXPECT_EQ(pg.first.line, 22U);
  EXPECT_EQ(pg.first.timestamp, "2024-05-01 08:00:10,000");
  EXPECT_EQ(pg.last.line, 23U);
  EXPECT_EQ(pg.last.timestamp, "2024-05-01 08:00:10,500");
  ASSERT_EQ(pg.samples.size(), 2U);
  EXPECT_EQ(pg.samples[1],
            "2024-05-01 08:00:10,500 ERROR FATAL: password authentication failed for user "
            "\"erp\" password=[REDACTED:password]");
  const RuleStats& pool = rule(r, "pool-exhausted");
  EXPECT_EQ(pool.count, 3U);
  EXPECT_EQ(pool.last.line, 27U);
  EXPECT_EQ(pool.last.timestamp, "");  // that line has none
  EXPECT_EQ(rule(r, "db-connect-failed").count, 0U);
}

TEST(ScanLog, SamplesAreLimited) {
  std::string log;
  for (int i = 0; i < 20; ++i) log += "connection pool exhausted #" + std::to_string(i) + "\n";
  ScanOptions opt;
  opt.max_samples = 3;
  auto s = engine().start(Encoding::kUtf8, opt);
  s.feed(log);
  const ScanResult r = s.finish();
  EXPECT_EQ(rule(r, "pool-exhausted").count, 20U);
  EXPECT_EQ(rule(r, "pool-exhausted").samples.size(), 3U);
}

TEST(ScanLog, LongSamplesAreCutAtACharacterBoundary) {
  ScanOptions opt;
  opt.max_sample_bytes = 40;
  auto s = engine().start(Encoding::kUtf8, opt);
  s.feed("connection pool exhausted: " + std::string(30, 'x') + "数据库 password=LongLineSecret\n");
  const ScanResult r = s.finish();
  ASSERT_EQ(rule(r, "pool-exhausted").samples.size(), 1U);
  EXPECT_EQ(rule(r, "pool-exhausted").samples[0],
            "connection pool exhausted: " + std::string(13, 'x'));
  EXPECT_EQ(r.redactions.counts.at("password"), 1U);
}

// The collector worker scans sources in parallel on one Engine.
TEST(ScanLog, ParallelScansOnOneEngineAgree) {
  const std::string log = fixture("erp_app.log") + fixture("pem_keys.log");
  const Output alone = scan(log, 4096);
  std::vector<Output> outs(4);
  std::vector<std::thread> threads;
  threads.reserve(outs.size());
  for (auto& o : outs) threads.emplace_back([&log, &o] { o = scan(log, 333); });
  for (auto& t : threads) t.join();
  for (const Output& o : outs) {
    EXPECT_EQ(o.text, alone.text);
    EXPECT_EQ(o.result.redactions.counts, alone.result.redactions.counts);
  }
}

TEST(ScanLog, ChunkingNeverChangesTheAnswer) {
  const std::string log = fixture("erp_app.log") + fixture("pem_keys.log");
  const Output whole = scan(log, log.size());
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
    const Output part = scan(log, chunk);
    EXPECT_EQ(part.text, whole.text) << chunk;
    EXPECT_EQ(part.result.redactions.counts, whole.result.redactions.counts) << chunk;
    EXPECT_EQ(rule(part.result, "pool-exhausted").samples,
              rule(whole.result, "pool-exhausted").samples);
  }
}

// Several 1 MiB blocks: a secret on either side of every block boundary is
// still found, and line numbers run on across blocks.
TEST(ScanLog, LargeInputAcrossBlocks) {
  std::string log;
  std::uint64_t planted = 0;
  for (int i = 0; log.size() < (std::size_t{3} << 20); ++i) {
    if (i % 1000 == 0) {
      log += "2024-05-01 08:00:00 login password=Blk" + std::to_string(i) + "Secret\n";
      ++planted;
    } else {
      log += "2024-05-01 08:00:00 INFO routine line number " + std::to_string(i) + " ok\n";
    }
  }
  log += "connection pool exhausted\n";
  const Output out = scan(log, 1 << 16);
  EXPECT_EQ(out.text.find("Secret"), std::string::npos);
  EXPECT_EQ(out.result.redactions.counts.at("password"), planted);
  const std::uint64_t lines = static_cast<std::uint64_t>(std::count(log.begin(), log.end(), '\n'));
  EXPECT_EQ(out.result.lines, lines);
  EXPECT_EQ(rule(out.result, "pool-exhausted").first.line, lines);
}

TEST(ScanLog, PemBlocksAcrossLinesIncludingUnterminated) {
  const Output out = scan(fixture("pem_keys.log"), 5);
  EXPECT_EQ(out.text,
            "2024-05-01 09:00:00 INFO loading key\n"
            "2024-05-01 09:00:01 DEBUG key=[REDACTED:pem-private-key]\n"
            "\n"
            "\n"
            " trailing text\n"
            "2024-05-01 09:00:02 INFO next\n"
            "[REDACTED:pem-private-key]\n"
            "\n"
            "\n");
  EXPECT_EQ(out.text.find("secretkeymaterial"), std::string::npos);
  EXPECT_EQ(out.text.find("shouldvanish"), std::string::npos);
  EXPECT_EQ(out.result.redactions.counts.at("pem-private-key"), 2U);
  EXPECT_EQ(out.result.redactions.counts.size(), 1U);
}

TEST(ScanLog, Gb18030LogMatchedByAChineseRule) {
  const std::string bytes = fixture("erp_gb18030.log");
  for (const Encoding enc : {Encoding::kAuto, Encoding::kGb18030}) {
    const Output out = scan(bytes, 10, enc);
    const RuleStats& db = rule(out.result, "db-connect-failed");
    EXPECT_EQ(db.count, 2U);
    ASSERT_EQ(db.samples.size(), 2U);
    EXPECT_EQ(db.samples[0], "2024-05-01 10:00:00 错误 数据库连接失败：连接超时");
    EXPECT_EQ(db.first.timestamp, "2024-05-01 10:00:00");
    EXPECT_EQ(db.last.line, 3U);
    EXPECT_NE(out.text.find("用户登录 密码=[REDACTED:password]"), std::string::npos) << out.text;
    EXPECT_EQ(out.text.find("中文密码123"), std::string::npos);
  }
}

TEST(ScanLog, InvalidBytesBecomeReplacementCharacters) {
  const Output out = scan("ok \x80\xFE line\nconnection pool exhausted \xC0\n", 3, Encoding::kUtf8);
  EXPECT_EQ(out.text, "ok \xEF\xBF\xBD\xEF\xBF\xBD line\nconnection pool exhausted \xEF\xBF\xBD\n");
  EXPECT_EQ(rule(out.result, "pool-exhausted").count, 1U);
}

// An engineer's pattern runs on redacted text only: probing for the secret
// gives the same answer whatever the secret is.
TEST(ScanLog, AdHocProbesCannotRevealASecret) {
  const auto adhoc = compile_adhoc(
      {"password=a", "password=b", "password=[a-z]", R"(password=\[REDACTED)", "login"});
  ASSERT_TRUE(adhoc) << adhoc.error().message;
  std::vector<std::vector<std::uint64_t>> answers;
  for (const char* secret : {"a", "b", "zz9"}) {
    const std::string log = std::string("2024-05-01 08:00:00 login password=") + secret + "\n";
    const ScanResult r = scan(log, 4096, Encoding::kUtf8, &*adhoc).result;
    ASSERT_EQ(r.adhoc.size(), 5U);
    std::vector<std::uint64_t> counts;
    for (const auto& s : r.adhoc) counts.push_back(s.count);
    answers.push_back(counts);
    EXPECT_EQ(r.adhoc[3].samples.at(0), "2024-05-01 08:00:00 login password=[REDACTED:password]");
  }
  EXPECT_EQ(answers[0], (std::vector<std::uint64_t>{0, 0, 0, 1, 1}));
  EXPECT_EQ(answers[1], answers[0]);
  EXPECT_EQ(answers[2], answers[0]);
}

TEST(ScanLog, BadAdHocPatternNamesItsPosition) {
  const auto r = compile_adhoc({"fine", "(oops"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("(oops"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find('2'), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace rdiag::redact
