#include "console/commands.h"

#include <unistd.h>

#include <exception>
#include <iostream>

#include "common/i18n.h"
#include "common/text_safety.h"
#include "console/bundle_commands.h"
#include "console/consent_commands.h"
#include "console/diag_commands.h"
#include "console/exit_codes.h"
#include "console/files.h"
#include "console/logs_commands.h"
#include "console/site_session.h"
#include "console/sites.h"
#include "console/terminal.h"

namespace rdiag::console {
namespace {

using nlohmann::json;
using rdiag::i18n::tr;

int fail(Context& ctx, const Error& error, int rpc_code = 0) {
  ctx.err << "rdiag: " << error.message << "\n";
  return exit_code_for(error, rpc_code);
}

// Output meant for a terminal must not let an agent's bidi or C1 characters
// through; escaping non-ASCII keeps it exact, and a pipe still gets UTF-8.
template <typename Json>
void print_json(Context& ctx, const Json& doc, bool to_terminal) {
  ctx.out << doc.dump(2, ' ', to_terminal, Json::error_handler_t::replace) << "\n";
}

int sites_add(const Invocation& inv, Context& ctx) {
  auto site = make_site(inv.name, inv.address, inv.tags);
  if (!site) return fail(ctx, site.error());
  auto list = load_sites(ctx.data_dir);
  if (!list) return fail(ctx, list.error());
  if (auto r = list->add(*site); !r) return fail(ctx, r.error());
  if (auto r = save_sites(ctx.data_dir, *list); !r) return fail(ctx, r.error());
  if (ctx.global.json) {
    print_json(ctx, site_to_json(*site), false);
  } else {
    ctx.out << tr("console.sites.added", site->name, endpoint_text(site->host, site->port)) << "\n";
  }
  return kExitOk;
}

std::string tags_text(const Site& site) {
  std::string out;
  for (const auto& tag : site.tags) out += (out.empty() ? "" : ",") + terminal_safe(tag);
  return out;
}

int sites_list(Context& ctx) {
  auto list = load_sites(ctx.data_dir);
  if (!list) return fail(ctx, list.error());
  if (ctx.global.json) {
    print_json(ctx, list->to_json(), false);
    return kExitOk;
  }
  if (list->sites().empty()) {
    ctx.out << tr("console.sites.none") << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {tr("console.sites.col_name"), tr("console.sites.col_host"), tr("console.sites.col_port"),
       tr("console.sites.col_tags")}};
  for (const auto& s : list->sites()) {
    rows.push_back(
        {terminal_safe(s.name), terminal_safe(s.host), std::to_string(s.port), tags_text(s)});
  }
  ctx.out << render_table(rows);
  return kExitOk;
}

int sites_remove(const Invocation& inv, Context& ctx) {
  auto list = load_sites(ctx.data_dir);
  if (!list) return fail(ctx, list.error());
  if (auto r = list->remove(inv.name); !r) return fail(ctx, r.error());
  if (auto r = save_sites(ctx.data_dir, *list); !r) return fail(ctx, r.error());
  if (!ctx.global.json) ctx.out << tr("console.sites.removed", inv.name) << "\n";
  if (ctx.global.json) print_json(ctx, json{{"removed", inv.name}}, false);
  return kExitOk;
}

int info(const Invocation& inv, Context& ctx) {
  auto list = load_sites(ctx.data_dir);
  if (!list) return fail(ctx, list.error());
  const Site* site = list->find(inv.name);
  if (site == nullptr) {
    return fail(ctx, make_error(tr("console.sites.unknown", terminal_safe(inv.name)), "not_found"));
  }
  SiteSession session(ctx, *site);
  if (auto r = session.open(); !r) return fail(ctx, r.error(), session.last_rpc_code());
  if (ctx.global.json) {
    print_json(ctx, session.info(), ctx.out_is_terminal);
  } else {
    ctx.out << render_info(
        {*site, session.info(), session.host_fingerprint(), session.seal_fingerprint()});
  }
  return kExitOk;
}

int dispatch(const Invocation& inv, Context& ctx) {
  switch (inv.command) {
    case Command::kSitesAdd:
      return sites_add(inv, ctx);
    case Command::kSitesList:
      return sites_list(ctx);
    case Command::kSitesRemove:
      return sites_remove(inv, ctx);
    case Command::kInfo:
      return info(inv, ctx);
    case Command::kRequest:
    case Command::kSession:
    case Command::kExtend:
    case Command::kJoin:
    case Command::kClose:
      return run_consent(inv, ctx);
    case Command::kDiag:
      return run_diag(inv, ctx);
    case Command::kLogs:
      return run_logs(inv, ctx);
    case Command::kBundle:
      return run_bundle(inv, ctx);
  }
  return kExitUsage;
}

}  // namespace

int run_with(const Invocation& inv, Context& ctx) {
  try {
    if (ctx.data_dir.empty()) {
      auto dir = inv.global.data_dir.empty() ? default_data_dir()
                                             : Result<std::string>(inv.global.data_dir);
      if (!dir) return fail(ctx, dir.error());
      ctx.data_dir = *dir;
    }
    if (auto r = ensure_private_dir(ctx.data_dir); !r) return fail(ctx, r.error());
    return dispatch(inv, ctx);
  } catch (const std::exception& e) {
    // Nothing should throw this far; if it does, say so rather than abort.
    return fail(ctx, make_error(tr("console.internal_error", terminal_safe(e.what()))));
  }
}

int run(const Invocation& inv) {
  Context ctx{inv.global,          {}, std::cin, std::cout, std::cerr, stdin_is_terminal(),
              stdout_is_terminal()};
  ctx.err_is_terminal = ::isatty(STDERR_FILENO) == 1;
  return run_with(inv, ctx);
}

}  // namespace rdiag::console
