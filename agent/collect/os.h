// The `os` collector's pure parsers: /etc/os-release, the kernel release, the
// host name and /proc/uptime. They take the file's text and never read files
// themselves, so tests run them on fixtures (STYLE.md "One collector, one file").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace rdiag::agent::collect {

inline constexpr std::string_view kOsReleasePath = "/etc/os-release";

// The os-release fields a report shows; every one is optional in the spec.
struct OsRelease {
  std::optional<std::string> id;
  std::optional<std::string> name;
  std::optional<std::string> version_id;
  std::optional<std::string> pretty_name;
};

// os-release(5): KEY=VALUE lines, '#' comments, values unquoted or in single
// or double quotes with shell-style backslash escapes. `path` names the file
// in messages (/etc/os-release or its fallback /usr/lib/os-release).
Result<OsRelease> parse_os_release(std::string_view text, std::string_view path = kOsReleasePath);
nlohmann::json to_json(const OsRelease& os);

// One-line files such as /proc/sys/kernel/osrelease and /proc/sys/kernel/hostname:
// the first line, trimmed; an empty file is an error naming `path`.
Result<std::string> parse_one_line(std::string_view text, std::string_view path);

struct Uptime {
  // Whole seconds since boot; the kernel's hundredths are cut, as `uptime` does.
  std::uint64_t uptime_s = 0;
  std::uint64_t idle_s = 0;  // summed over all CPUs, so it may exceed uptime_s
};

// /proc/uptime: "24808.52 8490.68".
Result<Uptime> parse_uptime(std::string_view text);
nlohmann::json to_json(const Uptime& uptime);

}  // namespace rdiag::agent::collect
