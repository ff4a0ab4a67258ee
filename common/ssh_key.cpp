#include "common/ssh_key.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <span>

#include "common/fs.h"
#include "common/i18n.h"
#include "common/ssh_wire.h"
#include "common/text_safety.h"

namespace rdiag {
namespace {

using i18n::tr;
using ssh_wire::as_text;
using ssh_wire::ByteSpan;
using ssh_wire::Reader;
using ssh_wire::Writer;

constexpr std::string_view kEd25519 = "ssh-ed25519";
// PROTOCOL.key: the magic includes its terminating NUL.
constexpr std::string_view kAuthMagic{"openssh-key-v1\0", 15};
constexpr std::string_view kPemBegin = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr std::string_view kPemEnd = "-----END OPENSSH PRIVATE KEY-----";
// sshbuf_dtob64() wraps at 70 columns; we match it so files diff cleanly.
constexpr std::size_t kPemWidth = 70;
// Block size of the "none" cipher in OpenSSH's cipher table; the private
// section is padded to it.
constexpr std::size_t kNoneBlockSize = 8;
constexpr std::size_t kEd25519Len = 32;
// A real key file is under 1 KiB; anything this big is not one.
constexpr std::size_t kMaxKeyFileBytes = std::size_t{64} * 1024;
constexpr std::string_view kB64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Zeroes key material before the memory goes back to the allocator.
struct Cleanser {
  Bytes& bytes;
  ~Cleanser() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

// The shapes of public key blobs we accept (PROTOCOL, PROTOCOL.u2f, RFC 4253/5656).
enum class Shape { kPlainEd25519, kRsa, kEcdsa, kSkEd25519, kSkEcdsa };
struct KeyType {
  std::string_view name;
  Shape shape;
  std::string_view curve;  // ecdsa only
};
constexpr KeyType kKeyTypes[] = {
    {"ssh-ed25519", Shape::kPlainEd25519, ""},
    {"ssh-rsa", Shape::kRsa, ""},
    {"ecdsa-sha2-nistp256", Shape::kEcdsa, "nistp256"},
    {"ecdsa-sha2-nistp384", Shape::kEcdsa, "nistp384"},
    {"ecdsa-sha2-nistp521", Shape::kEcdsa, "nistp521"},
    {"sk-ssh-ed25519@openssh.com", Shape::kSkEd25519, ""},
    {"sk-ecdsa-sha2-nistp256@openssh.com", Shape::kSkEcdsa, "nistp256"},
};

const KeyType* find_key_type(std::string_view name) {
  for (const KeyType& t : kKeyTypes) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

bool nonempty(const std::optional<ByteSpan>& s) {
  return s && !s->empty();
}

// Checks the key material after the type string; true when well formed.
bool check_blob_body(const KeyType& type, Reader& r) {
  switch (type.shape) {
    case Shape::kPlainEd25519:
    case Shape::kSkEd25519: {
      auto pub = r.string();
      if (!pub || pub->size() != kEd25519Len) return false;
      break;
    }
    case Shape::kRsa:
      if (!nonempty(r.string()) || !nonempty(r.string())) return false;  // e, n
      break;
    case Shape::kEcdsa:
    case Shape::kSkEcdsa: {
      auto curve = r.string();
      if (!curve || as_text(*curve) != type.curve || !nonempty(r.string())) return false;
      break;
    }
  }
  if (type.shape == Shape::kSkEd25519 || type.shape == Shape::kSkEcdsa) {
    if (!r.string()) return false;  // the FIDO application, usually "ssh:"
  }
  return r.done();
}

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Result<std::array<std::uint8_t, 32>> ed25519_public_from_seed(
    const std::array<std::uint8_t, 32>& seed) {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()),
               &EVP_PKEY_free);
  std::array<std::uint8_t, 32> pub{};
  std::size_t len = pub.size();
  if (!pkey || EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &len) != 1 ||
      len != pub.size()) {
    return make_error(tr("common.key.openssl", openssl_error()), "openssl");
  }
  return pub;
}

Bytes ed25519_blob(const std::array<std::uint8_t, 32>& pub) {
  Writer w;
  w.string(kEd25519);
  w.string(ByteSpan(pub));
  return std::move(w.out());
}

std::uint32_t random_check_int() {
  std::uint32_t v = 0;
  // The check ints only detect a wrong passphrase on encrypted keys; an
  // unencrypted key stays valid with any value, so a failed RAND is harmless.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) v = 0x72646961;
  return v;
}

Bytes private_section(const Ed25519PrivateKey& key) {
  Writer w;
  std::uint32_t check = random_check_int();
  w.u32(check);
  w.u32(check);
  w.string(kEd25519);
  w.string(ByteSpan(key.pub));
  // OpenSSH stores the 64-byte "secret key" of ref10: seed followed by public key.
  w.u32(static_cast<std::uint32_t>(key.seed.size() + key.pub.size()));
  w.raw(ByteSpan(key.seed));
  w.raw(ByteSpan(key.pub));
  w.string(key.comment);
  for (std::uint8_t pad = 1; w.out().size() % kNoneBlockSize != 0; ++pad) w.out().push_back(pad);
  return std::move(w.out());
}

int b64_value(char c) {
  auto pos = kB64Alphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

}  // namespace

std::string base64_encode(const std::uint8_t* data, std::size_t len) {
  std::string out;
  out.reserve((len + 2) / 3 * 4);
  for (std::size_t i = 0; i < len; i += 3) {
    std::uint32_t n = std::uint32_t{data[i]} << 16;
    if (i + 1 < len) n |= std::uint32_t{data[i + 1]} << 8;
    if (i + 2 < len) n |= data[i + 2];
    out += kB64Alphabet[(n >> 18) & 63];
    out += kB64Alphabet[(n >> 12) & 63];
    out += i + 1 < len ? kB64Alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < len ? kB64Alphabet[n & 63] : '=';
  }
  return out;
}

Result<Bytes> base64_decode(std::string_view text) {
  auto bad = [] { return make_error(tr("common.key.bad_base64"), "bad_base64"); };
  if (text.size() % 4 != 0) return bad();
  std::size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  Bytes out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t acc = 0;
  for (std::size_t i = 0; i < text.size() - pad; ++i) {
    int v = b64_value(text[i]);
    if (v < 0) return bad();
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    if (i % 4 == 3) {
      out.push_back(static_cast<std::uint8_t>(acc >> 16));
      out.push_back(static_cast<std::uint8_t>(acc >> 8));
      out.push_back(static_cast<std::uint8_t>(acc));
    }
  }
  if (pad == 1) {  // 3 symbols left = 18 bits = 2 bytes
    out.push_back(static_cast<std::uint8_t>(acc >> 10));
    out.push_back(static_cast<std::uint8_t>(acc >> 2));
  } else if (pad == 2) {  // 2 symbols left = 12 bits = 1 byte
    out.push_back(static_cast<std::uint8_t>(acc >> 4));
  }
  return out;
}

std::string fingerprint_sha256(const Bytes& blob) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int md_len = 0;
  if (EVP_Digest(blob.data(), blob.size(), md.data(), &md_len, EVP_sha256(), nullptr) != 1) {
    return "SHA256:?";  // only on a broken OpenSSL; never equal to a real fingerprint
  }
  std::string b64 = base64_encode(md.data(), md_len);
  while (!b64.empty() && b64.back() == '=') b64.pop_back();  // ssh-keygen prints it unpadded
  return "SHA256:" + b64;
}

