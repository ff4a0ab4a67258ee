#include "console/diag_commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <ostream>
#include <string_view>
#include <vector>

#include "common/i18n.h"
#include "common/text_safety.h"
#include "console/exit_codes.h"
#include "console/site_call.h"

namespace rdiag::console {
namespace {

using nlohmann::json;
using rdiag::i18n::tr;

constexpr std::size_t kMaxRows = 10;
constexpr std::size_t kMaxColumns = 6;
constexpr std::size_t kCellWidth = 40;

constexpr std::array<std::string_view, 4> kSeverities = {"critical", "error", "warning", "info"};

std::size_t severity_rank(const std::string& s) {
  auto it = std::find(kSeverities.begin(), kSeverities.end(), s);
  return static_cast<std::size_t>(it - kSeverities.begin());
}

const char* colour_of(const std::string& severity) {
  if (severity == "critical") return "\x1b[1;31m";
  if (severity == "error") return "\x1b[31m";
  if (severity == "warning") return "\x1b[33m";
  return "\x1b[36m";
}

std::string text_of(const json& obj, const char* key) {
  auto it = obj.is_object() ? obj.find(key) : obj.end();
  if (it == obj.end() || !it->is_string()) return "";
  return terminal_safe(it->get<std::string>());
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// Reports carry integers only (bytes, per-mille, hundredths); people read
// "1.5 GiB", "93.1 %" and "6.57". The key's suffix says which it is.
std::string number_text(std::string_view key, const json& v) {
  if (!v.is_number_integer() && !v.is_number_unsigned()) return v.dump();
  const double n = v.get<double>();
  if (ends_with(key, "_permille")) return fmt::format("{:.1f} %", n / 10.0);
  if (ends_with(key, "_x100")) return fmt::format("{:.2f}", n / 100.0);
  if (ends_with(key, "bytes") || key.rfind("bytes_", 0) == 0) {
    constexpr std::array<const char*, 5> kUnits = {"B", "KiB", "MiB", "GiB", "TiB"};
    double x = n;
    std::size_t u = 0;
    while (x >= 1024.0 && u + 1 < kUnits.size()) {
      x /= 1024.0;
      ++u;
    }
    return u == 0 ? fmt::format("{:.0f} B", x) : fmt::format("{:.1f} {}", x, kUnits[u]);
  }
  return v.dump();
}

std::string scalar_text(std::string_view key, const json& v) {
  if (v.is_string()) return fit_width(terminal_safe(v.get<std::string>()), kCellWidth);
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number()) return number_text(key, v);
  if (v.is_null()) return "-";
  return "";
}

// Columns people look for first: what a row is about.
constexpr std::array<std::string_view, 12> kLeadColumns = {
    "name",    "mount_point", "pid",     "user",    "unit", "interface",
    "address", "port",        "process", "command", "path", "rule"};

std::size_t column_rank(const std::string& key) {
  auto it = std::find(kLeadColumns.begin(), kLeadColumns.end(), key);
  return static_cast<std::size_t>(it - kLeadColumns.begin());
}

// One finding: the severity word and title, then evidence, cause and remedy.
void render_finding(std::string& out, const json& f, bool colour) {
  const std::string severity = text_of(f, "severity");
  const std::string word = tr(
      "console.diag.severity." +
      std::string(severity_rank(severity) < kSeverities.size() ? severity : std::string("info")));
  out += colour ? std::string(colour_of(severity)) + word + "\x1b[0m" : word;
  out += "  " + text_of(f, "title") + "  [" + text_of(f, "id") + "]\n";
  if (f.contains("evidence") && f["evidence"].is_array()) {
    for (const json& e : f["evidence"]) {
      if (e.is_string()) out += "    - " + terminal_safe(e.get<std::string>()) + "\n";
    }
  }
  if (!text_of(f, "cause").empty())
    out += "    " + tr("console.diag.cause", text_of(f, "cause")) + "\n";
  if (!text_of(f, "remedy").empty()) {
    out += "    " + tr("console.diag.remedy", text_of(f, "remedy")) + "\n";
  }
}

// An array of objects as a table: the scalar fields of the first rows as
// columns, at most kMaxRows rows.
std::string render_rows(const json& rows) {
  std::vector<std::string> columns;
  for (const json& row : rows) {
    if (!row.is_object()) continue;
    for (const auto& [k, v] : row.items()) {
      if (v.is_primitive() && std::find(columns.begin(), columns.end(), k) == columns.end()) {
        columns.push_back(k);
      }
    }
  }
  if (columns.empty()) return "";
  std::stable_sort(columns.begin(), columns.end(), [](const std::string& a, const std::string& b) {
    return column_rank(a) < column_rank(b);
  });
  if (columns.size() > kMaxColumns) columns.resize(kMaxColumns);
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> head;
  for (const std::string& c : columns) head.push_back(terminal_safe(c));
  table.push_back(head);
  for (std::size_t i = 0; i < rows.size() && i < kMaxRows; ++i) {
    std::vector<std::string> line;
    for (const std::string& c : columns) {
      line.push_back(rows[i].is_object() && rows[i].contains(c) ? scalar_text(c, rows[i][c]) : "");
    }
    table.push_back(line);
  }
  std::string out;
  const std::string text = render_table(table);
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t nl = std::min(text.find('\n', at), text.size());
    out += "    " + text.substr(at, nl - at) + "\n";
    at = nl + 1;
  }
  if (rows.size() > kMaxRows) out += tr("console.diag.more_rows", rows.size() - kMaxRows) + "\n";
  return out;
}

// A collector's or plugin's data: scalars as fields, lists of objects as
// tables, nested objects one level down as "key.sub" fields.
std::string render_data(const json& data) {
  std::vector<std::pair<std::string, std::string>> fields;
  std::string tables;
  for (const auto& [k, v] : data.items()) {
    if (v.is_primitive()) {
      fields.emplace_back(terminal_safe(k), scalar_text(k, v));
    } else if (v.is_object()) {
      for (const auto& [k2, v2] : v.items()) {
        if (v2.is_primitive()) {
          fields.emplace_back(terminal_safe(k + "." + k2), scalar_text(k2, v2));
        }
      }
    } else if (v.is_array() && !v.empty()) {
      std::string rows = render_rows(v);
      if (!rows.empty()) tables += "  " + terminal_safe(k) + ":\n" + rows;
    }
  }
  std::string out;
  for (const auto& [k, v] : fields) out += "  " + pad_to_width(k, 24) + " " + v + "\n";
  return out + tables;
}

void render_parts(std::string& out, const json& report, const char* list, const char* title_id) {
  if (!report.contains(list) || !report[list].is_array() || report[list].empty()) return;
  out += "\n" + tr(title_id) + "\n";
  for (const json& part : report[list]) {
    if (!part.is_object()) continue;
    out += "\n[" + text_of(part, "name") + "]";
    if (part.value("ok", false)) {
      out += "\n" + render_data(part.value("data", json::object()));
    } else {
      const json err = part.value("error", json::object());
      out += "  " + tr("console.diag.part_failed", text_of(err, "message")) + "\n";
    }
  }
}

std::string summary_line(const json& report) {
  const json s = report.value("summary", json::object());
  const json f = s.value("findings", json::object());
  auto count = [&f](const char* k) { return f.is_object() ? f.value(k, 0) : 0; };
  return tr("console.diag.summary", count("critical"), count("error"), count("warning"),
            count("info"), s.value("redactions", 0));
}

}  // namespace

