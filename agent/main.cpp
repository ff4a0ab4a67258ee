// rdiag-agent: the customer-side daemon and its administration commands.
#include <cstring>

#include "agent/cli.h"
#include "agent/ssh/connection.h"
#include "agent/worker/jobs.h"

int main(int argc, char** argv) {
  // The listener re-executes us in the connection role; that role takes no
  // options from a command line (everything comes from the monitor).
  if (argc == 2 && std::strcmp(argv[1], "connection") == 0) return rdiag::agent::run_connection();
  // The same for the collector worker: its job comes on descriptor 3.
  if (argc == 2 && std::strcmp(argv[1], "worker") == 0) return rdiag::agent::run_worker();
  return rdiag::agent::main_entry(argc, argv);
}
