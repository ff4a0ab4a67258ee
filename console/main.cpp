// rdiag: the engineers' console. Parse, run, map to an exit code.
#include <iostream>
#include <string>
#include <vector>

#include "common/i18n.h"
#include "console/cli.h"
#include "console/commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // The language first, so that --help and usage errors are already in it.
  auto lang = rdiag::console::find_lang_flag(args);
  rdiag::i18n::set_lang(
      rdiag::i18n::detect(lang ? std::optional<std::string_view>(*lang) : std::nullopt));
  auto parsed = rdiag::console::parse_command_line(args, std::cout, std::cerr);
  if (!parsed.invocation) return parsed.exit_code;
  return rdiag::console::run(*parsed.invocation);
}
