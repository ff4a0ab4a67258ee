// The unprivileged accounts the monitor starts children as: notify_command
// and the collector worker run as `rdiag` (DESIGN.md "Processes, accounts and
// paths"). Looked up before fork, because NSS is not async-signal-safe, and
// for every start, so an account created after the agent started counts at
// once.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::agent {

struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (adm, systemd-journal, ...)
};

// The account `name` with its groups. Never root: a missing account is an
// Error with reason "no_account", one with uid 0 "root_account"; the message
// is the catalog entry missing_id / root_id with the name as {0}, so each
// caller says what will not run.
Result<RunAs> lookup_run_as(const std::string& name, std::string_view missing_id,
                            std::string_view root_id);

// Between fork and exec (async-signal-safe, allocates nothing): takes the
// groups, gid and uid of `a` for good, as OpenSSH's permanently_set_uid
// checks that root cannot be regained. False with errno set on failure.
bool become(const RunAs& a) noexcept;

}  // namespace rdiag::agent
