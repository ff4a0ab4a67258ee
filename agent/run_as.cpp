#include "agent/run_as.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>

#include "common/i18n.h"

namespace rdiag::agent {

Result<RunAs> lookup_run_as(const std::string& name, std::string_view missing_id,
                            std::string_view root_id) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return make_error(i18n::tr(missing_id, name), "no_account");
  }
  if (pw.pw_uid == 0) return make_error(i18n::tr(root_id, name), "root_account");
  RunAs a{pw.pw_uid, pw.pw_gid, {}};
  int n = 32;
  for (int tries = 0; tries < 8; ++tries) {
    a.groups.resize(static_cast<std::size_t>(n));
    int got = n;
    if (::getgrouplist(name.c_str(), pw.pw_gid, a.groups.data(), &got) >= 0) {
      a.groups.resize(static_cast<std::size_t>(got));
      return a;
    }
    n = got > n ? got : n * 2;
  }
  a.groups.assign(1, pw.pw_gid);  // a user in thousands of groups: its own group only
  return a;
}

bool become(const RunAs& a) noexcept {
  if (::setgroups(a.groups.size(), a.groups.data()) != 0 || ::setresgid(a.gid, a.gid, a.gid) != 0 ||
      ::setresuid(a.uid, a.uid, a.uid) != 0) {
    return false;
  }
  if (::setuid(0) == 0) {  // root must be gone for good
    errno = EPERM;
    return false;
  }
  return true;
}

}  // namespace rdiag::agent
