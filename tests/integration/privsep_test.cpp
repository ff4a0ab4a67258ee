// Privilege separation as an administrator can check it from outside: the
// connection process runs as rdiag-net with no groups and no_new_privs, holds
// only the descriptors it needs, and an engineer removed from the engineers
// file loses a live connection at once.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>

#include "tests/support/harness.h"

namespace rdiag::test {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using std::chrono::milliseconds;

const char* const kNetAccount = "rdiag-net";

std::string fd_target(pid_t pid, const std::string& fd) {
  char buf[4096];
  const std::string link = "/proc/" + std::to_string(pid) + "/fd/" + fd;
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n < 0) return {};
  return std::string(buf, static_cast<std::size_t>(n));
}

// The descriptors of a process: number -> readlink target. Empty with errno
// set when /proc/PID/fd cannot be listed.
std::map<int, std::string> fd_table(pid_t pid) {
  std::map<int, std::string> out;
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    out[std::atoi(e->d_name)] = fd_target(pid, e->d_name);
  }
  ::closedir(d);
  return out;
}

// "socket:[12345]" -> "12345", else "".
std::string socket_inode(const std::string& target) {
  const std::string prefix = "socket:[";
  if (target.rfind(prefix, 0) != 0 || target.back() != ']') return {};
  return target.substr(prefix.size(), target.size() - prefix.size() - 1);
}

struct TcpEntry {
  int local_port = 0;
  int remote_port = 0;
  int state = 0;  // 0x0A LISTEN, 0x01 ESTABLISHED
};

// The TCP (v4 and v6) socket with this inode, from /proc/net/tcp{,6}.
std::optional<TcpEntry> tcp_by_inode(const std::string& inode) {
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream in(read_file(table));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string sl, local, remote, st, queues, timer, retr, uid, timeout, ino;
      ls >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> ino;
      if (ino != inode) continue;
      TcpEntry e;
      e.local_port = std::stoi(local.substr(local.rfind(':') + 1), nullptr, 16);
      e.remote_port = std::stoi(remote.substr(remote.rfind(':') + 1), nullptr, 16);
      e.state = std::stoi(st, nullptr, 16);
      return e;
    }
  }
  return std::nullopt;
}

bool is_unix_socket(const std::string& inode) {
  std::istringstream in(read_file("/proc/net/unix"));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string num, refcount, protocol, flags, type, st, ino;
    ls >> num >> refcount >> protocol >> flags >> type >> st >> ino;
    if (ino == inode) return true;
  }
  return false;
}

std::string describe(const std::map<int, std::string>& fds) {
  std::string out;
  for (const auto& [fd, target] : fds) out += "  " + std::to_string(fd) + " -> " + target + "\n";
  return out;
}

class Privsep : public ::testing::Test {
 protected:
  void start_with(const std::string& engineers_text) {
    write_file(agent_.engineers_path(), engineers_text);
    ASSERT_TRUE(agent_.start({}, "127.0.0.1:0", {{"LC_ALL", "C"}})) << agent_.log();
  }
  // Connects alice and returns the single connection process serving her.
  pid_t connect_alice(RpcClient& c) {
    EXPECT_TRUE(c.connect(agent_.port(), alice_.path)) << c.error() << agent_.log();
    auto a = c.call(rpc_request(1, "agent.info"));
    EXPECT_TRUE(a.has_value() && a->contains("result")) << agent_.log();
    auto kids = agent_.children();
    EXPECT_EQ(kids.size(), 1U);
    return kids.empty() ? -1 : kids[0];
  }

  TempDir dir_;
  Key alice_ = make_key(dir_.path(), "alice");
  Agent agent_{dir_.path()};
};

