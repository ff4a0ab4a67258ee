// The commands of `rdiag`, run from a parsed Invocation. Each returns the
// process exit code and has already printed what the user needs to see.
#pragma once

#include "console/cli.h"
#include "console/context.h"

namespace rdiag::console {

// Resolves the data dir, runs the command, prints errors as "rdiag: ...".
// Never throws.
int run(const Invocation& inv);

// The same with injected streams (tests).
int run_with(const Invocation& inv, Context& ctx);

}  // namespace rdiag::console
