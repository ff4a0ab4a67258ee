#include "common/sshsig.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "common/ssh_wire.h"
#include "common/text_safety.h"

// Error messages here are plain English with a stable reason word: the i18n
// catalog (common/catalog/common.inc) is owned by another change right now.
// Callers that show them to people translate by reason.
// TODO(i18n): move the messages to catalog ids "common.sshsig.*".

namespace rdiag {
namespace {

using ssh_wire::as_span;
using ssh_wire::as_text;
using ssh_wire::ByteSpan;
using ssh_wire::Reader;
using ssh_wire::Writer;

// PROTOCOL.sshsig: a 6-byte magic with no NUL, then version 1.
constexpr std::string_view kMagic = "SSHSIG";
constexpr std::uint32_t kVersion = 1;
constexpr std::string_view kArmorBegin = "-----BEGIN SSH SIGNATURE-----";
constexpr std::string_view kArmorEnd = "-----END SSH SIGNATURE-----";
// sshbuf_dtob64() wraps at 70 columns; matching it keeps us byte-identical
// to ssh-keygen's output.
constexpr std::size_t kArmorWidth = 70;
// A real Ed25519 signature armors to about 300 bytes; this bounds the work a
// hostile file can cause without ever refusing a genuine one.
constexpr std::size_t kMaxArmorBytes = std::size_t{64} * 1024;
constexpr std::string_view kEd25519 = "ssh-ed25519";
constexpr std::size_t kEd25519KeyLen = 32;
constexpr std::size_t kEd25519SigLen = 64;
// Untrusted names quoted in an error are cut to this many bytes.
constexpr std::size_t kQuoteMax = 64;

Error malformed(std::string what) {
  return make_error("SSH signature is malformed: " + what, "malformed");
}

Error unsupported(std::string what) {
  return make_error("SSH signature is not supported: " + what, "unsupported");
}

// Quotes text from the signature for an error message, safe for a terminal.
std::string quote(std::string_view untrusted) {
  bool cut = untrusted.size() > kQuoteMax;
  return "'" + terminal_safe(untrusted.substr(0, kQuoteMax)) + (cut ? "...'" : "'");
}

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// H(message) for the hash names PROTOCOL.sshsig allows; nullopt for others.
std::optional<Bytes> message_digest(std::string_view hash_alg, std::string_view message) {
  const EVP_MD* md = hash_alg == "sha512"   ? EVP_sha512()
                     : hash_alg == "sha256" ? EVP_sha256()
                                            : nullptr;
  if (md == nullptr) return std::nullopt;
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (EVP_Digest(message.data(), message.size(), out.data(), &len, md, nullptr) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

// What is actually signed. The reserved field is always empty here, as in
// OpenSSH's sshsig_wrap_verify().
Bytes signed_data(std::string_view namespace_, std::string_view hash_alg, const Bytes& digest) {
  Writer w;
  w.raw(as_span(kMagic));
  w.string(namespace_);
  w.string(std::string_view{});
  w.string(hash_alg);
  w.string(ByteSpan(digest));
  return std::move(w.out());
}

// Fails closed when key.pub does not belong to key.seed: the signature would
// name one key and be made by another, and no verifier would accept it.
std::optional<std::array<std::uint8_t, kEd25519SigLen>> ed25519_sign(const Ed25519PrivateKey& key,
                                                                     const Bytes& data) {
  PkeyPtr pkey(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.seed.data(), key.seed.size()),
      &EVP_PKEY_free);
  MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::array<std::uint8_t, kEd25519KeyLen> pub{};
  std::size_t pub_len = pub.size();
  std::array<std::uint8_t, kEd25519SigLen> sig{};
  std::size_t sig_len = sig.size();
  bool ok = pkey && ctx && EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &pub_len) == 1 &&
            pub == key.pub &&
            EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
            EVP_DigestSign(ctx.get(), sig.data(), &sig_len, data.data(), data.size()) == 1 &&
            sig_len == sig.size();
  ERR_clear_error();  // leave no stale entries for the next caller's openssl_error()
  if (!ok) return std::nullopt;
  return sig;
}

bool ed25519_verify(ByteSpan pub, ByteSpan sig, const Bytes& data) {
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(), pub.size()),
               &EVP_PKEY_free);
  MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  bool ok = pkey && ctx &&
            EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), data.data(), data.size()) == 1;
  ERR_clear_error();  // a failed verify queues an error; it is reported by us, not OpenSSL
  return ok;
}

