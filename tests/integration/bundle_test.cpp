// Bundles on the real binaries: bundle.create runs the diagnosis in the
// collector worker and the monitor keeps the signed archive beside the
// session's record (recorded, sealed with it); file.read hands it out in
// chunks and nothing else; `rdiag-agent collect` makes the same kind of
// bundle offline; `rdiag bundle` fetches one and checks it. A vendor checks
// any of them with tar and ssh-keygen alone.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/ssh_key.h"
#include "tests/support/session_test.h"

namespace rdiag::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr const char* kSecret = "S3cretXyz";

class Bundle : public SessionTest {
 protected:
  void TearDown() override {
    if (planted_ > 0) {
      ::kill(planted_, SIGKILL);
      ::waitpid(planted_, nullptr, 0);
    }
  }
  // A busy process with a password in its command line, so that it is among
  // the processes collector's top entries while the bundle is made. It ends
  // by itself after 60 s should the test die first, and holds none of the
  // test's pipes.
  void plant_secret() {
    planted_ = ::fork();
    if (planted_ == 0) {
      const int null_fd = ::open("/dev/null", O_RDWR);
      ::dup2(null_fd, 1);
      ::dup2(null_fd, 2);
      const std::string inner = std::string("exec -a \"erp --password=") + kSecret +
                                "\" bash -c 'while [ $SECONDS -lt 60 ]; do :; done'";
      ::execlp("bash", "bash", "-c", inner.c_str(), nullptr);
      ::_exit(127);
    }
    ::usleep(300000);
  }
  // Unpacks archive into a new folder and checks the manifest's signature
  // with the stock ssh-keygen against the agent's seal key; the folder.
  std::string extract_and_verify(const std::string& archive, const std::string& name) {
    const std::string to = dir_ / name;
    fs::create_directory(to);
    auto tar = run({"tar", "xzf", archive, "-C", to});
    EXPECT_EQ(tar.exit_code, 0) << tar.err;
    auto pub = run(
        {RDIAG_AGENT_BIN, "--state-dir", agent_.state_dir(), "fingerprint", "--seal", "--public"});
    EXPECT_EQ(pub.exit_code, 0) << pub.err;
    write_file(dir_ / "allowed", "rdiag " + pub.out);
    auto v = run({"ssh-keygen", "-Y", "verify", "-f", dir_ / "allowed", "-I", "rdiag", "-n",
                  "rdiag-bundle-v1@rdiag", "-s", to + "/manifest.json.sshsig"},
                 {.stdin_data = read_file(to + "/manifest.json")});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    return to;
  }
  void expect_no_secret(const std::string& folder) {
    auto g = run({"grep", "-r", kSecret, folder});
    EXPECT_EQ(g.exit_code, 1) << "the secret leaked into the bundle:\n" << g.out;
  }
  // Every chunk of file, 1 MiB at a time.
  std::string fetch(RpcClient& c, const std::string& file) {
    std::string bytes;
    for (int i = 0; i < 64; ++i) {
      json a =
          call(c, "file.read", {{"file", file}, {"offset", bytes.size()}, {"length", 1 << 20}});
      EXPECT_TRUE(a.contains("result")) << a.dump();
      if (!a.contains("result")) break;
      auto data = base64_decode(a["result"].value("data", ""));
      EXPECT_TRUE(data);
      if (!data) break;
      bytes.append(data->begin(), data->end());
      if (a["result"].value("eof", false)) break;
    }
    return bytes;
  }
  ProcResult console(std::vector<std::string> args, seconds timeout = seconds(60)) {
    std::vector<std::string> argv = {RDIAG_CONSOLE_BIN, "--data-dir", data_.path(), "--key",
                                     alice_.path};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, {.env = {{"LANG", "C.UTF-8"}, {"TZ", "UTC"}},
                      .unset_env = {"SSH_AUTH_SOCK", "LC_ALL", "LC_MESSAGES"},
                      .timeout = timeout});
  }

  pid_t planted_ = -1;
  TempDir data_;
};

