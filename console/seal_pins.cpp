#include "console/seal_pins.h"

#include <sstream>

#include "console/files.h"

namespace rdiag::console {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Splits "name type base64 [comment]" into name and "type base64".
bool split_pin(std::string_view line, std::string& name, std::string& key) {
  std::istringstream in{std::string(line)};
  std::string type;
  std::string b64;
  if (!(in >> name >> type >> b64)) return false;
  key = type + " " + b64;
  return name.size() > 2 && name.front() == '[';
}

}  // namespace

std::string pin_name(std::string_view host, std::uint16_t port) {
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

SealPins SealPins::parse(std::string_view text) {
  SealPins pins;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    Line entry{std::string(line), {}, {}};
    std::string_view body = trim(line);
    if (!body.empty() && body[0] != '#' && !split_pin(body, entry.name, entry.key)) {
      entry.name.clear();
      entry.key.clear();
    }
    pins.lines_.push_back(std::move(entry));
  }
  return pins;
}

std::string SealPins::to_text() const {
  std::string out;
  for (const auto& line : lines_) {
    out += line.name.empty() ? line.raw : line.name + " " + line.key;
    out += '\n';
  }
  return out;
}

std::optional<std::string> SealPins::find(std::string_view host, std::uint16_t port) const {
  std::string name = pin_name(host, port);
  for (const auto& line : lines_) {
    if (line.name == name) return line.key;
  }
  return std::nullopt;
}

void SealPins::set(std::string_view host, std::uint16_t port, std::string_view key) {
  std::string name = pin_name(host, port);
  for (auto& line : lines_) {
    if (line.name == name) {
      line.key = std::string(key);
      return;
    }
  }
  lines_.push_back(Line{{}, name, std::string(key)});
}

std::string seal_pins_path(const std::string& data_dir) {
  return data_dir + "/seal_keys";
}

Result<SealPins> load_seal_pins(const std::string& data_dir) {
  auto text = read_text_file(seal_pins_path(data_dir));
  if (!text) {
    if (text.error().reason == "not_found") return SealPins{};
    return text.error();
  }
  return SealPins::parse(*text);
}

Result<void> save_seal_pins(const std::string& data_dir, const SealPins& pins) {
  return write_file_atomic(seal_pins_path(data_dir), pins.to_text());
}

}  // namespace rdiag::console
