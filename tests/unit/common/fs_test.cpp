#include "common/fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/file_text.h"

namespace rdiag {
namespace {

namespace fs = std::filesystem;

// A private temporary folder, removed with everything in it.
class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "rdiag-fs-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), {}));
  }
  std::string dir_;
};

using test::put;
using test::slurp;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

// Hooks that name which failure happened, so tests can tell them apart.
ReadFileHooks naming_hooks() {
  return {.io_error = [](int err) { return make_error(errno_text(err), "io"); },
          .too_big = [] { return make_error("too big", "too_big"); },
          .check = {}};
}

TEST(ErrnoText, IsTheSystemMessage) {
  EXPECT_EQ(errno_text(ENOENT), "No such file or directory");
}

TEST(UniqueFd, ClosesAtScopeEndUnlessReleased) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  { UniqueFd closed(fds[0]); }
  EXPECT_FALSE(is_open(fds[0]));
  int kept = 0;
  {
    UniqueFd owner(fds[1]);
    kept = owner.release();
    EXPECT_EQ(owner.get(), -1);
  }
  EXPECT_TRUE(is_open(kept));
  ::close(kept);
}

TEST(UniqueFd, CloseCheckedClosesOnceAndReportsBadDescriptor) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd fd(fds[0]);
  EXPECT_TRUE(fd.close_checked());
  EXPECT_EQ(fd.get(), -1);
  EXPECT_FALSE(is_open(fds[0]));
  ::close(fds[1]);
  UniqueFd bad(fds[1]);  // already closed: close() fails with EBADF
  EXPECT_FALSE(bad.close_checked());
  EXPECT_EQ(errno, EBADF);
}

TEST(WriteAll, PushesMoreThanAPipeHoldsThroughIt) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  // Four times the default 64 KiB pipe buffer: write() must come back short
  // or block several times while the reader drains.
  std::string sent(256 * 1024, '\0');
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>('a' + i % 26);
  std::string got;
  std::thread reader([&] {
    char buf[4096];
    for (ssize_t n; (n = ::read(read_end.get(), buf, sizeof buf)) > 0;) {
      got.append(buf, static_cast<std::size_t>(n));
    }
  });
  bool ok = write_all(write_end.get(), sent);
  write_end.close_checked();  // EOF for the reader
  reader.join();
  EXPECT_TRUE(ok);
  EXPECT_EQ(got, sent);
}

TEST(WriteAll, FailsWithErrnoOnABadDescriptor) {
  EXPECT_FALSE(write_all(-1, "x"));
  EXPECT_EQ(errno, EBADF);
  EXPECT_TRUE(write_all(-1, ""));  // nothing to write, nothing tried
}

TEST_F(FsTest, ReadsAFileOfExactlyMaxBytes) {
  put(file("f"), std::string(100, 'x'));
  auto text = read_file_bounded(file("f"), 100, naming_hooks());
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, std::string(100, 'x'));
}

TEST_F(FsTest, RefusesAFileOneByteOverMax) {
  put(file("f"), std::string(101, 'x'));
  auto text = read_file_bounded(file("f"), 100, naming_hooks());
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().reason, "too_big");
}

TEST_F(FsTest, TooBigWithoutAHookIsEfbig) {
  put(file("f"), "12345");
  ReadFileHooks hooks = naming_hooks();
  hooks.too_big = nullptr;
  auto text = read_file_bounded(file("f"), 4, hooks);
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().message, errno_text(EFBIG));
}

TEST_F(FsTest, ReadsAcrossManyChunksWithoutALimit) {
  std::string big(300 * 1000 + 7, 'q');  // several read() calls, not a multiple of any chunk
  put(file("f"), big);
  auto text = read_file_bounded(file("f"), kNoSizeLimit, naming_hooks());
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, big);
}

TEST_F(FsTest, MissingFileGoesToIoErrorWithEnoent) {
  auto text = read_file_bounded(file("nope"), 100, naming_hooks());
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().message, errno_text(ENOENT));
}

TEST_F(FsTest, CheckSeesTheOpenFileAndCanRefuseIt) {
  put(file("f"), "secret");
  ASSERT_EQ(::chmod(file("f").c_str(), 0640), 0);
  mode_t seen = 0;
  ReadFileHooks hooks = naming_hooks();
  hooks.check = [&seen](const struct stat& st) -> Result<void> {
    seen = st.st_mode & 07777;
    return make_error("group may read it", "refused");
  };
  auto text = read_file_bounded(file("f"), 100, hooks);
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().reason, "refused");
  EXPECT_EQ(seen, 0640U);
}

TEST_F(FsTest, AtomicWriteReplacesAndLeavesNoTemporaryFile) {
  put(file("store"), "old content that is longer than the new");
  ASSERT_EQ(write_file_atomic(file("store"), "new", 0640, IfExists::kReplace), 0);
  EXPECT_EQ(slurp(file("store")), "new");
  EXPECT_EQ(mode_of(file("store")), 0640U);  // exactly, whatever the umask
  EXPECT_EQ(entries(), 1U);
}

TEST_F(FsTest, AtomicWriteCreatesAMissingFile) {
  ASSERT_EQ(write_file_atomic(file("key"), "seed", 0600, IfExists::kKeep), 0);
  EXPECT_EQ(slurp(file("key")), "seed");
  EXPECT_EQ(mode_of(file("key")), 0600U);
  EXPECT_EQ(entries(), 1U);
}

TEST_F(FsTest, NoReplaceRefusesAnExistingFileAndKeepsIt) {
  put(file("key"), "theirs");
  EXPECT_EQ(write_file_atomic(file("key"), "ours", 0600, IfExists::kKeep), EEXIST);
  EXPECT_EQ(slurp(file("key")), "theirs");
  EXPECT_EQ(entries(), 1U);
}

TEST_F(FsTest, AtomicWriteIntoAMissingFolderFailsWithEnoent) {
  EXPECT_EQ(write_file_atomic(file("no-such-dir/f"), "x", 0600, IfExists::kReplace), ENOENT);
  EXPECT_EQ(entries(), 0U);
}

TEST_F(FsTest, FsyncParentDirNeedsTheFolderToExist) {
  EXPECT_EQ(fsync_parent_dir(file("anything")), 0);
  EXPECT_EQ(fsync_parent_dir("relative-name"), 0);  // the working directory
  EXPECT_EQ(fsync_parent_dir(file("no-such-dir/f")), ENOENT);
}

}  // namespace
}  // namespace rdiag
