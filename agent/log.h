// Agent log lines: to stderr, which systemd sends to the journal. One line per
// event, untrusted text made terminal-safe, the words from the message catalog.
#pragma once

#include <string_view>

#include "common/i18n.h"

namespace rdiag::agent {

enum class LogLevel { kInfo, kWarning, kError };

void log_line(LogLevel level, std::string_view text);

template <typename... Args>
void log_info(std::string_view id, Args&&... args) {
  log_line(LogLevel::kInfo, i18n::tr(id, std::forward<Args>(args)...));
}
template <typename... Args>
void log_warn(std::string_view id, Args&&... args) {
  log_line(LogLevel::kWarning, i18n::tr(id, std::forward<Args>(args)...));
}
template <typename... Args>
void log_error(std::string_view id, Args&&... args) {
  log_line(LogLevel::kError, i18n::tr(id, std::forward<Args>(args)...));
}

}  // namespace rdiag::agent
