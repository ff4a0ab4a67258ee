#include "common/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>  // renameat2
#include <filesystem>
#include <system_error>
#include <utility>

namespace rdiag {
namespace {

// How much read_file_bounded() asks read() for at a time.
constexpr std::size_t kReadChunk = 65536;

Result<std::string> read_all(int fd, std::size_t max_bytes, const ReadFileHooks& hooks) {
  std::string text;
  std::size_t got = 0;
  while (got <= max_bytes) {
    if (got == text.size()) {
      // One byte past max_bytes is enough to tell that the file is too big.
      std::size_t room = max_bytes - got;
      text.resize(got + (room < kReadChunk ? room + 1 : kReadChunk));
    }
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return hooks.io_error(errno);
    if (n == 0) {
      text.resize(got);  // shrinks in place: no copy of the bytes is left behind
      return text;
    }
    got += static_cast<std::size_t>(n);
  }
  return hooks.too_big ? hooks.too_big() : hooks.io_error(EFBIG);
}

// Fills a freshly made temporary file. Returns 0 or errno.
int fill_and_close(UniqueFd& fd, std::string_view content, mode_t mode) {
  // mkostemp() makes 0600 less the umask; the caller's mode is meant exactly.
  if (::fchmod(fd.get(), mode) != 0 || !write_all(fd.get(), content) || ::fsync(fd.get()) != 0) {
    return errno;
  }
  return fd.close_checked() ? 0 : errno;
}

// Returns 0 or errno; EEXIST with kKeep means path was there first.
int rename_into_place(const std::string& tmp, const std::string& path, IfExists if_exists) {
  int rc = 0;
  if (if_exists == IfExists::kReplace) {
    rc = ::rename(tmp.c_str(), path.c_str());
  } else {
    rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && errno == EINVAL) rc = ::rename(tmp.c_str(), path.c_str());  // fs lacks it
  }
  return rc == 0 ? 0 : errno;
}

}  // namespace

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

int UniqueFd::release() {
  return std::exchange(fd_, -1);
}

bool UniqueFd::close_checked() {
  return ::close(release()) == 0;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

int fsync_parent_dir(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  UniqueFd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) return errno;
  return 0;
}

Result<std::string> read_file_bounded(const std::string& path, std::size_t max_bytes,
                                      const ReadFileHooks& hooks) {
  // O_NONBLOCK: a FIFO planted where a file is expected must not hang the
  // reader (the check hook then refuses it); regular files ignore the flag.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return hooks.io_error(errno);
  if (hooks.check) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return hooks.io_error(errno);
    if (auto ok = hooks.check(st); !ok) return ok.error();
  }
  return read_all(fd.get(), max_bytes, hooks);
}

int write_file_atomic(const std::string& path, std::string_view content, mode_t mode,
                      IfExists if_exists) {
  std::string tmp = path + ".tmp.XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (fd.get() < 0) return errno;
  int err = fill_and_close(fd, content, mode);
  if (err == 0) err = rename_into_place(tmp, path, if_exists);
  if (err != 0) ::unlink(tmp.c_str());
  return err;
}

}  // namespace rdiag
