#include "agent/collect/disk.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <set>

#include "agent/collect/collector.h"
#include "agent/collect/read.h"
#include "agent/collect/text.h"
#include "common/fs.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using i18n::tr;

constexpr std::string_view kMountinfoShape =
    "ID PARENT MAJOR:MINOR ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER_OPTIONS";

// Kernel file systems with nothing a person can fill.
constexpr std::array<std::string_view, 24> kPseudo = {
    "proc",    "sysfs",           "cgroup",      "cgroup2",    "devpts", "devtmpfs",  "securityfs",
    "debugfs", "tracefs",         "pstore",      "bpf",        "mqueue", "hugetlbfs", "configfs",
    "fusectl", "autofs",          "binfmt_misc", "rpc_pipefs", "nsfs",   "efivarfs",  "selinuxfs",
    "ramfs",   "fuse.gvfsd-fuse", "fuse.portal",
};

// Network file systems: listed, never statvfs'd (a dead server hangs it).
constexpr std::array<std::string_view, 9> kRemote = {
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "fuse.sshfs", "9p",
};

// tmpfs is RAM, but three of them break servers when full: /dev/shm
// (PostgreSQL and Oracle shared memory), /run (pid files, sockets) and /tmp.
// Per-user and per-container tmpfs mounts are noise and are skipped.
constexpr std::array<std::string_view, 3> kTmpfsKept = {"/dev/shm", "/run", "/tmp"};

bool one_of(std::string_view s, const auto& list) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

int octal_digit(char c) {
  return c >= '0' && c <= '7' ? c - '0' : -1;
}

}  // namespace