TEST_F(Privsep, ConnectionProcessRunsAsRdiagNetWithNoGroupsAndNoNewPrivs) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the agent demotes only when it is root";
  const passwd* pw = ::getpwnam(kNetAccount);
  ASSERT_NE(pw, nullptr) << "account " << kNetAccount << " missing (scripts/deps.sh makes it)";
  const std::string uid = std::to_string(pw->pw_uid);
  const std::string gid = std::to_string(pw->pw_gid);
  ASSERT_NE(pw->pw_uid, 0U);
  start_with(alice_.public_line + "\n");
  RpcClient c;
  const pid_t child = connect_alice(c);
  ASSERT_GT(child, 0);

  auto st = proc_status(child);
  EXPECT_EQ(st["Uid"], uid + "\t" + uid + "\t" + uid + "\t" + uid) << "real, effective, saved, fs";
  EXPECT_EQ(st["Gid"], gid + "\t" + gid + "\t" + gid + "\t" + gid);
  EXPECT_EQ(st["Groups"], "") << "supplementary groups dropped";
  EXPECT_EQ(st["NoNewPrivs"], "1");
  EXPECT_EQ(st["Seccomp"], "2") << "the seccomp filter (mode 2) is installed";
  EXPECT_EQ(st["CapEff"], "0000000000000000");
  EXPECT_EQ(st["CapPrm"], "0000000000000000");
  // Not dumpable: the kernel then gives its /proc files to root, not to the
  // process's own uid, so rdiag-net cannot ptrace it or read its memory.
  struct stat proc_st {};
  ASSERT_EQ(::stat(("/proc/" + std::to_string(child) + "/status").c_str(), &proc_st), 0);
  EXPECT_EQ(proc_st.st_uid, 0U) << "connection process is dumpable";

  auto cmd = proc_cmdline(child);
  ASSERT_GE(cmd.size(), 2U);
  EXPECT_EQ(std::filesystem::path(cmd[0]).filename(), "rdiag-agent");
  EXPECT_EQ(cmd[1], "connection");
  // The environment is not passed on (nothing of ours leaks into it).
  EXPECT_TRUE(read_file("/proc/" + std::to_string(child) + "/environ").empty());

  // The monitor keeps root: it owns the state.
  auto agent_st = proc_status(agent_.pid());
  EXPECT_EQ(agent_st["Uid"], "0\t0\t0\t0");
  // And the connection still works after all that.
  auto a = c.call(rpc_request(2, "agent.info"));
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->contains("result"));
}

