#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/records/chain.h"
#include "common/text_safety.h"

namespace rdiag::records {
namespace {

using nlohmann::json;

// As if the session was opened at this ledger hash.
const std::string kGenesis = "5f0b6ec1a4e7d3f2b9c8a7e6d5c4b3a29180f7e6d5c4b3a2918f7e6d5c4b3a29";
const std::string kFp = "engineer:SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

struct Chain {
  std::vector<Event> events;
  std::vector<std::string> lines;  // without '\n'
  std::string text() const {
    std::string t;
    for (const auto& l : lines) t += l + "\n";
    return t;
  }
};

Event append(Chain& chain, std::string type, std::string actor, json data) {
  const Event* last = chain.events.empty() ? nullptr : &chain.events.back();
  const std::string ts = "2026-11-28T06:05:" + std::to_string(10 + chain.events.size()) + ".123Z";
  auto e = make_next_event(last, kGenesis, std::move(type), std::move(actor), std::move(data), ts);
  EXPECT_TRUE(e) << e.error().message;
  chain.events.push_back(*e);
  chain.lines.push_back(event_line(*e));
  return *e;
}

// Ten events of the kinds a session produces, with non-ASCII text in them.
Chain ten_events() {
  Chain c;
  append(c, "request.created", kFp, {{"ticket", "T-1001"}, {"name", "李伟"}, {"minutes", 60}});
  append(c, "request.approved", "customer:erpadmin", {{"uid", 1001}, {"sudo_user", ""}});
  append(c, "session.connected", kFp, {{"peer", "203.0.113.9:51022"}});
  append(c, "diag.run", kFp, {{"collectors", {"disk", "memory"}}, {"ok", true}});
  append(c, "note", kFp, {{"text", "库存模块 café: 磁盘满"}});
  append(c, "shell.opened", kFp, {{"n", 1}});
  append(c, "exec", kFp, {{"argv", {"df", "-h"}}, {"rc", 0}});
  append(c, "shell.closed", kFp, {{"n", 1}, {"rc", -1}});
  append(c, "session.closed", "agent", {{"cause", "disk full"}, {"outcome", "fixed"}});
  append(c, "rating", "customer:erpadmin", {{"score", 5}});
  return c;
}

std::string replaced(std::string text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

void expect_bad(const Chain& c, std::size_t line, std::string_view reason) {
  const ChainCheck check = verify_chain(c.text(), kGenesis);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.bad_line, line) << check.message;
  EXPECT_EQ(check.reason, reason) << check.message;
  EXPECT_TRUE(check.message.starts_with("line " + std::to_string(line) + ": ")) << check.message;
}

TEST(ChainVerify, UntouchedTenEventChainVerifies) {
  const Chain c = ten_events();
  const ChainCheck check = verify_chain(c.text(), kGenesis);
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_EQ(check.bad_line, 0U);
  EXPECT_EQ(check.last_seq, 10);
  EXPECT_EQ(check.last_hash, c.events.back().hash);
  EXPECT_EQ(c.events.front().prev, kGenesis);
}

TEST(ChainVerify, EmptyRecordIsAValidEmptyChain) {
  const ChainCheck check = verify_chain("", kGenesis);
  EXPECT_TRUE(check.ok);
  EXPECT_EQ(check.last_seq, 0);
  EXPECT_EQ(check.last_hash, kGenesis);
}

// Every byte of line 4 (and its newline), changed in several ways: none of
// the results verifies, and each is blamed on line 4.
TEST(ChainVerify, EveryOneByteChangeIsCaughtAndNamed) {
  const Chain c = ten_events();
  const std::string text = c.text();
  const std::size_t start = text.find(c.lines[3]);
  const std::size_t end = start + c.lines[3].size();  // the '\n'
  int checked = 0;
  for (std::size_t i = start; i <= end; ++i) {
    for (const unsigned mask : {0x01U, 0x02U, 0x20U, 0x40U, 0x80U, 0xFFU}) {
      std::string tampered = text;
      tampered[i] = static_cast<char>(static_cast<unsigned char>(tampered[i]) ^ mask);
      const ChainCheck check = verify_chain(tampered, kGenesis);
      ASSERT_FALSE(check.ok) << "byte " << i << " mask " << mask;
      ASSERT_EQ(check.bad_line, 4U) << "byte " << i << " mask " << mask << ": " << check.message;
      ++checked;
    }
  }
  EXPECT_GT(checked, 6 * 100);
}

TEST(ChainVerify, ReorderedEventsAreNamed) {
  Chain c = ten_events();
  std::swap(c.lines[4], c.lines[5]);
  expect_bad(c, 5, "bad_seq");
}

TEST(ChainVerify, DeletedMiddleEventIsNamed) {
  Chain c = ten_events();
  c.lines.erase(c.lines.begin() + 4);
  expect_bad(c, 5, "bad_seq");
}

TEST(ChainVerify, DuplicatedEventIsNamed) {
  Chain c = ten_events();
  c.lines.insert(c.lines.begin() + 3, c.lines[2]);
  expect_bad(c, 4, "bad_seq");
}

TEST(ChainVerify, DuplicatedKeyIsNamed) {
  Chain c = ten_events();
  c.lines[6] = replaced(c.lines[6], "\"seq\":7,", "\"seq\":7,\"seq\":7,");
  expect_bad(c, 7, "duplicate_key");
}

TEST(ChainVerify, EscapedUnicodeIsNamed) {
  Chain c = ten_events();
  c.lines[4] = replaced(c.lines[4], "é", "\\u00e9");
  expect_bad(c, 5, "not_canonical");
}

TEST(ChainVerify, ExtraSpaceIsNamed) {
  Chain c = ten_events();
  c.lines[2] = replaced(c.lines[2], "\",\"seq\"", "\", \"seq\"");
  expect_bad(c, 3, "not_canonical");
}

TEST(ChainVerify, FloatInDataIsNamed) {
  Chain c = ten_events();
  c.lines[9] = replaced(c.lines[9], "\"score\":5", "\"score\":5.0");
  expect_bad(c, 10, "bad_data");
}

// A forger who recomputes the hash still cannot introduce a type or actor the
// grammar does not know.
TEST(ChainVerify, UnknownTypeIsNamedEvenWithAValidHash) {
  Chain c = ten_events();
  Event e = c.events[5];
  e.type = "shell.root";
  e.hash = event_hash(e);
  c.lines[5] = event_line(e);
  expect_bad(c, 6, "unknown_type");
}

TEST(ChainVerify, BadActorIsNamedEvenWithAValidHash) {
  Chain c = ten_events();
  Event e = c.events[1];
  e.actor = "customer:root;rm -rf /";
  e.hash = event_hash(e);
  c.lines[1] = event_line(e);
  expect_bad(c, 2, "bad_actor");
}

TEST(ChainVerify, RehashedEditBreaksTheNextLink) {
  Chain c = ten_events();
  Event e = c.events[7];
  e.data["rc"] = 0;
  e.hash = event_hash(e);
  c.lines[7] = event_line(e);
  expect_bad(c, 9, "bad_prev");
}

TEST(ChainVerify, WrongGenesisIsNamedOnLineOne) {
  const Chain c = ten_events();
  const ChainCheck check = verify_chain(c.text(), std::string(64, '0'));
  EXPECT_EQ(check.bad_line, 1U);
  EXPECT_EQ(check.reason, "bad_prev");
}

TEST(ChainVerify, BlankLineIsNamed) {
  const Chain c = ten_events();
  std::string text = c.text();
  text.insert(text.find(c.lines[3]), "\n");
  const ChainCheck check = verify_chain(text, kGenesis);
  EXPECT_EQ(check.bad_line, 4U);
  EXPECT_EQ(check.reason, "malformed");
}

TEST(ChainVerify, TruncatedTailIsNamedWithTheGoodPrefix) {
  const Chain c = ten_events();
  const std::string text = c.text();
  for (const std::size_t cut : {std::size_t{1}, std::size_t{40}, c.lines[9].size() + 2}) {
    const ChainCheck check = verify_chain(text.substr(0, text.size() - cut), kGenesis);
    EXPECT_FALSE(check.ok);
    EXPECT_EQ(check.reason, "truncated_tail");
    EXPECT_EQ(check.bad_line, cut > c.lines[9].size() ? 9U : 10U) << check.message;
    // What recovery appends after once the tail is cut.
    EXPECT_EQ(check.last_seq, cut > c.lines[9].size() ? 8 : 9);
  }
  const ChainCheck no_newline = verify_chain(text.substr(0, text.size() - 1), kGenesis);
  EXPECT_EQ(no_newline.last_hash, c.events[8].hash);
}

TEST(ChainVerify, EarlierTamperWinsOverATruncatedTail) {
  Chain c = ten_events();
  c.lines[2] = replaced(c.lines[2], "\"seq\":3", "\"seq\": 3");
  const std::string text = c.text();
  const ChainCheck check = verify_chain(text.substr(0, text.size() - 1), kGenesis);
  EXPECT_EQ(check.bad_line, 3U);
  EXPECT_EQ(check.reason, "not_canonical");
}

// GB18030 bytes for 中文, as a terminal in a zh_CN.GB18030 locale would send
// them, and plain invalid bytes: the writer records them as U+FFFD.
TEST(ChainWriter, InvalidUtf8AndGb18030BytesAreRecordedAndVerify) {
  Chain c = ten_events();
  const Event e = append(c, "note", kFp,
                         {{"text", "\xd6\xd0\xce\xc4"},
                          {"argv", {"cat", "/tmp/\xff\xfe.log"}},
                          {"\xb5\xc7\xc2\xbc", "key bytes too"}});
  const std::string text = c.text();
  EXPECT_FALSE(first_invalid_utf8(text).has_value());
  EXPECT_EQ(e.data.at("argv").at(1), "/tmp/\uFFFD\uFFFD.log");
  const ChainCheck check = verify_chain(text, kGenesis);
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_EQ(check.last_seq, 11);
}

TEST(ChainWriter, RefusesWhatTheVerifierWouldReject) {
  const Chain c = ten_events();
  const Event* last = &c.events.back();
  const std::string ts = "2026-11-28T07:00:00.000Z";
  const auto reason = [&](std::string type, std::string actor, json data, std::string when) {
    auto e = make_next_event(last, kGenesis, std::move(type), std::move(actor), std::move(data),
                             std::move(when));
    return e ? std::string("ok") : e.error().reason;
  };
  EXPECT_EQ(reason("note", "agent", {{"x", 1}}, ts), "ok");
  EXPECT_EQ(reason("notes", "agent", {{"x", 1}}, ts), "unknown_type");
  EXPECT_EQ(reason("note", "customer:a b", {{"x", 1}}, ts), "bad_actor");
  EXPECT_EQ(reason("note", "agent", {{"x", 1.5}}, ts), "bad_data");
  EXPECT_EQ(reason("note", "agent", {{"x", nullptr}}, ts), "bad_data");
  EXPECT_EQ(reason("note", "agent", {{"x", 1}}, "2026-11-28T07:00:00Z"), "malformed");
  auto first = make_next_event(nullptr, "not-a-hash", "note", "agent", {}, ts);
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().reason, "malformed");
}

TEST(ChainWriter, FirstEventStartsAtGenesisWithEmptyData) {
  auto e = make_next_event(nullptr, kGenesis, "note", "agent", {}, "2026-11-28T07:00:00.000Z");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->seq, 1);
  EXPECT_EQ(e->prev, kGenesis);
  EXPECT_EQ(e->data, json::object());
  EXPECT_NE(event_line(*e).find("\"data\":{}"), std::string::npos);
  EXPECT_TRUE(verify_chain(event_line(*e) + "\n", kGenesis).ok);
}

TEST(ChainTimestamp, FormatsUtcWithTruncatedMilliseconds) {
  using namespace std::chrono;
  const sys_days day = 2026y / November / 28;
  EXPECT_EQ(format_ts(day + 6h + 5min + 123999us), "2026-11-28T06:05:00.123Z");
  EXPECT_EQ(format_ts(sys_days{2028y / February / 29} + 23h + 59min + 59s + 999ms),
            "2028-02-29T23:59:59.999Z");
  EXPECT_EQ(format_ts(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_TRUE(is_valid_ts(format_ts(system_clock::now())));
}

}  // namespace
}  // namespace rdiag::records
