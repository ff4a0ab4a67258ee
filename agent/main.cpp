// rdiag-agent: the customer-side daemon and its administration commands.
#include <cstring>

#include "agent/cli.h"
#include "agent/ssh/connection.h"

int main(int argc, char** argv) {
  // The listener re-executes us in the connection role; that role takes no
  // options from a command line (everything comes from the monitor).
  if (argc == 2 && std::strcmp(argv[1], "connection") == 0) return rdiag::agent::run_connection();
  return rdiag::agent::main_entry(argc, argv);
}
