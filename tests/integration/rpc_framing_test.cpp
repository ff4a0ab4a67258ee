// The rdiag-v1 door's framing as a client sees it: NDJSON JSON-RPC 2.0, a
// line cap, a nesting cap, the standard error codes, notifications, several
// requests per write and one request split over several SSH packets. Every
// bad line gets an answer and leaves the connection usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "tests/support/harness.h"

namespace rdiag::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

std::string line_of(const json& j) {
  return j.dump() + "\n";
}

std::string info_line(const json& id) {
  return line_of(rpc_request(id, "agent.info"));
}

// The error reason a client reads, or "" when the answer is not an error.
std::string reason_of(const json& answer) {
  if (!answer.contains("error")) return "";
  return answer["error"].value("data", json::object()).value("reason", "");
}

int code_of(const json& answer) {
  if (!answer.contains("error")) return 0;
  return answer["error"].value("code", 0);
}

class RpcFraming : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(agent_.engineers_path(), "rdiag-name=\"Alice\" " + alice_.public_line + "\n");
    ASSERT_TRUE(agent_.start()) << agent_.log();
  }

  // Runs `input` through the stock OpenSSH client and returns the answer lines.
  std::vector<json> stock_ssh(const std::string& input) {
    auto r = ssh_rpc(agent_.port(), alice_.path, input);
    EXPECT_FALSE(r.timed_out) << r.err;
    EXPECT_EQ(r.exit_code, 0) << r.err << agent_.log();
    return json_lines(r.out);
  }

  // Every answer is a JSON-RPC 2.0 response object.
  static void expect_envelope(const std::vector<json>& lines) {
    for (const auto& l : lines) {
      EXPECT_EQ(l.value("jsonrpc", ""), "2.0") << l.dump();
      EXPECT_TRUE(l.contains("id")) << l.dump();
      EXPECT_NE(l.contains("result"), l.contains("error")) << l.dump();
    }
  }

  TempDir dir_;
  Key alice_ = make_key(dir_.path(), "alice");
  Agent agent_{dir_.path()};
};

TEST_F(RpcFraming, OversizedLineGetsInvalidRequestAndTheNextRequestIsAnswered) {
  // 2 MiB of a syntactically valid request: only its size is wrong.
  std::string big = R"({"jsonrpc":"2.0","id":1,"method":"agent.info","params":{"pad":")";
  big.append(2U * 1024U * 1024U, 'x');
  big += "\"}}\n";
  auto lines = stock_ssh(big + info_line(2));
  ASSERT_EQ(lines.size(), 2U) << agent_.log();
  expect_envelope(lines);
  EXPECT_EQ(code_of(lines[0]), -32600) << lines[0].dump();
  EXPECT_EQ(reason_of(lines[0]), "request_too_large") << lines[0].dump();
  EXPECT_FALSE(lines[0]["error"].value("message", "").empty()) << "a sentence a person can act on";
  EXPECT_EQ(lines[1]["id"], 2) << lines[1].dump();
  ASSERT_TRUE(lines[1].contains("result")) << lines[1].dump();
  EXPECT_EQ(lines[1]["result"]["engineer"]["fingerprint"], alice_.fingerprint);
}

TEST_F(RpcFraming, OversizedLineSentInManyPacketsIsDiscardedUpToItsNewline) {
  // The same through libssh, the big line in 64 KiB writes: the bytes after
  // the cap keep arriving in later packets and must all be dropped, not read
  // as the start of new requests.
  RpcClient c;
  ASSERT_TRUE(c.connect(agent_.port(), alice_.path)) << c.error() << agent_.log();
  // The line is made of request-shaped text (id 99): were the framing to
  // restart mid-line at a packet boundary, an answer with id 99 would appear.
  std::string big = R"({"jsonrpc":"2.0","id":1,"method":"agent.info","params":[)";
  const std::string trap = R"({"jsonrpc":"2.0","id":99,"method":"agent.info"},)";
  while (big.size() < 2U * 1024U * 1024U) big += trap;
  big += "{}]}\n";
  for (std::size_t off = 0; off < big.size(); off += 65536) {
    ASSERT_TRUE(c.write(big.substr(off, 65536))) << c.error();
  }
  ASSERT_TRUE(c.write(info_line(2)));
  auto first = c.read_line(milliseconds(10000));
  ASSERT_TRUE(first.has_value()) << agent_.log();
  const json a = json::parse(*first);
  EXPECT_EQ(code_of(a), -32600) << *first;
  EXPECT_EQ(reason_of(a), "request_too_large") << *first;
  auto second = c.read_line(milliseconds(10000));
  ASSERT_TRUE(second.has_value()) << agent_.log();
  const json b = json::parse(*second);
  EXPECT_EQ(b["id"], 2) << *second;
  EXPECT_TRUE(b.contains("result")) << *second;
  // Nothing else: no answer to a fragment of the discarded line.
  EXPECT_FALSE(c.read_line(milliseconds(300)).has_value());
}

