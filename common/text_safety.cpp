#include "common/text_safety.h"

#include <algorithm>
#include <cstdint>

namespace rdiag {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// One code point; len == 0 means the byte at that position is not valid UTF-8.
struct Decoded {
  char32_t cp = 0;
  std::size_t len = 0;
};

struct Lead {
  std::size_t len;
  std::uint8_t lo;  // allowed range of the second byte
  std::uint8_t hi;
};

// Unicode table 3-7. Narrowing the second byte's range for E0, ED, F0 and F4
// is what rules out overlongs, surrogates and code points past U+10FFFF
// without decoding first and checking after.
Lead classify(std::uint8_t b) {
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};  // continuation byte, C0/C1 (always overlong) or F5-FF
}

Decoded decode(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<std::uint8_t>(s[i]);
  if (b0 < 0x80) return {b0, 1};
  const Lead lead = classify(b0);
  if (lead.len == 0 || s.size() - i < lead.len) return {};
  char32_t cp = b0 & (0x7Fu >> lead.len);
  for (std::size_t k = 1; k < lead.len; ++k) {
    const auto b = static_cast<std::uint8_t>(s[i + k]);
    const std::uint8_t lo = k == 1 ? lead.lo : 0x80;
    const std::uint8_t hi = k == 1 ? lead.hi : 0xBF;
    if (b < lo || b > hi) return {};
    cp = (cp << 6) | (b & 0x3Fu);
  }
  return {cp, lead.len};
}

// Calls emit(bytes, code point) for each valid code point and
// emit(kReplacement, U+FFFD) for each invalid byte, so every helper below
// shares one definition of "invalid".
template <typename Emit>
void for_each_code_point(std::string_view s, Emit&& emit) {
  for (std::size_t i = 0; i < s.size();) {
    const Decoded d = decode(s, i);
    if (d.len == 0) {
      emit(kReplacement, char32_t{0xFFFD});
      ++i;
    } else {
      emit(s.substr(i, d.len), d.cp);
      i += d.len;
    }
  }
}

struct Range {
  char32_t lo;
  char32_t hi;
};

template <std::size_t N>
bool in_ranges(char32_t cp, const Range (&ranges)[N]) {
  for (const Range& r : ranges) {
    if (cp >= r.lo && cp <= r.hi) return true;
  }
  return false;
}

// Invisible characters that can make text read differently from what it is:
// bidi embeddings, overrides, isolates and marks (the "Trojan Source" set),
// plus zero-width space, word joiner, BOM and the Unicode line/paragraph
// separators that some terminals render as a line break. ZWJ and ZWNJ are
// kept: emoji sequences and Persian and Indic scripts need them.
constexpr Range kInvisibleFormat[] = {
    {0x061C, 0x061C}, {0x200B, 0x200B}, {0x200E, 0x200F}, {0x2028, 0x202E},
    {0x2060, 0x2060}, {0x2066, 0x2069}, {0xFEFF, 0xFEFF},
};

void append_hex(std::string& out, char32_t v, int digits, const char* alphabet) {
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
    out += alphabet[(v >> shift) & 0xFu];
  }
}

void append_terminal_safe(std::string& out, std::string_view bytes, char32_t cp,
                          bool allow_newlines) {
  const bool c0_or_del = cp < 0x20 || cp == 0x7F;
  if (c0_or_del && !(allow_newlines && (cp == '\t' || cp == '\n'))) {
    out += "\\x";  // lower case, as C and bash write it: ESC shows as \x1b
    append_hex(out, cp, 2, "0123456789abcdef");
  } else if ((cp >= 0x80 && cp <= 0x9F) || in_ranges(cp, kInvisibleFormat)) {
    out += "\\u{";  // upper case, as Unicode charts write it: \u{202E}
    append_hex(out, cp, cp > 0xFFFF ? 6 : 4, "0123456789ABCDEF");
    out += '}';
  } else {
    out += bytes;
  }
}

