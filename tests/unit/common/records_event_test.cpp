#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "common/records/event.h"

namespace rdiag::records {
namespace {

using nlohmann::json;

const std::string kZeros(64, '0');
const std::string kFp = "engineer:SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

// A valid, hashed event for tests to tamper with.
Event sample_event() {
  Event e;
  e.seq = 1;
  e.ts = "2026-11-28T06:05:00.123Z";
  e.type = "note";
  e.actor = "agent";
  e.data = {{"text", "中文 café"}, {"n", 7}, {"ok", true}};
  e.prev = kZeros;
  e.hash = event_hash(e);
  return e;
}

std::string replaced(std::string text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string reason_of(std::string_view line) {
  auto parsed = parse_event_line(line);
  return parsed ? "ok" : parsed.error().reason;
}

TEST(EventType, KnowsExactlyTheClosedList) {
  for (const char* t : {"request.created",
                        "request.approved",
                        "request.denied",
                        "request.expired",
                        "code.rejected",
                        "notify.failed",
                        "session.connected",
                        "session.disconnected",
                        "session.joined",
                        "session.extended",
                        "diag.run",
                        "logs.scan",
                        "logs.tail",
                        "bundle.created",
                        "file.read",
                        "shell.opened",
                        "shell.closed",
                        "exec",
                        "file.uploaded",
                        "file.downloaded",
                        "fix.run",
                        "note",
                        "escalated",
                        "grant.revoked",
                        "grant.expired",
                        "session.closed",
                        "customer.confirmed",
                        "customer.disputed",
                        "rating",
                        "checkpoint",
                        "record.repaired",
                        "session.interrupted"}) {
    EXPECT_TRUE(is_known_event_type(t)) << t;
  }
  for (const char* t : {"", "Note", "note ", "key.rotated", "shell", "exec.run", "request"}) {
    EXPECT_FALSE(is_known_event_type(t)) << t;
  }
}

TEST(EventActor, AcceptsEachFormOfTheGrammar) {
  for (const std::string& a :
       {kFp, std::string("customer:erpadmin"), std::string("customer:_svc.erp-1"),
        std::string("customer:Zhang.Wei@corp.example"), std::string("policy:night-batch_2.1"),
        std::string("code:0123abcd"), std::string("code:0123456789abcdef"), std::string("agent")}) {
    EXPECT_TRUE(is_valid_actor(a)) << a;
  }
}

TEST(EventActor, RejectsLookalikes) {
  for (const std::string& a : {std::string("Agent"),
                               std::string("agent "),
                               std::string(""),
                               kFp.substr(0, kFp.size() - 1),        // 42 characters
                               kFp + "A",                            // 44 characters
                               kFp.substr(0, kFp.size() - 1) + "t",  // non-zero trailing bits
                               replaced(kFp, "SHA256", "sha256"),    // prefix is case-sensitive
                               replaced(kFp, "uNiV", "uN=V"),        // not base64
                               std::string("engineer:李伟"),
                               std::string("customer:"),
                               std::string("customer:bad user"),
                               std::string("customer:-rf"),
                               std::string("customer:a:b"),
                               "customer:" + std::string(129, 'a'),
                               std::string("policy:"),
                               "policy:" + std::string(65, 'r'),
                               std::string("policy:a/b"),
                               std::string("code:0123abc"),            // 7 hex
                               std::string("code:0123456789abcdef0"),  // 17 hex
                               std::string("code:0123ABCD"),
                               std::string("root")}) {
    EXPECT_FALSE(is_valid_actor(a)) << a;
  }
}

TEST(EventTimestamp, AcceptsOnlyTheFixedUtcShape) {
  EXPECT_TRUE(is_valid_ts("2026-11-28T06:05:00.123Z"));
  EXPECT_TRUE(is_valid_ts("2028-02-29T23:59:59.999Z"));
  for (const char* ts :
       {"2026-11-28T06:05:00Z", "2026-11-28T06:05:00.123+08:00", "2026-11-28 06:05:00.123Z",
        "2026-13-01T00:00:00.000Z", "2027-02-29T00:00:00.000Z", "2026-11-28T24:00:00.000Z",
        "2026-11-28T06:60:00.000Z", "2026-11-28T06:05:60.000Z", "2026-11-28t06:05:00.123z"}) {
    EXPECT_FALSE(is_valid_ts(ts)) << ts;
  }
}

TEST(EventData, HoldsStringsIntegersBooleansObjectsAndArrays) {
  const json data = {{"argv", {"ls", "-l"}},
                     {"rc", -1},
                     {"big", INT64_MAX},
                     {"ok", false},
                     {"peer", {{"addr", "10.0.0.5"}, {"port", 22}}},
                     {"empty", json::array()}};
  EXPECT_TRUE(check_event_data(data));
  EXPECT_TRUE(check_event_data(json::object()));
}

TEST(EventData, RejectsNullFloatsHugeIntegersAndNonObjects) {
  for (const json& data :
       {json{{"x", nullptr}}, json{{"x", 1.0}}, json{{"x", {1, 2.5}}},
        json{{"x", std::uint64_t{1} << 63}}, json::array(), json("text"), json()}) {
    const auto r = check_event_data(data);
    ASSERT_FALSE(r) << data.dump();
    EXPECT_EQ(r.error().reason, "bad_data");
  }
  const auto r = check_event_data({{"peer", {{"port", 2.5}}}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("data.peer.port is a float (2.5)"), std::string::npos)
      << r.error().message;
}

TEST(EventData, RejectsInvalidUtf8UntilSanitized) {
  const json raw = {{"text", "a\xff"}, {"k\xfe", "v"}};
  EXPECT_FALSE(check_event_data(raw));
  const json clean = sanitize_strings(raw);
  EXPECT_TRUE(check_event_data(clean));
  EXPECT_EQ(clean.at("text"), "a\uFFFD");
  EXPECT_EQ(clean.at("k\uFFFD"), "v");
}

TEST(EventData, SanitizingKeepsBothOfTwoKeysThatCollide) {
  const json clean = sanitize_strings({{"k\xfe", 1}, {"k\xff", 2}, {"list", {"\xc0\xaf"}}});
  EXPECT_EQ(clean, json({{"k\uFFFD", 1}, {"k\uFFFD#2", 2}, {"list", {"\uFFFD\uFFFD"}}}));
}

TEST(EventData, RejectsNestingPastTheLimit) {
  json deep = json::object();
  for (int i = 0; i < kMaxDataDepth; ++i) deep = json{{"d", deep}};
  const auto r = check_event_data(deep);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "bad_data");
}

TEST(CanonicalForm, HashSitsBetweenDataAndPrev) {
  const std::string line = event_line(sample_event());
  EXPECT_EQ(line.find("{\"actor\":\"agent\",\"data\":{"), 0U);
  const auto data = line.find("\"data\":");
  const auto hash = line.find(",\"hash\":\"");
  const auto prev = line.find(",\"prev\":\"");
  EXPECT_LT(data, hash);
  EXPECT_EQ(hash + 9 + 64 + 1, prev);
  EXPECT_EQ(canonical_without_hash(sample_event()).find("\"hash\""), std::string::npos);
}

// Pins the format: these bytes and this hash are what an auditor's script and
// `sha256sum` reproduce (checked with printf '%s' ... | sha256sum).
TEST(CanonicalForm, MatchesTheGoldenBytesAndHash) {
  const Event e = sample_event();
  EXPECT_EQ(
      canonical_without_hash(e),
      "{\"actor\":\"agent\",\"data\":{\"n\":7,\"ok\":true,\"text\":\"中文 café\"},\"prev\":\"" +
          kZeros + "\",\"seq\":1,\"ts\":\"2026-11-28T06:05:00.123Z\",\"type\":\"note\",\"v\":1}");
  EXPECT_EQ(e.hash, "7a62addab206b2df3bf76ba0b72d1bc0409a94e8be30f82f04e9b323d88ab5f5");
}

TEST(CanonicalForm, KeepsUnicodeRawAndEscapesControls) {
  Event e = sample_event();
  e.data = {{"text", "库存\t\x01\"\\/"}};
  EXPECT_NE(event_line(e).find(R"("库存\t\u0001\"\\/")"), std::string::npos) << event_line(e);
}

TEST(EventParse, RoundTripsACanonicalLine) {
  const Event e = sample_event();
  auto parsed = parse_event_line(event_line(e));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->seq, 1);
  EXPECT_EQ(parsed->data, e.data);
  EXPECT_EQ(parsed->hash, e.hash);
  EXPECT_EQ(event_line(*parsed), event_line(e));
}

TEST(EventParse, NamesEachKindOfTamper) {
  const std::string line = event_line(sample_event());
  EXPECT_EQ(reason_of(replaced(line, "\"seq\":1,", "\"seq\":1,\"seq\":1,")), "duplicate_key");
  EXPECT_EQ(reason_of(replaced(line, "\"n\":7,", "\"n\":7,\"n\":7,")), "duplicate_key");
  EXPECT_EQ(reason_of(replaced(line, "é", "\\u00e9")), "not_canonical");
  EXPECT_EQ(reason_of(replaced(line, "中", "\\u4e2d")), "not_canonical");
  EXPECT_EQ(reason_of(replaced(line, "\"seq\":1", "\"seq\": 1")), "not_canonical");
  EXPECT_EQ(reason_of(line + " "), "not_canonical");
  EXPECT_EQ(reason_of(line + "\r"), "not_canonical");
  EXPECT_EQ(reason_of("\xEF\xBB\xBF" + line), "not_canonical");
  EXPECT_EQ(reason_of(replaced(line, "\"n\":7", "\"n\":7.0")), "bad_data");
  EXPECT_EQ(reason_of(replaced(line, "\"n\":7", "\"n\":null")), "bad_data");
  EXPECT_EQ(reason_of(replaced(line, "\"n\":7", "\"n\":9223372036854775808")), "bad_data");
  EXPECT_EQ(reason_of(replaced(line, "\"n\":7", "\"n\":8")), "bad_hash");
  EXPECT_EQ(reason_of(replaced(line, "\"v\":1", "\"v\":2")), "unsupported_version");
  EXPECT_EQ(reason_of(replaced(line, "\"seq\":1", "\"seq\":\"1\"")), "malformed");
  EXPECT_EQ(reason_of(replaced(line, "\"seq\":1,", "")), "malformed");
  EXPECT_EQ(reason_of(replaced(line, "\"seq\":1,", "\"seq\":1,\"extra\":1,")), "malformed");
  EXPECT_EQ(reason_of(line.substr(0, line.size() - 1)), "malformed");
  EXPECT_EQ(reason_of(""), "malformed");
  EXPECT_EQ(reason_of("[]"), "malformed");
}

TEST(EventParse, CorrectlyHashedUnknownTypeOrActorIsStillRejected) {
  Event e = sample_event();
  e.type = "shell.hijacked";
  e.hash = event_hash(e);
  auto r = parse_event_line(event_line(e));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "unknown_type");
  EXPECT_NE(r.error().message.find("shell.hijacked"), std::string::npos);

  e = sample_event();
  e.actor = "engineer:someone";
  e.hash = event_hash(e);
  r = parse_event_line(event_line(e));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "bad_actor");
  EXPECT_FALSE(check_event(e));
}

TEST(EventParse, MessagesSayWhereTheBytesDiffer) {
  const std::string line = replaced(event_line(sample_event()), "é", "\\u00e9");
  const auto r = parse_event_line(line);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("\\u00e9"), std::string::npos) << r.error().message;
}

