#include "agent/records/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <ctime>
#include <iostream>
#include <map>

#include "agent/records/store.h"
#include "agent/records/summary.h"
#include "common/fs.h"
#include "common/i18n.h"
#include "common/records/audit.h"
#include "common/records/chain.h"
#include "common/ssh_key.h"
#include "common/text_safety.h"

namespace rdiag::agent {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using Clock = std::chrono::system_clock;

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitTamper = 4;
// Cybersecurity Law of the PRC, Article 21: network logs kept six months.
constexpr int kMinRetentionDays = 180;
constexpr std::size_t kMaxCellWidth = 40;
constexpr std::size_t kMaxDetailWidth = 80;

int fail(const std::string& message, int code = kExitFailed) {
  std::cerr << "rdiag-agent: " << message << "\n";
  return code;
}

// ---------------------------------------------------------------------------
// Text for people

// A record ts in the local time zone ("" stays "").
std::string local_time(const std::string& ts, bool seconds) {
  auto tp = parse_ts(ts);
  if (!tp) return terminal_safe(ts);
  const std::time_t t = Clock::to_time_t(*tp);
  std::tm tm{};
  (void)::localtime_r(&t, &tm);
  std::array<char, 32> buf{};
  const std::size_t n =
      std::strftime(buf.data(), buf.size(), seconds ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &tm);
  return {buf.data(), n};
}

std::string short_fingerprint(const std::string& fp) {
  constexpr std::size_t kShown = 7 + 8;  // "SHA256:" and 8 characters
  return fp.size() > kShown ? fp.substr(0, kShown) + "…" : fp;
}

std::string engineer_text(const SessionSummary& s) {
  std::string out = terminal_safe(s.engineer_name);
  if (!s.engineer_id.empty()) {
    out += (out.empty() ? "" : " ") + std::string("(") + terminal_safe(s.engineer_id) + ")";
  }
  if (!s.engineer_fingerprint.empty()) {
    out += (out.empty() ? "" : " ") + terminal_safe(short_fingerprint(s.engineer_fingerprint));
  }
  return out;
}

std::string state_text(const std::string& state) {
  return i18n::tr("agent.records.state." + state);
}

std::string sealed_text(const SessionFile& f) {
  if (f.seals == 0) return i18n::tr("agent.records.sealed_none");
  if (f.unsealed_tail()) return i18n::tr("agent.records.sealed_tail", f.seals);
  return std::to_string(f.seals);
}

json or_null(const std::string& s) {
  return s.empty() ? json(nullptr) : json(s);
}

template <typename T>
json or_null(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// ---------------------------------------------------------------------------
// Reading the store

struct Row {
  SessionFile file;
  SessionSummary summary;
};

Result<std::vector<Row>> read_rows(const RecordsReader& reader,
                                   std::optional<Clock::time_point> since) {
  auto ids = reader.session_ids();
  if (!ids) return ids.error();
  std::vector<Row> rows;
  for (const auto& id : *ids) {
    Row row{reader.read(id), {}};
    row.summary = summarize_file(row.file);
    if (since) {
      auto opened = parse_ts(row.summary.opened);
      if (opened && *opened < *since) continue;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<std::optional<Clock::time_point>> since_option(const std::string& text) {
  if (text.empty()) return std::optional<Clock::time_point>();
  auto tp = parse_since(text, Clock::now());
  if (!tp) return tp.error();
  return std::optional<Clock::time_point>(*tp);
}

bool is_fingerprint(const std::string& fp) {
  constexpr std::string_view kPrefix = "SHA256:";
  if (fp.size() != kPrefix.size() + 43 || fp.rfind(kPrefix, 0) != 0) return false;
  return fp.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                              kPrefix.size()) == std::string::npos;
}

// ---------------------------------------------------------------------------
// list

json list_json(const Row& r) {
  const SessionSummary& s = r.summary;
  json engineer = {{"name", or_null(s.engineer_name)},
                   {"id", or_null(s.engineer_id)},
                   {"role", or_null(s.engineer_role)},
                   {"fingerprint", or_null(s.engineer_fingerprint)}};
  json j = {{"session_id", s.session_id},
            {"state", s.state},
            {"ticket", or_null(s.ticket)},
            {"engineer", engineer},
            {"opened", or_null(s.opened)},
            {"closed", or_null(s.closed)},
            {"events", s.events},
            {"seals", r.file.seals},
            {"unsealed_tail", r.file.unsealed_tail()}};
  if (!r.file.damage.empty()) j["damage"] = r.file.damage;
  return j;
}

int cmd_list(const AgentConfig& cfg, bool as_json, const std::string& since_text) {
  auto since = since_option(since_text);
  if (!since) return fail(since.error().message, kExitUsage);
  RecordsReader reader(cfg.state_dir);
  auto rows = read_rows(reader, *since);
  if (!rows) return fail(rows.error().message);
  if (as_json) {
    json list = json::array();
    for (const auto& r : *rows) list.push_back(list_json(r));
    std::cout << json{{"sessions", list}}.dump() << "\n";
    return 0;
  }
  if (rows->empty()) {
    std::cout << i18n::tr("agent.records.none") << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> table = {
      {i18n::tr("agent.records.col.session"), i18n::tr("agent.records.col.state"),
       i18n::tr("agent.records.col.ticket"), i18n::tr("agent.records.col.engineer"),
       i18n::tr("agent.records.col.opened"), i18n::tr("agent.records.col.closed"),
       i18n::tr("agent.records.col.events"), i18n::tr("agent.records.col.sealed")}};
  for (const auto& r : *rows) {
    const SessionSummary& s = r.summary;
    table.push_back({s.session_id, state_text(s.state),
                     fit_width(terminal_safe(s.ticket), kMaxCellWidth),
                     fit_width(engineer_text(s), kMaxCellWidth), local_time(s.opened, false),
                     local_time(s.closed, false), std::to_string(s.events), sealed_text(r.file)});
  }
  std::cout << render_table(table);
  for (const auto& r : *rows) {
    if (r.file.damage.empty()) continue;
    std::cerr << i18n::tr("agent.records.damaged", r.file.session_id, terminal_safe(r.file.damage))
              << "\n";
  }
  return 0;
}

// ---------------------------------------------------------------------------
// show

std::string value_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& item : v) {
      if (!out.empty()) out += ",";
      out += item.is_string() ? item.get<std::string>() : item.dump();
    }
    return out;
  }
  if (v.is_object() && v.contains("name")) {
    // An engineer: {name, id, role}.
    std::string out = value_text(v["name"]);
    if (v.contains("id")) out += " (" + value_text(v["id"]) + ")";
    return out;
  }
  return v.dump();
}

std::string details_text(const json& data) {
  std::string out;
  for (const auto& [key, value] : data.items()) {
    std::string text = value_text(value);
    // Signatures and hashes are for verifiers; a person sees where they start.
    if (key == "signature" || key == "covers_hash" || key == "last_hash")
      text = fit_width(text, 16);
    if (!out.empty()) out += "  ";
    out += terminal_safe(key) + "=" + fit_width(terminal_safe(text), kMaxDetailWidth);
  }
  return out;
}

std::string actor_text(const std::string& actor, const SessionSummary& s) {
  if (actor.rfind("engineer:", 0) == 0) {
    const std::string fp = actor.substr(9);
    if (fp == s.engineer_fingerprint && !s.engineer_name.empty()) return engineer_text(s);
    return terminal_safe(i18n::tr("agent.records.actor_engineer", short_fingerprint(fp)));
  }
  return terminal_safe(actor);
}

std::string type_text(const std::string& type) {
  std::string id = type;
  std::replace(id.begin(), id.end(), '.', '_');
  const std::string label = i18n::tr("agent.records.type." + id);
  return label == "agent.records.type." + id ? terminal_safe(type) : label;
}

json event_json(const records::Event& e) {
  return {{"v", e.v},         {"seq", e.seq},   {"ts", e.ts},     {"type", e.type},
          {"actor", e.actor}, {"data", e.data}, {"prev", e.prev}, {"hash", e.hash}};
}

int cmd_show(const AgentConfig& cfg, bool as_json, const std::string& id) {
  if (!records::is_valid_session_id(id)) {
    return fail(i18n::tr("agent.records.bad_id", terminal_safe(id)), kExitUsage);
  }
  RecordsReader reader(cfg.state_dir);
  SessionFile file = reader.read(id);
  if (file.events.empty() && !file.damage.empty()) return fail(file.damage);
  const SessionSummary s = summarize_file(file);
  if (as_json) {
    json events = json::array();
    for (const auto& e : file.events) events.push_back(event_json(e));
    json j = {{"session_id", id}, {"events", events}};
    if (!file.damage.empty()) j["damage"] = file.damage;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << i18n::tr("agent.records.show_head", id, state_text(s.state),
                          terminal_safe(s.ticket), engineer_text(s))
              << "\n";
    std::vector<std::vector<std::string>> table = {
        {i18n::tr("agent.records.col.time"), "#", i18n::tr("agent.records.col.event"),
         i18n::tr("agent.records.col.actor"), i18n::tr("agent.records.col.details")}};
    for (const auto& e : file.events) {
      table.push_back({local_time(e.ts, true), std::to_string(e.seq), type_text(e.type),
                       actor_text(e.actor, s), details_text(e.data)});
    }
    std::cout << render_table(table);
  }
  if (!file.damage.empty()) {
    return fail(i18n::tr("agent.records.damaged", id, terminal_safe(file.damage)));
  }
  return 0;
}

// ---------------------------------------------------------------------------
// verify

Result<std::vector<std::string>> trusted_keys(const AgentConfig& cfg,
                                              const std::vector<std::string>& pinned) {
  if (!pinned.empty()) {
    for (const auto& fp : pinned) {
      if (!is_fingerprint(fp)) {
        return make_error(i18n::tr("agent.records.bad_trust", terminal_safe(fp)), "usage");
      }
    }
    return pinned;
  }
  auto key = load_seal_key(cfg.state_dir);
  if (!key) return key.error();
  return std::vector<std::string>{fingerprint_sha256(key->public_key().blob)};
}

// Problems that say "could not read", not "does not match".
bool is_operational(const records::AuditProblem& p) {
  return p.reason == "io_error" || p.reason == "open_failed" || p.reason == "read_failed" ||
         p.reason == "not_found";
}

std::string problem_text(const records::AuditProblem& p) {
  std::string message = terminal_safe(p.message);
  // The verifiers' messages usually name the file already.
  if (p.file.empty() || message.rfind(p.file, 0) == 0) return message;
  if (p.line == 0) return i18n::tr("agent.records.problem", terminal_safe(p.file), message);
  return i18n::tr("agent.records.problem_line", terminal_safe(p.file), p.line, message);
}

// present: the sessions still in the store (pruned and void ones, whose
// ledger lines were verified too, are not counted as sessions).
int report_audit(const records::StoreAudit& audit, std::size_t present, bool as_json) {
  if (as_json) {
    json problems = json::array();
    for (const auto& p : audit.problems) {
      problems.push_back(
          {{"file", p.file}, {"line", p.line}, {"reason", p.reason}, {"message", p.message}});
    }
    std::cout << json{{"ok", audit.ok},
                      {"sessions", present},
                      {"ledger_lines", audit.ledger_lines},
                      {"trusted", audit.trusted_fingerprints},
                      {"problems", problems}}
                     .dump()
              << "\n";
  } else if (audit.ok) {
    std::cout << i18n::tr("agent.records.verify_ok", present, audit.ledger_lines) << "\n";
  } else {
    std::cout << i18n::tr("agent.records.verify_failed", audit.problems.size()) << "\n";
    for (const auto& p : audit.problems) std::cout << "  " << problem_text(p) << "\n";
  }
  if (audit.ok) return 0;
  const bool all_io = std::all_of(audit.problems.begin(), audit.problems.end(), is_operational);
  return all_io && !audit.problems.empty() ? kExitFailed : kExitTamper;
}

int cmd_verify(const AgentConfig& cfg, bool as_json, const std::string& id, bool all,
               const std::vector<std::string>& pinned) {
  if (all == !id.empty()) return fail(i18n::tr("agent.records.verify_target"), kExitUsage);
  if (!all && !records::is_valid_session_id(id)) {
    return fail(i18n::tr("agent.records.bad_id", terminal_safe(id)), kExitUsage);
  }
  auto trusted = trusted_keys(cfg, pinned);
  if (!trusted) {
    return fail(trusted.error().message, trusted.error().reason == "usage" ? kExitUsage : 1);
  }
  RecordsReader reader(cfg.state_dir);
  auto ids = reader.session_ids();
  if (!ids) return fail(ids.error().message);
  if (!all && std::find(ids->begin(), ids->end(), id) == ids->end()) {
    return fail(i18n::tr("agent.records.no_session", id, cfg.state_dir));
  }
  const records::StoreAudit audit =
      all ? records::verify_store(cfg.state_dir, *trusted)
          : records::verify_store_session(cfg.state_dir, id, *trusted);
  const auto present = static_cast<std::size_t>(std::count_if(
      audit.sessions.begin(), audit.sessions.end(),
      [&](const auto& s) { return std::binary_search(ids->begin(), ids->end(), s.session_id); }));
  return report_audit(audit, present, as_json);
}

// ---------------------------------------------------------------------------
// export

// Whether each session verified, by id; empty when no key was at hand.
std::map<std::string, bool> verified_sessions(const AgentConfig& cfg) {
  std::map<std::string, bool> out;
  auto key = load_seal_key(cfg.state_dir);
  if (!key) return out;
  const auto audit =
      records::verify_store(cfg.state_dir, {fingerprint_sha256(key->public_key().blob)});
  // A ledger that does not verify vouches for no session.
  const bool ledger_ok = std::none_of(audit.problems.begin(), audit.problems.end(),
                                      [](const auto& p) { return p.file == "ledger.jsonl"; });
  for (const auto& s : audit.sessions) out[s.session_id] = ledger_ok && s.ok;
  return out;
}

ordered_json export_row(const Row& r, const std::map<std::string, bool>& verified) {
  const SessionSummary& s = r.summary;
  ordered_json j;
  j["session_id"] = s.session_id;
  j["state"] = s.state;
  j["ticket"] = or_null(s.ticket);
  j["engineer_name"] = or_null(s.engineer_name);
  j["engineer_id"] = or_null(s.engineer_id);
  j["engineer_fingerprint"] = or_null(s.engineer_fingerprint);
  j["scopes"] = s.scopes;
  j["opened"] = or_null(s.opened);
  j["approved"] = or_null(s.approved);
  j["approval_wait_s"] = or_null(s.approval_wait_s);
  j["closed"] = or_null(s.closed);
  j["duration_s"] = or_null(s.duration_s);
  j["outcome"] = or_null(s.outcome);
  j["cause"] = or_null(s.cause);
  j["solution"] = or_null(s.solution);
  j["escalated"] = s.escalated;
  j["rating"] = or_null(s.rating);
  j["customer"] = or_null(s.customer);
  j["events"] = s.events;
  j["seals"] = r.file.seals;
  j["sealed"] = r.file.seals > 0 && !r.file.unsealed_tail();
  auto v = verified.find(s.session_id);
  j["verified"] = v == verified.end() ? json(nullptr) : json(v->second);
  return j;
}

std::string csv_value(const ordered_json& v) {
  if (v.is_null()) return {};
  if (v.is_string()) return csv_cell(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_array()) {
    std::string joined;
    for (const auto& item : v) joined += (joined.empty() ? "" : ";") + item.get<std::string>();
    return csv_cell(joined);
  }
  return v.dump();
}

std::string to_csv(const std::vector<ordered_json>& rows, const ordered_json& header_source) {
  std::string out = "\xEF\xBB\xBF";  // UTF-8 BOM: spreadsheet programs then read UTF-8
  std::string header;
  for (const auto& [key, value] : header_source.items()) {
    header += (header.empty() ? "" : ",") + csv_cell(key);
  }
  out += header + "\r\n";
  for (const auto& row : rows) {
    std::string line;
    bool first = true;
    for (const auto& [key, value] : row.items()) {
      if (!first) line += ",";
      first = false;
      line += csv_value(value);
    }
    out += line + "\r\n";
  }
  return out;
}

json rounded(const std::optional<double>& v, int digits) {
  if (!v) return nullptr;
  const double scale = std::pow(10.0, digits);
  return std::round(*v * scale) / scale;
}

int cmd_export(const AgentConfig& cfg, bool as_json, const std::string& since_text,
               const std::string& format_flag, const std::string& out_path) {
  // --format wins; else the global --json; else CSV, what a spreadsheet opens.
  const std::string format = !format_flag.empty() ? format_flag : as_json ? "json" : "csv";
  if (format != "csv" && format != "json") {
    return fail(i18n::tr("agent.records.bad_format", terminal_safe(format)), kExitUsage);
  }
  auto since = since_option(since_text);
  if (!since) return fail(since.error().message, kExitUsage);
  RecordsReader reader(cfg.state_dir);
  auto rows = read_rows(reader, *since);
  if (!rows) return fail(rows.error().message);
  const auto verified = verified_sessions(cfg);
  std::vector<ordered_json> table;
  std::vector<SessionSummary> summaries;
  for (const auto& r : *rows) {
    table.push_back(export_row(r, verified));
    summaries.push_back(r.summary);
  }
  std::string text;
  if (format == "csv") {
    text = to_csv(table, export_row(Row{}, {}));
  } else {
    const RecordsTotals t = summarize_totals(summaries);
    ordered_json summary;
    summary["sessions"] = t.sessions;
    summary["resolved"] = t.resolved;
    summary["escalation_rate"] = rounded(t.escalation_rate, 4);
    summary["avg_resolution_s"] = rounded(t.avg_resolution_s, 1);
    summary["avg_approval_wait_s"] = rounded(t.avg_approval_wait_s, 1);
    summary["avg_rating"] = rounded(t.avg_rating, 2);
    ordered_json doc;
    doc["sessions"] = table;
    doc["summary"] = summary;
    text = doc.dump() + "\n";
  }
  if (out_path.empty()) {
    std::cout << text;
    return 0;
  }
  // Records hold names and customer text: readable by the owner only.
  if (const int err = write_file_atomic(out_path, text, 0600, IfExists::kReplace); err != 0) {
    return fail(i18n::tr("agent.records.write_failed", out_path, errno_text(err)));
  }
  std::cerr << i18n::tr("agent.records.exported", table.size(), out_path) << "\n";
  return 0;
}

// ---------------------------------------------------------------------------
// prune and rotate-key: writers, through the Store

Result<std::unique_ptr<Store>> open_store(const AgentConfig& cfg, const std::string& command) {
  if (::access((cfg.state_dir + "/" + std::string(records::kLedgerFile)).c_str(), F_OK) != 0) {
    return make_error(i18n::tr("agent.records.no_records", cfg.state_dir), "not_found");
  }
  auto key = load_seal_key(cfg.state_dir);
  if (!key) return key.error();
  StoreRecovery recovery;
  auto store = Store::open(cfg.state_dir, *key, StoreOptions{}, &recovery);
  if (!store) {
    if (store.error().reason == "busy") {
      return make_error(i18n::tr("agent.records.busy", cfg.state_dir, command), "busy");
    }
    return store.error();
  }
  // Opening ran the same recovery as an agent start; say what it did.
  for (const auto& m : recovery.messages) std::cerr << terminal_safe(m) << "\n";
  return store;
}

std::string prune_line(const char* id, const SessionSummary& s) {
  return i18n::tr(id, s.session_id, terminal_safe(s.ticket), local_time(s.last_ts, false));
}

int cmd_prune(const AgentConfig& cfg, bool as_json, bool dry_run) {
  if (cfg.retention_days < kMinRetentionDays) {
    return fail(i18n::tr("agent.records.retention_short", cfg.retention_days, kMinRetentionDays));
  }
  const auto now = Clock::now();
  auto key = load_seal_key(cfg.state_dir);
  if (!key) return fail(key.error().message);
  // The same rule as the real prune (Store::prune_plan), read-only.
  auto plan = Store::prune_plan(cfg.state_dir, cfg.retention_days, now,
                                fingerprint_sha256(key->public_key().blob));
  if (!plan) return fail(plan.error().message);
  RecordsReader reader(cfg.state_dir);
  auto rows = read_rows(reader, std::nullopt);
  if (!rows) return fail(rows.error().message);
  std::map<std::string, SessionSummary> candidates;
  for (const auto& r : *rows) {
    if (std::find(plan->begin(), plan->end(), r.summary.session_id) != plan->end()) {
      candidates.emplace(r.summary.session_id, r.summary);
    }
  }
  std::vector<std::string> removed;
  if (dry_run) {
    removed = std::move(*plan);
  } else {
    auto store = open_store(cfg, "records prune");
    if (!store) return fail(store.error().message);
    auto pruned = (*store)->prune(cfg.retention_days, now);
    if (!pruned) return fail(pruned.error().message);
    removed = std::move(*pruned);
  }
  if (as_json) {
    std::cout << json{{"dry_run", dry_run},
                      {"retention_days", cfg.retention_days},
                      {"removed", removed}}
                     .dump()
              << "\n";
    return 0;
  }
  for (const auto& id : removed) {
    auto it = candidates.find(id);
    SessionSummary s;
    s.session_id = id;
    if (it != candidates.end()) s = it->second;
    std::cout << prune_line(dry_run ? "agent.records.would_prune" : "agent.records.pruned", s)
              << "\n";
  }
  if (removed.empty()) {
    std::cout << i18n::tr("agent.records.prune_none", cfg.retention_days) << "\n";
  } else {
    std::cout << i18n::tr(
                     dry_run ? "agent.records.would_prune_total" : "agent.records.pruned_total",
                     removed.size(), cfg.retention_days)
              << "\n";
  }
  return 0;
}

int cmd_rotate_key(const AgentConfig& cfg, bool as_json) {
  auto store = open_store(cfg, "records rotate-key");
  if (!store) return fail(store.error().message);
  const std::string old_fp = (*store)->seal_fingerprint();
  auto key = generate_ed25519("rdiag-agent seal key");
  if (!key) return fail(key.error().message);
  auto new_fp = (*store)->rotate_seal_key(*key);
  if (!new_fp) return fail(new_fp.error().message);
  if (as_json) {
    std::cout << json{{"old_fingerprint", old_fp}, {"new_fingerprint", *new_fp}}.dump() << "\n";
  } else {
    std::cout << i18n::tr("agent.records.rotated", old_fp, *new_fp) << "\n"
              << i18n::tr("agent.records.repin") << "\n";
  }
  return 0;
}

}  // namespace

Result<Ed25519PrivateKey> load_seal_key(const std::string& state_dir) {
  const std::string path = state_dir + "/seal_ed25519";
  ReadFileHooks hooks;
  hooks.io_error = [&](int err) {
    if (err == ENOENT) return make_error(i18n::tr("agent.records.no_seal_key", path), "no_key");
    return make_error(i18n::tr("agent.records.bad_seal_key", path, errno_text(err)), "io_error");
  };
  auto pem = read_file_bounded(path, std::size_t{64} * 1024, hooks);
  if (!pem) return pem.error();
  auto key = parse_openssh_private_key(*pem);
  if (!key) return make_error(i18n::tr("agent.records.bad_seal_key", path, key.error().message));
  return key;
}

// ---------------------------------------------------------------------------
// Command line

struct RecordsCommands::Options {
  CLI::App* records = nullptr;
  CLI::App* list = nullptr;
  CLI::App* show = nullptr;
  CLI::App* verify = nullptr;
  CLI::App* export_ = nullptr;
  CLI::App* prune = nullptr;
  CLI::App* rotate = nullptr;
  std::string since;
  std::string id;
  bool all = false;
  std::vector<std::string> trust;
  std::string format;
  std::string out;
  bool dry_run = false;
};

RecordsCommands::RecordsCommands(CLI::App& app) : o_(std::make_unique<Options>()) {
  using i18n::tr;
  Options& o = *o_;
  o.records = app.add_subcommand("records", tr("agent.records.about"));
  o.records->require_subcommand(1);
  o.list = o.records->add_subcommand("list", tr("agent.records.list_about"));
  o.list->add_option("--since", o.since, tr("agent.records.opt_since"));
  o.show = o.records->add_subcommand("show", tr("agent.records.show_about"));
  o.show->add_option("session", o.id, tr("agent.records.opt_session"))->required();
  o.verify = o.records->add_subcommand("verify", tr("agent.records.verify_about"));
  o.verify->add_option("session", o.id, tr("agent.records.opt_session"));
  o.verify->add_flag("--all", o.all, tr("agent.records.opt_all"));
  // One value per --trust, so `--trust FP ID` leaves ID to the positional.
  o.verify->add_option("--trust", o.trust, tr("agent.records.opt_trust"))->allow_extra_args(false);
  o.export_ = o.records->add_subcommand("export", tr("agent.records.export_about"));
  o.export_->add_option("--since", o.since, tr("agent.records.opt_since"));
  o.export_->add_option("--format", o.format, tr("agent.records.opt_format"));
  o.export_->add_option("--out", o.out, tr("agent.records.opt_out"));
  o.prune = o.records->add_subcommand("prune", tr("agent.records.prune_about"));
  o.prune->add_flag("--dry-run", o.dry_run, tr("agent.records.opt_dry_run"));
  o.rotate = o.records->add_subcommand("rotate-key", tr("agent.records.rotate_about"));
}

RecordsCommands::~RecordsCommands() = default;

bool RecordsCommands::parsed() const {
  return o_->records->parsed();
}

int RecordsCommands::run(const std::function<Result<AgentConfig>()>& resolve, bool json) const {
  const Options& o = *o_;
  auto cfg = resolve();
  if (!cfg) return fail(cfg.error().message);
  if (o.list->parsed()) return cmd_list(*cfg, json, o.since);
  if (o.show->parsed()) return cmd_show(*cfg, json, o.id);
  if (o.verify->parsed()) return cmd_verify(*cfg, json, o.id, o.all, o.trust);
  if (o.export_->parsed()) return cmd_export(*cfg, json, o.since, o.format, o.out);
  if (o.prune->parsed()) return cmd_prune(*cfg, json, o.dry_run);
  if (o.rotate->parsed()) return cmd_rotate_key(*cfg, json);
  return kExitUsage;
}

}  // namespace rdiag::agent
