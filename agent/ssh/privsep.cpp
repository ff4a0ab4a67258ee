#include "agent/ssh/privsep.h"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace rdiag::agent {
namespace {

Result<void> sys_fail(const char* what) {
  return make_error(std::string(what) + ": " + std::strerror(errno));
}

Result<void> set_limit(int resource, rlim_t value, const char* what) {
  struct rlimit rl {
    value, value
  };
  if (::setrlimit(resource, &rl) != 0) return sys_fail(what);
  return {};
}

Result<void> drop_ids(const Account& a) {
  if (::setgroups(0, nullptr) != 0) return sys_fail("setgroups");
  if (::setresgid(a.gid, a.gid, a.gid) != 0) return sys_fail("setresgid");
  if (::setresuid(a.uid, a.uid, a.uid) != 0) return sys_fail("setresuid");
  // Paranoia, as OpenSSH's permanently_set_uid: if we can get root back, the
  // drop did not happen.
  if (a.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) {
    return make_error("privilege drop failed: root could be regained");
  }
  return {};
}

}  // namespace

Result<Account> lookup_account(const std::string& name) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return make_error("account '" + name + "' does not exist", "no_account");
  }
  return Account{pw.pw_uid, pw.pw_gid};
}

Result<void> demote(const Account* account) {
  if (account != nullptr) {
    if (auto r = drop_ids(*account); !r) return r;
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sys_fail("PR_SET_NO_NEW_PRIVS");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return sys_fail("PR_SET_DUMPABLE");
  if (auto r = set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE"); !r) return r;
  // RLIMIT_NPROC counts per uid; a demoted connection process never forks.
  if (account != nullptr) {
    if (auto r = set_limit(RLIMIT_NPROC, 0, "RLIMIT_NPROC"); !r) return r;
  }
  return {};
}

}  // namespace rdiag::agent
