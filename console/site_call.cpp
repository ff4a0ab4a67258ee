#include "console/site_call.h"

#include <ostream>

#include "common/i18n.h"
#include "common/text_safety.h"
#include "console/diag_commands.h"
#include "console/exit_codes.h"
#include "console/site_session.h"
#include "console/sites.h"

namespace rdiag::console {

using nlohmann::json;

int report_failure(Context& ctx, const Error& e, int rpc_code) {
  ctx.err << "rdiag: " << e.message << "\n";
  return consent_exit_code(e, rpc_code);
}

int with_site(const Invocation& inv, Context& ctx, const std::function<int(SshClient&)>& body) {
  auto list = load_sites(ctx.data_dir);
  if (!list) return report_failure(ctx, list.error());
  const Site* site = list->find(inv.name);
  if (site == nullptr) {
    return report_failure(
        ctx, make_error(i18n::tr("console.sites.unknown", terminal_safe(inv.name)), "not_found"));
  }
  SiteSession session(ctx, *site);
  if (auto r = session.open(); !r) return report_failure(ctx, r.error(), session.last_rpc_code());
  // The agent's answers are read as the agent's protocol promises; one that
  // has a field of the wrong type is the agent's fault, said as such.
  try {
    return body(session.client());
  } catch (const nlohmann::json::exception& e) {
    return report_failure(ctx,
                          make_error(i18n::tr("console.diag.bad_answer", terminal_safe(e.what())),
                                     kReasonAgentInconsistent));
  }
}

Result<json> call_with_progress(SshClient& client, Context& ctx, std::string_view method,
                                const json& params, std::chrono::milliseconds timeout) {
  bool drawn = false;
  client.set_observer({[&ctx, &drawn](const json& n) {
                         if (n.value("method", "") != "progress") return;
                         const std::string line = progress_text(n.value("params", json()));
                         if (line.empty()) return;
                         ctx.err << (ctx.err_is_terminal ? "\r\x1b[K" + line : line + "\n")
                                 << std::flush;
                         drawn = ctx.err_is_terminal;
                       },
                       {}});
  auto r = client.call(method, params, timeout);
  client.set_observer({});
  if (drawn) ctx.err << "\r\x1b[K" << std::flush;
  return r;
}

}  // namespace rdiag::console
