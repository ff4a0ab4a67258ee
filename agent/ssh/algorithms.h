// Explicit, modern algorithm lists (they pass ssh-audit; TESTING-NOTES.md).
// libssh 0.10 has no sntrup761; strict kex is on by default in 0.10.6.
#pragma once

#include <libssh/server.h>

#include "common/result.h"

namespace rdiag::agent {

inline constexpr const char* kKex =
    "curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,"
    "diffie-hellman-group18-sha512";
inline constexpr const char* kCiphers =
    "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,"
    "aes192-ctr,aes128-ctr";
inline constexpr const char* kMacs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";
inline constexpr const char* kHostKeyAlgorithms = "ssh-ed25519";
inline constexpr const char* kPubkeyAlgorithms =
    "ssh-ed25519,sk-ssh-ed25519@openssh.com,rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,"
    "ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com";

inline Result<void> apply_server_algorithms(ssh_bind bind) {
  const struct {
    ssh_bind_options_e option;
    const char* value;
  } settings[] = {
      {SSH_BIND_OPTIONS_KEY_EXCHANGE, kKex},
      {SSH_BIND_OPTIONS_CIPHERS_C_S, kCiphers},
      {SSH_BIND_OPTIONS_CIPHERS_S_C, kCiphers},
      {SSH_BIND_OPTIONS_HMAC_C_S, kMacs},
      {SSH_BIND_OPTIONS_HMAC_S_C, kMacs},
      {SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, kHostKeyAlgorithms},
      {SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, kPubkeyAlgorithms},
  };
  for (const auto& s : settings) {
    if (ssh_bind_options_set(bind, s.option, s.value) != SSH_OK) {
      return make_error(std::string("libssh refused algorithm list ") + s.value);
    }
  }
  return {};
}

}  // namespace rdiag::agent