std::string public_key_line(const PublicKey& key) {
  std::string line = key.type + " " + base64_encode(key.blob.data(), key.blob.size());
  if (!key.comment.empty()) line += " " + key.comment;
  return line;
}

Result<PublicKey> public_key_from_blob(const Bytes& blob) {
  Reader r{ByteSpan(blob)};
  auto type_name = r.string();
  if (!type_name) return make_error(tr("common.key.bad_blob", "?"), "bad_key");
  const KeyType* type = find_key_type(as_text(*type_name));
  if (type == nullptr) {
    return make_error(tr("common.key.unknown_type", terminal_safe(as_text(*type_name))),
                      "unknown_key_type");
  }
  if (!check_blob_body(*type, r)) {
    return make_error(tr("common.key.bad_blob", type->name), "bad_key");
  }
  return PublicKey{std::string(type->name), blob, ""};
}

Result<PublicKey> parse_public_key_line(std::string_view line) {
  auto next_token = [&line]() {
    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
    std::size_t end = 0;
    while (end < line.size() && !is_space(line[end])) ++end;
    std::string_view token = line.substr(0, end);
    line.remove_prefix(end);
    return token;
  };
  std::string_view type_name = next_token();
  std::string_view b64 = next_token();
  if (type_name.empty() || b64.empty()) {
    return make_error(tr("common.key.missing_fields"), "bad_key");
  }
  if (find_key_type(type_name) == nullptr) {
    return make_error(tr("common.key.unknown_type", terminal_safe(type_name)), "unknown_key_type");
  }
  auto blob = base64_decode(b64);
  if (!blob) return blob.error();
  auto key = public_key_from_blob(*blob);
  if (!key) return key.error();
  if (key->type != type_name) {
    return make_error(tr("common.key.type_mismatch", terminal_safe(type_name), key->type),
                      "bad_key");
  }
  while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  key->comment = std::string(line);
  return key;
}

