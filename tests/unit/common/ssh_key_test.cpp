#include "common/ssh_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/i18n.h"
#include "tests/unit/common/test_util.h"

namespace rdiag {
namespace {

namespace fs = std::filesystem;
using namespace test_util;  // NOLINT(google-build-using-namespace)

std::string first_line(std::string s) {
  s = s.substr(0, s.find('\n'));
  return s;
}

std::vector<std::string> tokens(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

class SshKey : public ::testing::Test {
 protected:
  void SetUp() override {
    i18n::set_lang(i18n::Lang::kEn);
    if (!have_ssh_keygen()) GTEST_SKIP() << "ssh-keygen not installed";
  }
  TempDir dir_{"rdiag-key"};
};

TEST_F(SshKey, FingerprintAndPublicLineMatchSshKeygen) {
  std::string path = dir_.file("host_ed25519");
  auto key = load_or_create_ed25519(path, "rdiag@test");
  ASSERT_TRUE(key) << key.error().message;
  std::string ours = fingerprint_sha256(key->public_key().blob);

  CmdResult fp = run("ssh-keygen -lf '" + path + "'");
  ASSERT_EQ(fp.status, 0) << fp.out;
  ASSERT_GE(tokens(fp.out).size(), 2U) << fp.out;
  EXPECT_EQ(tokens(fp.out)[1], ours);

  CmdResult pub = run("ssh-keygen -y -f '" + path + "'");
  ASSERT_EQ(pub.status, 0) << pub.out;
  EXPECT_EQ(first_line(pub.out), public_key_line(key->public_key()));
}

TEST_F(SshKey, ReadsKeyMadeBySshKeygen) {
  std::string path = dir_.file("id_ed25519");
  CmdResult made = run("ssh-keygen -q -t ed25519 -N '' -C 'made by ssh-keygen' -f '" + path + "'");
  ASSERT_EQ(made.status, 0) << made.out;

  auto key = parse_openssh_private_key(read_text(path));
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->comment, "made by ssh-keygen");
  EXPECT_EQ(public_key_line(key->public_key()), first_line(read_text(path + ".pub")));

  CmdResult fp = run("ssh-keygen -lf '" + path + ".pub'");
  ASSERT_EQ(fp.status, 0) << fp.out;
  EXPECT_EQ(tokens(fp.out)[1], fingerprint_sha256(key->public_key().blob));
}

TEST_F(SshKey, RefusesPassphraseProtectedKey) {
  std::string path = dir_.file("locked");
  ASSERT_EQ(run("ssh-keygen -q -t ed25519 -N 'secret words' -f '" + path + "'").status, 0);
  auto key = parse_openssh_private_key(read_text(path));
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().reason, "encrypted_key");
  EXPECT_NE(key.error().message.find("ssh-keygen -p"), std::string::npos) << key.error().message;
}

TEST_F(SshKey, RefusesNonEd25519PrivateKey) {
  std::string path = dir_.file("ecdsa");
  ASSERT_EQ(run("ssh-keygen -q -t ecdsa -N '' -f '" + path + "'").status, 0);
  auto key = parse_openssh_private_key(read_text(path));
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().message.find("ecdsa-sha2-nistp256"), std::string::npos)
      << key.error().message;
}

TEST_F(SshKey, CreatesKeyFileWithMode0600AndLoadsItAgain) {
  std::string path = dir_.file("seal_ed25519");
  auto made = load_or_create_ed25519(path, "first");
  ASSERT_TRUE(made) << made.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600U);

  auto again = load_or_create_ed25519(path, "ignored: the file keeps its own comment");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->seed, made->seed);
  EXPECT_EQ(again->pub, made->pub);
  EXPECT_EQ(again->comment, "first");
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(fs::path(path).parent_path()), {}), 1);
}

TEST_F(SshKey, RefusesGroupReadableKeyFileNamingChmod) {
  std::string path = dir_.file("host_ed25519");
  ASSERT_TRUE(load_or_create_ed25519(path, ""));
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  auto key = load_or_create_ed25519(path, "");
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().message.find("chmod 600 " + path), std::string::npos)
      << key.error().message;
}

TEST_F(SshKey, MissingFolderIsAnErrorNamingThePath) {
  std::string path = dir_.file("no-such-dir/host_ed25519");
  auto key = load_or_create_ed25519(path, "");
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().message.find(path), std::string::npos) << key.error().message;
}

TEST(SshKeyPem, RoundTripsAndWrapsAt70Columns) {
  auto key = generate_ed25519("李伟@rdiag");
  ASSERT_TRUE(key);
  std::string pem = openssh_private_key_pem(*key);
  EXPECT_EQ(pem.rfind("-----BEGIN OPENSSH PRIVATE KEY-----\n", 0), 0U);
  std::istringstream lines(pem);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 70U);

  auto back = parse_openssh_private_key(pem);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->seed, key->seed);
  EXPECT_EQ(back->pub, key->pub);
  EXPECT_EQ(back->comment, "李伟@rdiag");
}

