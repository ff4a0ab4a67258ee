// Small helpers for text meant for a person at a terminal.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "common/text_safety.h"

namespace rdiag::console {

// pad_to_width and render_table live in common/text_safety.h (the agent's
// admin commands print tables too).

// "Label:  value" lines with the values aligned.
std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields);

// Reads one answer line: "y", "yes" (any case) or "是" mean yes; anything
// else, including end of input, means no.
bool read_yes(std::istream& in);

bool stdin_is_terminal();
bool stdout_is_terminal();

}  // namespace rdiag::console
