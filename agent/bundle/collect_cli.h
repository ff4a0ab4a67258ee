// `rdiag-agent collect --out FILE.tar.gz [--since D]` (DESIGN.md "Diagnostics"
// -> Offline): customer IT makes a bundle on the server itself, with no
// engineer connected, to send to the vendor. The diagnosis runs in the same
// collector worker as diag.run (demoted to `rdiag` when started as root),
// never in this process; this process only waits for it, then signs the
// manifest with the seal key and writes the archive.
#pragma once

#include <functional>
#include <memory>

#include "common/config.h"
#include "common/result.h"

namespace CLI {
class App;
}  // namespace CLI

namespace rdiag::agent::bundle {

class CollectCommand {
 public:
  // Adds `collect` to app (main_entry's).
  explicit CollectCommand(CLI::App& app);
  ~CollectCommand();
  CollectCommand(const CollectCommand&) = delete;
  CollectCommand& operator=(const CollectCommand&) = delete;

  bool parsed() const;

  // Exit code: 0 written, 1 failed (the message says why), 2 a bad --since.
  // resolve: main_entry's --config / --state-dir resolution; json: --json.
  int run(const std::function<Result<AgentConfig>()>& resolve, bool json) const;

 private:
  struct Options;
  std::unique_ptr<Options> o_;
};

}  // namespace rdiag::agent::bundle
