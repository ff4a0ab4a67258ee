// The connection process's side of the monitor socket: a socketpair stands in
// for the monitor. Answers may come late and notifications at any time, in
// pieces of any size; anything the process did not ask for ends it (exit 70),
// which is checked in a forked child.
#include "agent/ssh/monitor_client.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "agent/ssh/privsep.h"
#include "agent/ssh/sandbox.h"
#include "common/fs.h"

namespace rdiag::agent {
namespace {

constexpr std::uint8_t kCallAnswer = static_cast<std::uint8_t>(MonType::kCall) | kAnswerBit;
constexpr std::uint8_t kNotifyType = static_cast<std::uint8_t>(MonType::kNotify);

std::string notify_frame(const std::string& state, bool end = false) {
  return encode_frame(kNotifyType,
                      {{"method", "session.state"}, {"params", {{"state", state}}}, {"end", end}});
}

class Pair {
 public:
  Pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0); }
  ~Pair() {
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
  int client() const { return fds_[0]; }
  int monitor() const { return fds_[1]; }
  void close_monitor() { close_end(1); }
  void close_client() { close_end(0); }
  void send(const std::string& bytes) const { ASSERT_TRUE(write_all(monitor(), bytes)); }
  // The request the client sent, as the monitor reads it.
  MonMessage request() const {
    auto msg = recv_frame(monitor());
    EXPECT_TRUE(msg.has_value());
    return msg ? *msg : MonMessage{};
  }

 private:
  void close_end(int i) {
    ::close(fds_[i]);
    fds_[i] = -1;
  }
  int fds_[2] = {-1, -1};
};

// Polls and reads until done() or a 5 s silence; bounded either way.
bool serve_until(MonitorClient& client, const std::function<bool()>& done) {
  for (int i = 0; i < 100000 && !done(); ++i) {
    pollfd p{client.fd(), POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return done();
    client.on_readable();
  }
  return done();
}

// Runs body in a forked child over the client end; the parent plays the
// monitor with act. Returns the child's exit code (-1 when it did not exit).
int child_exit_code(const std::function<void(MonitorClient&)>& body,
                    const std::function<void(Pair&)>& act) {
  Pair pair;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pair.monitor());
    MonitorClient client(pair.client());
    body(client);
    // Nothing ended us: keep reading as the event loop would, then say so.
    serve_until(client, [] { return false; });
    ::_exit(0);
  }
  pair.close_client();  // the child's alone, so the monitor end sees it go
  act(pair);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(MonitorClient, NotifyBetweenCallAndItsAnswerReachesTheSinkAndTheAnswerItsCaller) {
  Pair pair;
  MonitorClient client(pair.client());
  std::vector<std::string> events;
  client.set_notify_sink([&](const nlohmann::json& n) {
    events.push_back("notify:" + n["params"]["state"].get<std::string>());
  });
  client.mm_call("session.wait", {{"request_id", "R1"}}, [&](const nlohmann::json& a) {
    events.push_back("answer:" + a["result"]["state"].get<std::string>());
  });
  EXPECT_TRUE(client.busy());
  const MonMessage req = pair.request();
  EXPECT_EQ(req.type, static_cast<std::uint8_t>(MonType::kCall));
  EXPECT_EQ(req.body["method"], "session.wait");
  EXPECT_EQ(req.body["params"]["request_id"], "R1");

  // The notification alone: delivered, the call still waits.
  pair.send(notify_frame("extended"));
  ASSERT_TRUE(serve_until(client, [&] { return !events.empty(); }));
  EXPECT_EQ(events, std::vector<std::string>{"notify:extended"});
  EXPECT_TRUE(client.busy());

  // Another notification and the answer in one write, then one more.
  pair.send(notify_frame("joined") +
            encode_frame(kCallAnswer, {{"result", {{"state", "approved"}}}}) +
            notify_frame("revoked", true));
  ASSERT_TRUE(serve_until(client, [&] { return events.size() == 4; }));
  EXPECT_EQ(events, (std::vector<std::string>{"notify:extended", "notify:joined", "answer:approved",
                                              "notify:revoked"}));
  EXPECT_FALSE(client.busy());
}

TEST(MonitorClient, FrameWrittenOneByteAtATimeIsAssembled) {
  Pair pair;
  MonitorClient client(pair.client());
  int notified = 0;
  client.set_notify_sink([&](const nlohmann::json&) { ++notified; });
  nlohmann::json got;
  client.mm_agent_info([&](const nlohmann::json& a) { got = a; });
  EXPECT_EQ(pair.request().type, static_cast<std::uint8_t>(MonType::kAgentInfo));

  const std::string bytes =
      notify_frame("extended") +
      encode_frame(static_cast<std::uint8_t>(MonType::kAgentInfo) | kAnswerBit,
                   {{"version", "1.2.3"}, {"hostname", "erp-01"}});
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    EXPECT_TRUE(got.is_null()) << "answer delivered before its last byte, at " << i;
    pair.send(bytes.substr(i, 1));
    client.on_readable();
  }
  EXPECT_EQ(notified, 1);
  EXPECT_EQ(got["hostname"], "erp-01");
  EXPECT_FALSE(client.busy());
}

