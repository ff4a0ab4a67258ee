#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/records/seal.h"
#include "common/sshsig.h"
#include "tests/unit/common/test_util.h"

// Seals are meant to be checked by hand with the stock ssh-keygen, so the
// session tests check the real tool too, not only our own verifier.

namespace rdiag::records {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace test_util;  // NOLINT(google-build-using-namespace)

const std::string kGenesis = "5f0b6ec1a4e7d3f2b9c8a7e6d5c4b3a29180f7e6d5c4b3a2918f7e6d5c4b3a29";
const std::string kSession = "S-20261128-0001";
const std::string kFp = "engineer:SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
const std::string kHashA = std::string(64, 'a');
const std::string kHashB = std::string(64, 'b');

// A file name as the verifier's messages show it: controls as \xNN.
std::string shown_name(std::string_view name) {
  std::string out;
  for (const char c : name) {
    if (c == 0x1b) {
      out += "\\x1b";
    } else {
      out += c;
    }
  }
  return out;
}

TEST(SealMessage, ExactLayoutWithAttachmentsSortedByName) {
  auto m =
      seal_message(kSession, 42, kHashA, {{"shell-1.cast", kHashB}, {"report-1.json", kHashA}});
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(*m, "rdiag-seal-v1\nS-20261128-0001\n42\n" + kHashA + "\nreport-1.json " + kHashA +
                    "\nshell-1.cast " + kHashB + "\n");
  auto empty = seal_message(kSession, 0, kGenesis, {});
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, "rdiag-seal-v1\nS-20261128-0001\n0\n" + kGenesis + "\n");
}

TEST(SealMessage, RefusesInputThatWouldBeAmbiguous) {
  const auto bad = [](std::string_view id, std::int64_t seq, std::string_view hash,
                      const std::vector<Attachment>& atts) {
    auto m = seal_message(id, seq, hash, atts);
    EXPECT_FALSE(m) << *m;
    if (!m) {
      EXPECT_EQ(m.error().reason, "bad_seal_input");
    }
  };
  bad("S-1\nfake", 1, kHashA, {});
  bad("", 1, kHashA, {});
  bad("S 1", 1, kHashA, {});
  bad(kSession, -1, kHashA, {});
  bad(kSession, 1, "ABC", {});
  bad(kSession, 1, std::string(64, 'A'), {});
  for (const char* name : {".", "..", "", "a b", "a/b", "r\xc3\xa9port", "x\n"}) {
    bad(kSession, 1, kHashA, {{name, kHashA}});
  }
  bad(kSession, 1, kHashA, {{"r.json", "0123"}});
  bad(kSession, 1, kHashA, {{"r.json", kHashA}, {"r.json", kHashB}});
}

TEST(SealSha256, FileDigestMatchesStringDigestAcrossChunks) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  TempDir dir{"rdiag-seal"};
  std::string big(200000, 'x');  // several read chunks
  for (std::size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
  write_text(dir.file("big"), big);
  auto hex = sha256_file_hex(dir.file("big"));
  ASSERT_TRUE(hex) << hex.error().message;
  EXPECT_EQ(*hex, sha256_hex(big));
  EXPECT_FALSE(sha256_file_hex(dir.file("missing")));
  fs::create_symlink(dir.file("big"), dir.file("link"));
  auto link = sha256_file_hex(dir.file("link"));
  EXPECT_FALSE(link) << "a symlink must not be followed";
  EXPECT_FALSE(sha256_file_hex(dir.path())) << "a directory is not an attachment";
}

TEST(SealLatestIndex, HighestWellFormedSealNumber) {
  TempDir dir{"rdiag-seal"};
  auto none = latest_seal_index(dir.path());
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0);
  write_text(dir.file("seal-1.sshsig"), "x");
  write_text(dir.file("seal-12.sshsig"), "x");
  write_text(dir.file("seal-012.sshsig"), "x");  // not a seal name: ignored here
  write_text(dir.file("report-99.json"), "x");
  auto latest = latest_seal_index(dir.path());
  ASSERT_TRUE(latest);
  EXPECT_EQ(*latest, 12);
  EXPECT_FALSE(latest_seal_index(dir.file("missing")));
}

