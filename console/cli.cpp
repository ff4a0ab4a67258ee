#include "console/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <ostream>

#include "common/i18n.h"
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
};

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
  s.info = app.add_subcommand("info", tr("console.cli.cmd.info"));
  s.info->add_option("SITE", inv.name, tr("console.cli.arg.site"))->required()->type_name("");
  return s;
}

Command chosen(const Subcommands& s) {
  if (s.add->parsed()) return Command::kSitesAdd;
  if (s.remove->parsed()) return Command::kSitesRemove;
  if (s.info->parsed()) return Command::kInfo;
  return Command::kSitesList;
}

int usage_error(const CLI::ParseError& e, std::ostream& err) {
  err << "rdiag: " << tr("console.cli.usage_error", std::string(e.what())) << "\n"
      << tr("console.cli.usage_hint") << "\n";
  return kExitUsage;
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
  return {std::move(inv), kExitOk};
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
