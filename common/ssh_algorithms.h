// The SSH algorithm lists both sides use: explicit and modern (they pass
// ssh-audit; TESTING-NOTES.md). Only strings here: common never links libssh.
// libssh 0.10 has no sntrup761; strict kex is on by default in 0.10.6.
#pragma once

namespace rdiag::ssh_algorithms {

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

}  // namespace rdiag::ssh_algorithms
