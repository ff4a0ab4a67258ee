// Small helpers for text meant for a person at a terminal.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace rdiag::console {

// text followed by spaces up to `width` terminal columns (CJK counts 2).
std::string pad_to_width(std::string_view text, std::size_t width);

// Columns separated by two spaces, each as wide as its widest cell, so that
// Chinese headers and names line up. Cells must already be terminal-safe.
std::string render_table(const std::vector<std::vector<std::string>>& rows);

// "Label:  value" lines with the values aligned.
std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields);

// Reads one answer line: "y", "yes" (any case) or "是" mean yes; anything
// else, including end of input, means no.
bool read_yes(std::istream& in);

bool stdin_is_terminal();
bool stdout_is_terminal();

}  // namespace rdiag::console
