#include "console/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <ostream>
#include <utility>

#include "common/i18n.h"
#include "common/records/ledger.h"
#include "common/text_safety.h"
#include "common/version.h"
#include "console/exit_codes.h"
#include "console/terminal.h"

namespace rdiag::console {
namespace {

using rdiag::i18n::tr;

// CLI11 pads the left column with std::setw, which counts bytes: a Chinese
// name (3 bytes, 2 columns a character) would push the descriptions out of line.
class WideFormatter : public CLI::Formatter {
 public:
  std::string make_option(const CLI::Option* opt, bool is_positional) const override {
    return row(make_option_name(opt, is_positional) + make_option_opts(opt), make_option_desc(opt));
  }

 private:
  std::string row(const std::string& name, const std::string& desc) const {
    std::size_t wid = get_column_width();
    std::string out = pad_to_width("  " + name, wid);
    if (desc.empty()) return out + "\n";
    if (display_width(name) + 2 >= wid) out += "\n" + std::string(wid, ' ');
    for (char c : desc) {
      out += c;
      if (c == '\n') out += std::string(wid, ' ');
    }
    return out + "\n";
  }
};

// CLI11 builds its help from these labels; translating them is what makes
// `rdiag --help` readable in Chinese.
void translate_formatter(CLI::App& app) {
  auto fmt = std::make_shared<WideFormatter>();
  app.formatter(fmt);
  for (const char* label : {"Usage", "OPTIONS", "SUBCOMMAND", "SUBCOMMANDS", "Positionals",
                            "REQUIRED", "Env", "Needs", "Excludes"}) {
    fmt->label(label, tr(std::string("console.cli.label.") + label));
  }
  fmt->column_width(34);
  app.option_defaults()->group(tr("console.cli.label.Options"));
}

// A subcommand makes its own --help before it copies the parent's option
// defaults, so its group name has to be set afterwards.
void translate_help_groups(CLI::App& app) {
  if (CLI::Option* help = app.get_help_ptr()) help->group(tr("console.cli.label.Options"));
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    translate_help_groups(*sub);
  }
}

void add_global_options(CLI::App& app, GlobalOptions& g) {
  app.add_option("--data-dir", g.data_dir, tr("console.cli.opt.data_dir"))->type_name("DIR");
  app.add_option("--key", g.key_file, tr("console.cli.opt.key"))->type_name("FILE");
  app.add_flag("--json", g.json, tr("console.cli.opt.json"));
  app.add_flag("--accept-new", g.accept_new, tr("console.cli.opt.accept_new"));
  app.add_option("--lang", g.lang, tr("console.cli.opt.lang"))->type_name("LANG");
}

struct Subcommands {
  CLI::App* add = nullptr;
  CLI::App* list = nullptr;
  CLI::App* remove = nullptr;
  CLI::App* info = nullptr;
  CLI::App* request = nullptr;
  CLI::App* session = nullptr;
  CLI::App* extend = nullptr;
  CLI::App* join = nullptr;
  CLI::App* close = nullptr;
  CLI::App* diag = nullptr;
  CLI::App* logs = nullptr;
  CLI::App* bundle = nullptr;
};

// One value per option (allow_extra_args false), so that an option before
// the positionals cannot swallow them.
CLI::Option* value_option(CLI::App* app, const std::string& name, std::string& into,
                          const char* help_id, const char* type) {
  return app->add_option(name, into, tr(help_id))->type_name(type)->allow_extra_args(false);
}

CLI::App* site_command(CLI::App& app, const char* name, const char* help_id, Invocation& inv) {
  CLI::App* sub = app.add_subcommand(name, tr(help_id));
  sub->add_option("SITE", inv.name, tr("console.cli.arg.site"))->required()->type_name("");
  return sub;
}

// The consent commands (DESIGN.md "Command lines"). Values are checked after
// parsing (check_consent_options), with messages that say what to fix.
void add_consent_commands(CLI::App& app, Invocation& inv, Subcommands& s) {
  ConsentOptions& c = inv.consent;
  s.request = site_command(app, "request", "console.cli.cmd.request", inv);
  value_option(s.request, "--ticket", c.ticket, "console.cli.opt.ticket", "T")->required();
  value_option(s.request, "--reason", c.reason, "console.cli.opt.reason", "R")->required();
  s.request->add_option("--scopes", c.scopes, tr("console.cli.opt.scopes"))
      ->type_name("a,b")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->required();
  value_option(s.request, "--minutes", c.minutes_text, "console.cli.opt.minutes", "N")->required();
  value_option(s.request, "--code", c.code, "console.cli.opt.code", "C");
  s.request->add_flag("--no-wait", c.no_wait, tr("console.cli.opt.no_wait"));
  s.session = site_command(app, "session", "console.cli.cmd.session", inv);
  s.extend = site_command(app, "extend", "console.cli.cmd.extend", inv);
  value_option(s.extend, "--minutes", c.minutes_text, "console.cli.opt.extend_minutes", "N")
      ->required();
  value_option(s.extend, "--reason", c.reason, "console.cli.opt.reason", "R")->required();
  s.join = site_command(app, "join", "console.cli.cmd.join", inv);
  s.join->add_option("SESSION", c.session_id, tr("console.cli.arg.session"))
      ->required()
      ->type_name("");
  value_option(s.join, "--reason", c.reason, "console.cli.opt.reason", "R")->required();
  s.close = site_command(app, "close", "console.cli.cmd.close", inv);
  value_option(s.close, "--cause", c.cause, "console.cli.opt.cause", "C");
  value_option(s.close, "--solution", c.solution, "console.cli.opt.solution", "S");
  value_option(s.close, "--outcome", c.outcome, "console.cli.opt.outcome", "O")->required();
}

Subcommands add_subcommands(CLI::App& app, Invocation& inv) {
  Subcommands s;
  CLI::App* sites = app.add_subcommand("sites", tr("console.cli.cmd.sites"));
  sites->require_subcommand(1);
  s.add = sites->add_subcommand("add", tr("console.cli.cmd.sites_add"));
  s.add->add_option("NAME", inv.name, tr("console.cli.arg.site_name"))->required()->type_name("");
  s.add->add_option("ADDRESS", inv.address, tr("console.cli.arg.address"))
      ->required()
      ->type_name("HOST[:PORT]");
  // One value per --tag, so `--tag prod NAME HOST` cannot swallow the positionals.
  s.add->add_option("--tag", inv.tags, tr("console.cli.opt.tag"))
      ->type_name("TAG")
      ->allow_extra_args(false);
  s.list = sites->add_subcommand("list", tr("console.cli.cmd.sites_list"));
  s.remove = sites->add_subcommand("remove", tr("console.cli.cmd.sites_remove"));
  s.remove->add_option("NAME", inv.name, tr("console.cli.arg.site_name"))
      ->required()
      ->type_name("");
  s.info = site_command(app, "info", "console.cli.cmd.info", inv);
  add_consent_commands(app, inv, s);
  s.diag = site_command(app, "diag", "console.cli.cmd.diag", inv);
  s.diag->add_option("--collectors", inv.diag.collectors, tr("console.cli.opt.collectors"))
      ->type_name("a,b")
      ->delimiter(',')
      ->allow_extra_args(false);
  value_option(s.diag, "--since", inv.diag.since, "console.cli.opt.since", "D");
  s.logs = site_command(app, "logs", "console.cli.cmd.logs", inv);
  auto* scan = s.logs->add_flag("--scan", inv.logs.scan, tr("console.cli.opt.scan"));
  auto* tail = value_option(s.logs, "--tail", inv.logs.tail, "console.cli.opt.tail", "SOURCE");
  scan->excludes(tail);
  value_option(s.logs, "--since", inv.logs.since, "console.cli.opt.since", "D")->excludes(tail);
  s.logs->add_option("--rule", inv.logs.rules, tr("console.cli.opt.rule"))
      ->type_name("ID")
      ->allow_extra_args(false)
      ->excludes(tail);
  s.logs->add_option("--pattern", inv.logs.patterns, tr("console.cli.opt.pattern"))
      ->type_name("RE")
      ->allow_extra_args(false)
      ->excludes(tail);
  s.logs->add_option("-n,--lines", inv.logs.lines, tr("console.cli.opt.lines"))
      ->type_name("N")
      ->check(CLI::Range(1, 1000))
      ->needs(tail);
  s.bundle = site_command(app, "bundle", "console.bundle.cmd", inv);
  value_option(s.bundle, "--out", inv.bundle.out, "console.bundle.opt_out", "FILE")->required();
  return s;
}

Command chosen(const Subcommands& s) {
  const std::pair<CLI::App*, Command> table[] = {
      {s.add, Command::kSitesAdd},    {s.remove, Command::kSitesRemove},
      {s.info, Command::kInfo},       {s.request, Command::kRequest},
      {s.session, Command::kSession}, {s.extend, Command::kExtend},
      {s.join, Command::kJoin},       {s.close, Command::kClose},
      {s.diag, Command::kDiag},       {s.bundle, Command::kBundle},
      {s.logs, Command::kLogs},
  };
  for (const auto& [app, command] : table) {
    if (app->parsed()) return command;
  }
  return Command::kSitesList;
}

int usage_error(const CLI::ParseError& e, std::ostream& err) {
  err << "rdiag: " << tr("console.cli.usage_error", std::string(e.what())) << "\n"
      << tr("console.cli.usage_hint") << "\n";
  return kExitUsage;
}

// Checks of the consent commands' values: what the agent would refuse
// anyway, caught before a connection, with a message that says what to fix.

constexpr std::array<std::string_view, 4> kScopes = {"diagnose", "shell", "transfer", "fix"};
constexpr std::array<std::string_view, 4> kOutcomes = {"resolved", "escalated", "onsite",
                                                       "unresolved"};
constexpr int kMaxMinutes = 1440;  // a day; the agent's policy may allow less
constexpr std::size_t kMaxReasonChars = 500;
constexpr std::size_t kMaxCloseText = 4096;  // bytes, as the agent counts them
constexpr std::size_t kMaxTicket = 64;

bool ascii_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// ^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$, the agent's rule.
bool valid_ticket(std::string_view t) {
  if (t.empty() || t.size() > kMaxTicket || !ascii_alnum(t[0])) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return ascii_alnum(c) || c == '.' || c == '_' || c == '/' || c == '-';
  });
}

