#include "console/files.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "common/fs.h"
#include "common/i18n.h"

namespace rdiag::console {
namespace {

using rdiag::i18n::tr;

Error write_error(const std::string& path, int err) {
  return make_error(tr("console.file.write_failed", path, errno_text(err)), "io_error");
}

}  // namespace

std::string home_directory() {
  const char* home = std::getenv("HOME");  // NOLINT(concurrency-mt-unsafe): single-threaded CLI
  if (home != nullptr && home[0] == '/') return home;
  const passwd* pw = getpwuid(geteuid());  // NOLINT(concurrency-mt-unsafe)
  if (pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  return {};
}

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
  // No size bound, as the console reads only the small stores it writes itself.
  return read_file_bounded(path, kNoSizeLimit,
                           {.io_error =
                                [&path](int err) {
                                  return make_error(
                                      tr("console.file.read_failed", path, errno_text(err)),
                                      err == ENOENT ? "not_found" : "io_error");
                                },
                            .too_big = {},
                            .check = {}});
}

Result<void> create_private_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) return write_error(path, errno);
  return {};
}

Result<void> write_file_atomic(const std::string& path, std::string_view content, unsigned mode) {
  int err = rdiag::write_file_atomic(path, content, static_cast<mode_t>(mode), IfExists::kReplace);
  if (err != 0) return write_error(path, err);
  // Best effort: the new content is in place already, and only a crash in the
  // next moments could bring the old file back.
  fsync_parent_dir(path);
  return {};
}

}  // namespace rdiag::console
