// redact_text on single strings (command lines, plugin fields, config
// excerpts): every built-in secret shape is gone, exactly the secret part is
// replaced, look-alike numbers stay, and the summary counts what was done.
#include <gtest/gtest.h>

#include "common/i18n.h"
#include "common/redact/engine.h"

namespace rdiag::redact {
namespace {

const Engine& engine() {
  static const Engine e = [] {
    auto r = Engine::build({}, {{"erp-token", "ERPTOKEN=[A-Za-z0-9]+"}});
    EXPECT_TRUE(r) << r.error().message;
    return *r;
  }();
  return e;
}

struct Case {
  std::string text;
  std::string secret;  // must not survive
  std::string id;      // the rule that must have counted it
  std::string expected;
};

TEST(RedactText, EveryBuiltInKindIsRedactedAndCounted) {
  const std::vector<Case> cases = {
      {"db.password=Sup3rS3cret! loaded", "Sup3rS3cret", "password",
       "db.password=[REDACTED:password] loaded"},
      {R"({"Password": "with space"})", "with space", "password",
       R"({"Password": [REDACTED:password]})"},
      {"<db><password>Xml Secret</password></db>", "Xml Secret", "password",
       "<db><password>[REDACTED:password]</password></db>"},
      {"密码：中文密码123", "中文密码123", "password", "密码：[REDACTED:password]"},
      {"API_KEY: k-9f8e7d", "k-9f8e7d", "password", "API_KEY: [REDACTED:password]"},
      {"https://svc:UrlPassw0rd@repo.example.com/x", "UrlPassw0rd", "url-password",
       "https://svc:[REDACTED:url-password]@repo.example.com/x"},
      {"mysqldump -u root -pCliS3cret erp", "CliS3cret", "cli-password",
       "mysqldump -u root -p[REDACTED:cli-password] erp"},
      {"backup --password=LongOpt5ecret -v", "LongOpt5ecret", "cli-password",
       "backup --password=[REDACTED:cli-password] -v"},
      {"backup --password SpaceOpt5ecret", "SpaceOpt5ecret", "cli-password",
       "backup --password [REDACTED:cli-password]"},
      {"jdbc:mysql://db:3306/erp?user=erp&password=JdbcPw0rd&ssl=1", "JdbcPw0rd", "jdbc-odbc",
       "jdbc:mysql://db:3306/erp?user=erp&password=[REDACTED:jdbc-odbc]&ssl=1"},
      {"Driver={ODBC 17};Server=db;Uid=sa;Pwd={Odbc;Pw d};", "Odbc;Pw d", "jdbc-odbc",
       "Driver={ODBC 17};Server=db;Uid=sa;Pwd=[REDACTED:jdbc-odbc];"},
      {"jdbc:oracle:thin:scott/OraTiger9@dbhost:1521:orcl", "OraTiger9", "jdbc-odbc",
       "jdbc:oracle:thin:scott/[REDACTED:jdbc-odbc]@dbhost:1521:orcl"},
      {"Authorization: Bearer abcDEF123456ghiJKL", "abcDEF123456ghiJKL", "bearer",
       "Authorization: Bearer [REDACTED:bearer]"},
      {"Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "bearer",
       "Authorization: Basic [REDACTED:bearer]"},
      {"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlcnAifQ.c2lnbmF0dXJl end", "c2lnbmF0dXJl", "jwt",
       "jwt [REDACTED:jwt] end"},
      {"key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE", "aws-key",
       "key [REDACTED:aws-key] used"},
      {"aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI",
       "cloud-secret", "aws_secret_access_key=[REDACTED:cloud-secret]"},
      // The password rule takes the quotes too; overlapping cuts merge under
      // the higher-priority (more specific) rule.
      {"AccessKeySecret: \"Xq9LmN3vB7cR2tY8uI0o\"", "Xq9LmN3vB7cR2tY8uI0o", "cloud-secret",
       "AccessKeySecret: [REDACTED:cloud-secret]"},
      {"id LTAI5tQ9zXpLmN3vB7cR2 used", "LTAI5tQ9zXpLmN3vB7cR2", "aliyun-key",
       "id [REDACTED:aliyun-key] used"},
      {"id AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA used", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA",
       "tencent-key", "id [REDACTED:tencent-key] used"},
      {"身份证 11010519491231002X ok", "11010519491231002X", "id-card",
       "身份证 [REDACTED:id-card] ok"},
      {"call 13812345678 now", "13812345678", "mobile", "call [REDACTED:mobile] now"},
      {"call +86 13987654321 now", "13987654321", "mobile", "call +86 [REDACTED:mobile] now"},
      {"card 6258 0710 0012 3452 ok", "0012 3452", "bank-card", "card [REDACTED:bank-card] ok"},
      {"card 4111-1111-1111-1111.", "1111-1111", "bank-card", "card [REDACTED:bank-card]."},
      {"card 6222021234567890128", "6222021234567890128", "bank-card", "card [REDACTED:bank-card]"},
      {"header ERPTOKEN=abc123XYZ ok", "abc123XYZ", "erp-token", "header [REDACTED:erp-token] ok"},
  };
  for (const Case& c : cases) {
    Summary s;
    const std::string out = engine().redact_text(c.text, &s);
    EXPECT_EQ(out, c.expected) << c.text;
    EXPECT_EQ(out.find(c.secret), std::string::npos) << c.text;
    EXPECT_EQ(s.counts.size(), 1U) << c.text;
    EXPECT_EQ(s.counts[c.id], 1U) << c.text;
  }
}

TEST(RedactText, LookAlikeNumbersStay) {
  for (const std::string text : {
           "id 310115198511204567 has a wrong check digit",  // 身份证 check fails
           "card 6258071000123453 fails Luhn",
           "order 813812345678901 has a mobile inside",  // not on its own
           "trace 13812345678901234567890",
           "password authentication failed for user \"erp\"",
           "token expired for user bob",
       }) {
    Summary s;
    EXPECT_EQ(engine().redact_text(text, &s), text);
    EXPECT_TRUE(s.counts.empty()) << text;
  }
}

TEST(RedactText, SeveralSecretsOnOneLineAreCountedEach) {
  Summary s;
  const std::string out =
      engine().redact_text("mobile 13812345678, backup +8613987654321 password=x1", &s);
  EXPECT_EQ(out,
            "mobile [REDACTED:mobile], backup +86[REDACTED:mobile] password=[REDACTED:password]");
  EXPECT_EQ(s.counts["mobile"], 2U);
  EXPECT_EQ(s.counts["password"], 1U);
}

TEST(RedactText, PemBlockAcrossLinesIsOneRedaction) {
  Summary s;
  const std::string out = engine().redact_text(
      "key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANsecret\n-----END PRIVATE KEY-----\nafter",
      &s);
  EXPECT_EQ(out, "key:\n[REDACTED:pem-private-key]\n\n\nafter");
  EXPECT_EQ(s.counts["pem-private-key"], 1U);
  EXPECT_EQ(s.counts.size(), 1U);
}

TEST(RedactText, PemBlockOnOneLineAndUnterminated) {
  Summary s;
  const std::string one_line = engine().redact_text(
      R"({"k": "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIsecret\n-----END EC PRIVATE KEY-----\n"})",
      &s);
  EXPECT_EQ(one_line, R"({"k": "[REDACTED:pem-private-key]\n"})");
  const std::string open = engine().redact_text(
      "x -----BEGIN ENCRYPTED PRIVATE KEY-----\nsecret1\npassword=secret2", &s);
  EXPECT_EQ(open, "x [REDACTED:pem-private-key]\n\n");
  EXPECT_EQ(s.counts["pem-private-key"], 2U);
  EXPECT_EQ(s.counts.size(), 1U);  // nothing inside the block is counted twice
}

TEST(RedactText, InvalidUtf8IsSanitizedFirst) {
  const std::string out = engine().redact_text("pwd=\xFFsecret\x80 end");
  EXPECT_EQ(out.find("secret"), std::string::npos) << out;
  EXPECT_NE(out.find("[REDACTED:password]"), std::string::npos) << out;
}

// The Vectorscan and PCRE2 forms of a rule can disagree: Vectorscan has no
// lookbehind, so a configured rule using one is compiled in Vectorscan's
// prefilter mode, which drops the assertion and flags more lines than the
// PCRE2 form matches. Such a line is redacted whole (fail closed).
TEST(RedactText, FlaggedButNoSpanRedactsTheWholeLine) {
  auto e = Engine::build({}, {{"guarded", "(?<!no)secretword"}});
  ASSERT_TRUE(e) << e.error().message;
  Summary s;
  EXPECT_EQ(e->redact_text("keep secretword here", &s), "keep [REDACTED:guarded] here");
  EXPECT_EQ(e->redact_text("the nosecretword line", &s), "[REDACTED:guarded:line]");
  EXPECT_EQ(s.counts["guarded"], 2U);
  EXPECT_EQ(s.lines_failed_closed, 1U);
}

// PCRE2 gives up on catastrophic backtracking (its match limit). A rule that
// errors part way through a line cannot say what the rest holds: the whole
// line goes, even though an earlier cut on it succeeded.
TEST(RedactText, Pcre2ErrorFailsClosed) {
  auto e = Engine::build({}, {{"boom", R"(x|(a+)+(?<!a)b)"}});
  ASSERT_TRUE(e) << e.error().message;
  Summary s;
  const std::string line = "x then " + std::string(40, 'a') + "b";
  EXPECT_EQ(e->redact_text(line, &s), "[REDACTED:boom:line]");
  EXPECT_EQ(s.lines_failed_closed, 1U);
}

// A pattern that may match across '\n' flags the later line of a block; it
// is checked on that line alone before anything is redacted whole.
TEST(RedactText, MatchAcrossLinesDoesNotFailClosed) {
  auto e = Engine::build({}, {{"pair", R"(alpha\s+beta)"}});
  ASSERT_TRUE(e) << e.error().message;
  Summary s;
  EXPECT_EQ(e->redact_text("alpha\nbeta gamma", &s), "alpha\nbeta gamma");
  EXPECT_EQ(s.lines_failed_closed, 0U);
  EXPECT_EQ(e->redact_text("x alpha beta y", &s), "x [REDACTED:pair] y");
}

TEST(RedactText, InvalidPatternNamesTheRule) {
  i18n::set_lang(i18n::Lang::kEn);
  const auto pcre = Engine::build({{"bad-rule", "(unclosed"}}, {});
  ASSERT_FALSE(pcre);
  EXPECT_NE(pcre.error().message.find("'bad-rule'"), std::string::npos) << pcre.error().message;
  EXPECT_NE(pcre.error().message.find("PCRE2"), std::string::npos) << pcre.error().message;
  EXPECT_NE(pcre.error().message.find("parenthesis"), std::string::npos) << pcre.error().message;
  // PCRE2 takes a pattern that matches nothing at all; Vectorscan refuses it.
  const auto hs = Engine::build({}, {{"empty-match", "x*"}});
  ASSERT_FALSE(hs);
  EXPECT_NE(hs.error().message.find("'empty-match'"), std::string::npos) << hs.error().message;
  EXPECT_NE(hs.error().message.find("Vectorscan"), std::string::npos) << hs.error().message;
}

TEST(RedactText, DuplicateAndBuiltInNamesAreRefused) {
  EXPECT_FALSE(Engine::build({}, {{"password", "abc"}}));
  EXPECT_FALSE(Engine::build({}, {{"a", "abc"}, {"a", "def"}}));
  EXPECT_FALSE(Engine::build({{"r", "abc"}, {"r", "def"}}, {}));
  EXPECT_FALSE(Engine::build({{"", "abc"}}, {}));
}

}  // namespace
}  // namespace rdiag::redact
