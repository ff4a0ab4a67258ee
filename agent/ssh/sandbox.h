// The connection process's seccomp filter. After libssh and OpenSSL are warmed
// up and the process is demoted, it needs nothing but reading and writing the
// descriptors it already has, memory, time and exit. This filter removes the
// rest that an exploit would reach for first: new files, sockets, processes,
// exec, ptrace and kernel attack surface.
#pragma once

#include "common/result.h"

namespace rdiag::agent {

// Installs the filter for the calling process (requires no_new_privs, which
// demote() sets). Irreversible.
Result<void> install_connection_sandbox();

}  // namespace rdiag::agent
