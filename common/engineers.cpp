#include "common/engineers.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <set>

#include "common/fs.h"
#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag {
namespace {

using i18n::tr;

// OpenSSH options that narrow what a key may do. rdiag does not implement
// them, and accepting the line without them would give the key more than the
// file says, so such a line is refused. Every "no-*" option is one of these too.
constexpr std::string_view kRestricting[] = {
    "command",         "principals", "cert-authority", "permitopen", "permitlisten",
    "verify-required", "restrict",   "environment",    "tunnel",
};
constexpr std::string_view kRoles[] = {"engineer", "senior", "dba"};
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
// A generous bound: thousands of RSA-16384 lines fit. Anything larger is a mistake.
constexpr std::size_t kMaxFileBytes = std::size_t{16} * 1024 * 1024;

struct Option {
  std::string name;  // lowercase: OpenSSH compares option names case-insensitively
  std::optional<std::string> value;
};

struct LineParts {
  std::string_view options;
  std::string_view key;  // "type base64 [comment]"
};

// What one line gave: an engineer or a problem, and the key's fingerprint
// when the key itself could be read (for duplicate detection).
struct LineResult {
  std::optional<Engineer> engineer;
  std::optional<EngineersProblem> problem;
  std::string fingerprint;
};

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_blank(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool is_restricting(std::string_view name) {
  return name.starts_with("no-") || std::find(std::begin(kRestricting), std::end(kRestricting),
                                              name) != std::end(kRestricting);
}

// "ssh-dss AAAA..." has no options: its first word is an (unknown) key type,
// and saying so is clearer than calling "ssh-dss" an unknown option.
bool starts_with_key_type(std::string_view line) {
  auto end = line.find_first_of(" \t");
  if (end == std::string_view::npos) return false;
  std::string_view first = line.substr(0, end);
  return first.find_first_of("=\",") == std::string_view::npos &&
         trim(line.substr(end)).starts_with("AAAA");
}

// Splits off the options field: up to the first blank outside double quotes,
// where \" does not end a quote (as OpenSSH's sshkey_advance_past_options()).
Result<LineParts> split_options(std::string_view line) {
  if (starts_with_key_type(line)) return LineParts{{}, line};
  bool quoted = false;
  std::size_t i = 0;
  for (; i < line.size() && (quoted || !is_blank(line[i])); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '"') {
      ++i;
    } else if (line[i] == '"') {
      quoted = !quoted;
    }
  }
  if (quoted) return make_error(tr("common.engineers.bad_quoting"), "malformed");
  return LineParts{line.substr(0, i), trim(line.substr(i))};
}

// Reads a double-quoted value at text[i] (i at the opening quote); \" is a quote.
std::optional<std::string> read_quoted(std::string_view text, std::size_t& i) {
  if (i >= text.size() || text[i] != '"') return std::nullopt;
  std::string value;
  for (++i; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == '"') {
      value += text[++i];
    } else if (text[i] == '"') {
      ++i;
      return value;
    } else {
      value += text[i];
    }
  }
  return std::nullopt;
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '@' ||
         c == '.';
}