// Characters as the agent counts them: every byte that does not continue a
// UTF-8 sequence.
std::size_t code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
  }));
}

Result<void> usage(std::string message) {
  return make_error(std::move(message), "usage");
}

Result<void> check_reason(const std::string& reason) {
  if (first_invalid_utf8(reason)) return usage(tr("console.consent.reason_not_utf8"));
  if (blank(reason)) return usage(tr("console.consent.reason_empty", kMaxReasonChars));
  const std::size_t n = code_points(reason);
  if (n > kMaxReasonChars) {
    return usage(tr("console.consent.reason_too_long", kMaxReasonChars, n));
  }
  return {};
}

Result<void> check_minutes(ConsentOptions& c) {
  const std::string& text = c.minutes_text;
  bool digits =
      !text.empty() && text.size() <= 5 &&
      std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  int n = digits ? std::stoi(text) : 0;
  if (n < 1 || n > kMaxMinutes) {
    return usage(tr("console.consent.bad_minutes", terminal_safe(text), kMaxMinutes));
  }
  c.minutes = n;
  return {};
}

std::string trimmed(const std::string& s) {
  auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

Result<void> check_scopes(std::vector<std::string>& scopes) {
  std::vector<std::string> unique;
  for (const auto& item : scopes) {
    const std::string s = trimmed(item);  // "diagnose, shell" as typed
    if (std::find(kScopes.begin(), kScopes.end(), s) == kScopes.end()) {
      return usage(tr("console.consent.bad_scope", terminal_safe(s)));
    }
    if (std::find(unique.begin(), unique.end(), s) == unique.end()) unique.push_back(s);
  }
  if (unique.empty()) return usage(tr("console.consent.bad_scope", ""));
  scopes = std::move(unique);
  return {};
}

// XXXX-XXXX, any case, hyphen optional; what each character may be is the
// agent's business (its message names the wrong one).
Result<void> check_code(const std::string& code) {
  std::string s = code;
  if (s.size() == 9 && s[4] == '-') s.erase(4, 1);
  if (s.size() == 8 && std::all_of(s.begin(), s.end(), ascii_alnum)) return {};
  return usage(tr("console.consent.bad_code", terminal_safe(code)));
}

Result<void> check_close_text(const std::string& text, const char* option, bool required) {
  if (blank(text)) {
    if (!required) return {};
    return usage(tr("console.consent.close_needs", option));
  }
  if (first_invalid_utf8(text)) return usage(tr("console.consent.text_not_utf8", option));
  if (text.size() > kMaxCloseText) {
    return usage(tr("console.consent.close_text_too_long", option, kMaxCloseText, text.size()));
  }
  return {};
}

Result<void> check_close(const ConsentOptions& c) {
  if (std::find(kOutcomes.begin(), kOutcomes.end(), c.outcome) == kOutcomes.end()) {
    return usage(tr("console.consent.bad_outcome", terminal_safe(c.outcome)));
  }
  const bool resolved = c.outcome == "resolved";
  if (auto r = check_close_text(c.cause, "--cause", resolved); !r) return r;
  return check_close_text(c.solution, "--solution", resolved);
}

Result<void> check_request(ConsentOptions& c) {
  if (!valid_ticket(c.ticket)) {
    return usage(tr("console.consent.bad_ticket", terminal_safe(c.ticket), kMaxTicket));
  }
  if (auto r = check_scopes(c.scopes); !r) return r;
  if (auto r = check_minutes(c); !r) return r;
  if (auto r = check_reason(c.reason); !r) return r;
  if (!c.code.empty()) return check_code(c.code);
  return {};
}

}  // namespace

