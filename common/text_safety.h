// Text from engineers, logs, plugins or the network is made safe before a
// terminal shows it: C0/C1 controls and bidi overrides are escaped, invalid
// UTF-8 becomes U+FFFD. CSV and HTML helpers follow the same rules.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rdiag {

// Valid UTF-8 out: each invalid byte becomes U+FFFD. Invalid means not
// well-formed per Unicode table 3-7: overlongs, surrogates, > U+10FFFF, stray
// continuation bytes and truncated sequences (each byte of those counts).
std::string sanitize_utf8(std::string_view in);

// Offset of the first byte that is not well-formed UTF-8, or nullopt.
std::optional<std::size_t> first_invalid_utf8(std::string_view in);

// For a terminal: controls as \xNN / \u{NNNN} (so ESC shows as "\x1b"), bidi
// overrides and isolates (U+202A-202E, U+2066-2069) and other invisible
// format characters escaped as \u{NNNN}; tab and newline kept only when
// allow_newlines (multi-line notes), else escaped too.
std::string terminal_safe(std::string_view in, bool allow_newlines = false);

// CSV cell: quoted when needed; a leading = + - @ TAB CR gets a ' prefix.
std::string csv_cell(std::string_view in);

// HTML text and attribute escaping.
std::string html_escape(std::string_view in);

// Display width of UTF-8 text in terminal columns (CJK wide = 2), for tables.
std::size_t display_width(std::string_view utf8);

// A file name from a folder someone else may have written, for a message:
// printable ASCII stays, every other byte (and the backslash) becomes \xHH,
// so the name is unambiguous and safe on any terminal.
std::string escaped_name(std::string_view name);

// text followed by spaces up to `width` terminal columns (CJK counts 2).
std::string pad_to_width(std::string_view text, std::size_t width);
// text cut to at most `width` terminal columns, ending in "…" when cut.
std::string fit_width(const std::string& text, std::size_t width);

// Columns separated by two spaces, each as wide as its widest cell, so that
// Chinese headers and names line up. Cells must already be terminal-safe.
std::string render_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace rdiag