std::string render_findings(const json& findings, bool colour) {
  if (!findings.is_array() || findings.empty()) return tr("console.diag.no_findings") + "\n";
  std::vector<const json*> sorted;
  for (const json& f : findings) {
    if (f.is_object()) sorted.push_back(&f);
  }
  std::stable_sort(sorted.begin(), sorted.end(), [](const json* a, const json* b) {
    return severity_rank(a->value("severity", "")) < severity_rank(b->value("severity", ""));
  });
  std::string out;
  for (const json* f : sorted) render_finding(out, *f, colour);
  return out;
}

std::string render_report(const json& report, bool colour) {
  std::string out =
      tr("console.diag.report_title", text_of(report, "report_id"), text_of(report, "host")) +
      "\n" + summary_line(report) + "\n\n";
  out += render_findings(report.value("findings", json::array()), colour);
  render_parts(out, report, "collectors", "console.diag.collectors");
  render_parts(out, report, "plugins", "console.diag.plugins");
  const json redaction = report.value("redaction", json::array());
  if (redaction.is_array() && !redaction.empty()) {
    out += "\n" + tr("console.diag.redaction") + "\n" + render_rows(redaction);
  }
  return out;
}

std::string progress_text(const json& p) {
  if (!p.is_object()) return "";
  const std::string stage = text_of(p, "stage");
  if (stage.empty()) return "";
  const bool known =
      stage == "collectors" || stage == "plugins" || stage == "logs" || stage == "checks";
  std::string line = tr("console.diag.progress", known ? tr("console.diag.stage." + stage) : stage);
  if (p.contains("done") && p.contains("total") && p["done"].is_number_integer() &&
      p["total"].is_number_integer()) {
    line += " " + std::to_string(p["done"].get<std::int64_t>()) + "/" +
            std::to_string(p["total"].get<std::int64_t>());
  }
  const std::string name = text_of(p, "name");
  if (!name.empty()) line += " (" + fit_width(name, kCellWidth) + ")";
  return line;
}

namespace {

// The whole report: one report.get, or a part at a time when it is paged.
Result<json> fetch_report(SshClient& client, const std::string& id) {
  auto whole = client.call("report.get", {{"report_id", id}});
  if (!whole || !whole->is_object() || !whole->value("paged", false)) return whole;
  json report = {{"report_id", id}, {"summary", (*whole)["summary"]}};
  for (const json& part : whole->value("parts", json::array())) {
    if (!part.is_string()) continue;
    auto got = client.call("report.get", {{"report_id", id}, {"part", part}});
    if (!got) return got;
    for (const auto& [k, v] : got->items()) {
      if (k == "report_id") continue;
      if (v.is_array() && report.contains(k) && report[k].is_array()) {
        for (const json& e : v) report[k].push_back(e);
      } else {
        report[k] = v;
      }
    }
  }
  return report;
}

}  // namespace

int run_diag(const Invocation& inv, Context& ctx) {
  return with_site(inv, ctx, [&inv, &ctx](SshClient& client) -> int {
    json params = json::object();
    if (!inv.diag.collectors.empty()) params["collectors"] = inv.diag.collectors;
    if (!inv.diag.since.empty()) params["since"] = inv.diag.since;
    auto ran = call_with_progress(client, ctx, "diag.run", params, kWorkerCallTimeout);
    if (!ran) return report_failure(ctx, ran.error(), client.last_rpc_code());
    const std::string id = ran->is_object() ? ran->value("report_id", "") : "";
    auto report = fetch_report(client, id);
    if (!report) return report_failure(ctx, report.error(), client.last_rpc_code());
    if (ctx.global.json) {
      ctx.out << report->dump(-1, ' ', ctx.out_is_terminal, json::error_handler_t::replace) << "\n";
    } else {
      ctx.out << render_report(*report, ctx.out_is_terminal);
    }
    return kExitOk;
  });
}

}  // namespace rdiag::console