class SealSession : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = generate_ed25519("rdiag seal");
    ASSERT_TRUE(key) << key.error().message;
    key_ = *key;
    append("request.created", kFp, {{"ticket", "T-1001"}, {"name", "李伟"}});
    append("request.approved", "customer:erpadmin", {{"uid", 1001}});
    append("session.connected", kFp, {{"peer", "203.0.113.9:51022"}});
    append("note", kFp, {{"text", "库存模块 磁盘满"}});
    append("session.closed", "agent", {{"outcome", "fixed"}});
    write_text(dir_.file("report-1.json"), "{\"disk\":\"full\"}\n");
  }

  void append(std::string type, std::string actor, json data) {
    const Event* last = events_.empty() ? nullptr : &events_.back();
    const std::string ts = "2026-11-28T06:05:" + std::to_string(10 + events_.size()) + ".123Z";
    auto e =
        make_next_event(last, kGenesis, std::move(type), std::move(actor), std::move(data), ts);
    ASSERT_TRUE(e) << e.error().message;
    events_.push_back(*e);
    std::string text;
    for (const auto& ev : events_) text += event_line(ev) + "\n";
    write_text(dir_.file("events.jsonl"), text);
  }

  // Seals the folder as it is now, as the agent does when a session ends.
  std::string seal(const Ed25519PrivateKey& key) {
    const ChainCheck chain = verify_chain(read_text(dir_.file("events.jsonl")), kGenesis);
    auto atts = list_attachments(dir_.path());
    EXPECT_TRUE(atts) << atts.error().message;
    if (!atts) return {};
    auto name = write_seal(dir_.path(), key, kSession, chain, *atts);
    EXPECT_TRUE(name) << name.error().message;
    return name ? *name : std::string();
  }

  SealCheck verify(const std::vector<std::string>& trusted) const {
    return verify_session_dir(dir_.path(), kSession, kGenesis, trusted);
  }
  SealCheck verify() const { return verify({fingerprint(key_)}); }

  static std::string fingerprint(const Ed25519PrivateKey& key) {
    return fingerprint_sha256(key.public_key().blob);
  }

  static void expect_bad(const SealCheck& check, std::string_view file, std::string_view reason) {
    EXPECT_FALSE(check.ok);
    EXPECT_EQ(check.file, file) << check.message;
    EXPECT_EQ(check.reason, reason) << check.message;
    EXPECT_TRUE(check.message.starts_with(shown_name(file))) << check.message;
  }

  TempDir dir_{"rdiag-seal"};
  Ed25519PrivateKey key_;
  std::vector<Event> events_;
};

TEST_F(SealSession, FreshSealVerifies) {
  EXPECT_EQ(seal(key_), "seal-1.sshsig");
  const SealCheck check = verify();
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_EQ(check.reason, "");
  EXPECT_EQ(check.covered_seq, 5);
  EXPECT_EQ(check.unsealed_events, 0);
  EXPECT_EQ(check.seals, 1);
}

TEST_F(SealSession, StockSshKeygenVerifiesSealByHand) {
  if (!have_ssh_keygen()) GTEST_SKIP() << "ssh-keygen not installed";
  ASSERT_EQ(seal(key_), "seal-1.sshsig");
  auto digest = sha256_file_hex(dir_.file("report-1.json"));
  ASSERT_TRUE(digest);
  auto message = seal_message(kSession, 5, events_.back().hash, {{"report-1.json", *digest}});
  ASSERT_TRUE(message);
  // Outside the session folder: there it would count as an attachment.
  TempDir work{"rdiag-seal"};
  write_text(work.file("message"), *message);
  write_text(work.file("allowed_signers"), "rdiag namespaces=\"" + std::string(kSealNamespace) +
                                               "\" " + public_key_line(key_.public_key()) + "\n");
  const CmdResult r = run("ssh-keygen -Y verify -f '" + work.file("allowed_signers") +
                          "' -I rdiag -n rdiag-seal-v1@rdiag -s '" + dir_.file("seal-1.sshsig") +
                          "' < '" + work.file("message") + "'");
  EXPECT_EQ(r.status, 0) << r.out;
  write_text(work.file("message"), *message + "extra 0\n");
  const CmdResult tampered = run("ssh-keygen -Y verify -f '" + work.file("allowed_signers") +
                                 "' -I rdiag -n rdiag-seal-v1@rdiag -s '" +
                                 dir_.file("seal-1.sshsig") + "' < '" + work.file("message") + "'");
  EXPECT_NE(tampered.status, 0) << tampered.out;
}

TEST_F(SealSession, ChangedAttachmentByteFailsTheSeal) {
  seal(key_);
  write_text(dir_.file("report-1.json"), "{\"disk\":\"fine\"}\n");
  expect_bad(verify(), "seal-1.sshsig", "bad_seal");
}

TEST_F(SealSession, AddedAttachmentFailsTheSeal) {
  seal(key_);
  write_text(dir_.file("shell-1.cast"), "");
  expect_bad(verify(), "seal-1.sshsig", "bad_seal");
}

TEST_F(SealSession, RemovedAttachmentFailsTheSeal) {
  seal(key_);
  fs::remove(dir_.file("report-1.json"));
  expect_bad(verify(), "seal-1.sshsig", "bad_seal");
}

TEST_F(SealSession, InvalidOrOddEntriesAreNamed) {
  seal(key_);
  write_text(dir_.file("bad~name.txt"), "x");
  expect_bad(verify(), "bad~name.txt", "bad_attachment");
  fs::remove(dir_.file("bad~name.txt"));
  write_text(dir_.file("bad\x1b[2Jname"), "x");
  const SealCheck escaped = verify();
  expect_bad(escaped, "bad\x1b[2Jname", "bad_attachment");
  EXPECT_EQ(escaped.message.find('\x1b'), std::string::npos) << "escaped for a terminal";
  fs::remove(dir_.file("bad\x1b[2Jname"));
  write_text(dir_.file("seal-01.sshsig"), "x");
  expect_bad(verify(), "seal-01.sshsig", "bad_seal_name");
  fs::remove(dir_.file("seal-01.sshsig"));
  fs::create_directory(dir_.file("sub"));
  expect_bad(verify(), "sub", "unexpected_file");
}

