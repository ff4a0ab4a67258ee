#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "common/records/journal.h"

namespace rdiag::records {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kGenesis = "5f0b6ec1a4e7d3f2b9c8a7e6d5c4b3a29180f7e6d5c4b3a2918f7e6d5c4b3a29";
const std::string kTs = "2026-11-28T06:05:00.123Z";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void append_raw(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

// Runs body in a forked child and returns its exit code (128 + signal when
// killed), so a child can set limits or credentials the test runner keeps.
int run_in_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) ::_exit(body());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "rdiag-journal-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/events.jsonl";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A journal at path_ holding n notes, closed again.
  void write_events(int n) {
    auto j = Journal::open(path_, kGenesis, nullptr);
    ASSERT_TRUE(j) << j.error().message;
    for (int i = 0; i < n; ++i) {
      auto e = j->append("note", "agent", {{"text", "event " + std::to_string(i)}}, kTs);
      ASSERT_TRUE(e) << e.error().message;
    }
  }

  std::string dir_;
  std::string path_;
};

TEST_F(JournalTest, HundredEventsSurviveReopenAndVerify) {
  write_events(100);
  RecoveryReport report;
  auto j = Journal::open(path_, kGenesis, &report);
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_FALSE(report.repaired);
  EXPECT_EQ(j->last_seq(), 100);
  EXPECT_EQ(j->path(), path_);
  const ChainCheck check = verify_chain(slurp(path_), kGenesis);
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_EQ(check.last_seq, 100);
  EXPECT_EQ(check.last_hash, j->last_hash());
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
}

TEST_F(JournalTest, EmptyJournalStartsAtGenesis) {
  auto j = Journal::open(path_, kGenesis, nullptr);
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ(j->last_seq(), 0);
  EXPECT_EQ(j->last_hash(), kGenesis);
  auto e = j->append("note", "agent", {{"text", "first"}}, kTs);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->seq, 1);
  EXPECT_EQ(e->prev, kGenesis);
  EXPECT_EQ(j->last_hash(), e->hash);
}

TEST_F(JournalTest, TruncatedFinalLineIsCutReportedAndAppendsContinue) {
  write_events(3);
  const std::string good = slurp(path_);
  append_raw(path_, R"({"actor":"agent","data":{"text":"cut sh)");
  const std::size_t partial = slurp(path_).size() - good.size();
  {
    RecoveryReport report;
    auto j = Journal::open(path_, kGenesis, &report);
    ASSERT_TRUE(j) << j.error().message;
    EXPECT_TRUE(report.repaired);
    EXPECT_EQ(report.line, 4U);
    EXPECT_EQ(report.cut_bytes, partial);
    EXPECT_EQ(j->last_seq(), 3);
    EXPECT_EQ(slurp(path_), good);
    ASSERT_TRUE(j->append("record.repaired", "agent", {{"line", 4}}, kTs));
    ASSERT_TRUE(j->append("note", "agent", {{"text", "after"}}, kTs));
  }
  RecoveryReport again;
  auto j = Journal::open(path_, kGenesis, &again);
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_FALSE(again.repaired);
  EXPECT_EQ(j->last_seq(), 5);
  const ChainCheck check = verify_chain(slurp(path_), kGenesis);
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_EQ(check.last_seq, 5);
}

TEST_F(JournalTest, LonePartialLineIsCutToEmpty) {
  append_raw(path_, "{\"v\":1");
  RecoveryReport report;
  auto j = Journal::open(path_, kGenesis, &report);
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_TRUE(report.repaired);
  EXPECT_EQ(report.line, 1U);
  EXPECT_EQ(report.cut_bytes, 6U);
  EXPECT_EQ(j->last_seq(), 0);
  EXPECT_EQ(slurp(path_), "");
}

