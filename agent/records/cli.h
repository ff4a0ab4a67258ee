// `rdiag-agent records list|show|verify|export|prune|rotate-key`: the
// customer's view of the service records on their own server.
//
// list, show, verify and export only read (no lock, no repair), so they work
// while the agent runs and on an auditor's copy of the state dir. prune and
// rotate-key write through the records Store, which takes the ledger's lock:
// they run while the agent is stopped.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/result.h"
#include "common/ssh_key.h"

namespace CLI {
class App;
}  // namespace CLI

namespace rdiag::agent {

// The agent's current seal key (<state_dir>/seal_ed25519), never created
// here: a command that only reads must not make the key it is asked to check
// against, and `collect` signs only with the key the agent announces.
Result<Ed25519PrivateKey> load_seal_key(const std::string& state_dir);

class RecordsCommands {
 public:
  // Adds `records` and its subcommands to app (main_entry's).
  explicit RecordsCommands(CLI::App& app);
  ~RecordsCommands();
  RecordsCommands(const RecordsCommands&) = delete;
  RecordsCommands& operator=(const RecordsCommands&) = delete;

  // Whether the command line chose `records ...`.
  bool parsed() const;

  // Runs the chosen subcommand; returns the exit code (0 ok, 1 failed,
  // 2 usage, 4 verification failed). resolve: main_entry's --config /
  // --state-dir resolution; json: the global --json.
  int run(const std::function<Result<AgentConfig>()>& resolve, bool json) const;

 private:
  struct Options;
  std::unique_ptr<Options> o_;
};

}  // namespace rdiag::agent
