// The agent under load: many engineers at once, a connection process dying
// under the others, and a pre-authentication flood from one address that
// must not lock out an engineer from another.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.h"

namespace rdiag::test {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using std::chrono::milliseconds;

class Load : public ::testing::Test {
 protected:
  TempDir dir_;
  Agent agent_{dir_.path()};
};

TEST_F(Load, HundredConcurrentConnectionsAllGetAgentInfo) {
  // Four engineers, so that an answer meant for one connection showing up on
  // another would be noticed.
  std::vector<Key> keys;
  std::string engineers;
  for (int k = 0; k < 4; ++k) {
    keys.push_back(make_key(dir_.path(), "eng" + std::to_string(k)));
    engineers += "rdiag-name=\"eng" + std::to_string(k) + "\" " + keys.back().public_line + "\n";
  }
  write_file(agent_.engineers_path(), engineers);
  ASSERT_TRUE(agent_.start(
      {{"limits",
        {{"max_startups", "200:30:300"}, {"max_per_source", 200}, {"max_connections", 150}}}}))
      << agent_.log();

  constexpr int kClients = 100;
  constexpr int kConnectors = 20;  // threads, each opening kClients / kConnectors
  std::vector<std::unique_ptr<RpcClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<RpcClient>());
  std::vector<std::string> connect_errors(kClients);
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < kConnectors; ++t) {
      threads.emplace_back([&, t] {
        for (int i = t; i < kClients; i += kConnectors) {
          const auto& key = keys[static_cast<std::size_t>(i % 4)];
          if (!clients[static_cast<std::size_t>(i)]->connect(agent_.port(), key.path,
                                                             milliseconds(30000))) {
            connect_errors[static_cast<std::size_t>(i)] =
                clients[static_cast<std::size_t>(i)]->error();
          }
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  int connected = 0;
  for (int i = 0; i < kClients; ++i) {
    if (connect_errors[static_cast<std::size_t>(i)].empty()) {
      ++connected;
    } else {
      ADD_FAILURE() << "client " << i << ": " << connect_errors[static_cast<std::size_t>(i)];
    }
  }
  ASSERT_EQ(connected, kClients) << agent_.log();
  // All of them are open at the same time, each served by its own process.
  EXPECT_GE(agent_.children().size(), static_cast<std::size_t>(kClients));

  // Now every one asks at once.
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::string> problems(kClients);
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) {
      threads.emplace_back([&, i] {
        const auto idx = static_cast<std::size_t>(i);
        ++ready;
        while (!go.load()) std::this_thread::yield();
        auto answer = clients[idx]->call(rpc_request(i, "agent.info"), milliseconds(30000));
        if (!answer) {
          problems[idx] = "no answer: " + clients[idx]->error();
        } else if (!answer->contains("result")) {
          problems[idx] = "error: " + answer->dump();
        } else if ((*answer)["id"] != i) {
          problems[idx] = "wrong id: " + answer->dump();
        } else if ((*answer)["result"]["engineer"]["fingerprint"] != keys[idx % 4].fingerprint) {
          problems[idx] = "another engineer's answer: " + answer->dump();
        }
      });
    }
    wait_until([&] { return ready.load() == kClients; }, milliseconds(10000));
    go = true;
    for (auto& th : threads) th.join();
  }
  int ok = 0;
  for (int i = 0; i < kClients; ++i) {
    if (problems[static_cast<std::size_t>(i)].empty()) {
      ++ok;
    } else {
      ADD_FAILURE() << "client " << i << ": " << problems[static_cast<std::size_t>(i)];
    }
  }
  EXPECT_EQ(ok, kClients);
  EXPECT_GE(agent_.children().size(), static_cast<std::size_t>(kClients))
      << "all connections are still open";
  for (auto& c : clients) c->close();
  // Every connection process ends when its client leaves.
  EXPECT_TRUE(wait_until([&] { return agent_.children().empty(); }, milliseconds(10000)))
      << agent_.children().size() << " connection processes left";
  EXPECT_TRUE(process_alive(agent_.pid()));
}

TEST_F(Load, KilledConnectionProcessDoesNotDisturbTheOthers) {
  Key alice = make_key(dir_.path(), "alice");
  write_file(agent_.engineers_path(), alice.public_line + "\n");
  ASSERT_TRUE(agent_.start()) << agent_.log();
  RpcClient clients[3];
  for (auto& c : clients) {
    ASSERT_TRUE(c.connect(agent_.port(), alice.path)) << c.error() << agent_.log();
    auto a = c.call(rpc_request(1, "agent.info"));
    ASSERT_TRUE(a.has_value() && a->contains("result"));
  }
  auto children = agent_.children();
  ASSERT_EQ(children.size(), 3U);
  const pid_t victim = children[1];
  ASSERT_EQ(::kill(victim, SIGKILL), 0);

  // Exactly one client lost its connection, and it noticed promptly.
  int alive = 0;
  int lost = 0;
  for (auto& c : clients) {
    auto a = c.call(rpc_request(2, "agent.info"), milliseconds(5000));
    if (a.has_value() && a->contains("result")) {
      ++alive;
    } else {
      ++lost;
      EXPECT_TRUE(c.wait_closed(milliseconds(2000))) << "the victim's client sees the end";
    }
  }
  EXPECT_EQ(alive, 2);
  EXPECT_EQ(lost, 1);

  // The daemon reaped the victim and carries on.
  EXPECT_TRUE(process_alive(agent_.pid())) << agent_.log();
  EXPECT_TRUE(wait_until([&] { return !process_alive(victim); }, milliseconds(5000)))
      << "the killed process was reaped";
  EXPECT_TRUE(wait_until([&] { return agent_.children().size() == 2U; }, milliseconds(5000)));
  RpcClient fresh;
  ASSERT_TRUE(fresh.connect(agent_.port(), alice.path)) << fresh.error() << agent_.log();
  auto a = fresh.call(rpc_request(3, "agent.info"));
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->contains("result")) << a->dump();
  EXPECT_EQ(ssh_rpc(agent_.port(), alice.path,
                    R"({"jsonrpc":"2.0","id":1,"method":"agent.info"})"
                    "\n")
                .exit_code,
            0);
  EXPECT_TRUE(process_alive(agent_.pid()));
}

