#include "common/sshsig.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/unit/common/test_util.h"

// Every test here checks against the stock OpenSSH tools: the point of SSHSIG
// is that `ssh-keygen -Y verify` checks a seal by hand (DESIGN.md).

namespace rdiag {
namespace {

namespace fs = std::filesystem;
using namespace test_util;  // NOLINT(google-build-using-namespace)

constexpr std::string_view kOtherNamespace = "rdiag-other@rdiag";
// A seal body as DESIGN.md "Service records" lays it out, with non-ASCII text.
const std::string kMessage =
    "rdiag-seal-v1\nS-20261128-0001\n42\n"
    "3f1c0d7e9a5b4c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d\n"
    "report-1.json 9b74c9897bac770ffc029102a200c5de\n李伟\n";

// The decoded blob of an armored signature, and back: to damage it on purpose.
Bytes blob_of(const std::string& armored) {
  std::string b64;
  std::istringstream in(armored);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("-----")) b64 += line;
  }
  auto blob = base64_decode(b64);
  return blob ? *blob : Bytes{};
}

std::string armor_of(const Bytes& blob) {
  std::string b64 = base64_encode(blob.data(), blob.size());
  std::string out = "-----BEGIN SSH SIGNATURE-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 70) out += b64.substr(i, 70) + "\n";
  return out + "-----END SSH SIGNATURE-----\n";
}

class Sshsig : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_ssh_keygen()) GTEST_SKIP() << "ssh-keygen not installed";
    auto key = generate_ed25519("rdiag seal");
    ASSERT_TRUE(key) << key.error().message;
    key_ = *key;
    write_text(dir_.file("allowed_signers"), "rdiag namespaces=\"" + std::string(kSealNamespace) +
                                                 "\" " + public_key_line(key_.public_key()) + "\n");
  }

  // `ssh-keygen -Y verify` of sig over message, as a person checks a seal.
  CmdResult keygen_verify(const std::string& sig, std::string_view message,
                          std::string_view ns = kSealNamespace) {
    std::string n = std::to_string(++files_);
    write_text(dir_.file("v" + n + ".sig"), sig);
    write_text(dir_.file("v" + n + ".msg"), message);
    return run("ssh-keygen -Y verify -f '" + dir_.file("allowed_signers") + "' -I rdiag -n '" +
               std::string(ns) + "' -s '" + dir_.file("v" + n + ".sig") + "' < '" +
               dir_.file("v" + n + ".msg") + "'");
  }

  // `ssh-keygen -Y sign`; the armored text, or "" (with a test failure).
  std::string keygen_sign(const std::string& key_path, std::string_view message,
                          std::string_view ns = kSealNamespace, const std::string& opts = "") {
    std::string msg = dir_.file("s" + std::to_string(++files_) + ".msg");
    write_text(msg, message);
    CmdResult r = run("ssh-keygen -Y sign -f '" + key_path + "' -n '" + std::string(ns) + "' " +
                      opts + " '" + msg + "'");
    EXPECT_EQ(r.status, 0) << r.out;
    return read_text(msg + ".sig");
  }

  // A fresh key made by ssh-keygen itself; its path.
  std::string keygen_key(const std::string& name, const std::string& type = "ed25519") {
    std::string path = dir_.file(name);
    CmdResult r = run("ssh-keygen -q -t " + type + " -N '' -C '" + name + "' -f '" + path + "'");
    EXPECT_EQ(r.status, 0) << r.out;
    return path;
  }

  TempDir dir_{"rdiag-sshsig"};
  Ed25519PrivateKey key_;
  int files_ = 0;
};

std::string changed(std::string message) {
  message[message.size() / 2] ^= 0x01;
  return message;
}

TEST_F(Sshsig, SshKeygenVerifiesOurSignature) {
  std::string sig = sshsig_sign(key_, kSealNamespace, kMessage);
  ASSERT_FALSE(sig.empty());
  CmdResult r = keygen_verify(sig, kMessage);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("Good \"rdiag-seal-v1@rdiag\" signature for rdiag"), std::string::npos)
      << r.out;
}

TEST_F(Sshsig, SshKeygenRejectsOurSignatureOverChangedMessage) {
  std::string sig = sshsig_sign(key_, kSealNamespace, kMessage);
  CmdResult r = keygen_verify(sig, changed(kMessage));
  EXPECT_NE(r.status, 0) << r.out;
  // Not refused for some other reason (a missing file, an unreadable key).
  EXPECT_NE(r.out.find("incorrect signature"), std::string::npos) << r.out;
}

