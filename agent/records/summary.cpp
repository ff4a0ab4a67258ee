#include "agent/records/summary.h"

#include <algorithm>
#include <array>
#include <ctime>
#include <filesystem>
#include <set>

#include "common/fs.h"
#include "common/i18n.h"
#include "common/records/journal.h"
#include "common/records/seal.h"
#include "common/text_safety.h"

namespace rdiag::agent {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;
using nlohmann::json;

std::string str_at(const json& data, const char* key) {
  auto it = data.find(key);
  return it != data.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<std::int64_t> int_at(const json& data, const char* key) {
  auto it = data.find(key);
  if (it == data.end() || !it->is_number_integer()) return std::nullopt;
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > INT64_MAX) return std::nullopt;
  return it->get<std::int64_t>();
}

std::vector<std::string> strings_at(const json& data, const char* key) {
  std::vector<std::string> out;
  auto it = data.find(key);
  if (it == data.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::string engineer_fingerprint(const std::string& actor) {
  constexpr std::string_view kPrefix = "engineer:";
  return actor.rfind(kPrefix, 0) == 0 ? actor.substr(kPrefix.size()) : std::string();
}

std::string state_after(std::string_view terminal_type, bool approved) {
  if (terminal_type == "request.denied") return "denied";
  if (terminal_type == "request.expired" || terminal_type == "grant.expired") return "expired";
  if (terminal_type == "session.closed") return "closed";
  if (terminal_type == "grant.revoked") return "revoked";
  if (terminal_type == "session.interrupted") return "interrupted";
  return approved ? "open" : "pending";
}

std::optional<std::int64_t> seconds_between(const std::string& from, const std::string& to) {
  auto a = parse_ts(from);
  auto b = parse_ts(to);
  if (!a || !b || *b < *a) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::seconds>(*b - *a).count();
}

void apply_request(SessionSummary& s, const records::Event& e) {
  s.ticket = str_at(e.data, "ticket");
  s.reason = str_at(e.data, "reason");
  s.scopes = strings_at(e.data, "scopes");
  s.minutes = int_at(e.data, "minutes");
  if (auto it = e.data.find("engineer"); it != e.data.end() && it->is_object()) {
    s.engineer_name = str_at(*it, "name");
    s.engineer_id = str_at(*it, "id");
    s.engineer_role = str_at(*it, "role");
  }
  s.engineer_fingerprint = engineer_fingerprint(e.actor);
}

void apply_event(SessionSummary& s, const records::Event& e) {
  if (e.type == "request.created") {
    // Extensions and joins ask inside a running session: the first request
    // made it, and names the ticket, scopes and engineer.
    if (str_at(e.data, "kind").empty() || str_at(e.data, "kind") == "request") apply_request(s, e);
  } else if (e.type == "request.approved") {
    if (s.approved.empty()) {
      s.approved = e.ts;
      s.approver = e.actor;
    }
    if (auto scopes = strings_at(e.data, "scopes"); !scopes.empty()) s.scopes = std::move(scopes);
    if (auto minutes = int_at(e.data, "minutes")) s.minutes = minutes;
  } else if (e.type == "session.closed") {
    s.cause = str_at(e.data, "cause");
    s.solution = str_at(e.data, "solution");
    s.outcome = str_at(e.data, "outcome");
  } else if (e.type == "escalated") {
    s.escalated = true;
    s.escalated_to = str_at(e.data, "to");
  } else if (e.type == "rating") {
    auto score = int_at(e.data, "score");
    if (score && *score >= 1 && *score <= 5) {
      s.rating = score;
      s.rating_comment = str_at(e.data, "comment");
    }
  } else if (e.type == "customer.confirmed" || e.type == "customer.disputed") {
    s.customer = e.type == "customer.confirmed" ? "confirmed" : "disputed";
    s.customer_reason = str_at(e.data, "reason");
  }
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int number(std::string_view s) {
  int n = 0;
  for (const char c : s) n = n * 10 + (c - '0');
  return n;
}

bool is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[static_cast<std::size_t>(m - 1)];
}

// "YYYY-MM-DD" into tm (date only); false when not a real date.
bool parse_date(std::string_view s, std::tm& tm) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  const auto y = s.substr(0, 4);
  const auto m = s.substr(5, 2);
  const auto d = s.substr(8, 2);
  if (!all_digits(y) || !all_digits(m) || !all_digits(d)) return false;
  tm.tm_year = number(y) - 1900;
  tm.tm_mon = number(m) - 1;
  tm.tm_mday = number(d);
  return number(y) >= 1970 && tm.tm_mon >= 0 && tm.tm_mon < 12 && tm.tm_mday >= 1 &&
         tm.tm_mday <= days_in_month(number(y), tm.tm_mon + 1);
}

// "HH:MM[:SS[.frac]]" into tm; the rest (the offset) stays in s.
bool parse_time(std::string_view& s, std::tm& tm) {
  if (s.size() < 5 || s[2] != ':' || !all_digits(s.substr(0, 2)) || !all_digits(s.substr(3, 2))) {
    return false;
  }
  tm.tm_hour = number(s.substr(0, 2));
  tm.tm_min = number(s.substr(3, 2));
  s.remove_prefix(5);
  if (!s.empty() && s[0] == ':') {
    if (s.size() < 3 || !all_digits(s.substr(1, 2))) return false;
    tm.tm_sec = number(s.substr(1, 2));
    s.remove_prefix(3);
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      const auto digits = std::min(s.find_first_not_of("0123456789"), s.size());
      if (digits == 0) return false;
      s.remove_prefix(digits);  // below a second: --since needs no more
    }
  }
  return tm.tm_hour < 24 && tm.tm_min < 60 && tm.tm_sec <= 60;
}

// "Z", "+08:00", "-05:30" -> seconds east of UTC; "" -> nullopt (local time).
std::optional<std::optional<int>> parse_offset(std::string_view s) {
  if (s.empty()) return std::optional<int>();
  if (s == "Z" || s == "z") return std::optional<int>(0);
  if (s.size() != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' || !all_digits(s.substr(1, 2)) ||
      !all_digits(s.substr(4, 2))) {
    return std::nullopt;
  }
  const int h = number(s.substr(1, 2));
  const int m = number(s.substr(4, 2));
  if (h > 23 || m > 59) return std::nullopt;
  return std::optional<int>((s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60));
}

std::optional<Clock::time_point> parse_rfc3339(std::string_view text) {
  std::tm tm{};
  if (!parse_date(text.substr(0, std::min<std::size_t>(10, text.size())), tm)) return std::nullopt;
  std::optional<int> offset;
  if (text.size() > 10) {
    if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return std::nullopt;
    std::string_view rest = text.substr(11);
    if (!parse_time(rest, tm)) return std::nullopt;
    auto off = parse_offset(rest);
    if (!off) return std::nullopt;
    offset = *off;
  }
  std::time_t t = 0;
  if (offset) {
    t = ::timegm(&tm) - *offset;
  } else {
    tm.tm_isdst = -1;
    t = std::mktime(&tm);
  }
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return Clock::from_time_t(t);
}

}  // namespace