TEST_F(Privsep, ConnectionProcessHoldsOnlyTheDescriptorsItNeeds) {
  Key bob = make_key(dir_.path(), "bob");
  start_with(alice_.public_line + "\n" + bob.public_line + "\n");
  // Bob connects first so that a descriptor leaked from one connection into
  // the next (his socket in alice's process) would be visible.
  RpcClient bob_client;
  ASSERT_TRUE(bob_client.connect(agent_.port(), bob.path)) << bob_client.error();
  ASSERT_TRUE(bob_client.call(rpc_request(1, "agent.info")).has_value());
  const auto before = agent_.children();
  ASSERT_EQ(before.size(), 1U);
  RpcClient c;
  ASSERT_TRUE(c.connect(agent_.port(), alice_.path)) << c.error() << agent_.log();
  ASSERT_TRUE(c.call(rpc_request(1, "agent.info")).has_value());
  pid_t child = -1;
  for (pid_t p : agent_.children()) {
    if (p != before[0]) child = p;
  }
  ASSERT_GT(child, 0);

  errno = 0;
  const auto fds = fd_table(child);
  if (fds.empty() && errno == EACCES) {
    GTEST_SKIP() << "cannot read /proc/" << child << "/fd (needs CAP_SYS_PTRACE: not dumpable)";
  }
  ASSERT_FALSE(fds.empty());
  const auto agent_fds = fd_table(agent_.pid());
  ASSERT_FALSE(agent_fds.empty());

  // The agent's listening socket (a TCP socket in LISTEN on our port).
  std::string listen_inode;
  for (const auto& [fd, target] : agent_fds) {
    const std::string ino = socket_inode(target);
    if (ino.empty()) continue;
    auto tcp = tcp_by_inode(ino);
    if (tcp && tcp->state == 0x0A && tcp->local_port == agent_.port()) listen_inode = ino;
  }
  ASSERT_FALSE(listen_inode.empty()) << describe(agent_fds);

  // Where the agent was started with extra descriptors open (an interactive
  // shell, some runners), this also fails through the inherited-descriptor
  // bug that DescriptorsTheAgentInheritedDoNotReachTheConnectionProcess pins.
  SCOPED_TRACE("connection process descriptors:\n" + describe(fds));
  // 0 and 1 are /dev/null; 2 is the agent's own stderr (its log).
  ASSERT_TRUE(fds.count(0) && fds.count(1) && fds.count(2));
  EXPECT_EQ(fds.at(0), "/dev/null");
  EXPECT_EQ(fds.at(1), "/dev/null");
  EXPECT_EQ(fds.at(2), agent_fds.count(2) ? agent_fds.at(2) : "?");
  // 3 is this engineer's TCP connection, nobody else's.
  ASSERT_TRUE(fds.count(3));
  auto tcp = tcp_by_inode(socket_inode(fds.at(3)));
  ASSERT_TRUE(tcp.has_value()) << "fd 3 is a TCP socket";
  EXPECT_EQ(tcp->state, 0x01);
  EXPECT_EQ(tcp->local_port, agent_.port());
  EXPECT_EQ(tcp->remote_port, c.local_port()) << "fd 3 is alice's own connection";
  // 4 is the monitor socketpair (AF_UNIX).
  ASSERT_TRUE(fds.count(4));
  EXPECT_TRUE(is_unix_socket(socket_inode(fds.at(4)))) << fds.at(4);

  const std::string state_dir = std::filesystem::canonical(agent_.state_dir()).string();
  const std::string dir = std::filesystem::canonical(dir_.path()).string();
  for (const auto& [fd, target] : fds) {
    if (fd <= 4) continue;
    // Anything else may only be a read-only device libssh or OpenSSL keeps
    // for randomness: no socket (listening or another connection's), no
    // pipe, no signalfd, no file of the agent's.
    EXPECT_TRUE(target == "/dev/urandom" || target == "/dev/random")
        << "unexpected descriptor " << fd << " -> " << target;
  }
  for (const auto& [fd, target] : fds) {
    EXPECT_NE(socket_inode(target), listen_inode) << "listening socket inherited as fd " << fd;
    EXPECT_NE(target.rfind(state_dir, 0), 0U) << "state dir file open as fd " << fd;
    if (fd != 2) {
      EXPECT_NE(target.rfind(dir, 0), 0U) << "agent file open as fd " << fd;
    }
    EXPECT_EQ(target.find("signalfd"), std::string::npos) << "fd " << fd;
  }
}

// Whoever starts the agent (a shell, a process manager, a test runner) may
// hand it descriptors without close-on-exec. The agent must not pass them on
// to the process that parses network input: here a writable file of the
// starter's sits at fd 40 when the agent starts.
// KNOWN AGENT BUG (reported): agent/listener.cpp exec_connection() assumes
// "every other descriptor is close-on-exec already", which holds only for the
// agent's own descriptors, so inherited ones reach the connection process.
TEST_F(Privsep, DescriptorsTheAgentInheritedDoNotReachTheConnectionProcess) {
  write_file(dir_ / "starter-secret", "not for rdiag-net\n", 0600);
  const std::string secret = std::filesystem::canonical(dir_ / "starter-secret").string();
  const int raw = ::open(secret.c_str(), O_RDWR);  // deliberately no O_CLOEXEC
  ASSERT_GE(raw, 0);
  const int planted = ::fcntl(raw, F_DUPFD, 40);  // F_DUPFD: no close-on-exec either
  ::close(raw);
  ASSERT_GE(planted, 40);
  write_file(agent_.engineers_path(), alice_.public_line + "\n");
  const bool started = agent_.start({}, "127.0.0.1:0", {{"LC_ALL", "C"}});
  ::close(planted);
  ASSERT_TRUE(started) << agent_.log();
  // The agent did inherit it (otherwise this test proves nothing).
  bool agent_has_it = false;
  for (const auto& [fd, target] : fd_table(agent_.pid())) agent_has_it |= target == secret;
  ASSERT_TRUE(agent_has_it) << "the planted descriptor did not reach the agent";

  RpcClient c;
  const pid_t child = connect_alice(c);
  ASSERT_GT(child, 0);
  errno = 0;
  const auto fds = fd_table(child);
  if (fds.empty() && errno == EACCES) GTEST_SKIP() << "cannot read /proc/" << child << "/fd";
  ASSERT_FALSE(fds.empty());
  for (const auto& [fd, target] : fds) {
    EXPECT_NE(target, secret) << "the starter's file is open in the connection process as fd " << fd
                              << "\n"
                              << describe(fds);
  }
}

