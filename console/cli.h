// The command line of `rdiag` (DESIGN.md "Command lines"), parsed with CLI11.
// Global options are accepted before or after the subcommand (fallthrough).
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace rdiag::console {

struct GlobalOptions {
  std::string data_dir;  // empty: the default data dir
  std::string key_file;  // empty: ssh-agent, then ~/.ssh/id_*
  bool json = false;
  bool accept_new = false;
  std::string lang;  // empty: from the environment
};

enum class Command {
  kSitesAdd,
  kSitesList,
  kSitesRemove,
  kInfo,
  kRequest,
  kSession,
  kExtend,
  kJoin,
  kClose,
  kDiag,
  kLogs,
  kBundle,
};

// The options of request, extend, join and close, as typed; the parser then
// checks them (check_consent_options) and fills `minutes`.
struct ConsentOptions {
  std::string ticket;
  std::string reason;
  std::vector<std::string> scopes;  // --scopes a,b (duplicates dropped by the check)
  std::string minutes_text;
  int minutes = 0;
  std::string code;  // --code: a one-time grant code from the customer's IT
  bool no_wait = false;
  std::string session_id;  // SESSION of join
  std::string cause;       // close: empty means not given
  std::string solution;
  std::string outcome;
};

// diag: what to run (names checked by the agent, which knows its collectors).
struct DiagOptions {
  std::vector<std::string> collectors;  // --collectors a,b; empty = all
  std::string since;                    // --since D: a duration or an RFC 3339 time
};

// bundle: where the fetched bundle goes (a new file).
struct BundleOptions {
  std::string out;
};

// logs: --scan (the default) or --tail SOURCE.
struct LogsOptions {
  bool scan = false;
  std::string since;
  std::vector<std::string> rules;     // --rule ID (repeatable)
  std::vector<std::string> patterns;  // --pattern RE (repeatable), matched on redacted text
  std::string tail;                   // --tail SOURCE
  int lines = 100;                    // -n N
};

struct Invocation {
  GlobalOptions global;
  Command command = Command::kSitesList;
  std::string name;     // NAME of sites add/remove, SITE of every site command
  std::string address;  // HOST[:PORT] of sites add
  std::vector<std::string> tags;
  ConsentOptions consent;
  DiagOptions diag;
  LogsOptions logs;
  BundleOptions bundle;
};

struct ParseOutcome {
  std::optional<Invocation> invocation;  // something to run
  int exit_code = 0;                     // otherwise: 0 after --help/--version, 2 usage
};

// args without the program name. Help and version go to out; usage errors,
// prefixed "rdiag: ", to err. Texts are in the current i18n language.
ParseOutcome parse_command_line(const std::vector<std::string>& args, std::ostream& out,
                                std::ostream& err);

// Checks what request, extend, join and close can check without the agent
// (ticket pattern, scopes, minutes, reason, code shape, session id, outcome
// with its cause and solution), drops repeated scopes and fills
// inv.consent.minutes. Other commands pass. The error says what to fix.
// parse_command_line runs it: a failure there is a usage error (exit 2).
Result<void> check_consent_options(Invocation& inv);

// The --lang value, found before the real parse so that --help and the
// parser's own messages are already in that language.
std::optional<std::string> find_lang_flag(const std::vector<std::string>& args);

}  // namespace rdiag::console