// A TCP connection from `source` to 127.0.0.1:port that sends nothing.
int silent_connection(const char* source, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(Load, PreauthFloodFromOneSourceDoesNotLockOutAnEngineer) {
  Key alice = make_key(dir_.path(), "alice");
  write_file(agent_.engineers_path(), alice.public_line + "\n");
  ASSERT_TRUE(agent_.start({}, "127.0.0.1:0", {{"LC_ALL", "C"}}))
      << agent_.log();  // default limits
  constexpr int kFlood = 200;
  constexpr int kMaxPerSource = 5;  // the default
  std::vector<int> flood;
  for (int i = 0; i < kFlood; ++i) {
    const int fd = silent_connection("127.0.0.2", agent_.port());
    if (fd < 0) break;
    flood.push_back(fd);
  }
  struct Closer {
    std::vector<int>& fds;
    ~Closer() {
      for (int fd : fds) ::close(fd);
    }
  } closer{flood};
  ASSERT_EQ(flood.size(), static_cast<std::size_t>(kFlood)) << "could not open the flood";

  // The agent takes every connection off its queue: the ones over the
  // per-source cap are closed at once (EOF), the admitted ones get the SSH
  // banner. Wait until each socket is one or the other.
  std::vector<int> state(flood.size(), 0);  // 0 unknown, 1 closed, 2 banner
  wait_until(
      [&] {
        bool all = true;
        for (std::size_t i = 0; i < flood.size(); ++i) {
          if (state[i] != 0) continue;
          pollfd p{flood[i], POLLIN, 0};
          if (::poll(&p, 1, 0) == 1) {
            char buf[256];
            const ssize_t n = ::recv(flood[i], buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
            state[i] = n > 0 ? 2 : 1;
          } else {
            all = false;
          }
        }
        return all;
      },
      milliseconds(5000));
  int refused = 0;
  int admitted = 0;
  for (int s : state) {
    refused += s == 1 ? 1 : 0;
    admitted += s == 2 ? 1 : 0;
  }
  EXPECT_EQ(admitted + refused, kFlood) << "every flood connection was served or closed";
  EXPECT_LE(admitted, kMaxPerSource) << "the per-source cap lets no more in";
  EXPECT_GE(refused, kFlood - kMaxPerSource) << "the rest were closed at once";
  // And no more than that many processes exist for the flood.
  EXPECT_LE(agent_.children().size(), static_cast<std::size_t>(kMaxPerSource));
  EXPECT_NE(agent_.log().find("max_per_source"), std::string::npos) << "the refusals are logged";

  // An engineer from another address gets in at once.
  const auto t0 = Clock::now();
  RpcClient c;
  ASSERT_TRUE(c.connect(agent_.port(), alice.path, milliseconds(5000)))
      << c.error() << agent_.log();
  auto a = c.call(rpc_request(1, "agent.info"), milliseconds(5000));
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
  ASSERT_TRUE(a.has_value()) << agent_.log();
  EXPECT_TRUE(a->contains("result")) << a->dump();
  EXPECT_LT(took.count(), 2000) << "agent.info under a flood took " << took.count() << " ms";
  // The flood's processes plus the engineer's: still bounded.
  EXPECT_LE(agent_.children().size(), static_cast<std::size_t>(kMaxPerSource + 1));
  EXPECT_TRUE(process_alive(agent_.pid()));
}

}  // namespace
}  // namespace rdiag::test
