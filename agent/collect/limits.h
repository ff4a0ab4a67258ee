// The `limits` collector's pure parsers: system-wide descriptor, PID and
// thread limits under /proc/sys, and a process's rlimits (/proc/PID/limits),
// which the "descriptor exhaustion" finding compares against use.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::agent::collect {

// /proc/sys/fs/file-nr: "865<TAB>0<TAB>2466186". The middle field (free
// handles) has been 0 since Linux 2.6, so it is not kept.
struct FileNr {
  std::uint64_t allocated = 0;
  std::uint64_t max = 0;
};
Result<FileNr> parse_file_nr(std::string_view text);
nlohmann::json to_json(const FileNr& nr);

// A file holding one number: /proc/sys/fs/file-max, /proc/sys/kernel/pid_max,
// /proc/sys/kernel/threads-max. `path` names it in messages.
Result<std::uint64_t> parse_sys_number(std::string_view text, std::string_view path);

struct ProcessLimit {
  std::string name;  // as the kernel prints it: "Max open files"
  std::string key;   // stable for machines: "open_files"
  // A value of "unlimited" (RLIM_INFINITY) sets the flag and leaves the number 0.
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
  bool soft_unlimited = false;
  bool hard_unlimited = false;
  std::optional<std::string> unit;  // "files", "bytes"; none for the priorities
};

struct ProcessLimits {
  std::vector<ProcessLimit> limits;
  const ProcessLimit* find(std::string_view key) const;
};

// The table format: a "Limit Soft Limit Hard Limit Units" header, then rows
// such as "Max open files  1024  524288  files". `path` names the file.
Result<ProcessLimits> parse_process_limits(std::string_view text, std::string_view path);
nlohmann::json to_json(const ProcessLimit& limit);
nlohmann::json to_json(const ProcessLimits& limits);

}  // namespace rdiag::agent::collect
