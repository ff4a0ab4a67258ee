// Pinned seal keys: <data_dir>/seal_keys, one line per agent,
// "[host]:port ssh-ed25519 AAAA...", beside known_hosts (which pins the host
// key). The seal key signs the agent's records; pinning it on first contact is
// what lets the console verify records later without trusting the agent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag::console {

// "[host]:port": always bracketed, whatever the port.
std::string pin_name(std::string_view host, std::uint16_t port);

class SealPins {
 public:
  // Blank lines and '#' comments are kept verbatim on rewrite; so are lines we
  // cannot read, so a hand edit is never silently lost.
  static SealPins parse(std::string_view text);
  std::string to_text() const;

  // The pinned "type base64" key, when there is one.
  std::optional<std::string> find(std::string_view host, std::uint16_t port) const;
  // Adds or replaces the pin; key is "type base64".
  void set(std::string_view host, std::uint16_t port, std::string_view key);

 private:
  struct Line {
    std::string raw;   // the line as read (used when name is empty)
    std::string name;  // "[host]:port", empty for comments and unreadable lines
    std::string key;   // "type base64"
  };
  std::vector<Line> lines_;
};

std::string seal_pins_path(const std::string& data_dir);
Result<SealPins> load_seal_pins(const std::string& data_dir);
Result<void> save_seal_pins(const std::string& data_dir, const SealPins& pins);

}  // namespace rdiag::console