TEST(EventParse, HostileNestingIsRefusedWithoutCrashing) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const std::string line = replaced(event_line(sample_event()), "\"n\":7", "\"n\":" + deep);
  EXPECT_EQ(reason_of(line), "bad_data");
  EXPECT_EQ(reason_of(deep), "bad_data");
}

// The writer's check and the line verifier draw the depth line in the same
// place, so nothing a writer accepts is later called tamper.
TEST(EventParse, WriterAndVerifierAgreeOnTheDepthLimit) {
  json deepest = "leaf";
  for (int i = 1; i < kMaxDataDepth; ++i) deepest = json::array({deepest});
  Event e = sample_event();
  e.data = {{"d", deepest}};  // data plus 31 arrays: exactly the limit
  e.hash = event_hash(e);
  EXPECT_TRUE(check_event(e));
  EXPECT_EQ(reason_of(event_line(e)), "ok");
  e.data = {{"d", json::array({deepest})}};
  e.hash = event_hash(e);
  EXPECT_EQ(check_event(e).error().reason, "bad_data");
  EXPECT_EQ(reason_of(event_line(e)), "bad_data");
}

TEST(EventParse, MalformedJsonSaysWhereAndWhy) {
  const std::string line = event_line(sample_event());
  auto r = parse_event_line(replaced(line, "\"n\":7", "\"n\":1e400"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "malformed");
  EXPECT_NE(r.error().message.find("number overflow"), std::string::npos) << r.error().message;
  r = parse_event_line(replaced(line, "\"n\":7", "\"n\":tru"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("at byte"), std::string::npos) << r.error().message;
  r = parse_event_line("");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "the line is empty");
}

TEST(EventParse, RefusesOversizedLines) {
  Event e = sample_event();
  e.data = {{"text", std::string(kMaxLineBytes, 'x')}};
  e.hash = event_hash(e);
  EXPECT_EQ(reason_of(event_line(e)), "malformed");
  EXPECT_FALSE(check_event(e));
}

}  // namespace
}  // namespace rdiag::records