TEST(MonitorClient, AnswerLargerThanARequestFrameArrivesWhole) {
  Pair pair;
  MonitorClient client(pair.client());
  nlohmann::json got;
  client.mm_call("record.get", {{"session_id", "S"}}, [&](const nlohmann::json& a) { got = a; });
  (void)pair.request();
  // Bigger than any request may be, and than the socket buffer: the writer
  // blocks until the client reads, as the monitor's POLLOUT flush would.
  const std::string page(kMaxMonFrame + 4096, 'x');
  std::thread writer([&] { pair.send(encode_frame(kCallAnswer, {{"result", page}})); });
  const bool done = serve_until(client, [&] { return !got.is_null(); });
  writer.join();
  ASSERT_TRUE(done);
  EXPECT_EQ(got["result"].get<std::string>().size(), page.size());
}

TEST(MonitorClient, BlockingExchangeHandsNotificationsAroundItsAnswerToTheSink) {
  Pair pair;
  MonitorClient client(pair.client());
  std::vector<std::string> seen;
  client.set_notify_sink(
      [&](const nlohmann::json& n) { seen.push_back(n["params"]["state"].get<std::string>()); });
  // Queued before the request: the socket holds them until the client reads.
  pair.send(notify_frame("before") +
            encode_frame(static_cast<std::uint8_t>(MonType::kKeyAllowed) | kAnswerBit,
                         {{"allowed", true}}) +
            notify_frame("after"));
  EXPECT_TRUE(client.mm_key_allowed("AAAA"));
  EXPECT_EQ(pair.request().body["key"], "AAAA");
  // Both were read with the answer, so both are delivered now: poll would not
  // report bytes that already left the socket.
  EXPECT_EQ(seen, (std::vector<std::string>{"before", "after"}));
  EXPECT_FALSE(client.busy());
}

TEST(MonitorClient, ForgottenCallKeepsTheConnectionBusyUntilItsAnswerIsDropped) {
  Pair pair;
  MonitorClient client(pair.client());
  bool called = false;
  const auto ticket = client.mm_door("shell", [&](const nlohmann::json&) { called = true; });
  EXPECT_EQ(pair.request().body["door"], "shell");
  client.forget(ticket);
  EXPECT_TRUE(client.busy()) << "the monitor still owes this answer: no second request yet";
  pair.send(encode_frame(static_cast<std::uint8_t>(MonType::kDoor) | kAnswerBit,
                         nlohmann::json::object()));
  ASSERT_TRUE(serve_until(client, [&] { return !client.busy(); }));
  EXPECT_FALSE(called);
  // The next request may go now.
  bool second = false;
  client.mm_call("session.status", nlohmann::json::object(),
                 [&](const nlohmann::json&) { second = true; });
  (void)pair.request();
  pair.send(encode_frame(kCallAnswer, {{"result", nullptr}}));
  ASSERT_TRUE(serve_until(client, [&] { return second; }));
}