TEST_F(JournalTest, TamperedMiddleLineFailsAndChangesNothing) {
  write_events(5);
  std::string text = slurp(path_);
  const auto at = text.find("event 2");
  ASSERT_NE(at, std::string::npos);
  text[at + 6] = '7';
  { std::ofstream(path_, std::ios::binary | std::ios::trunc) << text; }
  // A partial tail after the tampered line must not be cut either.
  append_raw(path_, "{\"v\":");
  const std::string before = slurp(path_);
  RecoveryReport report;
  auto j = Journal::open(path_, kGenesis, &report);
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().reason, "tamper");
  EXPECT_NE(j.error().message.find("line 3"), std::string::npos) << j.error().message;
  EXPECT_NE(j.error().message.find("bad_hash"), std::string::npos) << j.error().message;
  EXPECT_FALSE(report.repaired);
  EXPECT_EQ(slurp(path_), before);
}

TEST_F(JournalTest, WrongGenesisIsTamper) {
  write_events(2);
  auto j = Journal::open(path_, std::string(64, 'a'), nullptr);
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().reason, "tamper");
  EXPECT_NE(j.error().message.find("line 1"), std::string::npos) << j.error().message;
}

// The file size limit stands in for a full disk: write() stops short, as it
// does with ENOSPC, without needing a mount.
TEST_F(JournalTest, FullDiskRefusesWithRecordingFailedAndKeepsChain) {
  write_events(5);
  const std::size_t size = slurp(path_).size();
  const int rc = run_in_child([&] {
    auto j = Journal::open(path_, kGenesis, nullptr);
    if (!j) return 2;
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{};
    ::getrlimit(RLIMIT_FSIZE, &lim);
    const rlim_t hard = lim.rlim_max;
    lim.rlim_cur = static_cast<rlim_t>(size + 10);
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return 3;
    auto e = j->append("note", "agent", {{"text", "does not fit"}}, kTs);
    if (e || e.error().reason != "recording_failed" || !j->failed()) return 4;
    if (e.error().message.find("bytes were written") == std::string::npos) return 8;
    lim.rlim_cur = hard;
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return 5;
    // Fail closed: room again, but the journal stays refused until reopened.
    auto again = j->append("note", "agent", {{"text", "fits now"}}, kTs);
    if (again || again.error().reason != "recording_failed") return 6;
    return j->last_seq() == 5 ? 0 : 7;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(slurp(path_).size(), size);
  RecoveryReport report;
  auto j = Journal::open(path_, kGenesis, &report);
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_FALSE(report.repaired);
  EXPECT_EQ(j->last_seq(), 5);
  EXPECT_TRUE(j->append("note", "agent", {{"text", "fits now"}}, kTs));
}

TEST_F(JournalTest, ReadOnlyFileGivesClearError) {
  write_events(1);
  ASSERT_EQ(::chmod(path_.c_str(), 0400), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0711), 0);
  const int rc = run_in_child([&] {
    // root ignores file modes, so drop to nobody the way a service would.
    if (::geteuid() == 0 &&
        (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)) {
      return 2;
    }
    auto j = Journal::open(path_, kGenesis, nullptr);
    if (j) return 3;
    if (j.error().reason != "open_failed") return 4;
    if (j.error().message.find(path_) == std::string::npos) return 5;
    return j.error().message.find("Permission denied") == std::string::npos ? 6 : 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST_F(JournalTest, DirectoryAndSymlinkAreRefused) {
  auto dir = Journal::open(dir_, kGenesis, nullptr);
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().reason, "open_failed");
  EXPECT_NE(dir.error().message.find("directory"), std::string::npos) << dir.error().message;
  write_events(1);
  const std::string link = dir_ + "/link.jsonl";
  ASSERT_EQ(::symlink(path_.c_str(), link.c_str()), 0);
  auto via_link = Journal::open(link, kGenesis, nullptr);
  ASSERT_FALSE(via_link);
  EXPECT_EQ(via_link.error().reason, "open_failed");
}

TEST_F(JournalTest, SecondWriterIsRefused) {
  auto first = Journal::open(path_, kGenesis, nullptr);
  ASSERT_TRUE(first) << first.error().message;
  auto second = Journal::open(path_, kGenesis, nullptr);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().reason, "busy");
}

TEST_F(JournalTest, EventTheVerifierRejectsChangesNothing) {
  auto j = Journal::open(path_, kGenesis, nullptr);
  ASSERT_TRUE(j) << j.error().message;
  auto e = j->append("no.such.type", "agent", json::object(), kTs);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().reason, "unknown_type");
  EXPECT_FALSE(j->failed());
  EXPECT_EQ(slurp(path_), "");
  EXPECT_TRUE(j->append("note", "agent", json::object(), kTs));
}

TEST_F(JournalTest, InvalidUtf8AndGb18030BytesBecomeReplacementCharacter) {
  // "中文" in GB18030, then a stray 0xFF: neither is UTF-8.
  const std::string raw = "\xD6\xD0\xCE\xC4 disk \xFF";
  {
    auto j = Journal::open(path_, kGenesis, nullptr);
    ASSERT_TRUE(j) << j.error().message;
    auto e = j->append("note", "agent", {{"text", raw}, {"\xFF key", 1}}, kTs);
    ASSERT_TRUE(e) << e.error().message;
    const std::string text = e->data.value("text", "");
    EXPECT_EQ(text.find('\xD6'), std::string::npos);
    EXPECT_NE(text.find("\xEF\xBF\xBD"), std::string::npos);
  }
  const std::string stored = slurp(path_);
  EXPECT_EQ(stored.find('\xFF'), std::string::npos);
  EXPECT_NE(stored.find("\xEF\xBF\xBD disk"), std::string::npos);
  auto j = Journal::open(path_, kGenesis, nullptr);
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ(j->last_seq(), 1);
}

// A writer killed at a random point: every event it acknowledged (append()
// returned) must be on disk after reopening, and the chain must verify.
void crash_child(const std::string& path, int pipe_fd) {
  auto j = Journal::open(path, kGenesis, nullptr);
  if (!j) ::_exit(3);
  for (;;) {
    auto e = j->append("note", "agent", {{"text", "crash loop"}}, kTs);
    if (!e) ::_exit(4);
    const std::int64_t seq = e->seq;
    if (::write(pipe_fd, &seq, sizeof seq) != static_cast<ssize_t>(sizeof seq)) ::_exit(5);
  }
}

std::int64_t highest_acknowledged(int pipe_fd) {
  std::int64_t highest = 0;
  std::int64_t seq = 0;
  while (::read(pipe_fd, &seq, sizeof seq) == static_cast<ssize_t>(sizeof seq)) {
    highest = std::max(highest, seq);
  }
  return highest;
}

TEST_F(JournalTest, CrashLoopKeepsEveryAcknowledgedEvent) {
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_us(0, 20000);
  int repairs = 0;
  std::int64_t acknowledged = 0;
  for (int i = 0; i < 50; ++i) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      crash_child(path_, fds[1]);
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    acknowledged = std::max(acknowledged, highest_acknowledged(fds[0]));
    ::close(fds[0]);
    RecoveryReport report;
    auto j = Journal::open(path_, kGenesis, &report);
    ASSERT_TRUE(j) << "seed " << seed << ": " << j.error().message;
    if (report.repaired) ++repairs;
    ASSERT_GE(j->last_seq(), acknowledged) << "seed " << seed << ", iteration " << i;
  }
  const ChainCheck check = verify_chain(slurp(path_), kGenesis);
  EXPECT_TRUE(check.ok) << check.message;
  std::cout << "[ journal  ] crash loop: 50 kills, " << acknowledged << " events acknowledged, "
            << check.last_seq << " on disk, " << repairs << " repairs, seed " << seed << "\n";
}

TEST_F(JournalTest, MeasuresAppendsPerSecond) {
  auto j = Journal::open(path_, kGenesis, nullptr);
  ASSERT_TRUE(j) << j.error().message;
  constexpr int kAppends = 500;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kAppends; ++i) {
    ASSERT_TRUE(j->append("note", "agent", {{"text", "rate"}, {"i", i}}, kTs));
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::cout << "[ journal  ] " << kAppends << " appends with fdatasync in " << took.count()
            << " s: " << static_cast<double>(kAppends) / took.count() << " appends/s in " << dir_
            << "\n";
  EXPECT_EQ(j->last_seq(), kAppends);
}

}  // namespace
}  // namespace rdiag::records