TEST(SshKeyPem, RefusesTextThatIsNotAKey) {
  EXPECT_FALSE(parse_openssh_private_key("hello"));
  EXPECT_FALSE(parse_openssh_private_key(
      "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"));
}

TEST(SshKeyPem, RefusesKeyWithAlteredPublicHalf) {
  auto key = generate_ed25519("");
  ASSERT_TRUE(key);
  Ed25519PrivateKey forged = *key;
  forged.pub[0] ^= 1;
  EXPECT_FALSE(parse_openssh_private_key(openssh_private_key_pem(forged)));
}

TEST(Base64, MatchesRfc4648Vectors) {
  auto enc = [](std::string_view s) {
    return base64_encode(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  EXPECT_EQ(enc(""), "");
  EXPECT_EQ(enc("f"), "Zg==");
  EXPECT_EQ(enc("fo"), "Zm8=");
  EXPECT_EQ(enc("foo"), "Zm9v");
  EXPECT_EQ(enc("foobar"), "Zm9vYmFy");
}

TEST(Base64, RoundTripsEveryLength) {
  for (std::size_t len = 0; len < 40; ++len) {
    Bytes data(len);
    for (std::size_t i = 0; i < len; ++i) data[i] = static_cast<std::uint8_t>(i * 37 + 251);
    auto back = base64_decode(base64_encode(data.data(), data.size()));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, data) << "length " << len;
  }
}

TEST(Base64, RejectsBadText) {
  for (std::string_view bad : {"Zm9", "Zm9v!AAA", "Z===", "=Zm9", "Zg=a", "Zm 9v"}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

Bytes sk_ed25519_blob() {
  Bytes b;
  auto put_string = [&b](std::string_view s) {
    for (int shift = 24; shift >= 0; shift -= 8)
      b.push_back(static_cast<std::uint8_t>(s.size() >> shift));
    b.insert(b.end(), s.begin(), s.end());
  };
  put_string("sk-ssh-ed25519@openssh.com");
  put_string(std::string(32, 'k'));
  put_string("ssh:");
  return b;
}

TEST(PublicKeyLine, ParsesEd25519AndKeepsComment) {
  auto key = generate_ed25519("");
  ASSERT_TRUE(key);
  std::string line = public_key_line(key->public_key()) + "  wei li  \n";
  auto parsed = parse_public_key_line(line);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->type, "ssh-ed25519");
  EXPECT_EQ(parsed->blob, key->public_key().blob);
  EXPECT_EQ(parsed->comment, "wei li");
}

TEST(PublicKeyLine, ParsesSecurityKeyType) {
  Bytes blob = sk_ed25519_blob();
  auto parsed = parse_public_key_line("sk-ssh-ed25519@openssh.com " +
                                      base64_encode(blob.data(), blob.size()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->type, "sk-ssh-ed25519@openssh.com");
}

TEST_F(SshKey, ParsesRsaAndEcdsaLinesFromSshKeygen) {
  int n = 0;
  for (std::string type : {"rsa", "ecdsa -b 256", "ecdsa -b 384", "ecdsa -b 521"}) {
    std::string path = dir_.file("k" + std::to_string(++n));
    ASSERT_EQ(run("ssh-keygen -q -N '' -t " + type + " -f '" + path + "'").status, 0);
    std::string line = first_line(read_text(path + ".pub"));
    auto parsed = parse_public_key_line(line);
    ASSERT_TRUE(parsed) << type << ": " << parsed.error().message;
    EXPECT_EQ(public_key_line(*parsed), line);
    CmdResult fp = run("ssh-keygen -lf '" + path + ".pub'");
    EXPECT_EQ(tokens(fp.out).at(1), fingerprint_sha256(parsed->blob)) << type;
  }
}

TEST(PublicKeyLine, RefusesTypeThatDiffersFromBlob) {
  auto key = generate_ed25519("");
  ASSERT_TRUE(key);
  Bytes blob = key->public_key().blob;
  auto parsed = parse_public_key_line("ssh-rsa " + base64_encode(blob.data(), blob.size()));
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("ssh-rsa"), std::string::npos);
}

TEST(PublicKeyLine, RefusesUnknownTypeNamingIt) {
  i18n::set_lang(i18n::Lang::kEn);
  auto parsed = parse_public_key_line("ssh-dss AAAAB3NzaC1kc3MAAACBAP");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("'ssh-dss'"), std::string::npos);
}

TEST(PublicKeyLine, RefusesTruncatedBlob) {
  auto key = generate_ed25519("");
  ASSERT_TRUE(key);
  Bytes blob = key->public_key().blob;
  blob.pop_back();
  EXPECT_FALSE(parse_public_key_line("ssh-ed25519 " + base64_encode(blob.data(), blob.size())));
  EXPECT_FALSE(parse_public_key_line("ssh-ed25519"));
}

}  // namespace
}  // namespace rdiag
