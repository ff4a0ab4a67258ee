// The bundle writer as a customer's IT or the vendor meets its output: the
// archive unpacked with the stock tar, the manifest's hashes checked against
// the members, and the signature checked with the stock ssh-keygen.
#include "agent/bundle/bundle.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/digest.h"
#include "common/ssh_key.h"
#include "tests/support/file_text.h"

namespace rdiag::agent::bundle {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using test::put;
using test::slurp;

int sh(const std::string& command) {
  const int status = std::system(command.c_str());  // NOLINT(cert-env33-c): test tools
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class Bundle : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rdiag-bundle-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto k = generate_ed25519("seal");
    ASSERT_TRUE(k);
    key_ = *k;
    contents_.report = {{"summary", {{"redactions", 1}}}, {"host", "erp-db-01"}};
    contents_.excerpts = {{"erp", "2026-11-28 ERROR 月结 failed\n"}, {"../../etc/passwd", ""}};
    contents_.host = "erp-db-01";
    contents_.created = std::chrono::system_clock::now();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the bundle and unpacks it with tar into dir_/x.
  void write_and_extract() {
    auto w = write(dir_ + "/b.tar.gz", contents_, key_);
    ASSERT_TRUE(w) << w.error().message;
    written_ = *w;
    fs::create_directory(dir_ + "/x");
    ASSERT_EQ(sh("tar xzf " + dir_ + "/b.tar.gz -C " + dir_ + "/x"), 0);
  }
  // ssh-keygen -Y verify of x/manifest.json against the seal key.
  int verify() {
    put(dir_ + "/allowed", "rdiag " + public_key_line(key_.public_key()) + "\n");
    return sh("ssh-keygen -Y verify -f " + dir_ + "/allowed -I rdiag -n rdiag-bundle-v1@rdiag -s " +
              dir_ + "/x/manifest.json.sshsig < " + dir_ + "/x/manifest.json > /dev/null 2>&1");
  }

  std::string dir_;
  Ed25519PrivateKey key_;
  Contents contents_;
  Written written_;
};

TEST_F(Bundle, ArchiveListsExactlyTheMembers) {
  write_and_extract();
  std::FILE* p = ::popen(("tar tzvf " + dir_ + "/b.tar.gz").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string listing;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) listing += buf;
  ::pclose(p);
  std::vector<std::string> names;
  std::istringstream in(listing);
  for (std::string line; std::getline(in, line);) {
    names.push_back(line.substr(line.rfind(' ') + 1));
    EXPECT_EQ(line.rfind("-rw-r--r-- root/root", 0), 0U) << line;
  }
  const std::vector<std::string> expected = {"report.json", "excerpts/erp.log",
                                             "excerpts/_.__.__etc_passwd.log", "manifest.json",
                                             "manifest.json.sshsig"};
  EXPECT_EQ(names, expected) << listing;
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/b.tar.gz").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), written_.size);
  EXPECT_EQ(sha256_hex(slurp(dir_ + "/b.tar.gz")), written_.sha256);
}

TEST_F(Bundle, ManifestHashesMatchTheMembers) {
  write_and_extract();
  const json m = json::parse(slurp(dir_ + "/x/manifest.json"));
  EXPECT_EQ(m["format"], "rdiag-bundle-v1");
  EXPECT_EQ(m["host"], "erp-db-01");
  EXPECT_EQ(m["seal_key"], fingerprint_sha256(key_.public_key().blob));
  ASSERT_EQ(m["members"].size(), 3U);
  for (const json& member : m["members"]) {
    const std::string bytes = slurp(dir_ + "/x/" + member["name"].get<std::string>());
    EXPECT_EQ(member["sha256"], sha256_hex(bytes)) << member.dump();
    EXPECT_EQ(member["bytes"], bytes.size());
  }
  EXPECT_EQ(json::parse(slurp(dir_ + "/x/report.json")), contents_.report);
  EXPECT_EQ(slurp(dir_ + "/x/excerpts/erp.log"), contents_.excerpts[0].text);
}

TEST_F(Bundle, SshKeygenVerifiesTheManifestAndCatchesAChangedByte) {
  write_and_extract();
  EXPECT_EQ(verify(), 0);
  std::string manifest = slurp(dir_ + "/x/manifest.json");
  manifest[manifest.find("erp-db-01")] = 'E';
  put(dir_ + "/x/manifest.json", manifest);
  EXPECT_NE(verify(), 0);
}

TEST_F(Bundle, AnExistingFileIsNeverReplaced) {
  put(dir_ + "/b.tar.gz", "mine");
  auto w = write(dir_ + "/b.tar.gz", contents_, key_);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().reason, "exists");
  EXPECT_EQ(slurp(dir_ + "/b.tar.gz"), "mine");
}

TEST(BundleNames, UnsafeNamesCannotLeaveTheFolder) {
  EXPECT_EQ(safe_member_name("erp"), "erp");
  EXPECT_EQ(safe_member_name(".."), "_._");
  EXPECT_EQ(safe_member_name("a/../b"), "a_.__b");
  EXPECT_EQ(safe_member_name(""), "_");
  EXPECT_EQ(safe_member_name("日志"), "______");
  EXPECT_EQ(safe_member_name("a..b"), "a._b");
}

}  // namespace
}  // namespace rdiag::agent::bundle
