#include "console/files.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "common/i18n.h"

namespace rdiag::console {
namespace {

using rdiag::i18n::tr;

// strerror() is not thread-safe; the generic category gives the same text.
std::string errno_text(int err) {
  return std::generic_category().message(err);
}

}  // namespace

std::string home_directory() {
  const char* home = std::getenv("HOME");  // NOLINT(concurrency-mt-unsafe): single-threaded CLI
  if (home != nullptr && home[0] == '/') return home;
  const passwd* pw = getpwuid(geteuid());  // NOLINT(concurrency-mt-unsafe)
  if (pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  return {};
}

namespace {

// Closes a descriptor on every path out of write_file_atomic.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

Error write_error(const std::string& path, int err) {
  return make_error(tr("console.file.write_failed", path, errno_text(err)), "io_error");
}

// The rename is only durable once the directory entry itself is on disk.
void fsync_parent(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  std::string dir = parent.empty() ? std::string(".") : parent.string();
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0) ::fsync(dfd.get());
}

}  // namespace

Result<std::string> default_data_dir() {
  const char* xdg = std::getenv("XDG_DATA_HOME");  // NOLINT(concurrency-mt-unsafe)
  // The XDG spec says a relative value is invalid and must be ignored.
  // append() rather than operator+: GCC 12 -O2 raises a false -Wrestrict on
  // std::string + const char*.
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg).append("/rdiag");
  std::string home = home_directory();
  if (home.empty()) return make_error(tr("console.data_dir.no_home"), "no_home");
  return home.append("/.local/share/rdiag");
}

Result<void> ensure_private_dir(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return {};
  std::filesystem::path p(dir);
  std::filesystem::path partial;
  for (const auto& part : p) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return make_error(tr("console.data_dir.create_failed", dir, errno_text(errno)), "io_error");
    }
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return make_error(tr("console.data_dir.not_dir", dir), "io_error");
  }
  return {};
}

Result<std::string> read_text_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    return make_error(tr("console.file.read_failed", path, errno_text(err)),
                      err == ENOENT ? "not_found" : "io_error");
  }
  std::string out;
  std::vector<char> buf(65536);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return make_error(tr("console.file.read_failed", path, errno_text(errno)), "io_error");
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

Result<void> create_private_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) return write_error(path, errno);
  return {};
}

Result<void> write_file_atomic(const std::string& path, std::string_view content, unsigned mode) {
  std::string tmpl = path + ".tmp.XXXXXX";
  Fd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (fd.get() < 0) return write_error(path, errno);
  bool ok = ::fchmod(fd.get(), static_cast<mode_t>(mode)) == 0 && write_all(fd.get(), content) &&
            ::fsync(fd.get()) == 0;
  int err = errno;
  if (::close(fd.release()) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && ::rename(tmpl.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmpl.c_str());
    return write_error(path, err);
  }
  fsync_parent(path);
  return {};
}

}  // namespace rdiag::console
