// Log sources: config validation, rotated files, the since cut, FIFOs and
// the journal (agent/logs/sources.h, since.h, journal.h), through the
// worker's job entry points where a user would notice the behaviour.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>

#include "agent/logs/jobs.h"
#include "agent/logs/reader.h"
#include "agent/logs/since.h"
#include "agent/logs/sources.h"

namespace rdiag::agent::logs {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/rdiag-logs-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void set_mtime(const std::string& path, std::time_t t) {
  const timespec times[2] = {{t, 0}, {t, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

enum class Style { kIso, kIsoOffset, kSyslog };

// Literal formats only: -Wformat-nonliteral is on.
std::string local(std::time_t t, Style style) {
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  if (style == Style::kIso) std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  if (style == Style::kIsoOffset) std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
  if (style == Style::kSyslog) std::strftime(buf, sizeof buf, "%b %e %H:%M:%S", &tm);
  return buf;
}

json scan_job(const json& logs, const json& extra) {
  json job = {{"kind", "logs.scan"},
              {"logs", logs},
              {"redact", json::array()},
              {"plugins_dirs", json::array()},
              {"trusted_uid", ::geteuid()}};
  job.update(extra);
  return job;
}

std::vector<std::string> paths_of(const FileList& list) {
  std::vector<std::string> out;
  for (const auto& f : list.files) out.push_back(fs::path(f.path).filename().string());
  return out;
}

TEST(LogsRotation, NamesRotatedSiblings) {
  EXPECT_FALSE(rotation_of("erp.log"));
  const auto two = rotation_of("erp.log.2.gz");
  ASSERT_TRUE(two);
  EXPECT_EQ(two->base, "erp.log");
  EXPECT_TRUE(two->gz);
  const auto dated = rotation_of("erp.log-20261127");
  ASSERT_TRUE(dated);
  EXPECT_EQ(dated->base, "erp.log");
  EXPECT_FALSE(dated->gz);
  EXPECT_LT(rotation_of("erp.log.3")->order, rotation_of("erp.log.1")->order);  // .3 is older
}

TEST(LogsRotation, ReadsRotatedAndCompressedFilesOldestFirst) {
  TempDir dir;
  dir.file("app.log", "2024-05-01 10:00:00 needle current\n");
  dir.file("app.log.1", "needle one\n");
  dir.file("app.log.2", "needle two\n");
  dir.file("app.log-20261127", "needle dated\n");
  dir.file("app.log-20261126", "needle older dated\n");
  dir.file("other.txt", "needle not a log\n");
  ASSERT_EQ(std::system(
                ("gzip " + dir.path() + "/app.log.2 " + dir.path() + "/app.log-20261127").c_str()),
            0);
  Source s{"app",   SourceKind::kFiles, {dir.path() + "/*.log"}, redact::Encoding::kAuto, {},
           "config"};
  EXPECT_EQ(paths_of(list_files(s, std::nullopt)),
            (std::vector<std::string>{"app.log-20261126", "app.log-20261127.gz", "app.log.2.gz",
                                      "app.log.1", "app.log"}));

  auto r = run_logs_scan_job(
      scan_job({{{"name", "app"}, {"paths", {dir.path() + "/*.log"}}}}, {{"patterns", {"needle"}}}),
      {});
  ASSERT_TRUE(r) << r.error().message;
  const json& m = (*r)["matches"];
  ASSERT_EQ(m.size(), 5U) << r->dump(2);
  EXPECT_EQ(m[1]["text"], "needle dated");  // decompressed
  EXPECT_EQ(fs::path(m[2]["file"].get<std::string>()).filename(), "app.log.2.gz");
  EXPECT_EQ(m[4]["text"], "2024-05-01 10:00:00 needle current");
  EXPECT_EQ((*r)["summary"]["files"], 5);
}

// A .gz that ends early (logrotate still compressing it, or damaged) is an
// error naming the file, not a quietly shorter log; the whole one reads.
TEST(LogsRotation, TruncatedGzipIsAnErrorNotAShortLog) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "2024-05-01 10:00:00 line " + std::to_string(i) + "\n";
  const std::string whole = dir.file("app.log.1", text);
  ASSERT_EQ(std::system(("gzip -k " + whole).c_str()), 0);
  const auto size = fs::file_size(whole + ".gz");
  fs::copy_file(whole + ".gz", dir.path() + "/cut.log.gz");
  fs::resize_file(dir.path() + "/cut.log.gz", size / 2);

  auto read_all = [](const std::string& path) -> Result<std::string> {
    auto reader = LogReader::open(path, true);
    if (!reader) return reader.error();
    std::string out;
    char buf[4096];
    for (;;) {
      auto n = reader->read(buf, sizeof buf);
      if (!n) return n.error();
      if (*n == 0) return out;
      out.append(buf, *n);
    }
  };
  auto good = read_all(whole + ".gz");
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(*good, text);
  auto cut = read_all(dir.path() + "/cut.log.gz");
  ASSERT_FALSE(cut) << "read " << cut->size() << " bytes of a truncated file as complete";
  EXPECT_NE(cut.error().message.find("cut.log.gz"), std::string::npos) << cut.error().message;
  EXPECT_EQ(cut.error().reason, "unreadable");
}

TEST(LogsRotation, SkipsFilesNotModifiedSince) {
  TempDir dir;
  const std::time_t now = std::time(nullptr);
  set_mtime(dir.file("app.log", "x\n"), now);
  set_mtime(dir.file("app.log.1", "x\n"), now - 3 * 86400);
  Source s{"app",   SourceKind::kFiles, {dir.path() + "/app.log"}, redact::Encoding::kAuto, {},
           "config"};
  const EpochMs since = (static_cast<EpochMs>(now) - 86400) * 1000;
  EXPECT_EQ(paths_of(list_files(s, since)), std::vector<std::string>{"app.log"});
}

TEST(LogsRotation, KeepsTheNewestFilesWhenTooMany) {
  TempDir dir;
  const std::time_t now = std::time(nullptr);
  for (int i = 1; i <= 70; ++i) set_mtime(dir.file("app.log." + std::to_string(i), "x\n"), now - i);
  set_mtime(dir.file("app.log", "x\n"), now);
  Source s{"app",   SourceKind::kFiles, {dir.path() + "/app.log"}, redact::Encoding::kAuto, {},
           "config"};
  const FileList list = list_files(s, std::nullopt);
  EXPECT_TRUE(list.cut);
  ASSERT_EQ(list.files.size(), kMaxFilesPerSource);
  EXPECT_EQ(fs::path(list.files.front().path).filename(), "app.log.63");
  EXPECT_EQ(fs::path(list.files.back().path).filename(), "app.log");
}

TEST(LogsSince, ParsesRfc3339AndLogTimestamps) {
  auto z = parse_since("2026-11-28T13:04:09.000Z");
  ASSERT_TRUE(z);
  EXPECT_EQ(*parse_since("2026-11-28T21:04:09+08:00"), *z);
  EXPECT_FALSE(parse_since("yesterday"));
  EXPECT_FALSE(parse_since("2026-11-28 13:04:09"));  // no offset: ambiguous
  LocalClock clock;
  EXPECT_EQ(*clock.parse("2026-11-28T13:04:09.000Z"), *z);
  EXPECT_EQ(*clock.parse("[2026-11-28 21:04:09,000 +0800"), *z);
  const auto t = static_cast<std::time_t>(*z / 1000);
  EXPECT_EQ(*clock.parse(local(t, Style::kIso)), *z);  // local time
}

TEST(LogsSince, SkipsOldLinesInThreeTimestampStyles) {
  TempDir dir;
  const std::time_t now = std::time(nullptr);
  const std::time_t old_t = now - 7200;
  const std::time_t new_t = now - 600;
  std::string text;
  for (const Style fmt : {Style::kIso, Style::kIsoOffset, Style::kSyslog}) {
    text += local(old_t, fmt) + " EVENT old\n  EVENT old continuation\n";
    text += local(new_t, fmt) + " EVENT new\n  EVENT new continuation\n";
  }
  dir.file("t.log", text);
  const std::string since = local(now - 3600, Style::kIsoOffset);
  // "+0800" -> "+08:00": RFC 3339 wants the colon.
  const std::string rfc = since.substr(0, since.size() - 2) + ":" + since.substr(since.size() - 2);
  auto r = run_logs_scan_job(scan_job({{{"name", "t"}, {"paths", {dir.path() + "/t.log"}}}},
                                      {{"patterns", {"EVENT"}}, {"since", rfc}}),
                             {});
  ASSERT_TRUE(r) << r.error().message;
  const json& m = (*r)["matches"];
  ASSERT_EQ(m.size(), 6U) << r->dump(2);
  for (const json& hit : m) {
    EXPECT_NE(hit["text"].get<std::string>().find("EVENT new"), std::string::npos) << hit;
  }
  EXPECT_EQ(m[0]["line"], 3);  // the file's own line numbers
  EXPECT_EQ((*r)["sources"][0]["files"][0]["lines"], 6);
}

TEST(LogsConfig, ErrorsNameTheEntryAndField) {
  const auto err = [](const json& logs) {
    auto r = run_logs_scan_job(scan_job(logs, json::object()), {});
    return r ? std::string("ok") : r.error().message;
  };
  const json ok = {{"name", "a"}, {"paths", {"/var/log/a.log"}}};
  EXPECT_NE(err({ok, {{"name", "b"}, {"paths", {"logs/b.log"}}}}).find("logs[1].paths[0]"),
            std::string::npos);
  EXPECT_NE(err({{{"name", "a"}, {"path", {"/x"}}}}).find("'path'"), std::string::npos);
  EXPECT_NE(err({ok, ok}).find("logs[1].name"), std::string::npos);
  EXPECT_NE(
      err({{{"name", "a"}, {"paths", {"/x"}}, {"encoding", "latin1"}}}).find("logs[0].encoding"),
      std::string::npos);
  EXPECT_NE(err({{{"name", "j"}, {"journal", {{"units", "erp"}}}}}).find("logs[0].journal"),
            std::string::npos);
  EXPECT_NE(err({{{"name", "j"}, {"journal", json::object()}, {"paths", {"/x"}}}}).find("logs[0]"),
            std::string::npos);
  auto r = run_logs_scan_job(scan_job(json::array({ok}), {{"max_matches", 5000}}), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "bad_job");
}

TEST(LogsFifo, AFifoInTheGlobDoesNotHang) {
  TempDir dir;
  dir.file("a.log", "hello\n");
  const std::string fifo = dir.path() + "/pipe.log";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const json job = scan_job({{{"name", "a"}, {"paths", {dir.path() + "/*.log"}}}}, json::object());
  auto done = std::async(std::launch::async, [&job] { return run_logs_scan_job(job, {}); });
  if (done.wait_for(std::chrono::seconds(20)) == std::future_status::timeout) {
    // Release a reader stuck in open() so the test process can end.
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    FAIL() << "the scan blocked on a FIFO";
  }
  auto r = done.get();
  ASSERT_TRUE(r) << r.error().message;
  bool refused = false;
  for (const json& f : (*r)["sources"][0]["files"]) {
    if (f.contains("error") && f["error"]["reason"] == "not_regular") refused = f["path"] == fifo;
  }
  EXPECT_TRUE(refused) << r->dump(2);
  EXPECT_EQ((*r)["summary"]["lines"], 1);
}

TEST(LogsJournal, GivesEntriesOrANoJournalError) {
  const json logs = {{{"name", "sys"}, {"journal", {{"units", {"ssh.service", "cron.service"}}}}}};
  auto r = run_logs_scan_job(scan_job(logs, {{"since", "2026-01-01T00:00:00Z"}}), {});
  ASSERT_TRUE(r) << r.error().message;
  const json& src = (*r)["sources"][0];
  EXPECT_EQ(src["kind"], "journal");
  if (src.contains("error")) {
    EXPECT_EQ(src["error"]["reason"], "no_journal");
    EXPECT_FALSE(src["error"]["message"].get<std::string>().empty());
  } else {
    EXPECT_EQ(src["files"][0]["path"], "journal");
    EXPECT_TRUE(src["files"][0]["lines"].is_number_unsigned());
  }
  json tail = scan_job(logs, {{"kind", "logs.tail"}, {"source", "sys"}, {"lines", 5}});
  auto t = run_logs_tail_job(tail, {});
  if (t) {
    EXPECT_EQ((*t)["file"], "journal");
    EXPECT_LE((*t)["lines"].size(), 5U);
  } else {
    EXPECT_EQ(t.error().reason, "no_journal");
  }
}

}  // namespace
}  // namespace rdiag::agent::logs
