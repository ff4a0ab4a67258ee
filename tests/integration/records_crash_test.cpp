// "A crash or a cut connection loses no event that was acknowledged"
// (DESIGN.md, principle 6), tested the blunt way: a real agent with two
// engineers sending session.request as fast as they can is SIGKILLed at
// random moments, some during start-up recovery, a few hundred times. After
// every restart each acknowledged request is in its record and the whole
// store (ledger, folders, chains, seals) verifies.
//
// The seed is printed; RDIAG_CRASH_SEED=N replays a run.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.h"

namespace rdiag::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Verifying the whole store costs time in proportion to its size, and it is
// done after every restart: so the store starts afresh every kEpoch cycles
// (a few hundred sessions at most), which keeps the test quick without making
// any single check partial.
#if defined(__SANITIZE_ADDRESS__)
// The ASan preset runs every process several times slower: fewer cycles and
// a store started afresh more often keep it inside the ctest timeout (40
// cycles with epochs of 25 took 447 s there), and kills come later so that
// requests are in flight when they land; the regular build does the full 200.
constexpr int kCycles = 20;
constexpr unsigned kSlowdown = 4;
constexpr int kEpoch = 4;
#else
constexpr int kCycles = 200;
constexpr unsigned kSlowdown = 1;
constexpr int kEpoch = 25;
#endif
constexpr unsigned kDefaultSeed = 20261128;
// Kill moments are drawn from [0, kMaxDelayMs): after spawn for start-up
// kills, after the engineers began to connect for the others.
constexpr unsigned kMaxDelayMs = 150 * kSlowdown;
// About one cycle in four kills the agent while it starts up, recovering what
// the kill before left.
constexpr unsigned kStartupKillOneIn = 4;
// Bounds every wait on a dying agent. libssh sometimes misses the close of a
// connection whose agent died during authentication and waits for its
// timeout, so it is short; a slow but live agent only costs requests.
constexpr auto kClientTimeout = milliseconds(1000);

unsigned seed() {
  const char* s = std::getenv("RDIAG_CRASH_SEED");
  return s != nullptr ? static_cast<unsigned>(std::strtoul(s, nullptr, 10)) : kDefaultSeed;
}

double secs(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// What the engineers were told: request ids acknowledged with a result.
struct Acks {
  std::mutex mu;
  std::vector<std::string> ids;
  std::vector<std::string> unexpected;  // answers that were neither a result nor a cut

  void add(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    ids.push_back(id);
  }
  void odd(const std::string& answer) {
    std::lock_guard<std::mutex> lock(mu);
    unexpected.push_back(answer);
  }
  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return ids;
  }
};

// Connects and sends requests back to back until the agent dies under it.
void engineer(int port, const std::string& key, int cycle, Acks& acks) {
  RpcClient c;
  if (!c.connect(port, key, kClientTimeout)) return;  // killed while connecting
  const json params = {{"ticket", "CRASH-" + std::to_string(cycle)},
                       {"reason", "崩溃测试 crash test"},
                       {"scopes", {"diagnose"}},
                       {"minutes", 5}};
  for (int i = 1;; ++i) {
    auto a = c.call(rpc_request(i, "session.request", params), kClientTimeout);
    if (!a) return;  // the agent is gone
    const json result = a->value("result", json::object());
    if (result.contains("request_id")) {
      acks.add(result["request_id"]);
    } else {
      acks.odd(a->dump());
    }
  }
}

