// Applies the shared algorithm lists (common/ssh_algorithms.h) to a server bind.
#pragma once

#include <libssh/server.h>

#include "common/result.h"
#include "common/ssh_algorithms.h"

namespace rdiag::agent {

using ssh_algorithms::kCiphers;
using ssh_algorithms::kHostKeyAlgorithms;
using ssh_algorithms::kKex;
using ssh_algorithms::kMacs;
using ssh_algorithms::kPubkeyAlgorithms;

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