std::string unescape_octal(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] <= '3' && octal_digit(s[i + 1]) >= 0 &&
        octal_digit(s[i + 2]) >= 0 && octal_digit(s[i + 3]) >= 0) {
      out += static_cast<char>(octal_digit(s[i + 1]) * 64 + octal_digit(s[i + 2]) * 8 +
                               octal_digit(s[i + 3]));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

Result<std::vector<MountEntry>> parse_mountinfo(std::string_view text, std::string_view path) {
  if (trim(text).empty()) return make_error(tr("agent.collect.empty", path), "malformed");
  std::vector<MountEntry> out;
  std::string_view rest = text;
  std::string_view raw;
  for (int line_no = 1; next_line(rest, raw); ++line_no) {
    const std::string_view line = trim(raw);
    if (line.empty()) continue;
    const auto w = split_ws(line);
    const auto dash = std::find(w.begin(), w.end(), "-");
    // Six fixed fields, optional ones, "-", then type, source and options.
    if (w.size() < 10 || dash - w.begin() < 6 || w.end() - dash < 4 ||
        w[2].find(':') == std::string_view::npos) {
      return make_error(tr("agent.collect.bad_line", path, line_no, line, kMountinfoShape),
                        "malformed");
    }
    MountEntry m;
    m.device = std::string(w[2]);
    m.root = unescape_octal(w[3]);
    m.mount_point = unescape_octal(w[4]);
    m.read_only = w[5] == "ro" || w[5].starts_with("ro,");
    m.fs_type = unescape_octal(dash[1]);
    m.source = unescape_octal(dash[2]);
    out.push_back(std::move(m));
  }
  return out;
}

MountKind classify_mount(const MountEntry& m) {
  if (one_of(m.fs_type, kPseudo)) return MountKind::kSkip;
  // Snap and AppImage images are read-only squashfs, always 100 % "full".
  if (m.fs_type == "squashfs") return MountKind::kSkip;
  if (m.fs_type == "tmpfs")
    return one_of(m.mount_point, kTmpfsKept) ? MountKind::kLocal : MountKind::kSkip;
  if (one_of(m.fs_type, kRemote)) return MountKind::kRemote;
  return MountKind::kLocal;
}

std::vector<MountEntry> real_filesystems(const std::vector<MountEntry>& all) {
  std::vector<MountEntry> out;
  std::set<std::string> devices;
  for (const MountEntry& m : all) {
    if (classify_mount(m) == MountKind::kSkip) continue;
    // Remote and tmpfs mounts have anonymous devices (0:NN), unique per mount.
    if (!devices.insert(m.device).second) continue;
    out.push_back(m);
  }
  return out;
}

FsUsage fs_usage(const struct statvfs& st) {
  const std::uint64_t unit = st.f_frsize != 0 ? st.f_frsize : st.f_bsize;
  return FsUsage{static_cast<std::uint64_t>(st.f_blocks) * unit,
                 static_cast<std::uint64_t>(st.f_bfree) * unit,
                 static_cast<std::uint64_t>(st.f_bavail) * unit,
                 static_cast<std::uint64_t>(st.f_files), static_cast<std::uint64_t>(st.f_ffree)};
}

std::uint64_t used_permille(const FsUsage& u) {
  const std::uint64_t used = u.bytes_total - std::min(u.bytes_free, u.bytes_total);
  std::uint64_t base = used + u.bytes_avail;
  if (base == 0) return 0;
  // Bytes x1000 overflows past 16 EiB / 1000; work in KiB beyond that.
  std::uint64_t num = used;
  while (num > UINT64_MAX / 1000) {
    num >>= 10;
    base >>= 10;
  }
  return std::min<std::uint64_t>((num * 1000 + base - 1) / base, 1000);
}

std::optional<std::uint64_t> inodes_used_permille(const FsUsage& u) {
  if (u.inodes_total == 0) return std::nullopt;
  const std::uint64_t used = u.inodes_total - std::min(u.inodes_free, u.inodes_total);
  return (used * 1000 + u.inodes_total - 1) / u.inodes_total;
}

nlohmann::json to_json(const MountEntry& m, const std::optional<FsUsage>& usage) {
  nlohmann::json j = {
      {"mount_point", m.mount_point}, {"source", m.source},
      {"fs_type", m.fs_type},         {"device", m.device},
      {"read_only", m.read_only},     {"remote", classify_mount(m) == MountKind::kRemote}};
  if (!usage) return j;
  j["bytes_total"] = usage->bytes_total;
  j["bytes_free"] = usage->bytes_free;
  j["bytes_avail"] = usage->bytes_avail;
  j["used_permille"] = used_permille(*usage);
  j["inodes_total"] = usage->inodes_total;
  j["inodes_free"] = usage->inodes_free;
  if (const auto pm = inodes_used_permille(*usage)) j["inodes_used_permille"] = *pm;
  return j;
}

// ---- the collector ----

namespace {

nlohmann::json measure(const MountEntry& m) {
  if (classify_mount(m) == MountKind::kRemote) return to_json(m, std::nullopt);
  struct statvfs st {};
  if (::statvfs(m.mount_point.c_str(), &st) != 0) {
    // Unmounted meanwhile, or hidden from the worker's user: say so, go on.
    nlohmann::json j = to_json(m, std::nullopt);
    j["error"] = tr("agent.collect.statvfs_failed", m.mount_point, errno_text(errno));
    return j;
  }
  return to_json(m, fs_usage(st));
}

Result<nlohmann::json> disk_collect(const CollectContext&) {
  const std::string path = "/proc/self/mountinfo";
  auto text = read_text(path);
  if (!text) return text.error();
  auto mounts = parse_mountinfo(*text, path);
  if (!mounts) return mounts.error();
  nlohmann::json filesystems = nlohmann::json::array();
  for (const MountEntry& m : real_filesystems(*mounts)) filesystems.push_back(measure(m));
  return nlohmann::json{{"filesystems", std::move(filesystems)}};
}

}  // namespace

const Collector& disk_collector() {
  static const Collector c{"disk", "agent.collect.summary.disk", disk_collect};
  return c;
}

}  // namespace rdiag::agent::collect
