// Low-level file handling shared by the config, engineers and key readers and
// the console's stores. Nothing here words a message: functions return an
// errno value (or call the caller's hooks), and each caller keeps its own
// translated text.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <string_view>

#include "common/result.h"

namespace rdiag {

// strerror() is not thread-safe; the generic category gives the same text.
std::string errno_text(int err);

// Owns a file descriptor and closes it on every path out of a scope.
class UniqueFd {
 public:
  UniqueFd() : fd_(-1) {}
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  ~UniqueFd();

  int get() const { return fd_; }
  // Gives up ownership: the caller closes the descriptor.
  int release();
  // close() reports write-back errors on some file systems, so whoever wrote
  // through the descriptor checks it. false: errno says why.
  bool close_checked();

 private:
  int fd_;
};

// Writes all of data, retrying short writes and EINTR. false: errno says why.
bool write_all(int fd, std::string_view data);

// fsyncs the folder holding path: a rename is durable only once the directory
// entry is on disk. Returns 0 or the errno of the failed open or fsync.
int fsync_parent_dir(const std::string& path);

// What a caller of read_file_bounded() says and refuses.
struct ReadFileHooks {
  // open(), fstat() or read() failed with this errno.
  std::function<Error(int err)> io_error;
  // The file holds more than max_bytes. Empty: io_error(EFBIG).
  std::function<Error()> too_big;
  // Looks at the open file before any byte is read; an Error refuses it.
  // Empty: no fstat() at all.
  std::function<Result<void>(const struct stat&)> check;
};

inline constexpr std::size_t kNoSizeLimit = std::numeric_limits<std::size_t>::max();

// The whole file at path, if it holds at most max_bytes. Reads straight into
// the returned string, which a file under 64 KiB never outgrows: no stray copy
// of, say, a private key is left in freed memory for the caller to miss.
Result<std::string> read_file_bounded(const std::string& path, std::size_t max_bytes,
                                      const ReadFileHooks& hooks);

enum class IfExists {
  kReplace,  // rename(): the old file, if any, is replaced
  // renameat2(RENAME_NOREPLACE): an existing file wins and the result is
  // EEXIST. A file system without RENAME_NOREPLACE (EINVAL) gets a plain
  // rename(), which does replace: that window is as narrow as the race itself.
  kKeep,
};

// Puts content at path with the given mode so a crash leaves the old file or
// the new one, never a torn one: a temporary file beside it (mkostemp, so
// O_EXCL), fchmod, write, fsync, close, rename. Returns 0 or the errno of the
// failed step, and then no temporary file is left behind. The directory is not
// fsynced: callers decide with fsync_parent_dir() whether that may fail.
int write_file_atomic(const std::string& path, std::string_view content, mode_t mode,
                      IfExists if_exists);

}  // namespace rdiag