TEST_F(SealSession, SealByUntrustedKeyFailsNamingIt) {
  auto other = generate_ed25519("intruder");
  ASSERT_TRUE(other);
  EXPECT_EQ(seal(*other), "seal-1.sshsig");
  expect_bad(verify(), "seal-1.sshsig", "untrusted_signer");
}

TEST_F(SealSession, ChangedEventFailsNamingTheLine) {
  seal(key_);
  std::string text = read_text(dir_.file("events.jsonl"));
  const auto at = text.find("磁盘满");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, std::string("磁盘满").size(), "all fine");
  write_text(dir_.file("events.jsonl"), text);
  const SealCheck check = verify();
  expect_bad(check, "events.jsonl", "bad_hash");
  EXPECT_EQ(check.bad_line, 4U);
  EXPECT_TRUE(check.message.starts_with("events.jsonl: line 4: ")) << check.message;
}

TEST_F(SealSession, DeletedFirstOfTwoSealsIsAGap) {
  seal(key_);
  append("rating", "customer:erpadmin", {{"score", 5}});
  EXPECT_EQ(seal(key_), "seal-2.sshsig");
  fs::remove(dir_.file("seal-1.sshsig"));
  expect_bad(verify(), "seal-1.sshsig", "seal_gap");
}

TEST_F(SealSession, SecondSealCoversLongerPrefixAndBothVerify) {
  seal(key_);
  append("rating", "customer:erpadmin", {{"score", 5}});
  append("customer.confirmed", "customer:erpadmin", {{"ok", true}});
  EXPECT_EQ(seal(key_), "seal-2.sshsig");
  const SealCheck check = verify();
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_EQ(check.seals, 2);
  EXPECT_EQ(check.covered_seq, 7);
  EXPECT_EQ(check.unsealed_events, 0);
}

TEST_F(SealSession, LaterSealOverShorterPrefixFails) {
  seal(key_);
  append("rating", "customer:erpadmin", {{"score", 5}});
  // seal-2 signs the chain as of seq 3, behind what seal-1 already covered.
  auto digest = sha256_file_hex(dir_.file("report-1.json"));
  ASSERT_TRUE(digest);
  auto message = seal_message(kSession, 3, events_[2].hash, {{"report-1.json", *digest}});
  ASSERT_TRUE(message);
  write_text(dir_.file("seal-2.sshsig"), sshsig_sign(key_, kSealNamespace, *message));
  expect_bad(verify(), "seal-2.sshsig", "bad_seal");
}

TEST_F(SealSession, AppendedEventsWithoutNewSealAreAnUnsealedTail) {
  seal(key_);
  append("rating", "customer:erpadmin", {{"score", 4}});
  append("customer.confirmed", "customer:erpadmin", {{"ok", true}});
  const SealCheck check = verify();
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_EQ(check.reason, "unsealed_tail");
  EXPECT_EQ(check.covered_seq, 5);
  EXPECT_EQ(check.unsealed_events, 2);
}

TEST_F(SealSession, OpenSessionWithoutSealIsAnUnsealedTail) {
  const SealCheck check = verify();
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_EQ(check.reason, "unsealed_tail");
  EXPECT_EQ(check.seals, 0);
  EXPECT_EQ(check.unsealed_events, 5);
}

TEST_F(SealSession, RefusesSessionIdThatCouldSpliceMessages) {
  seal(key_);
  const SealCheck check = verify_session_dir(dir_.path(), kSession + "\n5", kGenesis, {});
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.reason, "bad_seal_input");
}

TEST_F(SealSession, NeverReplacesAnExistingSeal) {
  seal(key_);
  const std::string first = read_text(dir_.file("seal-1.sshsig"));
  EXPECT_EQ(seal(key_), "seal-2.sshsig");
  EXPECT_EQ(read_text(dir_.file("seal-1.sshsig")), first);
  ChainCheck broken;
  broken.ok = false;
  auto refused = write_seal(dir_.path(), key_, kSession, broken, {});
  EXPECT_FALSE(refused);
}

class SealRotation : public SealSession {
 protected:
  void SetUp() override {
    SealSession::SetUp();
    auto key = generate_ed25519("rdiag seal 2");
    ASSERT_TRUE(key) << key.error().message;
    new_key_ = *key;
    seal(key_);
    append("rating", "customer:erpadmin", {{"score", 5}});
    seal(new_key_);
  }
  Ed25519PrivateKey new_key_;
};

TEST_F(SealRotation, BothFingerprintsTrustedVerifies) {
  const SealCheck check = verify({fingerprint(key_), fingerprint(new_key_)});
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_EQ(check.seals, 2);
  EXPECT_EQ(check.covered_seq, 6);
}

TEST_F(SealRotation, OnlyNewKeyTrustedNamesTheOldSeal) {
  expect_bad(verify({fingerprint(new_key_)}), "seal-1.sshsig", "untrusted_signer");
}

}  // namespace
}  // namespace rdiag::records
