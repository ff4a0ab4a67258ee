// The engineers file: authorized_keys format, one engineer key a line.
// Identity = key fingerprint. See DESIGN.md "Identities and keys".
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/netaddr.h"
#include "common/ssh_key.h"

namespace rdiag {

struct Engineer {
  PublicKey key;
  std::string fingerprint;          // SHA256:...
  std::string name;                 // rdiag-name, may be empty
  std::string role = "engineer";    // rdiag-role: engineer | senior | dba
  std::string id;                   // rdiag-id
  std::optional<std::string> from;  // from="pattern-list"
  // expiry-time as seconds since the epoch (OpenSSH: local time of the server)
  std::optional<std::int64_t> expires_at;
  int line = 0;
};

struct EngineersProblem {
  int line = 0;
  bool refused = false;  // true: a restricting option we do not implement (fail closed)
  std::string message;   // translated, names file, line and the fix
};

struct EngineersFile {
  std::vector<Engineer> engineers;
  std::vector<EngineersProblem> problems;
  const Engineer* find(std::string_view fingerprint) const;
};

// Parses text; `path` is only used in messages.
EngineersFile parse_engineers(std::string_view text, std::string_view path);
// Reads and parses the file; an unreadable file is an error. As sshd's
// StrictModes, so is a file that group or others can write, or that is owned
// by anyone but root or the effective user: whoever can write it can add a key.
Result<EngineersFile> load_engineers(const std::string& path);

enum class KeyVerdict { kAllowed, kUnknown, kFromMismatch, kExpired };
KeyVerdict check_engineer(const EngineersFile& file, std::string_view fingerprint,
                          const IpAddress& peer, std::int64_t now_epoch_s);

}  // namespace rdiag
