// The `disk` collector: the mounted file systems a person cares about
// (/proc/self/mountinfo, filtered) and their space and inodes (statvfs).
#pragma once

#include <sys/statvfs.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::agent::collect {

struct MountEntry {
  std::string device;  // "major:minor"
  std::string root;    // the path inside the file system (bind mounts)
  std::string mount_point;
  std::string fs_type;
  std::string source;
  bool read_only = false;
};

// mountinfo's "\040"-style octal escapes (space, tab, newline, backslash)
// decoded; anything else is kept as it is.
std::string unescape_octal(std::string_view s);

// proc(5) mountinfo: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw".
// `path` names the file in messages.
Result<std::vector<MountEntry>> parse_mountinfo(std::string_view text, std::string_view path);

enum class MountKind {
  kSkip,    // pseudo, in-memory or image file systems: no space to run out of
  kLocal,   // statvfs it
  kRemote,  // listed without sizes: statvfs on a dead NFS server hangs
};
MountKind classify_mount(const MountEntry& m);

// The entries to report, in mount order: kSkip dropped, and one entry per
// device (bind mounts and container file mounts repeat the first).
std::vector<MountEntry> real_filesystems(const std::vector<MountEntry>& all);

struct FsUsage {
  std::uint64_t bytes_total = 0;
  std::uint64_t bytes_free = 0;   // including the root reserve
  std::uint64_t bytes_avail = 0;  // to unprivileged users
  std::uint64_t inodes_total = 0;
  std::uint64_t inodes_free = 0;
};
FsUsage fs_usage(const struct statvfs& st);

// As df computes "Use%": used / (used + available), rounded up, so the root
// reserve counts as full. Per-mille; 0 for an empty file system.
std::uint64_t used_permille(const FsUsage& u);
// Inodes in use per-mille; nullopt when the file system has no inode table
// (btrfs, some FUSE file systems report 0).
std::optional<std::uint64_t> inodes_used_permille(const FsUsage& u);

nlohmann::json to_json(const MountEntry& m, const std::optional<FsUsage>& usage);

}  // namespace rdiag::agent::collect