class RecordsCrash : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(agent_.engineers_path(), alice_.public_line + "\n" + bob_.public_line + "\n");
  }

  // Spawns the agent and waits until it listens, that is until recovery is
  // done. A crash can leave the ledger's lock with a connection process the
  // dead agent had just forked (until it execs, microseconds): the new agent
  // then refuses to start ("busy"), and starting again is what systemd's
  // Restart= would do.
  bool start_listening() {
    const auto t = Clock::now();
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (!agent_.spawn(config_)) return false;
      if (agent_.wait_listening(milliseconds(30000))) {
        t_start_ += Clock::now() - t;
        ++starts_;
        return true;
      }
      agent_.kill_hard();
      ++busy_restarts_;
    }
    return false;
  }

  // Every acknowledged request not checked yet has its record; every one
  // checked before is still there.
  void check_acknowledged(const std::vector<std::string>& acked) {
    for (const auto& id : checked_) {
      ASSERT_TRUE(std::filesystem::exists(events_path(id))) << id << " disappeared; seed " << seed_;
    }
    for (const auto& id : acked) {
      if (checked_.contains(id)) continue;
      std::istringstream in(read_file(events_path(id)));
      std::string first;
      std::getline(in, first);
      const json e = json::parse(first, nullptr, false);
      ASSERT_TRUE(e.is_object()) << "acknowledged request " << id << " has no record; seed "
                                 << seed_;
      ASSERT_EQ(e.value("type", ""), "request.created") << id;
      checked_.insert(id);
    }
  }

  void check_store_verifies(int cycle) {
    const auto t = Clock::now();
    auto v =
        run({RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "records", "verify", "--all"});
    t_verify_ += Clock::now() - t;
    const std::string log = agent_.log();
    ASSERT_EQ(v.exit_code, 0) << "cycle " << cycle << ", seed " << seed_ << ": " << v.out << v.err
                              << "\nagent log (end):\n"
                              << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
  }

  // Both checks, on a store the agent has just recovered.
  void check(int cycle, Acks& acks) {
    check_acknowledged(acks.snapshot());
    if (HasFatalFailure()) return;
    check_store_verifies(cycle);
  }

  // A new epoch: the agent down, the records gone (keys stay).
  void fresh_store(Acks& acks) {
    agent_.kill_hard();
    count_recovery();
    std::filesystem::remove(agent_.state_dir() + "/ledger.jsonl");
    std::filesystem::remove_all(agent_.state_dir() + "/records");
    acknowledged_ += acks.snapshot().size();
    acks.ids.clear();
    checked_.clear();
  }

  // Of kMaxDelayMs, the share a start-up kill uses: one and a half times
  // the average start so far, at most all of it.
  double startup_share() const {
    if (starts_ == 0) return 1.0;
    const double average_ms = secs(t_start_) * 1000.0 / starts_;
    return std::min(1.0, 1.5 * average_ms / kMaxDelayMs);
  }

  // What recovery did in this epoch, from the records themselves.
  void count_recovery() {
    std::istringstream ledger(read_file(agent_.state_dir() + "/ledger.jsonl"));
    std::string line;
    while (std::getline(ledger, line)) {
      if (line.find(R"("type":"session.void")") != std::string::npos) ++voided_;
    }
    std::error_code ec;
    for (const auto& d : std::filesystem::directory_iterator(agent_.state_dir() + "/records", ec)) {
      const std::string events = read_file((d.path() / "events.jsonl").string());
      if (events.find(R"("type":"session.interrupted")") != std::string::npos) ++interrupted_;
      if (events.find(R"("type":"record.repaired")") != std::string::npos) ++repaired_;
    }
  }

  std::string events_path(const std::string& id) const {
    return agent_.state_dir() + "/records/" + id + "/events.jsonl";
  }

  TempDir dir_;
  Key alice_ = make_key(dir_.path(), "alice");
  Key bob_ = make_key(dir_.path(), "bob");
  Agent agent_{dir_.path()};
  // The agent does not enforce these limits yet (issue "Consent" adds that);
  // they are this high so that, once it does, no per-key limit refuses a
  // request here: every refusal would hide a cycle.
  const json config_ = {
      {"limits", {{"pending_requests_per_key", 1000000}, {"requests_per_hour", 1000000}}}};
  const unsigned seed_ = seed();
  std::set<std::string> checked_;
  std::size_t acknowledged_ = 0;
  int busy_restarts_ = 0;
  int starts_ = 0;
  int voided_ = 0;
  int interrupted_ = 0;
  int repaired_ = 0;
  Clock::duration t_start_{};
  Clock::duration t_verify_{};
};

TEST_F(RecordsCrash, NoAcknowledgedRequestIsLostAndTheStoreVerifiesAfterEveryKill) {
  std::printf("[ crash    ] seed %u (replay with RDIAG_CRASH_SEED=%u)\n", seed_, seed_);
  std::mt19937 rng(seed_);
  Acks acks;
  std::vector<std::string> unexpected;
  int startup_kills = 0;
  int before_listening = 0;
  const auto t0 = Clock::now();
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    const bool during_startup = rng() % kStartupKillOneIn == 0;
    const auto delay = milliseconds(rng() % kMaxDelayMs);
    if (during_startup) {
      ASSERT_TRUE(agent_.spawn(config_));
      // The random moment is the point; within how long a start takes here,
      // so that on any machine most of these land before the agent is up.
      std::this_thread::sleep_for(delay * startup_share());
      if (!agent_.wait_listening(milliseconds(0))) ++before_listening;
      agent_.kill_hard();
      ++startup_kills;
    } else {
      ASSERT_TRUE(start_listening()) << "cycle " << cycle << ", seed " << seed_ << "\n"
                                     << agent_.log();
      check(cycle, acks);
      if (HasFatalFailure()) return;
      std::thread a(engineer, agent_.port(), alice_.path, cycle, std::ref(acks));
      std::thread b(engineer, agent_.port(), bob_.path, cycle, std::ref(acks));
      std::this_thread::sleep_for(delay);
      agent_.kill_hard();
      a.join();
      b.join();
    }
    if ((cycle + 1) % kEpoch == 0) {
      // The epoch's last kill is recovered from and checked too.
      ASSERT_TRUE(start_listening()) << agent_.log();
      check(cycle, acks);
      if (HasFatalFailure()) return;
      unexpected.insert(unexpected.end(), acks.unexpected.begin(), acks.unexpected.end());
      acks.unexpected.clear();
      fresh_store(acks);
    }
  }
  std::printf(
      "[ crash    ] %d kill cycles (%d during start-up, %d of them before the listening line), "
      "%zu requests acknowledged and found; %d restarts (%.1f s), %d refused as busy; "
      "store verified %d times (%.1f s); %.1f s in all\n"
      "[ crash    ] recovery: %d sessions sealed as interrupted, %d with a cut line repaired, "
      "%d opened but voided\n",
      kCycles, startup_kills, before_listening, acknowledged_, starts_, secs(t_start_),
      busy_restarts_, starts_, secs(t_verify_), secs(Clock::now() - t0), interrupted_, repaired_,
      voided_);
  EXPECT_TRUE(unexpected.empty()) << unexpected.size()
                                  << " answers were neither a request id nor a cut connection, "
                                     "first: "
                                  << unexpected.front();
  // The test proves something only if requests were in flight when kills hit
  // and some kills landed before the agent was up.
  EXPECT_GT(acknowledged_, static_cast<std::size_t>(kCycles));
  EXPECT_GE(before_listening, startup_kills / 3);
}

}  // namespace
}  // namespace rdiag::test