SessionSummary summarize_session(std::string_view session_id,
                                 const std::vector<records::Event>& events) {
  SessionSummary s;
  s.session_id = std::string(session_id);
  s.events = static_cast<std::int64_t>(events.size());
  std::string terminal;
  for (const auto& e : events) {
    if (s.opened.empty()) s.opened = e.ts;
    apply_event(s, e);
    if (records::ends_session(e.type, e.data)) {
      terminal = e.type;
      s.closed = e.ts;
    }
    s.last_ts = e.ts;
    s.last_seq = e.seq;
  }
  s.state = state_after(terminal, !s.approved.empty());
  if (s.outcome == "escalated") s.escalated = true;
  if (!s.approved.empty()) {
    s.approval_wait_s = seconds_between(s.opened, s.approved);
    if (!s.closed.empty()) s.duration_s = seconds_between(s.opened, s.closed);
  }
  return s;
}

bool is_ended_state(std::string_view state) {
  return state != "pending" && state != "open" && state != "damaged";
}

RecordsTotals summarize_totals(const std::vector<SessionSummary>& sessions) {
  RecordsTotals t;
  t.sessions = static_cast<std::int64_t>(sessions.size());
  std::int64_t granted = 0;
  std::int64_t escalated = 0;
  double resolution_sum = 0;
  std::int64_t resolution_n = 0;
  double wait_sum = 0;
  std::int64_t wait_n = 0;
  double rating_sum = 0;
  std::int64_t rating_n = 0;
  for (const auto& s : sessions) {
    if (s.outcome == "resolved") ++t.resolved;
    if (!s.approved.empty()) {
      ++granted;
      if (s.escalated) ++escalated;
    }
    if (s.outcome == "resolved" && s.duration_s) {
      resolution_sum += static_cast<double>(*s.duration_s);
      ++resolution_n;
    }
    if (s.approval_wait_s) {
      wait_sum += static_cast<double>(*s.approval_wait_s);
      ++wait_n;
    }
    if (s.rating) {
      rating_sum += static_cast<double>(*s.rating);
      ++rating_n;
    }
  }
  auto ratio = [](double sum, std::int64_t n) -> std::optional<double> {
    if (n == 0) return std::nullopt;
    return sum / static_cast<double>(n);
  };
  t.escalation_rate = ratio(static_cast<double>(escalated), granted);
  t.avg_resolution_s = ratio(resolution_sum, resolution_n);
  t.avg_approval_wait_s = ratio(wait_sum, wait_n);
  t.avg_rating = ratio(rating_sum, rating_n);
  return t;
}