TEST_F(Privsep, RemovedKeyLosesItsLiveConnectionAtOnce) {
  Key bob = make_key(dir_.path(), "bob");
  start_with(alice_.public_line + "\n" + bob.public_line + "\n");
  RpcClient alice_client;
  RpcClient bob_client;
  const pid_t alice_pid = connect_alice(alice_client);
  ASSERT_GT(alice_pid, 0);
  ASSERT_TRUE(bob_client.connect(agent_.port(), bob.path)) << bob_client.error();
  ASSERT_TRUE(bob_client.call(rpc_request(1, "agent.info")).has_value());

  write_file(agent_.engineers_path(), bob.public_line + "\n");
  const auto t0 = Clock::now();
  agent_.reload();
  const bool closed = alice_client.wait_closed(milliseconds(3000));
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
  EXPECT_TRUE(closed) << "alice's connection survived the removal of her key; " << agent_.log();
  EXPECT_LT(took.count(), 1000) << "took " << took.count() << " ms";
  EXPECT_TRUE(wait_until([&] { return !process_alive(alice_pid); }, milliseconds(2000)));
  EXPECT_FALSE(alice_client.call(rpc_request(2, "agent.info"), milliseconds(1000)).has_value());

  // Bob is untouched.
  auto b = bob_client.call(rpc_request(2, "agent.info"));
  ASSERT_TRUE(b.has_value()) << agent_.log();
  EXPECT_EQ((*b)["result"]["engineer"]["fingerprint"], bob.fingerprint);

  // A new connection with alice's key is refused at authentication.
  RpcClient again;
  EXPECT_FALSE(again.connect(agent_.port(), alice_.path));
  EXPECT_TRUE(again.auth_denied()) << again.error();
  auto r = ssh_rpc(agent_.port(), alice_.path,
                   R"({"jsonrpc":"2.0","id":1,"method":"agent.info"})"
                   "\n");
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  EXPECT_NE(agent_.log().find("key_removed_or_expired"), std::string::npos) << agent_.log();
}

TEST_F(Privsep, UnreadableEngineersFileOnReloadKeepsTheOldSet) {
  start_with(alice_.public_line + "\n");
  RpcClient c;
  ASSERT_GT(connect_alice(c), 0);
  const std::string path = agent_.engineers_path();
  // Root reads a mode-000 file regardless, so as root the file is replaced by
  // something open() accepts and read() refuses: a directory.
  if (::geteuid() == 0) {
    ASSERT_EQ(std::rename(path.c_str(), (path + ".saved").c_str()), 0);
    ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  } else {
    ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  }
  agent_.reload();
  EXPECT_TRUE(wait_until(
      [&] { return agent_.log().find("engineers file not reloaded") != std::string::npos; },
      milliseconds(3000)))
      << agent_.log();
  // The live connection stays, and so does the key for new connections.
  auto a = c.call(rpc_request(2, "agent.info"));
  ASSERT_TRUE(a.has_value()) << agent_.log();
  EXPECT_TRUE(a->contains("result"));
  EXPECT_TRUE(c.is_open());
  RpcClient fresh;
  EXPECT_TRUE(fresh.connect(agent_.port(), alice_.path)) << fresh.error() << agent_.log();
  EXPECT_TRUE(process_alive(agent_.pid()));
}

}  // namespace
}  // namespace rdiag::test
