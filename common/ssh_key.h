// OpenSSH key formats with OpenSSL only (common never links libssh):
// Ed25519 key generation, the unencrypted "openssh-key-v1" private key file,
// public key lines and blobs, and SHA256 fingerprints exactly as ssh-keygen
// prints them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rdiag {

using Bytes = std::vector<std::uint8_t>;

struct PublicKey {
  std::string type;  // "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", ...
  Bytes blob;        // the SSH wire blob (string type + key material)
  std::string comment;
};

struct Ed25519PrivateKey {
  std::array<std::uint8_t, 32> seed{};
  std::array<std::uint8_t, 32> pub{};
  std::string comment;
  PublicKey public_key() const;
  // Wipes the seed (OPENSSL_cleanse) so key material does not linger in freed
  // memory. Only a destructor: the struct stays an aggregate and copyable.
  ~Ed25519PrivateKey();
};

// "SHA256:" + unpadded base64 of SHA-256(blob), as `ssh-keygen -lf` shows it.
std::string fingerprint_sha256(const Bytes& blob);

// "ssh-ed25519 AAAA... comment"
std::string public_key_line(const PublicKey& key);

// Parses "type base64 [comment]"; checks that the blob's inner type matches.
Result<PublicKey> parse_public_key_line(std::string_view line);
Result<PublicKey> public_key_from_blob(const Bytes& blob);

Result<Ed25519PrivateKey> generate_ed25519(std::string comment);

// The file text "-----BEGIN OPENSSH PRIVATE KEY-----..." (unencrypted), which
// ssh-keygen and libssh both read.
std::string openssh_private_key_pem(const Ed25519PrivateKey& key);
Result<Ed25519PrivateKey> parse_openssh_private_key(std::string_view pem);

// Loads the key at path, or makes a new one there (mode 0600, written to a
// temporary file, fsync'ed, renamed). Refuses a file that is group/world
// readable, naming the path and the chmod that fixes it.
Result<Ed25519PrivateKey> load_or_create_ed25519(const std::string& path, std::string comment);

std::string base64_encode(const std::uint8_t* data, std::size_t len);
Result<Bytes> base64_decode(std::string_view text);

}  // namespace rdiag