PublicKey Ed25519PrivateKey::public_key() const {
  return PublicKey{std::string(kEd25519), ed25519_blob(pub), comment};
}

Ed25519PrivateKey::~Ed25519PrivateKey() {
  OPENSSL_cleanse(seed.data(), seed.size());
}

Result<Ed25519PrivateKey> generate_ed25519(std::string comment) {
  Ed25519PrivateKey key;
  if (RAND_priv_bytes(key.seed.data(), static_cast<int>(key.seed.size())) != 1) {
    return make_error(tr("common.key.openssl", openssl_error()), "openssl");
  }
  auto pub = ed25519_public_from_seed(key.seed);
  if (!pub) return pub.error();
  key.pub = *pub;
  key.comment = std::move(comment);
  return key;
}

std::string openssh_private_key_pem(const Ed25519PrivateKey& key) {
  Bytes priv = private_section(key);
  Cleanser priv_guard{priv};
  Writer w;
  w.raw(ByteSpan(reinterpret_cast<const std::uint8_t*>(kAuthMagic.data()), kAuthMagic.size()));
  w.string(std::string_view("none"));  // cipher
  w.string(std::string_view("none"));  // kdf
  w.string(std::string_view(""));      // kdf options
  w.u32(1);                            // number of keys
  w.string(ByteSpan(ed25519_blob(key.pub)));
  w.string(ByteSpan(priv));
  Cleanser file_guard{w.out()};
  std::string b64 = base64_encode(w.out().data(), w.out().size());
  std::string pem = ssh_wire::armor_lines(kPemBegin, b64, kPemEnd, kPemWidth);
  OPENSSL_cleanse(b64.data(), b64.size());
  return pem;
}

namespace {

Result<Bytes> pem_body(std::string_view pem) {
  auto begin = pem.find(kPemBegin);
  auto end = begin == std::string_view::npos ? begin : pem.find(kPemEnd, begin);
  if (end == std::string_view::npos) return make_error(tr("common.key.no_pem"), "bad_key_file");
  std::string b64;
  for (char c : pem.substr(begin + kPemBegin.size(), end - begin - kPemBegin.size())) {
    if (!is_space(c)) b64 += c;
  }
  auto decoded = base64_decode(b64);
  OPENSSL_cleanse(b64.data(), b64.size());
  return decoded;
}

Error bad_private() {
  return make_error(tr("common.key.bad_private"), "bad_key_file");
}

// Everything before the private section: magic, cipher, kdf, key count.
Result<void> check_private_header(Reader& r) {
  auto magic = r.raw(kAuthMagic.size());
  if (!magic || as_text(*magic) != kAuthMagic) {
    return make_error(tr("common.key.bad_magic"), "bad_key_file");
  }
  auto cipher = r.string();
  auto kdf = r.string();
  auto kdf_options = r.string();
  auto count = r.u32();
  if (!cipher || !kdf || !kdf_options || !count) return bad_private();
  if (as_text(*cipher) != "none" || as_text(*kdf) != "none") {
    std::string how =
        as_text(*cipher) != "none" ? std::string(as_text(*cipher)) : std::string(as_text(*kdf));
    return make_error(tr("common.key.encrypted", terminal_safe(how)), "encrypted_key");
  }
  if (*count != 1) return make_error(tr("common.key.key_count", *count), "bad_key_file");
  return {};
}

// The private section: check ints, type, public key, seed||public, comment, padding.
Result<Ed25519PrivateKey> parse_private_section(ByteSpan section) {
  if (section.empty() || section.size() % kNoneBlockSize != 0) return bad_private();
  Reader r(section);
  auto check1 = r.u32();
  auto check2 = r.u32();
  auto type = r.string();
  if (!check1 || !check2 || !type) return bad_private();
  if (*check1 != *check2) return make_error(tr("common.key.check_mismatch"), "bad_key_file");
  if (as_text(*type) != kEd25519) {
    return make_error(tr("common.key.not_ed25519", terminal_safe(as_text(*type))),
                      "unsupported_key_type");
  }
  auto pub = r.string();
  auto priv = r.string();
  auto comment = r.string();
  if (!pub || !priv || !comment || pub->size() != kEd25519Len || priv->size() != 2 * kEd25519Len) {
    return bad_private();
  }
  ByteSpan padding = r.rest();
  for (std::size_t i = 0; i < padding.size(); ++i) {
    if (padding[i] != static_cast<std::uint8_t>(i + 1)) return bad_private();
  }
  Ed25519PrivateKey key;
  std::copy_n(priv->begin(), kEd25519Len, key.seed.begin());
  std::copy_n(pub->begin(), kEd25519Len, key.pub.begin());
  if (!std::equal(pub->begin(), pub->end(), priv->begin() + kEd25519Len)) {
    return make_error(tr("common.key.pub_mismatch"), "bad_key_file");
  }
  key.comment = std::string(as_text(*comment));
  return key;
}

}  // namespace

