// SSHSIG signatures (OpenSSH PROTOCOL.sshsig, the format of `ssh-keygen -Y
// sign`) for Ed25519 with OpenSSL only, so that a seal rdiag writes can be
// checked by hand with `ssh-keygen -Y verify` and a signature ssh-keygen makes
// is checked by rdiag the same way.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/ssh_key.h"

namespace rdiag {

// The namespace of record seals and checkpoints (DESIGN.md "Service records").
inline constexpr std::string_view kSealNamespace = "rdiag-seal-v1@rdiag";

struct SshsigInfo {
  PublicKey signer;         // the key named inside the signature
  std::string fingerprint;  // "SHA256:..." of signer.blob, as ssh-keygen -l prints it
};

// The armored text "-----BEGIN SSH SIGNATURE-----\n...-----END SSH
// SIGNATURE-----\n", byte-identical to what `ssh-keygen -Y sign -n namespace_`
// writes for the same key and message (Ed25519 is deterministic; hash
// sha512). Returns an empty string only if OpenSSL itself fails (out of
// memory); callers must treat an empty result as a failure, never store it.
std::string sshsig_sign(const Ed25519PrivateKey& key, std::string_view namespace_,
                        std::string_view message);

// Checks armor, magic, version, namespace, hash algorithm (sha512 or sha256),
// key and signature type (ssh-ed25519 only) and the Ed25519 signature.
//
// It proves only that the key *inside* the signature signed the message:
// anyone can sign with their own key. Callers must compare the returned
// fingerprint with the key they trust, or use sshsig_verify_signer.
//
// Error reasons: "malformed" (armor, base64 or blob), "unsupported" (version,
// hash, key or signature type), "wrong_namespace", "bad_signature". Messages
// are plain English (the i18n catalog is not wired in here yet); callers that
// show them translate by reason.
Result<SshsigInfo> sshsig_verify(std::string_view armored, std::string_view namespace_,
                                 std::string_view message);

// sshsig_verify plus a check that the signer is the key with
// expected_fingerprint ("SHA256:..."); otherwise reason "wrong_signer".
Result<SshsigInfo> sshsig_verify_signer(std::string_view armored,
                                        std::string_view expected_fingerprint,
                                        std::string_view namespace_, std::string_view message);

}  // namespace rdiag
