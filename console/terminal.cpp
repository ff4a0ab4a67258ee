#include "console/terminal.h"

#include <unistd.h>

#include <algorithm>
#include <istream>

#include "common/text_safety.h"

namespace rdiag::console {

std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t width = 0;
  for (const auto& [label, value] : fields) width = std::max(width, display_width(label));
  std::string out;
  for (const auto& [label, value] : fields) {
    out.append(pad_to_width(label + ":", width + 1)).append("  ").append(value).append("\n");
  }
  return out;
}

bool read_yes(std::istream& in) {
  std::string answer;
  if (!std::getline(in, answer)) return false;
  auto first = answer.find_first_not_of(" \t");
  auto last = answer.find_last_not_of(" \t\r");
  if (first == std::string::npos) return false;
  answer = answer.substr(first, last - first + 1);
  std::transform(answer.begin(), answer.end(), answer.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return answer == "y" || answer == "yes" || answer == "是";
}

bool stdin_is_terminal() {
  return ::isatty(STDIN_FILENO) == 1;
}
bool stdout_is_terminal() {
  return ::isatty(STDOUT_FILENO) == 1;
}

}  // namespace rdiag::console
