// Small text tools the /proc and /etc parsers share: lines, fields and
// numbers, with no allocation beyond the field list and no exceptions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::agent::collect {

// s without leading and trailing spaces, tabs, CR and LF.
std::string_view trim(std::string_view s);
// Takes the next line (without '\n') off rest; false when rest is empty.
bool next_line(std::string_view& rest, std::string_view& line);
// The fields of s separated by runs of spaces and tabs.
std::vector<std::string_view> split_ws(std::string_view s);
// All of s as an unsigned number in base, or nullopt (empty, sign, junk).
std::optional<std::uint64_t> to_u64(std::string_view s, int base = 10);

// Calls f(line_no, key, value) for each non-blank "key: value" line of text,
// both trimmed, and stops at f's first error. A line without ':' is an error
// naming path, the line and `shape`, the form a line should have.
using ColonLineFn = std::function<Result<void>(int, std::string_view, std::string_view)>;
Result<void> for_each_colon_line(std::string_view text, std::string_view path,
                                 std::string_view shape, const ColonLineFn& f);

}  // namespace rdiag::agent::collect
