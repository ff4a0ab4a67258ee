// Opening and reading one log file, plain or gzip-compressed. Opened with
// O_NONBLOCK and checked with fstat after the open, so a FIFO or device that
// a glob caught (or that replaced a file since list_files) is refused at
// once instead of blocking the worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"

struct gzFile_s;

namespace rdiag::agent::logs {

class LogReader {
 public:
  // gz: decompress with zlib (a truncated or corrupt file fails at the read
  // that meets the damage, naming the file). Errors name
  // the file; reason "not_regular" or "unreadable".
  static Result<LogReader> open(const std::string& path, bool gz);

  ~LogReader();
  LogReader(LogReader&& other) noexcept;
  LogReader& operator=(LogReader&& other) noexcept;
  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;

  // Up to size bytes (decompressed); 0 at the end.
  Result<std::size_t> read(char* buf, std::size_t size);

  // The last bytes of a plain file: at most max_bytes, starting at a line
  // start, holding at least `lines` whole lines when the file has them.
  // Compressed files are read whole (they are rotated, and small).
  Result<std::string> tail(std::size_t lines, std::size_t max_bytes);

 private:
  LogReader(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void close();

  int fd_ = -1;
  std::string path_;
  gzFile_s* gz_ = nullptr;
};

}  // namespace rdiag::agent::logs