TEST_F(RpcFraming, LineOfExactlyTheCapIsServedAndOneByteMoreIsNot) {
  // "Over max_request_bytes" (1 MiB, the newline not counted): a request of
  // exactly 1048576 bytes is a request.
  constexpr std::size_t kCap = 1048576;
  auto padded = [](int id, std::size_t total) {
    std::string head = R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
                       R"(,"method":"agent.info","params":{"pad":")";
    const std::string tail = "\"}}";
    return head + std::string(total - head.size() - tail.size(), 'x') + tail + "\n";
  };
  const std::string at_cap = padded(1, kCap);
  const std::string over_cap = padded(2, kCap + 1);
  ASSERT_EQ(at_cap.size(), kCap + 1);
  auto lines = stock_ssh(at_cap + over_cap + info_line(3));
  ASSERT_EQ(lines.size(), 3U) << agent_.log();
  EXPECT_EQ(lines[0]["id"], 1);
  EXPECT_TRUE(lines[0].contains("result")) << lines[0].dump().substr(0, 300);
  EXPECT_EQ(reason_of(lines[1]), "request_too_large") << lines[1].dump();
  EXPECT_EQ(lines[2]["id"], 3);
  EXPECT_TRUE(lines[2].contains("result"));
}

TEST_F(RpcFraming, DeepNestingGetsTooDeepAndTheConnectionStaysUsable) {
  std::string nested;
  for (int i = 0; i < 100; ++i) nested += "[";
  for (int i = 0; i < 100; ++i) nested += "]";
  const std::string deep =
      R"({"jsonrpc":"2.0","id":3,"method":"agent.info","params":)" + nested + "}\n";
  const std::string brackets = std::string(100000, '[') + "\n";
  auto lines = stock_ssh(deep + info_line(4) + brackets + info_line(5));
  ASSERT_EQ(lines.size(), 4U) << agent_.log();
  expect_envelope(lines);
  EXPECT_EQ(code_of(lines[0]), -32600) << lines[0].dump();
  EXPECT_EQ(reason_of(lines[0]), "too_deep") << lines[0].dump();
  EXPECT_EQ(lines[0]["id"], 3) << "the id of a too-deep request is still recoverable";
  EXPECT_EQ(lines[1]["id"], 4);
  EXPECT_TRUE(lines[1].contains("result")) << lines[1].dump();
  EXPECT_EQ(code_of(lines[2]), -32600) << lines[2].dump();
  EXPECT_EQ(reason_of(lines[2]), "too_deep") << lines[2].dump();
  EXPECT_TRUE(lines[2]["id"].is_null()) << lines[2].dump();
  EXPECT_EQ(lines[3]["id"], 5);
  EXPECT_TRUE(lines[3].contains("result")) << lines[3].dump();
}

TEST_F(RpcFraming, SixteenLevelsAreAllowed) {
  // The cap is "deeper than 16": the envelope object is level 1, so params
  // may nest 15 more. One more level is refused.
  std::string ok_params;
  for (int i = 0; i < 15; ++i) ok_params += "[";
  for (int i = 0; i < 15; ++i) ok_params += "]";
  const std::string at_cap =
      R"({"jsonrpc":"2.0","id":6,"method":"agent.info","params":)" + ok_params + "}\n";
  const std::string over_cap =
      R"({"jsonrpc":"2.0","id":7,"method":"agent.info","params":[)" + ok_params + "]}\n";
  auto lines = stock_ssh(at_cap + over_cap);
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0]["id"], 6);
  EXPECT_TRUE(lines[0].contains("result")) << lines[0].dump();
  EXPECT_EQ(lines[1]["id"], 7);
  EXPECT_EQ(reason_of(lines[1]), "too_deep") << lines[1].dump();
}

TEST_F(RpcFraming, MalformedJsonGetsParseError) {
  auto lines = stock_ssh("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\n" + info_line(2));
  ASSERT_EQ(lines.size(), 2U) << agent_.log();
  expect_envelope(lines);
  EXPECT_EQ(code_of(lines[0]), -32700) << lines[0].dump();
  EXPECT_EQ(reason_of(lines[0]), "parse_error") << lines[0].dump();
  EXPECT_TRUE(lines[0]["id"].is_null()) << "JSON-RPC: id is null when it cannot be read";
  EXPECT_EQ(lines[1]["id"], 2);
  EXPECT_TRUE(lines[1].contains("result"));
}

TEST_F(RpcFraming, UnknownMethodGetsMethodNotFoundWithTheIdEchoed) {
  auto lines = stock_ssh(line_of(rpc_request("req-编号-7", "no.such.method")) +
                         line_of(rpc_request(8, "no.such.method")));
  ASSERT_EQ(lines.size(), 2U) << agent_.log();
  expect_envelope(lines);
  EXPECT_EQ(code_of(lines[0]), -32601) << lines[0].dump();
  EXPECT_EQ(reason_of(lines[0]), "method_not_found") << lines[0].dump();
  EXPECT_EQ(lines[0]["id"], "req-编号-7");
  EXPECT_NE(lines[0]["error"].value("message", "").find("no.such.method"), std::string::npos)
      << "the message names the method: " << lines[0].dump();
  EXPECT_EQ(lines[1]["id"], 8);
  EXPECT_EQ(code_of(lines[1]), -32601);
}

