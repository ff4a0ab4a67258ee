// `rdiag bundle SITE --out FILE` (DESIGN.md "Command lines"): has the agent
// pack a signed bundle under a `diagnose` grant (bundle.create, progress as
// in `rdiag diag`), fetches it with file.read a chunk at a time, checks its
// SHA-256 against what the agent recorded, and writes FILE (0600, never
// replacing an existing file).
#pragma once

#include <cstdint>
#include <string>

#include "console/cli.h"
#include "console/context.h"

namespace rdiag::console {

int run_bundle(const Invocation& inv, Context& ctx);

// "1.5 MiB / 3.0 MiB"-style progress text for got of total bytes.
std::string transfer_text(std::uint64_t got, std::uint64_t total);

}  // namespace rdiag::console
