#include "agent/logs/reader.h"

#include <archive.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "common/i18n.h"

namespace rdiag::agent::logs {
namespace {

constexpr std::size_t kTailStep = 64 * 1024;

Error read_error(const std::string& path, const char* why) {
  return make_error(i18n::tr("agent.logs.read_failed", path, why), "unreadable");
}

}  // namespace

Result<LogReader> LogReader::open(const std::string& path, bool gz) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    return make_error(i18n::tr("agent.logs.open_failed", path, std::strerror(errno)), "unreadable");
  }
  LogReader r(fd, path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return make_error(i18n::tr("agent.logs.not_regular", path), "not_regular");
  }
  if (!gz) return r;
  r.archive_ = archive_read_new();
  if (r.archive_ == nullptr) return read_error(path, std::strerror(ENOMEM));
  archive_read_support_filter_gzip(r.archive_);
  archive_read_support_format_raw(r.archive_);
  archive_entry* entry = nullptr;
  if (archive_read_open_fd(r.archive_, fd, 64 * 1024) != ARCHIVE_OK ||
      archive_read_next_header(r.archive_, &entry) != ARCHIVE_OK) {
    return make_error(i18n::tr("agent.logs.gz_failed", path, archive_error_string(r.archive_)),
                      "unreadable");
  }
  return r;
}

LogReader::~LogReader() {
  close();
}

LogReader::LogReader(LogReader&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      archive_(std::exchange(other.archive_, nullptr)) {}

LogReader& LogReader::operator=(LogReader&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    archive_ = std::exchange(other.archive_, nullptr);
  }
  return *this;
}

void LogReader::close() {
  if (archive_ != nullptr) archive_read_free(archive_);
  archive_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<std::size_t> LogReader::read(char* buf, std::size_t size) {
  if (archive_ != nullptr) {
    const la_ssize_t n = archive_read_data(archive_, buf, size);
    if (n < 0) {
      return make_error(i18n::tr("agent.logs.gz_failed", path_, archive_error_string(archive_)),
                        "unreadable");
    }
    return static_cast<std::size_t>(n);
  }
  for (;;) {
    const ssize_t n = ::read(fd_, buf, size);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return read_error(path_, std::strerror(errno));
  }
}

Result<std::string> LogReader::tail(std::size_t lines, std::size_t max_bytes) {
  std::string data;
  bool from_start = true;  // data begins at the file's first byte
  if (archive_ != nullptr) {
    std::string chunk(kTailStep, '\0');
    for (;;) {
      auto n = read(chunk.data(), chunk.size());
      if (!n) return n.error();
      if (*n == 0) break;
      data.append(chunk.data(), *n);
      // Keep memory bounded: only the last max_bytes matter.
      if (data.size() > 2 * max_bytes) {
        data.erase(0, data.size() - max_bytes);
        from_start = false;
      }
    }
  } else {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return read_error(path_, std::strerror(errno));
    auto end = static_cast<std::size_t>(st.st_size);
    // Step back from the end until enough newlines are in hand.
    while (end > 0 && data.size() < max_bytes &&
           static_cast<std::size_t>(std::count(data.begin(), data.end(), '\n')) <= lines) {
      const std::size_t step = std::min({kTailStep, end, max_bytes - data.size()});
      std::string chunk(step, '\0');
      const ssize_t n = ::pread(fd_, chunk.data(), step, static_cast<off_t>(end - step));
      if (n < 0) return read_error(path_, std::strerror(errno));
      if (static_cast<std::size_t>(n) < step) chunk.resize(static_cast<std::size_t>(n));
      data.insert(0, chunk);
      end -= step;
    }
    from_start = end == 0;
  }
  if (data.size() > max_bytes) {
    data.erase(0, data.size() - max_bytes);
    from_start = false;
  }
  if (from_start) return data;
  // Drop the partial first line: we started reading in its middle.
  const auto nl = data.find('\n');
  if (nl != std::string::npos && nl + 1 < data.size()) data.erase(0, nl + 1);
  return data;
}

}  // namespace rdiag::agent::logs