TEST_F(RpcFraming, NotificationGetsNoAnswerAndTheFollowingRequestDoes) {
  const std::string notification = R"({"jsonrpc":"2.0","method":"agent.info"})"
                                   "\n";
  const std::string unknown_notification = R"({"jsonrpc":"2.0","method":"no.such"})"
                                           "\n";
  auto lines = stock_ssh(notification + unknown_notification + info_line(9));
  ASSERT_EQ(lines.size(), 1U) << "only the request is answered; got " << lines.size();
  EXPECT_EQ(lines[0]["id"], 9);
  EXPECT_TRUE(lines[0].contains("result"));
}

TEST_F(RpcFraming, SeveralRequestsInOneWriteAreAnsweredInOrder) {
  RpcClient c;
  ASSERT_TRUE(c.connect(agent_.port(), alice_.path)) << c.error() << agent_.log();
  std::string batch;
  for (int id = 1; id <= 5; ++id) {
    batch += line_of(rpc_request(id, id % 2 == 0 ? "no.such.method" : "agent.info"));
  }
  ASSERT_TRUE(c.write(batch)) << c.error();  // one write: one SSH packet
  for (int id = 1; id <= 5; ++id) {
    auto line = c.read_line(milliseconds(10000));
    ASSERT_TRUE(line.has_value()) << "answer " << id << " missing; " << agent_.log();
    const json a = json::parse(*line);
    EXPECT_EQ(a["id"], id) << *line;
    if (id % 2 == 0) {
      EXPECT_EQ(code_of(a), -32601) << *line;
    } else {
      EXPECT_TRUE(a.contains("result")) << *line;
    }
  }
  // And through the stock client as well (its stdin arrives as one packet).
  auto lines = stock_ssh(info_line(1) + info_line(2) + info_line(3));
  ASSERT_EQ(lines.size(), 3U);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(lines[static_cast<std::size_t>(i)]["id"], i + 1);
}

TEST_F(RpcFraming, CrLfLineEndingsAreAccepted) {
  auto lines = stock_ssh(R"({"jsonrpc":"2.0","id":1,"method":"agent.info"})"
                         "\r\n");
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_TRUE(lines[0].contains("result")) << lines[0].dump();
}

TEST_F(RpcFraming, RequestSplitAcrossSshPacketsIsReassembled) {
  RpcClient c;
  ASSERT_TRUE(c.connect(agent_.port(), alice_.path)) << c.error() << agent_.log();
  // The id holds multi-byte UTF-8 and the cuts fall inside a character, inside
  // a key and just before the newline.
  const std::string request = line_of(rpc_request("编号-1", "agent.info"));
  const std::size_t cut_in_char = request.find("编") + 1;  // after the first byte of 编
  ASSERT_NE(cut_in_char, std::string::npos + 1);
  const std::size_t cut_in_key = request.find("method") + 3;
  const std::size_t cut_before_nl = request.size() - 1;
  std::vector<std::size_t> cuts = {5, cut_in_char, cut_in_key, cut_before_nl};
  std::sort(cuts.begin(), cuts.end());
  ASSERT_EQ(std::adjacent_find(cuts.begin(), cuts.end()), cuts.end()) << "five distinct pieces";
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : request.size();
    ASSERT_TRUE(c.write(request.substr(from, to - from))) << c.error();
    from = to;
    if (i < cuts.size()) {
      // Nothing is answered before the line is complete.
      EXPECT_FALSE(c.read_line(milliseconds(50)).has_value()) << "answered a partial line";
    }
  }
  auto line = c.read_line(milliseconds(10000));
  ASSERT_TRUE(line.has_value()) << agent_.log();
  const json a = json::parse(*line);
  EXPECT_EQ(a["id"], "编号-1") << *line;
  ASSERT_TRUE(a.contains("result")) << *line;
  EXPECT_EQ(a["result"]["engineer"]["name"], "Alice");
  // The same connection serves the next request too.
  auto again = c.call(rpc_request(2, "agent.info"));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*again)["id"], 2);
}

TEST_F(RpcFraming, InvalidUtf8GetsParseErrorNotADisconnect) {
  RpcClient c;
  ASSERT_TRUE(c.connect(agent_.port(), alice_.path)) << c.error() << agent_.log();
  ASSERT_TRUE(c.write("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.\xff\xfe\"}\n"));
  auto line = c.read_line(milliseconds(10000));
  ASSERT_TRUE(line.has_value()) << agent_.log();
  const json a = json::parse(*line);  // and the answer itself is valid UTF-8 JSON
  EXPECT_EQ(code_of(a), -32700) << *line;
  auto again = c.call(rpc_request(2, "agent.info"));
  ASSERT_TRUE(again.has_value()) << agent_.log();
  EXPECT_TRUE(again->contains("result"));
}

}  // namespace
}  // namespace rdiag::test
