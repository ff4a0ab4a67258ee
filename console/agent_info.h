// What the console makes of an agent.info result: the seal key to pin, a
// consistency check against the SSH host key, and the text `rdiag info` prints.
// Everything the agent sent is untrusted text until terminal_safe() has seen it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"
#include "console/sites.h"

namespace rdiag::console {

struct SealKey {
  std::string fingerprint;  // SHA256:..., computed here, not taken from the agent
  std::string key;          // "ssh-ed25519 AAAA..." (no comment), as pinned
};

// Reads seal_key.public (must be ssh-ed25519); refuses a seal_key.fingerprint
// that does not match the key it came with.
Result<SealKey> seal_key_of(const nlohmann::json& info, const std::string& endpoint);

// Refuses an agent whose host_key.fingerprint differs from the key it
// presented in SSH: whoever answered is not the agent it describes.
Result<void> check_host_key_claim(const nlohmann::json& info, const std::string& presented_fp,
                                  const std::string& endpoint);

struct InfoView {
  const Site& site;
  const nlohmann::json& info;
  std::string host_fingerprint;  // as presented in SSH
  std::string seal_fingerprint;  // as computed from seal_key.public
};

// Labelled lines for `rdiag info`, in the current language.
std::string render_info(const InfoView& view);

// The fingerprint of a "type base64" key line, or "?" if it cannot be read.
std::string fingerprint_of_line(const std::string& key_line);

}  // namespace rdiag::console
