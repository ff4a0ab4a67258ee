#include "agent/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "common/text_safety.h"

namespace rdiag::agent {

void log_line(LogLevel level, std::string_view text) {
  // journald adds its own timestamps; a terminal or a file does not, so we do.
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
  const char* tag = level == LogLevel::kError     ? "error"
                    : level == LogLevel::kWarning ? "warning"
                                                  : "info";
  std::string line = std::string(stamp) + " rdiag-agent[" + std::to_string(::getpid()) + "] " +
                     tag + ": " + terminal_safe(text) + "\n";
  // One write() per line so lines from many processes do not interleave.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace rdiag::agent
