// Small text tools the /proc and /etc parsers share: lines, fields and
// numbers, with no allocation beyond the field list and no exceptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace rdiag::agent::collect {

// s without leading and trailing spaces, tabs, CR and LF.
std::string_view trim(std::string_view s);
// Takes the next line (without '\n') off rest; false when rest is empty.
bool next_line(std::string_view& rest, std::string_view& line);
// The fields of s separated by runs of spaces and tabs.
std::vector<std::string_view> split_ws(std::string_view s);
// All of s as an unsigned number in base, or nullopt (empty, sign, junk).
std::optional<std::uint64_t> to_u64(std::string_view s, int base = 10);

}  // namespace rdiag::agent::collect
