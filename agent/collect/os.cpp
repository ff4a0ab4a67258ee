#include "agent/collect/os.h"

#include <sys/utsname.h>

#include <charconv>

#include "agent/collect/collector.h"
#include "agent/collect/read.h"
#include "agent/collect/text.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {
namespace {

using i18n::tr;

// Cuts the next line off `rest`; false at the end of the text.
bool valid_key(std::string_view key) {
  if (key.empty() || (key[0] >= '0' && key[0] <= '9')) return false;
  for (char c : key) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

enum class Quote { kNone, kSingle, kDouble };

// The os-release spec defers to shell rules: single quotes are literal; inside
// double quotes a backslash escapes only " \ $ and `; outside quotes it
// escapes any character. Adjacent pieces concatenate ("a"'b' is ab).
Result<std::string> unquote(std::string_view raw, std::string_view path, int line_no,
                            std::string_view key) {
  std::string out;
  Quote q = Quote::kNone;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (q == Quote::kSingle) {
      if (c == '\'')
        q = Quote::kNone;
      else
        out += c;
      continue;
    }
    if (c == '\\' && i + 1 < raw.size()) {
      const char n = raw[i + 1];
      if (q == Quote::kNone || n == '"' || n == '\\' || n == '$' || n == '`') {
        out += n;
        ++i;
      } else {
        out += c;  // "\q" inside double quotes stays two characters, as in sh
      }
      continue;
    }
    if (q == Quote::kDouble) {
      if (c == '"')
        q = Quote::kNone;
      else
        out += c;
    } else if (c == '"') {
      q = Quote::kDouble;
    } else if (c == '\'') {
      q = Quote::kSingle;
    } else if (c == ' ' || c == '\t') {
      return make_error(tr("agent.collect.unquoted_space", path, line_no, key), "malformed");
    } else {
      out += c;
    }
  }
  if (q != Quote::kNone) {
    return make_error(tr("agent.collect.unterminated_quote", path, line_no, key), "malformed");
  }
  return out;
}

void keep(OsRelease& os, std::string_view key, std::string value) {
  if (key == "ID")
    os.id = std::move(value);
  else if (key == "NAME")
    os.name = std::move(value);
  else if (key == "VERSION_ID")
    os.version_id = std::move(value);
  else if (key == "PRETTY_NAME")
    os.pretty_name = std::move(value);
}

// "24808.52" -> 24808. The kernel prints hundredths; no report needs them.
std::optional<std::uint64_t> whole_seconds(std::string_view v) {
  const auto dot = v.find('.');
  const std::string_view whole = v.substr(0, dot);
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), n);
  if (whole.empty() || ec != std::errc() || end != whole.data() + whole.size()) return {};
  if (dot != std::string_view::npos &&
      (dot + 1 == v.size() ||
       v.find_first_not_of("0123456789", dot + 1) != std::string_view::npos)) {
    return {};
  }
  return n;
}

}  // namespace

Result<OsRelease> parse_os_release(std::string_view text, std::string_view path) {
  OsRelease os;
  std::string_view rest = text;
  std::string_view raw;
  for (int line_no = 1; next_line(rest, raw); ++line_no) {
    const std::string_view line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      return make_error(tr("agent.collect.bad_line", path, line_no, line, "KEY=VALUE"),
                        "malformed");
    }
    const std::string_view key = line.substr(0, eq);
    if (!valid_key(key)) {
      return make_error(tr("agent.collect.bad_key", path, line_no, key), "malformed");
    }
    auto value = unquote(line.substr(eq + 1), path, line_no, key);
    if (!value) return value.error();
    keep(os, key, std::move(*value));  // a later assignment wins, as in sh
  }
  return os;
}

nlohmann::json to_json(const OsRelease& os) {
  nlohmann::json j = nlohmann::json::object();
  if (os.id) j["id"] = *os.id;
  if (os.name) j["name"] = *os.name;
  if (os.version_id) j["version_id"] = *os.version_id;
  if (os.pretty_name) j["pretty_name"] = *os.pretty_name;
  return j;
}

Result<std::string> parse_one_line(std::string_view text, std::string_view path) {
  std::string_view line;
  std::string_view rest = text;
  if (!next_line(rest, line) || trim(line).empty()) {
    return make_error(tr("agent.collect.empty", path), "malformed");
  }
  return std::string(trim(line));
}

Result<Uptime> parse_uptime(std::string_view text) {
  constexpr std::string_view kPath = "/proc/uptime";
  std::string_view line;
  std::string_view rest = text;
  if (!next_line(rest, line) || trim(line).empty()) {
    return make_error(tr("agent.collect.empty", kPath), "malformed");
  }
  line = trim(line);
  const auto space = line.find_first_of(" \t");
  if (space == std::string_view::npos) {
    return make_error(tr("agent.collect.bad_line", kPath, 1, line, "UPTIME IDLE"), "malformed");
  }
  const std::string_view up_text = line.substr(0, space);
  const std::string_view idle_text = trim(line.substr(space));
  const auto up = whole_seconds(up_text);
  if (!up)
    return make_error(tr("agent.collect.bad_decimal", kPath, 1, "uptime", up_text), "malformed");
  const auto idle = whole_seconds(idle_text);
  if (!idle)
    return make_error(tr("agent.collect.bad_decimal", kPath, 1, "idle", idle_text), "malformed");
  return Uptime{*up, *idle};
}

nlohmann::json to_json(const Uptime& uptime) {
  return {{"uptime_s", uptime.uptime_s}, {"idle_s", uptime.idle_s}};
}

// ---- the collector: os-release, kernel, host name, uptime ----

namespace {

// os-release(5): /etc/os-release, else /usr/lib/os-release.
Result<OsRelease> read_os_release() {
  auto text = read_text(std::string(kOsReleasePath));
  if (text) return parse_os_release(*text, kOsReleasePath);
  auto fallback = read_text("/usr/lib/os-release");
  if (!fallback) return text.error();
  return parse_os_release(*fallback, "/usr/lib/os-release");
}

Result<std::string> read_one_line(const std::string& path) {
  auto text = read_text(path);
  if (!text) return text.error();
  return parse_one_line(*text, path);
}

Result<nlohmann::json> os_collect(const CollectContext&) {
  auto os = read_os_release();
  if (!os) return os.error();
  auto kernel = read_one_line("/proc/sys/kernel/osrelease");
  if (!kernel) return kernel.error();
  auto host = read_one_line("/proc/sys/kernel/hostname");
  if (!host) return host.error();
  auto up_text = read_text("/proc/uptime");
  if (!up_text) return up_text.error();
  auto up = parse_uptime(*up_text);
  if (!up) return up.error();
  nlohmann::json data = {{"os_release", to_json(*os)},
                         {"kernel", *kernel},
                         {"hostname", *host},
                         {"uptime", to_json(*up)}};
  // The machine type is not in /proc as one line; uname() is a plain syscall.
  struct utsname uts {};
  if (::uname(&uts) == 0) data["arch"] = uts.machine;
  return data;
}

}  // namespace

const Collector& os_collector() {
  static const Collector c{"os", "agent.collect.summary.os", os_collect};
  return c;
}

}  // namespace rdiag::agent::collect