TEST_F(Sshsig, SshKeygenRejectsOurSignatureUnderOtherNamespace) {
  // Made for another purpose by a key that is allowed for seals.
  std::string other = sshsig_sign(key_, kOtherNamespace, kMessage);
  CmdResult r = keygen_verify(other, kMessage);
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("namespace does not match"), std::string::npos) << r.out;
  // A seal presented as something else.
  std::string seal = sshsig_sign(key_, kSealNamespace, kMessage);
  CmdResult as_other = keygen_verify(seal, kMessage, kOtherNamespace);
  EXPECT_NE(as_other.status, 0) << as_other.out;
  EXPECT_NE(as_other.out.find("namespace does not match"), std::string::npos) << as_other.out;
}

TEST_F(Sshsig, OurArmorIsByteIdenticalToSshKeygen) {
  // Ed25519 is deterministic, so the same key and message give the same text.
  std::string path = dir_.file("seal_ed25519");
  write_text(path, openssh_private_key_pem(key_));
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  EXPECT_EQ(sshsig_sign(key_, kSealNamespace, kMessage), keygen_sign(path, kMessage));
  EXPECT_EQ(sshsig_sign(key_, kSealNamespace, ""), keygen_sign(path, ""));
}

TEST_F(Sshsig, OurVerifyAcceptsOurSignature) {
  auto info = sshsig_verify(sshsig_sign(key_, kSealNamespace, kMessage), kSealNamespace, kMessage);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->signer.blob, key_.public_key().blob);
  EXPECT_EQ(info->fingerprint, fingerprint_sha256(key_.public_key().blob));
}

TEST_F(Sshsig, VerifiesSshKeygenSignature) {
  std::string path = keygen_key("signer");
  auto key = parse_openssh_private_key(read_text(path));
  ASSERT_TRUE(key) << key.error().message;
  std::string fp = fingerprint_sha256(key->public_key().blob);
  std::string sig = keygen_sign(path, kMessage);

  auto info = sshsig_verify_signer(sig, fp, kSealNamespace, kMessage);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->signer.type, "ssh-ed25519");
  EXPECT_EQ(info->fingerprint, fp);
}

TEST_F(Sshsig, VerifiesSshKeygenSha256Signature) {
  std::string path = keygen_key("signer");
  std::string sig = keygen_sign(path, kMessage, kSealNamespace, "-O hashalg=sha256");
  auto info = sshsig_verify(sig, kSealNamespace, kMessage);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_FALSE(sshsig_verify(sig, kSealNamespace, changed(kMessage)));
}

TEST_F(Sshsig, RejectsSshKeygenSignatureOverChangedMessage) {
  std::string sig = keygen_sign(keygen_key("signer"), kMessage);
  auto info = sshsig_verify(sig, kSealNamespace, changed(kMessage));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().reason, "bad_signature");
  EXPECT_EQ(sshsig_verify(sig, kSealNamespace, kMessage + "\n").error().reason, "bad_signature");
}

TEST_F(Sshsig, RejectsSshKeygenSignatureUnderOtherNamespace) {
  std::string path = keygen_key("signer");
  auto info = sshsig_verify(keygen_sign(path, kMessage), kOtherNamespace, kMessage);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().reason, "wrong_namespace");
  EXPECT_NE(info.error().message.find(kSealNamespace), std::string::npos) << info.error().message;

  auto other =
      sshsig_verify(keygen_sign(path, kMessage, kOtherNamespace), kSealNamespace, kMessage);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().reason, "wrong_namespace");
}

TEST_F(Sshsig, RejectsSignatureByAnotherKey) {
  auto trusted = parse_openssh_private_key(read_text(keygen_key("trusted")));
  ASSERT_TRUE(trusted) << trusted.error().message;
  std::string trusted_fp = fingerprint_sha256(trusted->public_key().blob);
  std::string sig = keygen_sign(keygen_key("intruder"), kMessage);

  // The signature is sound, just not by the key we trust.
  auto any = sshsig_verify(sig, kSealNamespace, kMessage);
  ASSERT_TRUE(any) << any.error().message;
  EXPECT_NE(any->fingerprint, trusted_fp);
  auto pinned = sshsig_verify_signer(sig, trusted_fp, kSealNamespace, kMessage);
  ASSERT_FALSE(pinned);
  EXPECT_EQ(pinned.error().reason, "wrong_signer");
}