std::string session_id_ts(std::string_view id) {
  if (!records::is_valid_session_id(id)) return {};
  std::string ts;
  ts.append(id.substr(0, 4)).append("-").append(id.substr(4, 2)).append("-");
  ts.append(id.substr(6, 2)).append("T").append(id.substr(9, 2)).append(":");
  ts.append(id.substr(11, 2)).append(":").append(id.substr(13, 2)).append(".000Z");
  return ts;
}

Result<Clock::time_point> parse_since(std::string_view text, Clock::time_point now) {
  auto bad = [&] {
    return make_error(i18n::tr("agent.records.bad_since", terminal_safe(text)), "usage");
  };
  if (text.size() >= 2 && all_digits(text.substr(0, text.size() - 1))) {
    const std::string_view digits = text.substr(0, text.size() - 1);
    std::int64_t unit = 0;
    switch (text.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        return bad();
    }
    // A century is more than any record is kept; the bound also keeps the
    // arithmetic far from overflowing a nanosecond clock.
    constexpr std::int64_t kMaxSeconds = std::int64_t{36500} * 86400;
    if (digits.size() > 10) return bad();
    std::int64_t n = 0;
    for (const char c : digits) n = n * 10 + (c - '0');
    if (n > kMaxSeconds / unit) return bad();
    return now - std::chrono::seconds(n * unit);
  }
  if (auto tp = parse_rfc3339(text)) return *tp;
  return bad();
}

// ---------------------------------------------------------------------------
// Reading