ParseOutcome parse_command_line(const std::vector<std::string>& args, std::ostream& out,
                                std::ostream& err) {
  Invocation inv;
  CLI::App app{tr("console.cli.description"), "rdiag"};
  translate_formatter(app);
  app.set_help_flag("-h,--help", tr("console.cli.opt.help"));
  app.set_version_flag("--version", std::string("rdiag ") + kVersion,
                       tr("console.cli.opt.version"));
  app.footer(tr("console.cli.footer"));
  app.fallthrough();  // inherited by the subcommands made below
  app.require_subcommand(1);
  add_global_options(app, inv.global);
  Subcommands subs = add_subcommands(app, inv);
  translate_help_groups(app);
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return {std::nullopt, app.exit(e, out, err)};
  } catch (const CLI::CallForAllHelp& e) {
    return {std::nullopt, app.exit(e, out, err)};
  } catch (const CLI::CallForVersion& e) {
    return {std::nullopt, app.exit(e, out, err)};
  } catch (const CLI::ParseError& e) {
    return {std::nullopt, usage_error(e, err)};
  }
  inv.command = chosen(subs);
  if (auto checked = check_consent_options(inv); !checked) {
    err << "rdiag: " << checked.error().message << "\n" << tr("console.cli.usage_hint") << "\n";
    return {std::nullopt, kExitUsage};
  }
  return {std::move(inv), kExitOk};
}

Result<void> check_consent_options(Invocation& inv) {
  ConsentOptions& c = inv.consent;
  switch (inv.command) {
    case Command::kRequest:
      return check_request(c);
    case Command::kExtend:
      if (auto r = check_minutes(c); !r) return r;
      return check_reason(c.reason);
    case Command::kJoin: {
      // Ids are upper case; one read out by a colleague may be typed in lower case.
      std::string id = c.session_id;
      std::transform(id.begin(), id.end(), id.begin(), [](char ch) {
        return ch >= 'a' && ch <= 'z' ? static_cast<char>(ch - 'a' + 'A') : ch;
      });
      if (!records::is_valid_session_id(id)) {
        return usage(tr("console.consent.bad_session_id", terminal_safe(id)));
      }
      c.session_id = id;
      return check_reason(c.reason);
    }
    case Command::kClose:
      return check_close(c);
    default:
      return {};
  }
}

std::optional<std::string> find_lang_flag(const std::vector<std::string>& args) {
  std::optional<std::string> found;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--lang" && i + 1 < args.size()) found = args[i + 1];
    if (args[i].rfind("--lang=", 0) == 0) found = args[i].substr(7);
  }
  return found;
}

}  // namespace rdiag::console
