#include "console/rpc_reply.h"

#include <gtest/gtest.h>

namespace rdiag::console {
namespace {

TEST(LineBuffer, SplitsLinesAcrossChunks) {
  LineBuffer buf;
  buf.append("{\"a\":");
  EXPECT_FALSE(buf.next_line());
  buf.append("1}\r\n{\"b\":2}\n{\"c\"");
  EXPECT_EQ(buf.next_line(), "{\"a\":1}");
  EXPECT_EQ(buf.next_line(), "{\"b\":2}");
  EXPECT_FALSE(buf.next_line());
  buf.append(":3}\n");
  EXPECT_EQ(buf.next_line(), "{\"c\":3}");
  EXPECT_FALSE(buf.next_line());
}

TEST(LineBuffer, OverflowsOnlyPastTheCap) {
  LineBuffer buf(8);
  buf.append("12345678");
  EXPECT_FALSE(buf.next_line());
  EXPECT_FALSE(buf.overflowed());
  buf.append("9");
  EXPECT_FALSE(buf.next_line());
  EXPECT_TRUE(buf.overflowed());
}

TEST(LineBuffer, CompleteLinesDoNotCountTowardsTheCap) {
  LineBuffer buf(8);
  buf.append("1234567\n1234567\n123");
  EXPECT_EQ(buf.next_line(), "1234567");
  EXPECT_EQ(buf.next_line(), "1234567");
  EXPECT_FALSE(buf.next_line());
  EXPECT_FALSE(buf.overflowed());
}

TEST(Reply, SkipsNotificationsOtherIdsAndBlankLines) {
  EXPECT_EQ(interpret_reply(R"({"jsonrpc":"2.0","method":"progress","params":{}})", 1)->kind,
            Reply::Kind::kSkip);
  EXPECT_EQ(interpret_reply(R"({"jsonrpc":"2.0","id":2,"result":{}})", 1)->kind,
            Reply::Kind::kSkip);
  EXPECT_EQ(interpret_reply(R"({"jsonrpc":"2.0","id":"1","result":{}})", 1)->kind,
            Reply::Kind::kSkip);
  EXPECT_EQ(interpret_reply("  ", 1)->kind, Reply::Kind::kSkip);
}

TEST(Reply, ReturnsTheResultForOurId) {
  auto r = interpret_reply(R"({"jsonrpc":"2.0","id":7,"result":{"version":"0.1.0"}})", 7);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->kind, Reply::Kind::kResult);
  EXPECT_EQ(r->result["version"], "0.1.0");
}

TEST(Reply, CarriesCodeReasonAndSafeMessage) {
  auto r = interpret_reply(
      R"({"jsonrpc":"2.0","id":3,"error":{"code":-32002,"message":"no grant\u001b[31m","data":{"reason":"no_grant"}}})",
      3);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->kind, Reply::Kind::kError);
  EXPECT_EQ(r->code, -32002);
  EXPECT_EQ(r->reason, "no_grant");
  EXPECT_EQ(r->message.find('\x1b'), std::string::npos);
  EXPECT_NE(r->message.find("no grant"), std::string::npos);
}

TEST(Reply, DropsAReasonThatIsNotAWord) {
  auto r = interpret_reply(
      R"({"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"x","data":{"reason":"Bad Reason\n"}}})",
      3);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "");
}

TEST(Reply, AnErrorWithNullIdAnswersUs) {
  auto r =
      interpret_reply(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}})", 5);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Reply::Kind::kError);
  EXPECT_EQ(r->code, -32700);
}

TEST(Reply, RefusesMalformedLines) {
  EXPECT_FALSE(interpret_reply("not json", 1));
  EXPECT_FALSE(interpret_reply("[1,2]", 1));
  EXPECT_FALSE(interpret_reply(R"({"jsonrpc":"2.0","id":1})", 1));
  EXPECT_FALSE(interpret_reply(R"({"jsonrpc":"2.0","id":1,"error":{"message":"no code"}})", 1));
  EXPECT_FALSE(interpret_reply("{\"id\":1,\"result\":\"\xff\"}", 1));  // invalid UTF-8
}

TEST(Request, IsOneJsonRpcLine) {
  EXPECT_EQ(request_line(1, "agent.info", nlohmann::json::object()),
            "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"agent.info\",\"params\":{}}\n");
}

}  // namespace
}  // namespace rdiag::console