TEST_F(Bundle, CreateThenReadEveryChunkMatchesTheRecordedHash) {
  start();
  RpcClient c;
  connect(c, alice_);
  const std::string sid = granted(c);
  plant_secret();
  json a = call(c, "bundle.create", json::object(), milliseconds(60000));
  ASSERT_TRUE(a.contains("result")) << a.dump() << agent_.log();
  const json r = a["result"];
  EXPECT_EQ(r.value("file", ""), "bundle-1.tar.gz");
  const std::string bytes = fetch(c, "bundle-1.tar.gz");
  EXPECT_EQ(bytes.size(), r.value("size", 0U));
  EXPECT_EQ(sha256_hex(bytes), r.value("sha256", ""));

  const std::string kept = agent_.state_dir() + "/records/" + sid + "/bundle-1.tar.gz";
  struct stat st {};
  ASSERT_EQ(::stat(kept.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  auto made = of_type(events(events_path(sid)), "bundle.created");
  ASSERT_EQ(made.size(), 1U);
  EXPECT_EQ(
      made[0]["data"],
      (json{{"file", "bundle-1.tar.gz"}, {"size", bytes.size()}, {"sha256", sha256_hex(bytes)}}));
  write_file(dir_ / "fetched.tar.gz", bytes);
  expect_no_secret(extract_and_verify(dir_ / "fetched.tar.gz", "x"));

  json closed = call(c, "session.close",
                     {{"outcome", "resolved"}, {"cause", "磁盘满"}, {"solution", "清理日志"}});
  ASSERT_TRUE(closed.contains("result")) << closed.dump();
  expect_verifies(sid);
}

TEST_F(Bundle, FileReadServesOnlyBundlesOfTheSession) {
  start();
  RpcClient c;
  connect(c, alice_);
  const std::string sid = granted(c);
  ASSERT_TRUE(call(c, "diag.run", json::object(), milliseconds(60000)).contains("result"));
  for (const char* name : {"../events.jsonl", "report-1.json", "events.jsonl", "/etc/shadow",
                           "bundle-1.tar.gz/../../x", "bundle-123456.tar.gz"}) {
    json a = call(c, "file.read", {{"file", name}, {"offset", 0}, {"length", 1024}});
    EXPECT_EQ(code_of(a), -32602) << name << " " << a.dump();
  }
  json none = call(c, "file.read", {{"file", "bundle-1.tar.gz"}, {"offset", 0}, {"length", 16}});
  EXPECT_EQ(code_of(none), -32005) << none.dump();
  json big =
      call(c, "file.read", {{"file", "bundle-1.tar.gz"}, {"offset", 0}, {"length", (4 << 20) + 1}});
  EXPECT_EQ(code_of(big), -32602) << big.dump();
  // A link planted in the record folder is not followed.
  fs::create_symlink(events_path(sid), agent_.state_dir() + "/records/" + sid + "/bundle-7.tar.gz");
  json link = call(c, "file.read", {{"file", "bundle-7.tar.gz"}, {"offset", 0}, {"length", 16}});
  EXPECT_EQ(code_of(link), -32005) << link.dump();
}

TEST_F(Bundle, WithoutDiagnoseBothMethodsAreRefused) {
  start();
  RpcClient c;
  connect(c, alice_);
  granted(c, params({"diagnose", "shell"}), {"--scopes", "shell"});
  EXPECT_EQ(code_of(call(c, "bundle.create")), -32003);
  json a = call(c, "file.read", {{"file", "bundle-1.tar.gz"}, {"offset", 0}, {"length", 16}});
  EXPECT_EQ(code_of(a), -32003) << a.dump();
}

TEST_F(Bundle, CollectWritesABundleThatVerifiesAndHidesSecrets) {
  start();
  plant_secret();
  const std::string out = dir_ / "offline.tar.gz";
  auto r = admin({"collect", "--out", out}, {.timeout = std::chrono::milliseconds(120000)});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(sha256_hex(read_file(out))), std::string::npos) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  const std::string x = extract_and_verify(out, "offline");
  EXPECT_TRUE(fs::exists(x + "/report.json"));
  expect_no_secret(x);
  // Never over an existing file, never into a missing folder.
  auto again = admin({"collect", "--out", out});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  auto nodir = admin({"collect", "--out", dir_ / "missing/b.tar.gz"});
  EXPECT_EQ(nodir.exit_code, 1);
  EXPECT_NE(nodir.err.find("does not exist"), std::string::npos) << nodir.err;
}

TEST_F(Bundle, ConsoleFetchesAndChecksTheBundle) {
  start();
  ASSERT_EQ(
      console({"sites", "add", "acme", "127.0.0.1:" + std::to_string(agent_.port())}).exit_code, 0);
  ASSERT_EQ(console({"--accept-new", "info", "acme"}).exit_code, 0);
  {
    RpcClient c;
    connect(c, alice_);
    granted(c);
  }
  const std::string out = dir_ / "console.tar.gz";
  ProcResult r;
  // The agent notices the test client's disconnect a moment later; until then
  // the grant is in use by it.
  ASSERT_TRUE(wait_until(
      [&] {
        return (r = console({"bundle", "acme", "--out", out})).exit_code == 0;
      },
      milliseconds(20000)))
      << r.out << r.err << agent_.log();
  EXPECT_NE(r.out.find(sha256_hex(read_file(out))), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("fetching the bundle"), std::string::npos) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  extract_and_verify(out, "console");
  auto again = console({"bundle", "acme", "--out", out});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
}

}  // namespace
}  // namespace rdiag::test
