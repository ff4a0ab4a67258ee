// The SSH door as a stock OpenSSH client sees it: public-key only, the
// engineers file's rules, rdiag-v1 JSON-RPC, and everything else refused.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>

#include "tests/support/harness.h"

namespace rdiag::test {
namespace {

const std::string kInfoRequest = R"({"jsonrpc":"2.0","id":1,"method":"agent.info"})"
                                 "\n";

class SshDoor : public ::testing::Test {
 protected:
  void start_with(const std::string& engineers_text) {
    write_file(agent_.engineers_path(), engineers_text);
    ASSERT_TRUE(agent_.start()) << agent_.log();
  }
  TempDir dir_;
  Key alice_ = make_key(dir_.path(), "alice");
  Agent agent_{dir_.path()};
};

TEST_F(SshDoor, StockSshClientGetsAgentInfo) {
  start_with("rdiag-name=\"李伟\",rdiag-id=\"E1024\" " + alice_.public_line + "\n");
  auto r = ssh_rpc(agent_.port(), alice_.path, kInfoRequest);
  ASSERT_EQ(r.exit_code, 0) << r.err << agent_.log();
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1U) << r.out;
  const auto& res = lines[0]["result"];
  EXPECT_EQ(lines[0]["id"], 1);
  EXPECT_EQ(res["engineer"]["name"], "李伟");
  EXPECT_EQ(res["engineer"]["fingerprint"], alice_.fingerprint);
  auto host_fp = run({RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "fingerprint"});
  auto seal_fp = run({RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "fingerprint", "--seal"});
  EXPECT_EQ(res["host_key"]["fingerprint"].get<std::string>() + "\n", host_fp.out);
  EXPECT_EQ(res["seal_key"]["fingerprint"].get<std::string>() + "\n", seal_fp.out);
  EXPECT_NE(host_fp.out, seal_fp.out);
  // The SSH user name ("tester") is ignored, but logged.
  EXPECT_NE(agent_.log().find("'tester'"), std::string::npos);
}

TEST_F(SshDoor, UnknownKeyIsRefused) {
  Key stranger = make_key(dir_.path(), "stranger");
  start_with(alice_.public_line + "\n");
  auto r = ssh_rpc(agent_.port(), stranger.path, kInfoRequest);
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(SshDoor, FromPatternNotMatchingIsRefused) {
  start_with("from=\"10.0.0.0/8\" " + alice_.public_line + "\n");
  auto r = ssh_rpc(agent_.port(), alice_.path, kInfoRequest);
  EXPECT_EQ(r.exit_code, 255) << r.out;
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
}

TEST_F(SshDoor, FromPatternMatchingIsAccepted) {
  start_with("from=\"127.0.0.0/8,!10.1.1.1\" " + alice_.public_line + "\n");
  auto r = ssh_rpc(agent_.port(), alice_.path, kInfoRequest);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(SshDoor, ExpiredKeyIsRefused) {
  start_with("expiry-time=\"20200101\" " + alice_.public_line + "\n");
  auto r = ssh_rpc(agent_.port(), alice_.path, kInfoRequest);
  EXPECT_EQ(r.exit_code, 255) << r.out;
}

TEST_F(SshDoor, CommandOptionRefusesTheLineAndNamesIt) {
  Key bob = make_key(dir_.path(), "bob");
  start_with("# engineers\ncommand=\"/bin/true\" " + alice_.public_line + "\n" + bob.public_line +
             "\n");
  auto r = ssh_rpc(agent_.port(), alice_.path, kInfoRequest);
  EXPECT_EQ(r.exit_code, 255) << "a command= line must never be honoured silently";
  const std::string log = agent_.log();
  EXPECT_NE(log.find("line 2"), std::string::npos) << log;
  EXPECT_NE(log.find("command"), std::string::npos) << log;
  // The other lines still work.
  EXPECT_EQ(ssh_rpc(agent_.port(), bob.path, kInfoRequest).exit_code, 0);
}

TEST_F(SshDoor, PasswordAuthenticationIsNotOffered) {
  Key stranger = make_key(dir_.path(), "stranger");
  start_with(alice_.public_line + "\n");
  auto argv = ssh_base(agent_.port(), stranger.path);
  for (const char* a : {"-v", "-T", "tester@127.0.0.1", "true"}) argv.emplace_back(a);
  auto r = run(argv);
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Authentications that can continue: publickey\r"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("password"), std::string::npos) << r.err;
}

TEST_F(SshDoor, RemotePortForwardIsRefused) {
  start_with(alice_.public_line + "\n");
  auto argv = ssh_base(agent_.port(), alice_.path);
  for (const char* a :
       {"-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9", "tester@127.0.0.1"}) {
    argv.emplace_back(a);
  }
  auto r = run(argv, {.timeout = std::chrono::seconds(15)});
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("remote port forwarding failed"), std::string::npos) << r.err;
}

TEST_F(SshDoor, DirectTcpipIsRefused) {
  start_with(alice_.public_line + "\n");
  auto argv = ssh_base(agent_.port(), alice_.path);
  for (const char* a : {"-W", "127.0.0.1:9", "tester@127.0.0.1"}) argv.emplace_back(a);
  auto r = run(argv, {.timeout = std::chrono::seconds(15)});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("forwarding failed"), std::string::npos) << r.err;
}

// Without a grant (tests/integration/consent_test.cpp has the scopes).
TEST_F(SshDoor, ShellExecAndSftpAreRefusedWithAReason) {
  start_with(alice_.public_line + "\n");
  auto argv = ssh_base(agent_.port(), alice_.path);
  for (const char* a : {"-T", "tester@127.0.0.1", "id"}) argv.emplace_back(a);
  auto exec = run(argv);
  EXPECT_EQ(exec.exit_code, 1);
  EXPECT_NE(exec.err.find("no grant"), std::string::npos) << exec.err;
  EXPECT_EQ(exec.out.find("uid="), std::string::npos);

  auto sftp_argv = ssh_base(agent_.port(), alice_.path);
  for (const char* a : {"-T", "-s", "tester@127.0.0.1", "sftp"}) sftp_argv.emplace_back(a);
  auto sftp = run(sftp_argv);
  EXPECT_NE(sftp.err.find("no grant"), std::string::npos) << sftp.err;
}

TEST_F(SshDoor, FingerprintCommandMatchesSshKeygen) {
  start_with(alice_.public_line + "\n");
  auto pub = run({RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "fingerprint", "--public"});
  ASSERT_EQ(pub.exit_code, 0) << pub.err;
  write_file(dir_ / "host.pub", pub.out);
  auto keygen = run({"ssh-keygen", "-l", "-f", dir_ / "host.pub"});
  auto ours = run({RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "fingerprint"});
  ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
  EXPECT_NE(keygen.out.find(ours.out.substr(0, ours.out.size() - 1)), std::string::npos)
      << keygen.out << " vs " << ours.out;
  // And the private key file itself, as ssh-keygen -lf reads it.
  auto from_private = run({"ssh-keygen", "-l", "-f", agent_.state_dir() + "/host_ed25519"});
  EXPECT_NE(from_private.out.find(ours.out.substr(0, ours.out.size() - 1)), std::string::npos);
}

TEST_F(SshDoor, KeysPersistAcrossRestarts) {
  start_with(alice_.public_line + "\n");
  auto before = run({RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "fingerprint"});
  EXPECT_EQ(agent_.stop(), 0) << "SIGTERM is a clean shutdown";
  ASSERT_TRUE(agent_.start()) << agent_.log();
  auto after = run({RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "fingerprint"});
  EXPECT_EQ(before.out, after.out);
  struct stat st {};
  ASSERT_EQ(::stat((agent_.state_dir() + "/seal_ed25519").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
}

TEST_F(SshDoor, AllowFromRefusesOtherSources) {
  write_file(agent_.engineers_path(), alice_.public_line + "\n");
  ASSERT_TRUE(agent_.start({{"allow_from", {"10.0.0.0/8"}}})) << agent_.log();
  auto r = ssh_rpc(agent_.port(), alice_.path, kInfoRequest);
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(agent_.log().find("allow_from"), std::string::npos) << agent_.log();
}

TEST_F(SshDoor, BadConfigNamesFileKeyAndChangesNothing) {
  write_file(dir_ / "bad.json",
             R"({"state_dir":"state","engineers_file":"engineers","lisen":"x"})");
  auto r = run({RDIAG_AGENT_BIN, "--config", dir_ / "bad.json", "run", "--listen", "127.0.0.1:0"},
               {.env = {{"LANG", "C.UTF-8"}}, .unset_env = {"LC_ALL", "LC_MESSAGES"}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lisen"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << "no listening line for a config that was refused";
  struct stat st {};
  EXPECT_NE(::stat((dir_ / "state").c_str(), &st), 0) << "a refused config must not create state";
}

TEST_F(SshDoor, AgentSpeaksChineseWithLang) {
  write_file(dir_ / "bad.json",
             R"({"state_dir":"state","engineers_file":"engineers","lisen":"x"})");
  auto r = run({RDIAG_AGENT_BIN, "--config", dir_ / "bad.json", "--lang", "zh_CN", "run"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("lisen"), std::string::npos) << r.err;
  auto by_locale = run({RDIAG_AGENT_BIN, "--config", dir_ / "bad.json", "run"},
                       {.env = {{"LANG", "zh_CN.UTF-8"}}, .unset_env = {"LC_ALL", "LC_MESSAGES"}});
  EXPECT_EQ(r.err, by_locale.err);
  auto english = run({RDIAG_AGENT_BIN, "--config", dir_ / "bad.json", "--lang", "en", "run"});
  EXPECT_NE(r.err, english.err) << "the Chinese message must differ from the English one";
  // Chinese text is three-byte UTF-8 (U+4E00..U+9FFF starts with 0xE4..0xE9).
  EXPECT_TRUE(std::any_of(r.err.begin(), r.err.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0xE4 && u <= 0xE9;
  })) << r.err;
}

TEST_F(SshDoor, RpcErrorsComeInTheAgentsLanguage) {
  write_file(agent_.engineers_path(), alice_.public_line + "\n");
  ASSERT_TRUE(agent_.start({}, "127.0.0.1:0", {{"LANG", "zh_CN.UTF-8"}})) << agent_.log();
  auto r = ssh_rpc(agent_.port(), alice_.path, "{not json\n");
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1U) << r.out;
  EXPECT_EQ(lines[0]["error"]["code"], -32700);
  EXPECT_EQ(lines[0]["error"]["data"]["reason"], "parse_error");
  EXPECT_NE(lines[0]["error"]["message"].get<std::string>().find("JSON"), std::string::npos);
  EXPECT_NE(lines[0]["error"]["message"].get<std::string>().find("请求"), std::string::npos);
}

// A client that connects and then says nothing is gone after the 10 s
// authentication deadline, so idle sockets cannot pin connection slots.
TEST_F(SshDoor, SilentClientIsDisconnectedAtTheAuthDeadline) {
  start_with(alice_.public_line + "\n");
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(agent_.port()));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  const auto start = std::chrono::steady_clock::now();
  std::string got;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 15000) <= 0) break;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_EQ(got.rfind("SSH-2.0-", 0), 0U) << "the server speaks first";
  EXPECT_GE(waited, std::chrono::seconds(9));
  EXPECT_LE(waited, std::chrono::milliseconds(12500));
}

}  // namespace
}  // namespace rdiag::test
