#include "console/logs_commands.h"

#include <chrono>
#include <ostream>
#include <vector>

#include "common/i18n.h"
#include "common/text_safety.h"
#include "console/diag_commands.h"
#include "console/exit_codes.h"
#include "console/site_call.h"

namespace rdiag::console {
namespace {

using nlohmann::json;
using rdiag::i18n::tr;

std::string text_of(const json& obj, const char* key) {
  auto it = obj.is_object() ? obj.find(key) : obj.end();
  if (it == obj.end() || !it->is_string()) return "";
  return terminal_safe(it->get<std::string>());
}

std::string seen_text(const json& seen) {
  if (!seen.is_object()) return "";
  const std::string ts = text_of(seen, "ts");
  const std::string where = text_of(seen, "file") + ":" + std::to_string(seen.value("line", 0));
  return ts.empty() ? where : ts + " (" + where + ")";
}

void render_sources(std::string& out, const json& sources) {
  std::vector<std::vector<std::string>> rows = {
      {tr("console.logs.col.source"), tr("console.logs.col.files"), tr("console.logs.col.lines"),
       tr("console.logs.col.state")}};
  for (const json& s : sources) {
    if (!s.is_object()) continue;
    std::uint64_t lines = 0;
    for (const json& f : s.value("files", json::array())) lines += f.value("lines", 0U);
    const json err = s.value("error", json::object());
    rows.push_back({text_of(s, "name"), std::to_string(s.value("files", json::array()).size()),
                    std::to_string(lines),
                    err.empty() ? (s.value("cut", false) ? tr("console.logs.cut") : "ok")
                                : text_of(err, "message")});
  }
  out += render_table(rows);
}

}  // namespace

std::string render_scan(const json& scan, bool colour) {
  std::string out;
  const json rules = scan.value("rules", json::array());
  if (rules.empty()) out += tr("console.logs.no_hits") + "\n";
  for (const json& r : rules) {
    if (!r.is_object()) continue;
    json finding = {{"severity", r.value("severity", "info")}, {"id", r.value("id", "")},
                    {"title", r.value("title", "")},           {"cause", r.value("cause", "")},
                    {"remedy", r.value("remedy", "")},         {"evidence", json::array()}};
    finding["evidence"].push_back(tr("console.logs.count", r.value("count", 0),
                                     seen_text(r.value("first", json())),
                                     seen_text(r.value("last", json()))));
    for (const json& sample : r.value("samples", json::array()))
      finding["evidence"].push_back(sample);
    out += render_findings(json::array({finding}), colour);
  }
  const json matches = scan.value("matches", json::array());
  if (!matches.empty()) out += "\n" + tr("console.logs.matches", matches.size()) + "\n";
  for (const json& m : matches) {
    out += "  " + text_of(m, "file") + ":" + std::to_string(m.value("line", 0)) + "  " +
           text_of(m, "text") + "\n";
  }
  out += "\n";
  render_sources(out, scan.value("sources", json::array()));
  const json s = scan.value("summary", json::object());
  out += tr("console.logs.summary", s.value("lines", 0), s.value("files", 0),
            s.value("redactions", 0)) +
         "\n";
  return out;
}

std::string render_tail(const json& tail) {
  std::string out;
  for (const json& line : tail.value("lines", json::array())) {
    if (line.is_string()) out += terminal_safe(line.get<std::string>()) + "\n";
  }
  return out;
}

int run_logs(const Invocation& inv, Context& ctx) {
  return with_site(inv, ctx, [&inv, &ctx](SshClient& client) -> int {
    const LogsOptions& o = inv.logs;
    const bool scan = o.tail.empty();
    json params = json::object();
    if (scan) {
      if (!o.since.empty()) params["since"] = o.since;
      if (!o.rules.empty()) params["rules"] = o.rules;
      if (!o.patterns.empty()) params["patterns"] = o.patterns;
    } else {
      params = {{"source", o.tail}, {"lines", o.lines}};
    }
    auto r = call_with_progress(client, ctx, scan ? "logs.scan" : "logs.tail", params,
                                kWorkerCallTimeout);
    if (!r) return report_failure(ctx, r.error(), client.last_rpc_code());
    if (ctx.global.json) {
      ctx.out << r->dump(-1, ' ', ctx.out_is_terminal, json::error_handler_t::replace) << "\n";
    } else {
      ctx.out << (scan ? render_scan(*r, ctx.out_is_terminal) : render_tail(*r));
    }
    return kExitOk;
  });
}

}  // namespace rdiag::console