Result<Ed25519PrivateKey> parse_openssh_private_key(std::string_view pem) {
  auto body = pem_body(pem);
  if (!body) return body.error();
  Cleanser guard{*body};
  Reader r{ByteSpan(*body)};
  if (auto header = check_private_header(r); !header) return header.error();
  auto outer_pub = r.string();
  auto section = r.string();
  if (!outer_pub || !section || !r.done()) return bad_private();
  auto key = parse_private_section(*section);
  if (!key) return key.error();
  // A damaged or hand-edited file could pair a seed with someone else's public
  // key; derive it again rather than trust the stored copy.
  auto derived = ed25519_public_from_seed(key->seed);
  if (!derived) return derived.error();
  Bytes blob = ed25519_blob(key->pub);
  if (*derived != key->pub ||
      !std::equal(blob.begin(), blob.end(), outer_pub->begin(), outer_pub->end())) {
    return make_error(tr("common.key.pub_mismatch"), "bad_key_file");
  }
  return key;
}

namespace {

Error read_failed(const std::string& path, int err) {
  return make_error(tr("common.key.read_failed", path, errno_text(err)), "io");
}

// Only the owner may read a private key, as ssh itself insists.
Result<void> check_key_file_mode(const struct stat& st, const std::string& path) {
  if (!S_ISREG(st.st_mode)) return make_error(tr("common.key.not_regular", path), "bad_key_file");
  if ((st.st_mode & 077) != 0) {
    return make_error(tr("common.key.bad_mode", path, fmt::format("{:04o}", st.st_mode & 07777)),
                      "key_permissions");
  }
  return {};
}

// nullopt: no file there (make one). Refuses files others could read or write.
Result<std::optional<std::string>> read_key_file(const std::string& path) {
  bool missing = false;
  auto text = read_file_bounded(
      path, kMaxKeyFileBytes,
      {.io_error =
           [&](int err) {
             missing = err == ENOENT;  // of the calls made, only open() gives ENOENT
             return read_failed(path, err);
           },
       .too_big = [&path] { return make_error(tr("common.key.too_big", path), "bad_key_file"); },
       .check = [&path](const struct stat& st) { return check_key_file_mode(st, path); }});
  if (missing) return std::optional<std::string>{};
  if (!text) return text.error();
  return std::optional<std::string>(std::move(*text));
}

// Writes the key to a fresh 0600 file and renames it into place without
// replacing anything. false: another process made the file first.
Result<bool> create_key_file(const std::string& path, std::string_view text) {
  int err = write_file_atomic(path, text, 0600, IfExists::kKeep);
  if (err == EEXIST) return false;
  if (err == 0) err = fsync_parent_dir(path);  // else a crash could still lose the key
  if (err != 0) return make_error(tr("common.key.write_failed", path, errno_text(err)), "io");
  return true;
}

// Parses the file text and wipes it, since it holds the seed.
Result<Ed25519PrivateKey> parse_key_file(const std::string& path, std::string& text) {
  auto key = parse_openssh_private_key(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!key) {
    return make_error(tr("common.key.invalid_file", path, key.error().message), key.error().reason);
  }
  return key;
}

}  // namespace

Result<Ed25519PrivateKey> load_or_create_ed25519(const std::string& path, std::string comment) {
  auto existing = read_key_file(path);
  if (!existing) return existing.error();
  if (existing->has_value()) return parse_key_file(path, **existing);
  auto key = generate_ed25519(std::move(comment));
  if (!key) return key.error();
  std::string pem = openssh_private_key_pem(*key);
  auto created = create_key_file(path, pem);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!created) return created.error();
  if (*created) return key;
  // Lost a race with another process making the same key: use theirs.
  auto theirs = read_key_file(path);
  if (!theirs) return theirs.error();
  if (!theirs->has_value()) return read_failed(path, ENOENT);
  return parse_key_file(path, **theirs);
}

}  // namespace rdiag
