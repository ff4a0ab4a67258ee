// Demotion of the connection process before it reads a byte from the network.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/result.h"

namespace rdiag::agent {

struct Account {
  uid_t uid = 0;
  gid_t gid = 0;
};

// The account the connection process runs as when the agent runs as root.
inline constexpr const char* kNetAccount = "rdiag-net";

// Looks the account up (before any demotion: it reads /etc/passwd).
Result<Account> lookup_account(const std::string& name);

// As root: drops every group, then gid, then uid to `account`, and checks that
// root cannot be regained. As anyone else: stays that user. Either way sets
// no_new_privs, makes the process non-dumpable (no ptrace, no core with keys)
// and tightens rlimits: no core dumps, and (when demoted) no child processes.
// RLIMIT_FSIZE stays: stderr may be a log file.
Result<void> demote(const Account* account);

}  // namespace rdiag::agent