std::string armor(const Bytes& blob) {
  std::string b64 = base64_encode(blob.data(), blob.size());
  return ssh_wire::armor_lines(kArmorBegin, b64, kArmorEnd, kArmorWidth);
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Like OpenSSH's sshsig_dearmor(): the header starts the text, whitespace in
// the body is ignored. Unlike it, text after the footer must be whitespace.
Result<Bytes> dearmor(std::string_view text) {
  if (text.size() > kMaxArmorBytes) return malformed("larger than 64 KiB");
  if (!text.starts_with(kArmorBegin)) {
    return malformed("it does not start with \"" + std::string(kArmorBegin) + "\"");
  }
  text.remove_prefix(kArmorBegin.size());
  if (text.empty() || !is_space(text.front())) return malformed("no line break after the header");
  auto end = text.find(kArmorEnd);
  if (end == std::string_view::npos) {
    return malformed("\"" + std::string(kArmorEnd) + "\" is missing (truncated file?)");
  }
  for (char c : text.substr(end + kArmorEnd.size())) {
    if (!is_space(c)) return malformed("text follows \"" + std::string(kArmorEnd) + "\"");
  }
  std::string b64;
  for (char c : text.substr(0, end)) {
    if (!is_space(c)) b64 += c;
  }
  auto blob = base64_decode(b64);
  if (!blob || blob->empty()) return malformed("the body is not valid base64 (truncated?)");
  return std::move(*blob);
}

// The fields of the outer blob, still unchecked beyond their framing.
struct Fields {
  ByteSpan public_key;
  std::string_view namespace_;
  std::string_view hash_alg;
  ByteSpan signature;
};

Result<Fields> parse_fields(ByteSpan blob) {
  Reader r(blob);
  auto magic = r.raw(kMagic.size());
  if (!magic || as_text(*magic) != kMagic) return malformed("no \"SSHSIG\" magic");
  auto version = r.u32();
  if (!version) return malformed("truncated after the magic");
  if (*version != kVersion) return unsupported("version " + std::to_string(*version));
  auto key = r.string();
  auto ns = r.string();
  auto reserved = r.string();
  auto hash_alg = r.string();
  auto sig = r.string();
  if (!key || !ns || !reserved || !hash_alg || !sig) return malformed("a field is truncated");
  if (!r.done()) return malformed("data follows the signature field");
  // PROTOCOL.sshsig says to ignore a non-empty reserved field, but it is not
  // covered by the signature; a seal must have no unsigned parts, so refuse it.
  if (!reserved->empty()) return unsupported("the reserved field is not empty");
  return Fields{*key, as_text(*ns), as_text(*hash_alg), *sig};
}

Result<PublicKey> ed25519_signer(ByteSpan blob) {
  auto key = public_key_from_blob(Bytes(blob.begin(), blob.end()));
  if (!key) {
    if (key.error().reason == "unknown_key_type") return unsupported("unknown signer key type");
    return malformed("the signer's public key is damaged");
  }
  if (key->type != kEd25519) {
    return unsupported("signer key type " + quote(key->type) + " (rdiag uses ssh-ed25519)");
  }
  return key;
}

// The SSH signature blob: string "ssh-ed25519", string 64-byte signature.
Result<ByteSpan> ed25519_signature(ByteSpan blob) {
  Reader r(blob);
  auto type = r.string();
  auto sig = r.string();
  if (!type || !sig || !r.done()) return malformed("the signature field is damaged");
  if (as_text(*type) != kEd25519) {
    return unsupported("signature type " + quote(as_text(*type)) + " (expected ssh-ed25519)");
  }
  if (sig->size() != kEd25519SigLen) return malformed("the Ed25519 signature is not 64 bytes");
  return *sig;
}

// Checks everything but the cryptography, in the order ssh-keygen does.
Result<void> check_fields(const Fields& f, std::string_view namespace_) {
  if (f.namespace_ != namespace_) {
    return make_error("SSH signature was made for namespace " + quote(f.namespace_) +
                          ", expected " + quote(namespace_) + " (it signs something else)",
                      "wrong_namespace");
  }
  if (f.hash_alg != "sha512" && f.hash_alg != "sha256") {
    return unsupported("hash algorithm " + quote(f.hash_alg) + " (use sha512 or sha256)");
  }
  return {};
}

}  // namespace

std::string sshsig_sign(const Ed25519PrivateKey& key, std::string_view namespace_,
                        std::string_view message) {
  constexpr std::string_view kHash = "sha512";  // ssh-keygen's default
  auto digest = message_digest(kHash, message);
  if (!digest) return {};
  auto sig = ed25519_sign(key, signed_data(namespace_, kHash, *digest));
  if (!sig) return {};
  Writer sig_blob;
  sig_blob.string(kEd25519);
  sig_blob.string(ByteSpan(*sig));
  Writer w;
  w.raw(as_span(kMagic));
  w.u32(kVersion);
  w.string(ByteSpan(key.public_key().blob));
  w.string(namespace_);
  w.string(std::string_view{});  // reserved
  w.string(kHash);
  w.string(ByteSpan(sig_blob.out()));
  return armor(w.out());
}

Result<SshsigInfo> sshsig_verify(std::string_view armored, std::string_view namespace_,
                                 std::string_view message) {
  auto blob = dearmor(armored);
  if (!blob) return blob.error();
  auto fields = parse_fields(ByteSpan(*blob));
  if (!fields) return fields.error();
  auto signer = ed25519_signer(fields->public_key);
  if (!signer) return signer.error();
  auto sig = ed25519_signature(fields->signature);
  if (!sig) return sig.error();
  if (auto checked = check_fields(*fields, namespace_); !checked) return checked.error();
  auto digest = message_digest(fields->hash_alg, message);
  if (!digest) return make_error("SSH signature: hashing the message failed", "openssl");
  // The key blob was checked above: type string, then the 32-byte key.
  ByteSpan pub = ByteSpan(signer->blob).last(kEd25519KeyLen);
  if (!ed25519_verify(pub, *sig, signed_data(namespace_, fields->hash_alg, *digest))) {
    return make_error("SSH signature does not match the message (changed after signing?)",
                      "bad_signature");
  }
  std::string fp = fingerprint_sha256(signer->blob);
  return SshsigInfo{std::move(*signer), std::move(fp)};
}

Result<SshsigInfo> sshsig_verify_signer(std::string_view armored,
                                        std::string_view expected_fingerprint,
                                        std::string_view namespace_, std::string_view message) {
  auto info = sshsig_verify(armored, namespace_, message);
  if (!info) return info.error();
  if (info->fingerprint != expected_fingerprint) {
    return make_error("SSH signature was made by key " + info->fingerprint + ", expected " +
                          quote(expected_fingerprint) + " (not the trusted key)",
                      "wrong_signer");
  }
  return info;
}

}  // namespace rdiag
