// The console's command line parsed as a test sees it: the outcome and what
// the parser printed on stdout and stderr.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "console/cli.h"

namespace rdiag::console::test {

struct Parsed {
  ParseOutcome outcome;
  std::string out;
  std::string err;
};

inline Parsed parse(const std::vector<std::string>& args) {
  std::ostringstream out;
  std::ostringstream err;
  auto outcome = parse_command_line(args, out, err);
  return {std::move(outcome), out.str(), err.str()};
}

}  // namespace rdiag::console::test
