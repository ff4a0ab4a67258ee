#include "agent/logs/reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "common/i18n.h"

namespace rdiag::agent::logs {
namespace {

constexpr std::size_t kTailStep = 64 * 1024;

// Reads of a compressed file go through zlib's unsigned int lengths.
constexpr std::size_t kMaxGzRead = std::size_t{1} << 30;

Error read_error(const std::string& path, const char* why) {
  return make_error(i18n::tr("agent.logs.read_failed", path, why), "unreadable");
}

Error gz_error(const std::string& path, gzFile gz) {
  int code = Z_OK;
  const char* why = ::gzerror(gz, &code);
  if (code == Z_ERRNO) why = std::strerror(errno);
  return make_error(i18n::tr("agent.logs.gz_failed", path, why), "unreadable");
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
  // zlib reads the members of a concatenated .gz one after another, as gzip -d does.
  r.gz_ = ::gzdopen(fd, "rb");
  if (r.gz_ == nullptr) return read_error(path, std::strerror(ENOMEM));
  return r;
}

LogReader::~LogReader() {
  close();
}

LogReader::LogReader(LogReader&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      gz_(std::exchange(other.gz_, nullptr)) {}

LogReader& LogReader::operator=(LogReader&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    gz_ = std::exchange(other.gz_, nullptr);
  }
  return *this;
}

void LogReader::close() {
  if (gz_ != nullptr) {
    ::gzclose(gz_);  // closes fd_ too
    fd_ = -1;
  }
  gz_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<std::size_t> LogReader::read(char* buf, std::size_t size) {
  if (gz_ != nullptr) {
    const int n = ::gzread(gz_, buf, static_cast<unsigned>(std::min(size, kMaxGzRead)));
    if (n < 0) return gz_error(path_, gz_);
    // A stream that ends early (a file logrotate is still compressing, or a
    // damaged one) reads as a quiet end; zlib only says so through gzerror.
    int code = Z_OK;
    if (n == 0 && (::gzerror(gz_, &code), code != Z_OK)) return gz_error(path_, gz_);
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
  if (gz_ != nullptr) {
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
