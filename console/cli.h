// The command line of `rdiag` (DESIGN.md "Command lines"), parsed with CLI11.
// Global options are accepted before or after the subcommand (fallthrough).
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace rdiag::console {

struct GlobalOptions {
  std::string data_dir;  // empty: the default data dir
  std::string key_file;  // empty: ssh-agent, then ~/.ssh/id_*
  bool json = false;
  bool accept_new = false;
  std::string lang;  // empty: from the environment
};

enum class Command { kSitesAdd, kSitesList, kSitesRemove, kInfo };

struct Invocation {
  GlobalOptions global;
  Command command = Command::kSitesList;
  std::string name;     // NAME of sites add/remove, SITE of info
  std::string address;  // HOST[:PORT] of sites add
  std::vector<std::string> tags;
};

struct ParseOutcome {
  std::optional<Invocation> invocation;  // something to run
  int exit_code = 0;                     // otherwise: 0 after --help/--version, 2 usage
};

// args without the program name. Help and version go to out; usage errors,
// prefixed "rdiag: ", to err. Texts are in the current i18n language.
ParseOutcome parse_command_line(const std::vector<std::string>& args, std::ostream& out,
                                std::ostream& err);

// The --lang value, found before the real parse so that --help and the
// parser's own messages are already in that language.
std::optional<std::string> find_lang_flag(const std::vector<std::string>& args);

}  // namespace rdiag::console