TEST(MonitorClient, AnswerOfTheWrongTypeEndsTheProcess) {
  const int code = child_exit_code(
      [](MonitorClient& c) { c.mm_call("session.wait", {}, [](const nlohmann::json&) {}); },
      [](Pair& p) {
        (void)p.request();
        p.send(encode_frame(static_cast<std::uint8_t>(MonType::kAgentInfo) | kAnswerBit,
                            nlohmann::json::object()));
      });
  EXPECT_EQ(code, 70);
}

TEST(MonitorClient, AnswerWithNothingInFlightEndsTheProcess) {
  const int code = child_exit_code([](MonitorClient&) {},
                                   [](Pair& p) {
                                     p.send(encode_frame(kCallAnswer, {{"result", 1}}));
                                   });
  EXPECT_EQ(code, 70);
}

TEST(MonitorClient, UnknownFrameTypeEndsTheProcess) {
  const int code = child_exit_code([](MonitorClient&) {},
                                   [](Pair& p) {
                                     p.send(encode_frame(0x42, {{"x", 1}}));
                                   });
  EXPECT_EQ(code, 70);
}

TEST(MonitorClient, MalformedFramesEndTheProcess) {
  const std::string zero_length("\0\0\0\0", 4);
  const std::string not_an_object = encode_frame(kNotifyType, nlohmann::json::array());
  const std::string too_long(
      "\x02\0\0\x01"
      "\x07{}",
      7);  // 32 MiB + 1 announced
  const std::string no_method = encode_frame(kNotifyType, {{"params", {}}});
  const std::string end_not_bool =
      encode_frame(kNotifyType, {{"method", "session.state"}, {"end", "yes"}});
  for (const std::string& bad : {zero_length, not_an_object, too_long, no_method, end_not_bool}) {
    const int code = child_exit_code([](MonitorClient&) {}, [&](Pair& p) { p.send(bad); });
    EXPECT_EQ(code, 70) << nlohmann::json(bad).dump();
  }
}

TEST(MonitorClient, HangUpEndsTheProcessEvenMidCall) {
  const int code = child_exit_code(
      [](MonitorClient& c) { c.mm_call("session.wait", {}, [](const nlohmann::json&) {}); },
      [](Pair& p) {
        (void)p.request();
        p.send(std::string("\0\0\0", 3));  // half a frame header, then nothing
        p.close_monitor();
      });
  EXPECT_EQ(code, 70);
}

TEST(MonitorClient, SecondRequestInFlightEndsTheProcessBeforeItIsSent) {
  std::string seen;
  const int code = child_exit_code(
      [](MonitorClient& c) {
        c.mm_call("session.wait", {}, [](const nlohmann::json&) {});
        c.mm_call("session.status", {}, [](const nlohmann::json&) {});
      },
      [&](Pair& p) {
        (void)p.request();
        char buf[64];
        // The child is gone: EOF, and the second frame never came.
        const ssize_t n = ::read(p.monitor(), buf, sizeof buf);
        seen.assign(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
      });
  EXPECT_EQ(code, 70);
  EXPECT_TRUE(seen.empty()) << "a second request reached the monitor";
}

TEST(MonitorClient, NonBlockingReadsWorkInsideTheSandbox) {
  const int code = child_exit_code(
      [](MonitorClient& c) {
        if (!demote(nullptr) || !install_connection_sandbox()) ::_exit(99);
        bool answered = false;
        int notes = 0;
        c.set_notify_sink([&](const nlohmann::json&) { ++notes; });
        c.mm_call("session.wait", {}, [&](const nlohmann::json&) { answered = true; });
        const bool ok = serve_until(c, [&] { return answered && notes == 1; });
        ::_exit(ok ? 42 : 1);
      },
      [](Pair& p) {
        (void)p.request();
        p.send(notify_frame("approved"));
        p.send(encode_frame(kCallAnswer, {{"result", {{"state", "approved"}}}}));
      });
  EXPECT_EQ(code, 42);
}

}  // namespace
}  // namespace rdiag::agent