Result<std::vector<Option>> parse_options(std::string_view text) {
  std::vector<Option> out;
  std::size_t i = 0;
  auto bad = [&text](std::size_t at) {
    return make_error(tr("common.engineers.bad_options", text.substr(at)), "malformed");
  };
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && is_name_char(text[i])) ++i;
    if (i == start) return bad(i);
    Option opt;
    for (char c : text.substr(start, i - start)) {
      opt.name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (i < text.size() && text[i] == '=') {
      ++i;
      opt.value = read_quoted(text, i);
      if (!opt.value) return make_error(tr("common.engineers.needs_value", opt.name), "malformed");
    }
    out.push_back(std::move(opt));
    if (i == text.size()) break;
    if (text[i] != ',' || i + 1 == text.size()) return bad(i);
    ++i;
  }
  return out;
}

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// expiry-time="YYYYMMDD[HHMM[SS]]" in the server's local time, or UTC with a
// trailing Z (OpenSSH's parse_absolute_time()).
std::optional<std::int64_t> parse_expiry(std::string_view text) {
  bool utc = !text.empty() && (text.back() == 'Z' || text.back() == 'z');
  if (utc) text.remove_suffix(1);
  if ((text.size() != 8 && text.size() != 12 && text.size() != 14) ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  auto num = [&](std::size_t pos, std::size_t len) {
    int v = 0;
    for (std::size_t i = pos; i < pos + len && i < text.size(); ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(8, 2);
  tm.tm_min = num(10, 2);
  tm.tm_sec = num(12, 2);
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
      tm.tm_mday > days_in_month(tm.tm_year + 1900, tm.tm_mon + 1) || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 59) {
    return std::nullopt;
  }
  // OpenSSH zeroes tm_isdst, which is an hour off in summer where DST exists;
  // -1 lets mktime() decide, which is what the person writing the date meant.
  tm.tm_isdst = -1;
  std::time_t t = utc ? ::timegm(&tm) : std::mktime(&tm);
  if (t < 0) return std::nullopt;
  return static_cast<std::int64_t>(t);
}

bool has_control_chars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// Applies one rdiag or from/expiry option; an Error explains a bad value.
Result<void> apply_option(const Option& opt, Engineer& e) {
  if (!opt.value) return make_error(tr("common.engineers.needs_value", opt.name), "malformed");
  const std::string& v = *opt.value;
  // rdiag-name is display text only: every place that shows it escapes it
  // (text_safety.h), and refusing it would hide a hostile name from the very
  // checks that make it harmless. Values that act (ids, patterns, dates) stay strict.
  if (opt.name != "rdiag-name" && has_control_chars(v)) {
    return make_error(tr("common.engineers.control_chars", opt.name), "malformed");
  }
  if (opt.name == "rdiag-name") {
    e.name = v;
  } else if (opt.name == "rdiag-id") {
    e.id = v;
  } else if (opt.name == "rdiag-role") {
    if (std::find(std::begin(kRoles), std::end(kRoles), v) == std::end(kRoles)) {
      return make_error(tr("common.engineers.bad_role", v), "malformed");
    }
    e.role = v;
  } else if (opt.name == "from") {
    if (auto ok = validate_from_patterns(v); !ok) {
      return make_error(tr("common.engineers.bad_from", v, ok.error().message), "malformed");
    }
    e.from = v;
  } else if (opt.name == "expiry-time") {
    auto t = parse_expiry(v);
    if (!t) return make_error(tr("common.engineers.bad_expiry", v), "malformed");
    e.expires_at = *t;
  } else {
    return make_error(tr("common.engineers.unknown_option", opt.name), "malformed");
  }
  return {};
}

Result<void> apply_options(const std::vector<Option>& options, Engineer& e) {
  std::set<std::string> seen;
  for (const Option& opt : options) {
    if (!seen.insert(opt.name).second) {
      return make_error(tr("common.engineers.twice", opt.name), "malformed");
    }
    if (auto ok = apply_option(opt, e); !ok) return ok;
  }
  return {};
}

EngineersProblem malformed(std::string_view path, int line, const Error& why) {
  return {line, false, tr("common.engineers.malformed", path, line, why.message)};
}

LineResult parse_line(std::string_view text, int line, std::string_view path) {
  LineResult r;
  auto parts = split_options(text);
  if (!parts) return {std::nullopt, malformed(path, line, parts.error()), ""};
  auto options = parse_options(parts->options);
  if (!options) return {std::nullopt, malformed(path, line, options.error()), ""};
  auto key = parse_public_key_line(parts->key);
  if (key) r.fingerprint = fingerprint_sha256(key->blob);
  for (const Option& opt : *options) {
    if (is_restricting(opt.name)) {
      r.problem = {line, true, tr("common.engineers.refused", path, line, opt.name)};
      return r;
    }
  }
  if (!key) {
    r.problem = malformed(path, line, key.error());
    return r;
  }
  Engineer e;
  e.key = std::move(*key);
  e.fingerprint = r.fingerprint;
  e.line = line;
  if (auto ok = apply_options(*options, e); !ok) {
    r.problem = malformed(path, line, ok.error());
  } else {
    r.engineer = std::move(e);
  }
  return r;
}

}  // namespace

const Engineer* EngineersFile::find(std::string_view fingerprint) const {
  for (const Engineer& e : engineers) {
    if (e.fingerprint == fingerprint) return &e;
  }
  return nullptr;
}

EngineersFile parse_engineers(std::string_view text, std::string_view path) {
  EngineersFile out;
  std::map<std::string, int, std::less<>> first_line;  // fingerprint -> line it first appeared on
  if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());  // Windows editors add one
  int line = 0;
  while (!text.empty()) {
    ++line;
    auto nl = text.find('\n');
    std::string_view raw = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (raw.empty() || raw.front() == '#') continue;
    LineResult r = parse_line(raw, line, path);
    if (!r.fingerprint.empty()) {
      auto [it, fresh] = first_line.emplace(r.fingerprint, line);
      if (!fresh && !r.problem) {
        r.engineer.reset();
        r.problem = {line, true,
                     tr("common.engineers.duplicate", path, line, r.fingerprint, it->second)};
      }
    }
    if (r.problem) {
      // The message quotes text from the file; it must not drive a terminal.
      r.problem->message = terminal_safe(r.problem->message);
      out.problems.push_back(std::move(*r.problem));
    }
    if (r.engineer) out.engineers.push_back(std::move(*r.engineer));
  }
  return out;
}

namespace {

// As sshd's StrictModes: a regular file that neither group nor others can
// write, owned by root or by us. Whoever can write it can make themselves an
// engineer.
Result<void> check_file_modes(const struct stat& st, const std::string& path) {
  if (!S_ISREG(st.st_mode)) return make_error(tr("common.engineers.not_regular", path), "io");
  if ((st.st_mode & 022) != 0) {
    return make_error(tr("common.engineers.bad_mode", path), "engineers_permissions");
  }
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return make_error(tr("common.engineers.bad_owner", path, st.st_uid), "engineers_permissions");
  }
  return {};
}

Result<std::string> read_engineers_file(const std::string& path) {
  return read_file_bounded(
      path, kMaxFileBytes,
      {.io_error =
           [&path](int err) {
             return make_error(tr("common.engineers.read_failed", path, errno_text(err)), "io");
           },
       .too_big = [&path] { return make_error(tr("common.engineers.too_big", path), "io"); },
       .check = [&path](const struct stat& st) { return check_file_modes(st, path); }});
}

}  // namespace

Result<EngineersFile> load_engineers(const std::string& path) {
  auto text = read_engineers_file(path);
  if (!text) return text.error();
  return parse_engineers(*text, path);
}

KeyVerdict check_engineer(const EngineersFile& file, std::string_view fingerprint,
                          const IpAddress& peer, std::int64_t now_epoch_s) {
  const Engineer* e = file.find(fingerprint);
  if (e == nullptr) return KeyVerdict::kUnknown;
  if (e->from && !match_from_patterns(*e->from, peer)) return KeyVerdict::kFromMismatch;
  if (e->expires_at && *e->expires_at <= now_epoch_s) return KeyVerdict::kExpired;
  return KeyVerdict::kAllowed;
}

}  // namespace rdiag
