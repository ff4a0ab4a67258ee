// What every command gets: the parsed global options, the resolved data dir
// and the terminal streams (injected so tests can drive prompts).
#pragma once

#include <iosfwd>
#include <string>

#include "console/cli.h"

namespace rdiag::console {

struct Context {
  GlobalOptions global;
  std::string data_dir;
  std::istream& in;
  std::ostream& out;             // results (text or --json)
  std::ostream& err;             // errors, prompts and fingerprints, so --json output stays clean
  bool interactive;              // stdin is a terminal: we may ask questions
  bool out_is_terminal = false;  // stdout is a terminal: --json escapes non-ASCII
  bool err_is_terminal = false;  // stderr is a terminal: progress may redraw its line
};

}  // namespace rdiag::console