namespace {

std::string records_dir(const std::string& state_dir) {
  return state_dir + "/" + std::string(records::kRecordsDir);
}

ReadFileHooks read_hooks(const std::string& path) {
  ReadFileHooks hooks;
  hooks.io_error = [path](int err) {
    return make_error(path + ": " + errno_text(err), "io_error");
  };
  hooks.too_big = [path] { return make_error(path + ": too big to be a record", "too_big"); };
  return hooks;
}

// The complete lines of text: a final line without '\n' is being written
// (or was cut by a crash, which the agent repairs at start) and is skipped.
std::string_view complete_lines(std::string_view text) {
  const std::size_t nl = text.rfind('\n');
  return nl == std::string_view::npos ? std::string_view() : text.substr(0, nl + 1);
}

// Reads events.jsonl line by line, stopping at the first line that does not
// verify on its own or does not follow the line before.
void read_events(std::string_view text, std::string_view genesis, SessionFile& out) {
  records::for_each_line(text, [&](std::size_t line_no, std::string_view line, std::size_t) {
    auto e = records::parse_event_line(line);
    if (!e) {
      out.damage = i18n::tr("agent.records.damage_line", line_no, e.error().message);
      return false;
    }
    const records::Event* prev = out.events.empty() ? nullptr : &out.events.back();
    const bool follows = prev == nullptr ? e->seq == 1 && (genesis.empty() || e->prev == genesis)
                                         : e->seq == prev->seq + 1 && e->prev == prev->hash;
    if (!follows) {
      out.damage = i18n::tr("agent.records.damage_link", line_no);
      return false;
    }
    out.events.push_back(std::move(*e));
    return true;
  });
}

}  // namespace

RecordsReader::RecordsReader(std::string state_dir) : state_dir_(std::move(state_dir)) {
  const std::string path = state_dir_ + "/" + std::string(records::kLedgerFile);
  auto text = read_file_bounded(path, records::kMaxJournalBytes, read_hooks(path));
  if (!text) {
    ledger_problem_ = text.error().message;
    return;
  }
  auto index = records::index_ledger(complete_lines(*text));
  if (!index) {
    ledger_problem_ = index.error().message;
    return;
  }
  ledger_ = std::move(*index);
}

Result<std::vector<std::string>> RecordsReader::session_ids() const {
  std::set<std::string> ids;
  std::error_code ec;
  const std::string dir = records_dir(state_dir_);
  const bool have_dir = fs::is_directory(dir, ec);
  if (!have_dir && !ledger_) {
    return make_error(i18n::tr("agent.records.no_records", state_dir_), "not_found");
  }
  if (have_dir) {
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (records::is_valid_session_id(name) && it->is_directory(ec)) ids.insert(name);
    }
    if (ec) return make_error(dir + ": " + ec.message(), "io_error");
  }
  if (ledger_) {
    for (const auto& [id, s] : ledger_->sessions) {
      if (s.pruned || s.voided) {
        ids.erase(id);  // gone by the ledger's word; `records verify` reports leftovers
      } else {
        ids.insert(id);
      }
    }
  }
  return std::vector<std::string>(ids.begin(), ids.end());
}

SessionFile RecordsReader::read(const std::string& session_id) const {
  SessionFile out;
  out.session_id = session_id;
  const std::string dir = records_dir(state_dir_) + "/" + session_id;
  std::error_code ec;
  if (!records::is_valid_session_id(session_id) || !fs::is_directory(dir, ec)) {
    out.damage = i18n::tr("agent.records.damage_missing", session_id);
    return out;
  }
  const records::LedgerSession* ls = nullptr;
  if (ledger_) {
    auto it = ledger_->sessions.find(session_id);
    if (it != ledger_->sessions.end()) ls = &it->second;
  }
  const std::string path = dir + "/" + std::string(records::kEventsFile);
  auto text = read_file_bounded(path, records::kMaxEventsFileBytes, read_hooks(path));
  if (!text) {
    out.damage = text.error().message;
  } else {
    out.event_bytes = static_cast<std::int64_t>(text->size());
    read_events(complete_lines(*text), ls != nullptr ? ls->genesis : std::string(), out);
  }
  if (auto n = records::latest_seal_index(dir)) out.seals = *n;
  if (ls != nullptr && !ls->seals.empty()) {
    out.sealed_seq = ls->seals.back().last_seq;
    out.sealed_bytes = ls->seals.back().bytes;
  } else if (ls != nullptr) {
    out.sealed_seq = 0;
  }
  return out;
}

SessionSummary summarize_file(const SessionFile& file) {
  SessionSummary s = summarize_session(file.session_id, file.events);
  if (s.opened.empty()) s.opened = session_id_ts(file.session_id);
  if (!file.damage.empty()) s.state = "damaged";
  return s;
}

}  // namespace rdiag::agent
