#include "agent/collect/text.h"

#include <charconv>

#include "common/i18n.h"

namespace rdiag::agent::collect {

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

bool next_line(std::string_view& rest, std::string_view& line) {
  if (rest.empty()) return false;
  const auto nl = rest.find('\n');
  line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  return true;
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  for (std::size_t i = s.find_first_not_of(" \t"); i != std::string_view::npos;) {
    const auto e = s.find_first_of(" \t", i);
    out.push_back(s.substr(i, e == std::string_view::npos ? e : e - i));
    i = e == std::string_view::npos ? e : s.find_first_not_of(" \t", e);
  }
  return out;
}

std::optional<std::uint64_t> to_u64(std::string_view s, int base) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n, base);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return {};
  return n;
}

Result<void> for_each_colon_line(std::string_view text, std::string_view path,
                                 std::string_view shape, const ColonLineFn& f) {
  std::string_view rest = text;
  std::string_view raw;
  for (int line_no = 1; next_line(rest, raw); ++line_no) {
    const std::string_view line = trim(raw);
    if (line.empty()) continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      return make_error(i18n::tr("agent.collect.bad_line", path, line_no, line, shape),
                        "malformed");
    }
    if (auto r = f(line_no, trim(line.substr(0, colon)), trim(line.substr(colon + 1))); !r) {
      return r;
    }
  }
  return {};
}

}  // namespace rdiag::agent::collect