// A spreadsheet evaluates a cell starting with one of these as a formula.
// Leading spaces are looked through because some importers trim them.
bool looks_like_formula(std::string_view cell) {
  const std::size_t first = cell.find_first_not_of(' ');
  if (first == std::string_view::npos) return false;
  return std::string_view("=+-@\t\r").find(cell[first]) != std::string_view::npos;
}

bool csv_needs_quotes(std::string_view cell) {
  if (cell.empty()) return false;
  return cell.find_first_of(",\"\n\r") != std::string_view::npos || cell.front() == ' ' ||
         cell.back() == ' ';
}

// East Asian Wide and Fullwidth blocks (UAX #11) plus the emoji blocks that
// terminals draw two columns wide.
constexpr Range kWide[] = {
    {0x1100, 0x115F}, {0x2E80, 0xA4CF}, {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE30, 0xFE4F},
    {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF}, {0x20000, 0x3FFFD},
};

// Combining diacritics, variation selectors and zero-width characters take no
// column of their own. Script-specific marks (Devanagari, Thai, ...) are not
// listed and count 1: tables of such text may be off by a column.
constexpr Range kZeroWidth[] = {
    {0x0300, 0x036F}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F},
    {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xE0100, 0xE01EF},
};

}  // namespace

std::string sanitize_utf8(std::string_view in) {
  if (!first_invalid_utf8(in)) return std::string(in);
  std::string out;
  out.reserve(in.size() + 8);
  for_each_code_point(in, [&](std::string_view bytes, char32_t) { out += bytes; });
  return out;
}

std::optional<std::size_t> first_invalid_utf8(std::string_view in) {
  for (std::size_t i = 0; i < in.size();) {
    const Decoded d = decode(in, i);
    if (d.len == 0) return i;
    i += d.len;
  }
  return std::nullopt;
}

std::string terminal_safe(std::string_view in, bool allow_newlines) {
  std::string out;
  out.reserve(in.size());
  for_each_code_point(in, [&](std::string_view bytes, char32_t cp) {
    append_terminal_safe(out, bytes, cp, allow_newlines);
  });
  return out;
}

std::string csv_cell(std::string_view in) {
  std::string cell = sanitize_utf8(in);
  if (looks_like_formula(cell)) cell.insert(0, 1, '\'');
  if (!csv_needs_quotes(cell)) return cell;
  std::string out = "\"";
  for (const char c : cell) {
    out += c;
    if (c == '"') out += '"';
  }
  out += '"';
  return out;
}

std::string html_escape(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for_each_code_point(in, [&](std::string_view bytes, char32_t cp) {
    switch (cp) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += bytes;
    }
  });
  return out;
}

std::size_t display_width(std::string_view utf8) {
  std::size_t width = 0;
  for_each_code_point(utf8, [&](std::string_view, char32_t cp) {
    if (in_ranges(cp, kZeroWidth)) return;
    width += in_ranges(cp, kWide) ? std::size_t{2} : std::size_t{1};
  });
  return width;
}

std::string fit_width(const std::string& text, std::size_t width) {
  if (display_width(text) <= width) return text;
  std::string out;
  std::size_t used = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = 1;
    while (i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xC0U) == 0x80U) ++n;
    const std::string cp = text.substr(i, n);
    const std::size_t w = display_width(cp);
    if (used + w + 1 > width) break;
    out += cp;
    used += w;
    i += n;
  }
  return out + "…";
}

std::string pad_to_width(std::string_view text, std::size_t width) {
  std::string out(text);
  std::size_t used = display_width(text);
  if (used < width) out.append(width - used, ' ');
  return out;
}

std::string render_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      bool last = i + 1 == row.size();
      line += last ? row[i] : pad_to_width(row[i], widths[i]) + "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string escaped_name(std::string_view name) {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0x0f];
    }
  }
  return out;
}

}  // namespace rdiag