TEST_F(Sshsig, RejectsNonEd25519Signer) {
  std::string sig = keygen_sign(keygen_key("ecdsa", "ecdsa"), kMessage);
  auto info = sshsig_verify(sig, kSealNamespace, kMessage);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().reason, "unsupported");
  EXPECT_NE(info.error().message.find("ecdsa-sha2-nistp256"), std::string::npos)
      << info.error().message;
}

TEST_F(Sshsig, MalformedArmorIsMalformed) {
  std::string good = sshsig_sign(key_, kSealNamespace, kMessage);
  std::string body_cut = good;
  body_cut.erase(40, 1);  // truncated base64: one symbol gone
  const std::string cases[] = {
      "",
      "not a signature",
      body_cut,
      good.substr(0, good.size() / 2),  // cut file: no footer
      "-----BEGIN SSH SIGNATURE----\n" + good.substr(30),
      "-----BEGIN OPENSSH PRIVATE KEY-----\n" + good.substr(30),
      "-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n",
      "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH!!!=\n-----END SSH SIGNATURE-----\n",
      good + "trailing words\n",
      " " + good,
  };
  for (const std::string& text : cases) {
    auto info = sshsig_verify(text, kSealNamespace, kMessage);
    ASSERT_FALSE(info) << text;
    EXPECT_EQ(info.error().reason, "malformed") << text;
    EXPECT_FALSE(info.error().message.empty());
  }
}

TEST_F(Sshsig, EveryTruncationIsMalformed) {
  std::string good = sshsig_sign(key_, kSealNamespace, kMessage);
  // Dropping only the final newline leaves a valid signature.
  for (std::size_t len = 0; len + 1 < good.size(); ++len) {
    auto info = sshsig_verify(good.substr(0, len), kSealNamespace, kMessage);
    ASSERT_FALSE(info) << len;
    EXPECT_EQ(info.error().reason, "malformed") << len;
  }
  Bytes blob = blob_of(good);
  for (std::size_t len = 0; len < blob.size(); ++len) {
    auto info =
        sshsig_verify(armor_of(Bytes(blob.begin(), blob.begin() + len)), kSealNamespace, kMessage);
    ASSERT_FALSE(info) << len;
    EXPECT_EQ(info.error().reason, "malformed") << len;
  }
}

TEST_F(Sshsig, EveryFlippedByteIsRejected) {
  Bytes blob = blob_of(sshsig_sign(key_, kSealNamespace, kMessage));
  ASSERT_TRUE(sshsig_verify(armor_of(blob), kSealNamespace, kMessage));
  const std::set<std::string> reasons = {"malformed", "unsupported", "wrong_namespace",
                                         "bad_signature"};
  for (std::size_t i = 0; i < blob.size(); ++i) {
    Bytes bad = blob;
    bad[i] ^= 0x40;
    auto info = sshsig_verify(armor_of(bad), kSealNamespace, kMessage);
    ASSERT_FALSE(info) << "byte " << i;
    EXPECT_EQ(reasons.count(info.error().reason), 1U) << info.error().reason;
  }
}

TEST_F(Sshsig, RejectsOtherVersionAndReservedField) {
  Bytes blob = blob_of(sshsig_sign(key_, kSealNamespace, kMessage));
  Bytes v2 = blob;
  v2[9] = 2;  // "SSHSIG" then the big-endian uint32 version
  EXPECT_EQ(sshsig_verify(armor_of(v2), kSealNamespace, kMessage).error().reason, "unsupported");

  // The reserved field is not signed, so a non-empty one is refused.
  std::size_t reserved = 10 + 4 + key_.public_key().blob.size() + 4 + kSealNamespace.size();
  ASSERT_EQ(blob[reserved + 3], 0);
  Bytes extra = blob;
  extra[reserved + 3] = 1;
  extra.insert(extra.begin() + static_cast<std::ptrdiff_t>(reserved) + 4, 'x');
  auto info = sshsig_verify(armor_of(extra), kSealNamespace, kMessage);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().reason, "unsupported");
}

TEST_F(Sshsig, SignRefusesKeyWhosePublicHalfDoesNotMatch) {
  Ed25519PrivateKey broken = key_;
  broken.pub[0] ^= 0x01;
  EXPECT_EQ(sshsig_sign(broken, kSealNamespace, kMessage), "");
}

}  // namespace
}  // namespace rdiag
