#include "agent/ssh/sandbox.h"

#include <seccomp.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace rdiag::agent {
namespace {

struct FilterFree {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};

// Syscalls that have no business in a process that relays SSH bytes: the
// process dies at once, so an exploit gets no second try.
constexpr const char* kKill[] = {
    "execve",
    "execveat",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "setns",
    "unshare",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "personality",
    "open_by_handle_at",
    "name_to_handle_at",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "iopl",
    "ioperm",
};

// Syscalls a library might try harmlessly (a lazy config read, a log file):
// refused with EACCES so the library takes its error path instead of killing
// a legitimate session.
constexpr const char* kRefuse[] = {
    "open",      "openat", "openat2", "creat",    "socket",        "socketpair",    "connect",
    "bind",      "listen", "accept",  "accept4",  "fork",          "vfork",         "clone",
    "clone3",    "mkdir",  "mkdirat", "unlink",   "unlinkat",      "rename",        "renameat",
    "renameat2", "link",   "linkat",  "symlink",  "symlinkat",     "chmod",         "fchmod",
    "fchmodat",  "chown",  "fchown",  "lchown",   "fchownat",      "truncate",      "mknod",
    "mknodat",   "setuid", "setgid",  "setreuid", "setregid",      "setresuid",     "setresgid",
    "setgroups", "kill",   "tkill",   "tgkill",   "inotify_init1", "fanotify_init", "memfd_create",
};

Result<void> add_rules(scmp_filter_ctx ctx, const char* const* names, std::size_t n,
                       std::uint32_t action) {
  for (std::size_t i = 0; i < n; ++i) {
    const int nr = seccomp_syscall_resolve_name(names[i]);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if (seccomp_rule_add(ctx, action, nr, 0) != 0) {
      return make_error(std::string("seccomp rule for ") + names[i] + " failed");
    }
  }
  return {};
}

}  // namespace

Result<void> install_connection_sandbox() {
  std::unique_ptr<void, FilterFree> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return make_error("seccomp_init failed");
  if (auto r = add_rules(ctx.get(), kKill, std::size(kKill), SCMP_ACT_KILL_PROCESS); !r) return r;
  if (auto r = add_rules(ctx.get(), kRefuse, std::size(kRefuse), SCMP_ACT_ERRNO(EACCES)); !r) {
    return r;
  }
  const int rc = seccomp_load(ctx.get());
  if (rc != 0) return make_error(std::string("seccomp_load: ") + std::strerror(-rc));
  return {};
}

}  // namespace rdiag::agent
