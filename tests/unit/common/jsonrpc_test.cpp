#include "common/jsonrpc.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rdiag::rpc {
namespace {

using nlohmann::json;

// Collects what a LineAssembler hands out, the way the agent's reader would.
struct Sink {
  std::vector<std::string> lines;
  int oversized = 0;

  void feed(LineAssembler& assembler, std::string_view bytes) {
    assembler.feed(
        bytes, [this](std::string_view line) { lines.emplace_back(line); },
        [this] { ++oversized; });
  }
};

ParseFailure expect_failure(std::string_view line) {
  auto parsed = parse_request(line);
  EXPECT_TRUE(std::holds_alternative<ParseFailure>(parsed)) << line;
  if (!std::holds_alternative<ParseFailure>(parsed)) return {};
  return std::get<ParseFailure>(std::move(parsed));
}

Request expect_request(std::string_view line) {
  auto parsed = parse_request(line);
  EXPECT_TRUE(std::holds_alternative<Request>(parsed)) << line;
  if (!std::holds_alternative<Request>(parsed)) return {};
  return std::get<Request>(std::move(parsed));
}

std::string nested(const std::string& inner, int levels) {
  return std::string(static_cast<std::size_t>(levels), '[') + inner +
         std::string(static_cast<std::size_t>(levels), ']');
}

TEST(LineAssembler, OversizedLineIsReportedOnceAndNextLineStillArrives) {
  LineAssembler assembler;
  Sink sink;
  const std::string huge(2 * 1024 * 1024, 'x');
  for (std::size_t at = 0; at < huge.size(); at += 65536) {
    sink.feed(assembler, std::string_view(huge).substr(at, 65536));
    EXPECT_LE(assembler.buffered(), kMaxRequestBytes);
  }
  sink.feed(assembler, "\n{\"a\":1}\n");
  EXPECT_EQ(sink.oversized, 1);
  EXPECT_EQ(sink.lines, std::vector<std::string>{"{\"a\":1}"});
  EXPECT_EQ(assembler.buffered(), 0u);
}

TEST(LineAssembler, OversizedLineInOneFeedAmongGoodLines) {
  LineAssembler assembler;
  Sink sink;
  sink.feed(assembler, "first\n" + std::string(2 * 1024 * 1024, 'x') + "\nsecond\n");
  EXPECT_EQ(sink.oversized, 1);
  EXPECT_EQ(sink.lines, (std::vector<std::string>{"first", "second"}));
}

TEST(LineAssembler, CapCountsBytesBeforeTheNewline) {
  LineAssembler assembler(8);
  Sink sink;
  sink.feed(assembler, "12345678\n123456789\nok\n");
  EXPECT_EQ(sink.lines, (std::vector<std::string>{"12345678", "ok"}));
  EXPECT_EQ(sink.oversized, 1);
}

TEST(LineAssembler, EachOversizedLineReportedSeparately) {
  LineAssembler assembler(4);
  Sink sink;
  sink.feed(assembler, "aaaaaa\nbbbbbb\nc\n");
  EXPECT_EQ(sink.oversized, 2);
  EXPECT_EQ(sink.lines, std::vector<std::string>{"c"});
}

TEST(LineAssembler, RequestSplitIntoOneByteFeedsIsReassembled) {
  LineAssembler assembler;
  Sink sink;
  const std::string request = R"({"jsonrpc":"2.0","id":1,"method":"agent.info"})";
  for (const char c : request + "\r\n") sink.feed(assembler, std::string_view(&c, 1));
  EXPECT_EQ(sink.oversized, 0);
  EXPECT_EQ(sink.lines, std::vector<std::string>{request});
}

TEST(LineAssembler, ManyLinesInOneFeedSkippingEmptyOnes) {
  LineAssembler assembler;
  Sink sink;
  sink.feed(assembler, "a\nb\r\n\n\r\nc\nunfinished");
  EXPECT_EQ(sink.lines, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(assembler.buffered(), 10u);
  sink.feed(assembler, "\n");
  EXPECT_EQ(sink.lines.back(), "unfinished");
}

TEST(NestingDepth, IgnoresBracketsInsideStrings) {
  EXPECT_EQ(nesting_depth(R"({"a":"[[[[{{"})", 16), 1);
  EXPECT_EQ(nesting_depth(R"(["\"[[[", [[]]])", 16), 3);
  EXPECT_EQ(nesting_depth(R"(["\\", [[]]])", 16), 3);
  EXPECT_EQ(nesting_depth("42", 16), 0);
}

TEST(NestingDepth, StopsCountingOncePastTheLimit) {
  EXPECT_EQ(nesting_depth(std::string(100000, '['), 16), 17);
}

TEST(ParseRequest, ValidRequestKeepsItsFields) {
  const Request r =
      expect_request(R"({"jsonrpc":"2.0","id":"r1","method":"logs.tail","params":{"lines":5}})");
  EXPECT_EQ(r.id, "r1");
  EXPECT_FALSE(r.is_notification);
  EXPECT_EQ(r.method, "logs.tail");
  EXPECT_EQ(r.params, json({{"lines", 5}}));
}

TEST(ParseRequest, HundredNestedArraysAreTooDeepAndKeepTheId) {
  const ParseFailure f =
      expect_failure(R"({"jsonrpc":"2.0","id":7,"method":"x","params":)" + nested("", 100) + "}");
  EXPECT_EQ(f.code, kInvalidRequest);
  EXPECT_EQ(f.reason, "too_deep");
  EXPECT_EQ(f.id, 7);
}

TEST(ParseRequest, HundredThousandOpenBracketsDoNotCrash) {
  const ParseFailure f = expect_failure(std::string(100000, '['));
  EXPECT_EQ(f.code, kInvalidRequest);
  EXPECT_EQ(f.reason, "too_deep");
  EXPECT_TRUE(f.id.is_null());
}

TEST(ParseRequest, SixteenLevelsAreAllowedSeventeenAreNot) {
  const std::string head = R"({"jsonrpc":"2.0","id":1,"method":"x","params":)";
  expect_request(head + nested("", 15) + "}");
  EXPECT_EQ(expect_failure(head + nested("", 16) + "}").reason, "too_deep");
}

TEST(ParseRequest, MalformedJsonIsParseError) {
  for (const std::string_view bad : {R"({"jsonrpc":"2.0",)", R"({"a":1}})", "{'a':1}", " "}) {
    const ParseFailure f = expect_failure(bad);
    EXPECT_EQ(f.code, kParseError) << bad;
    EXPECT_EQ(f.reason, "parse_error") << bad;
    EXPECT_TRUE(f.id.is_null());
  }
}

TEST(ParseRequest, InvalidUtf8IsParseError) {
  const ParseFailure f = expect_failure("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\xff\"}");
  EXPECT_EQ(f.code, kParseError);
  EXPECT_EQ(f.reason, "parse_error");
  EXPECT_EQ(expect_failure("{\"jsonrpc\":\"2.0\",\"method\":\"\xed\xa0\x80\"}").code, kParseError);
}

TEST(ParseRequest, WrongVersionIsInvalidRequestWithTheId) {
  const ParseFailure f = expect_failure(R"({"jsonrpc":"1.0","id":"abc","method":"x"})");
  EXPECT_EQ(f.code, kInvalidRequest);
  EXPECT_EQ(f.reason, "bad_version");
  EXPECT_EQ(f.id, "abc");
  EXPECT_EQ(expect_failure(R"({"id":3,"method":"x"})").reason, "bad_version");
  EXPECT_EQ(expect_failure(R"({"jsonrpc":2.0,"id":3,"method":"x"})").reason, "bad_version");
}

TEST(ParseRequest, IdIsPreservedInEnvelopeErrors) {
  const ParseFailure no_method = expect_failure(R"({"jsonrpc":"2.0","id":42})");
  EXPECT_EQ(no_method.reason, "bad_method");
  EXPECT_EQ(no_method.id, 42);
  const ParseFailure empty = expect_failure(R"({"jsonrpc":"2.0","id":"q","method":""})");
  EXPECT_EQ(empty.reason, "bad_method");
  EXPECT_EQ(empty.id, "q");
  const ParseFailure params =
      expect_failure(R"({"jsonrpc":"2.0","id":-1,"method":"x","params":3})");
  EXPECT_EQ(params.reason, "bad_params");
  EXPECT_EQ(params.id, -1);
  EXPECT_EQ(error_line(params.id, params.code, params.reason, "Bad params."),
            R"({"jsonrpc":"2.0","id":-1,"error":{"code":-32600,"message":"Bad params.",)"
            R"("data":{"reason":"bad_params"}}})"
            "\n");
}

TEST(ParseRequest, IdMustBeStringIntegerOrNull) {
  for (const std::string_view id : {"1.5", "{}", "[1]", "true"}) {
    const ParseFailure f =
        expect_failure(R"({"jsonrpc":"2.0","method":"x","id":)" + std::string(id) + "}");
    EXPECT_EQ(f.reason, "bad_id") << id;
    EXPECT_TRUE(f.id.is_null()) << id;
  }
}

TEST(ParseRequest, RequestWithoutIdIsANotification) {
  const Request n = expect_request(R"({"jsonrpc":"2.0","method":"session.note","params":["x"]})");
  EXPECT_TRUE(n.is_notification);
  EXPECT_TRUE(n.id.is_null());
  EXPECT_TRUE(n.params.is_array());
  const Request null_id = expect_request(R"({"jsonrpc":"2.0","id":null,"method":"agent.info"})");
  EXPECT_FALSE(null_id.is_notification);
  EXPECT_TRUE(null_id.params.is_null());
}

TEST(ParseRequest, BatchesAndNonObjectsAreRejected) {
  const ParseFailure batch = expect_failure(R"([{"jsonrpc":"2.0","id":1,"method":"x"}])");
  EXPECT_EQ(batch.code, kInvalidRequest);
  EXPECT_EQ(batch.reason, "batch_not_supported");
  const ParseFailure scalar = expect_failure("42");
  EXPECT_EQ(scalar.code, kInvalidRequest);
  EXPECT_EQ(scalar.reason, "not_an_object");
}

TEST(ReplyLines, ResultLineIsCompactOrderedAndNewlineTerminated) {
  EXPECT_EQ(result_line("a", {{"ok", true}, {"who", "李伟"}}),
            R"({"jsonrpc":"2.0","id":"a","result":{"ok":true,"who":"李伟"}})"
            "\n");
}

TEST(ReplyLines, NewlinesInsideValuesNeverSplitTheLine) {
  const std::string line = result_line(1, "two\nlines");
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(json::parse(line)["result"], "two\nlines");
}

TEST(ReplyLines, InvalidUtf8NeverThrows) {
  std::string line;
  EXPECT_NO_THROW(line = error_line(nullptr, kInternalError, "bad\xff", "broken \xc0 text"));
  EXPECT_EQ(json::parse(line)["error"]["message"], "broken \xEF\xBF\xBD text");
  EXPECT_NO_THROW(line = result_line(1, std::string("\xff\xfe")));
  EXPECT_TRUE(json::accept(line));
}

TEST(ReplyLines, NotificationLineOmitsNullParams) {
  EXPECT_EQ(notification_line("progress", {{"done", 3}}),
            R"({"jsonrpc":"2.0","method":"progress","params":{"done":3}})"
            "\n");
  EXPECT_EQ(notification_line("session.state", nullptr),
            R"({"jsonrpc":"2.0","method":"session.state"})"
            "\n");
}

}  // namespace
}  // namespace rdiag::rpc
