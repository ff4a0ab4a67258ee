// The control socket's transport: who gets in (the kernel's view of the
// peer, not the peer's word), one bounded line in, one line out, and nothing
// that lets a slow or hostile client hold the monitor's loop.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "agent/control/client.h"
#include "agent/control/server.h"
#include "tests/unit/common/test_util.h"

namespace rdiag::agent {
namespace {

using nlohmann::json;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
constexpr const char* kAdminGroup = "adm";  // exists on Debian and Ubuntu; not nobody's group
constexpr int kMaxRounds = 400;             // a bound, not a speed: 400 polls of at most 25 ms

int connect_unix(const std::string& path, bool nonblocking) {
  const int fd =
      ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    return -err;
  }
  return fd;
}

// A blocking exchange, for forked children: everything sent, everything read.
std::string blocking_exchange(const std::string& path, const std::string& data) {
  const int fd = connect_unix(path, false);
  if (fd < 0) return "CONNECT " + std::to_string(-fd);
  (void)::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
  std::string got;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return got;
}

struct Who {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
};

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A request without "lang" gets the process's language: pin it, whatever
    // test ran before.
    i18n::set_lang(i18n::Lang::kEn);
    ASSERT_FALSE(dir_.path().empty());
    path_ = dir_.path() + "/run/control.sock";
  }

  std::unique_ptr<ControlServer> open(ControlServerOptions options = {}) {
    auto s = ControlServer::open(path_, kAdminGroup, options);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }

  ControlHandler handler() {
    return [this](const ControlRequest& r) {
      handled_.push_back(r);
      if (r.command == "throw") throw std::runtime_error("boom");
      return json{{"result", {{"echo", r.command}}}};
    };
  }
  ControlRefusal refusal() {
    return [this](const ControlPeer& p, const std::string& cmd) { refused_.emplace_back(p, cmd); };
  }

  // One round of the monitor's loop.
  void pump(ControlServer& s, int timeout_ms = 25) {
    std::vector<pollfd> fds{{-1, 0, 0}};  // something of the monitor's own first
    const std::size_t first = fds.size();
    const std::size_t count = s.add_poll_fds(fds);
    EXPECT_EQ(fds.size(), first + count);
    (void)::poll(fds.data(), fds.size(), timeout_ms);
    s.on_poll(fds, first, count, handler(), refusal());
    s.sweep();
  }

  // Sends data from this process and pumps until the server closes.
  std::string exchange(ControlServer& s, const std::string& data, bool close_write = false) {
    const int fd = connect_unix(path_, true);
    EXPECT_GE(fd, 0);
    if (fd < 0) return {};
    std::size_t sent = 0;
    std::string got;
    for (int round = 0; round < kMaxRounds; ++round) {
      if (sent < data.size()) {
        const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n > 0) sent += static_cast<std::size_t>(n);
        if (sent == data.size() && close_write) ::shutdown(fd, SHUT_WR);
      }
      pump(s);
      char buf[4096];
      ssize_t n = 0;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
      if (n == 0 || (n < 0 && errno != EAGAIN)) break;
    }
    ::close(fd);
    return got;
  }

  // Runs body in a child that first becomes who (when given); pumps the
  // server until the child exits; returns what body returned.
  std::string in_child(ControlServer* s, const std::optional<Who>& who,
                       const std::function<std::string()>& body, int* status = nullptr) {
    int out[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(out[0]);
      if (who && (::setgroups(who->groups.size(), who->groups.data()) != 0 ||
                  ::setgid(who->gid) != 0 || ::setuid(who->uid) != 0)) {
        ::_exit(90);
      }
      const std::string text = body();
      (void)!::write(out[1], text.data(), text.size());
      ::_exit(0);
    }
    ::close(out[1]);
    int st = -1;
    for (int round = 0; round < kMaxRounds; ++round) {
      if (s != nullptr) pump(*s);
      if (::waitpid(pid, &st, s != nullptr ? WNOHANG : 0) == pid) break;
    }
    std::string got;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(out[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
    if (status != nullptr) *status = st;
    return got;
  }

  static bool root() { return ::geteuid() == 0; }
  static gid_t admin_gid() {
    const group* g = ::getgrnam(kAdminGroup);
    return g != nullptr ? g->gr_gid : 0;
  }

  test_util::TempDir dir_{"control"};
  std::string path_;
  std::vector<ControlRequest> handled_;
  std::vector<std::pair<ControlPeer, std::string>> refused_;
};

json answer_of(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n') << line;
  return json::parse(line, nullptr, false);
}

std::optional<uid_t> own_loginuid() {
  std::ifstream in("/proc/self/loginuid");
  unsigned long v = 0;
  if (!(in >> v) || v == 4294967295UL) return std::nullopt;
  return static_cast<uid_t>(v);
}

TEST_F(ControlServerTest, CreatesFolderAndSocketForRootAndTheAdminGroup) {
  if (!root() || admin_gid() == 0) GTEST_SKIP() << "needs root and the group " << kAdminGroup;
  auto s = open();
  ASSERT_TRUE(s);
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750U);
  EXPECT_EQ(st.st_uid, 0U);
  EXPECT_EQ(st.st_gid, admin_gid());
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660U);
  EXPECT_EQ(st.st_gid, admin_gid());
  ASSERT_TRUE(s->admin_gid().has_value());
  // Close-on-exec and non-blocking, so no child inherits it, no accept blocks.
  std::vector<pollfd> fds;
  ASSERT_EQ(s->add_poll_fds(fds), 1U);
  EXPECT_NE(::fcntl(fds[0].fd, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(fds[0].fd, F_GETFL) & O_NONBLOCK, 0);
}

TEST_F(ControlServerTest, MissingAdminGroupLeavesTheSocketToRootAlone) {
  auto s = ControlServer::open(path_, "no-such-group-rdiag", {});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_FALSE((*s)->admin_gid().has_value());
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600U);
}

TEST_F(ControlServerTest, HandsAnAdmittedRequestToTheHandlerWithThePeer) {
  auto s = open();
  ASSERT_TRUE(s);
  const std::string got = exchange(
      *s,
      R"({"command":"approve","args":{"request_id":"R1"},"sudo_user":"alice","lang":"zh_CN.UTF-8"})"
      "\n");
  EXPECT_EQ(answer_of(got), (json{{"result", {{"echo", "approve"}}}}));
  ASSERT_EQ(handled_.size(), 1U);
  const ControlRequest& r = handled_[0];
  EXPECT_EQ(r.command, "approve");
  EXPECT_EQ(r.args, (json{{"request_id", "R1"}}));
  EXPECT_EQ(r.sudo_user, "alice");
  EXPECT_EQ(r.lang, "zh_CN");
  EXPECT_EQ(r.peer.uid, ::geteuid());
  EXPECT_EQ(r.peer.pid, ::getpid());
  EXPECT_EQ(r.peer.loginuid, own_loginuid());
  EXPECT_FALSE(r.peer.user.empty());
  EXPECT_TRUE(refused_.empty());
  EXPECT_EQ(s->client_count(), 0U);
}

TEST_F(ControlServerTest, TakesALastLineWithoutNewlineAndDefaultsArgs) {
  auto s = open();
  ASSERT_TRUE(s);
  const std::string got = exchange(*s, R"({"command":"requests"})", /*close_write=*/true);
  EXPECT_TRUE(answer_of(got).contains("result"));
  ASSERT_EQ(handled_.size(), 1U);
  EXPECT_EQ(handled_[0].args, json::object());
  EXPECT_EQ(handled_[0].lang, "en");
}

TEST_F(ControlServerTest, AdmitsByUidOrAdminGroupOnly) {
  auto s = open();
  ASSERT_TRUE(s);
  ControlPeer p;
  p.uid = 0;
  EXPECT_TRUE(s->admitted(p));
  p.uid = ::geteuid();
  EXPECT_TRUE(s->admitted(p));
  if (!s->admin_gid()) GTEST_SKIP() << "no group " << kAdminGroup;
  p = ControlPeer{};
  p.uid = 4242;
  p.gid = 4242;
  p.groups = {4243, 4244};
  EXPECT_FALSE(s->admitted(p));
  p.groups.push_back(*s->admin_gid());
  EXPECT_TRUE(s->admitted(p));
  p.groups.clear();
  p.gid = *s->admin_gid();
  EXPECT_TRUE(s->admitted(p));
}

TEST_F(ControlServerTest, RefusesAPeerOutsideTheAdminGroupAndReportsIt) {
  if (!root()) GTEST_SKIP() << "needs root to become another user";
  auto s = open();
  ASSERT_TRUE(s);
  // The socket's mode is the first lock; open it so the peer check, the
  // second lock, is what refuses.
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod((dir_.path() + "/run").c_str(), 0755), 0);
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  const std::string path = path_;
  const std::string got = in_child(s.get(), Who{kNobody, kNogroup, {}}, [&] {
    return blocking_exchange(path, R"({"command":"revoke","args":{"all":true}})"
                                   "\n");
  });
  const json a = answer_of(got);
  EXPECT_EQ(a["error"]["reason"], "not_permitted") << got;
  EXPECT_NE(a["error"]["message"].get<std::string>().find(kAdminGroup), std::string::npos);
  EXPECT_TRUE(handled_.empty());
  ASSERT_EQ(refused_.size(), 1U);
  EXPECT_EQ(refused_[0].first.uid, kNobody);
  EXPECT_EQ(refused_[0].first.user, "nobody");
  EXPECT_GT(refused_[0].first.pid, 0);
  EXPECT_EQ(refused_[0].second, "revoke");
}

TEST_F(ControlServerTest, AdmitsAPeerWhoseSupplementaryGroupsHoldTheAdminGroup) {
  if (!root() || admin_gid() == 0) GTEST_SKIP() << "needs root and the group " << kAdminGroup;
  auto s = open();
  ASSERT_TRUE(s);
  // Only the parent of our folder is opened: the folder (0750) and the socket
  // (0660) keep the modes the server gave them, and the group gets through.
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  const std::string path = path_;
  const std::string got = in_child(s.get(), Who{kNobody, kNogroup, {admin_gid()}}, [&] {
    return blocking_exchange(path, R"({"command":"sessions","args":{"closed":true}})"
                                   "\n");
  });
  EXPECT_EQ(answer_of(got), (json{{"result", {{"echo", "sessions"}}}}));
  ASSERT_EQ(handled_.size(), 1U);
  EXPECT_EQ(handled_[0].peer.uid, kNobody);
  EXPECT_EQ(handled_[0].peer.gid, kNogroup);
  EXPECT_NE(std::find(handled_[0].peer.groups.begin(), handled_[0].peer.groups.end(), admin_gid()),
            handled_[0].peer.groups.end());
  EXPECT_TRUE(refused_.empty());
}

TEST_F(ControlServerTest, AnswersAnOversizedLineWithoutCallingTheHandler) {
  auto s = open();
  ASSERT_TRUE(s);
  const std::string big =
      R"({"command":"requests","args":{"pad":")" + std::string(70 * 1024, 'x') + "\"}}\n";
  const json a = answer_of(exchange(*s, big));
  EXPECT_EQ(a["error"]["reason"], "bad_request");
  EXPECT_NE(a["error"]["message"].get<std::string>().find("65536"), std::string::npos) << a.dump();
  EXPECT_TRUE(handled_.empty());
  EXPECT_EQ(s->client_count(), 0U);
}

TEST_F(ControlServerTest, AnswersMalformedRequestsWithoutCallingTheHandler) {
  auto s = open();
  ASSERT_TRUE(s);
  for (const std::string line : {"not json at all\n", "[1,2,3]\n", "{\"command\":7}\n",
                                 "{\"command\":\"\"}\n", "{\"command\":\"x\",\"args\":[1]}\n"}) {
    const json a = answer_of(exchange(*s, line));
    EXPECT_EQ(a["error"]["reason"], "bad_request") << line;
    const std::string message = a["error"]["message"].get<std::string>();
    EXPECT_FALSE(message.empty());
    EXPECT_EQ(message.rfind("agent.control.", 0), std::string::npos) << "untranslated: " << message;
  }
  EXPECT_TRUE(handled_.empty());
  EXPECT_TRUE(refused_.empty());
}

TEST_F(ControlServerTest, AnswersAHandlerExceptionInsteadOfDying) {
  auto s = open();
  ASSERT_TRUE(s);
  const json a = answer_of(exchange(*s, "{\"command\":\"throw\"}\n"));
  EXPECT_EQ(a["error"]["reason"], "internal");
  EXPECT_NE(a["error"]["message"].get<std::string>().find("boom"), std::string::npos);
}

TEST_F(ControlServerTest, DropsASilentClientAtTheDeadline) {
  ControlServerOptions options;
  options.deadline = std::chrono::milliseconds(100);
  auto s = open(options);
  ASSERT_TRUE(s);
  const int fd = connect_unix(path_, true);
  ASSERT_GE(fd, 0);
  pump(*s);
  EXPECT_EQ(s->client_count(), 1U);
  for (int round = 0; round < kMaxRounds && s->client_count() > 0; ++round) pump(*s);
  EXPECT_EQ(s->client_count(), 0U);
  char c = 0;
  EXPECT_EQ(::read(fd, &c, 1), 0) << "the server should have closed the connection";
  ::close(fd);
  EXPECT_TRUE(handled_.empty());
}

TEST_F(ControlServerTest, ClosesConnectionsOverTheLimitAtOnce) {
  ControlServerOptions options;
  options.max_clients = 1;
  auto s = open(options);
  ASSERT_TRUE(s);
  const int first = connect_unix(path_, true);
  ASSERT_GE(first, 0);
  pump(*s);
  ASSERT_EQ(s->client_count(), 1U);
  const int second = connect_unix(path_, true);
  ASSERT_GE(second, 0);
  ssize_t n = -1;
  for (int round = 0; round < kMaxRounds; ++round) {
    pump(*s);
    char c = 0;
    n = ::read(second, &c, 1);
    if (n >= 0 || errno != EAGAIN) break;
  }
  EXPECT_EQ(n, 0);
  EXPECT_EQ(s->client_count(), 1U);
  ::close(first);
  ::close(second);
}

TEST_F(ControlServerTest, ReplacesAStaleSocketButNotALiveOneNorAFile) {
  std::filesystem::create_directories(dir_.path() + "/run");
  {
    // A socket file nobody listens on: what a killed agent leaves behind.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  auto s = open();
  ASSERT_TRUE(s);
  auto second = ControlServer::open(path_, kAdminGroup, {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().reason, "in_use");
  EXPECT_NE(second.error().message.find(path_), std::string::npos);
  // The failed attempt must not have taken the live agent's socket away.
  EXPECT_EQ(exchange(*s, "{\"command\":\"requests\"}\n").empty(), false);

  const std::string file = dir_.path() + "/not-a-socket";
  std::ofstream(file) << "keep me";
  auto third = ControlServer::open(file, kAdminGroup, {});
  ASSERT_FALSE(third);
  EXPECT_TRUE(std::filesystem::is_regular_file(file));
}

TEST_F(ControlServerTest, UnlinksItsSocketWhenDestroyed) {
  auto s = open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(std::filesystem::exists(path_));
  s.reset();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(ControlServerTest, RefusesAPathTooLongForASocket) {
  auto s = ControlServer::open(dir_.path() + "/" + std::string(120, 'a'), kAdminGroup, {});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().reason, "usage");
}

// ---------------------------------------------------------------------------
// The client side, against the real server in this process.

TEST_F(ControlServerTest, ClientRoundTripCarriesCommandArgsAndSudoUser) {
  auto s = open();
  ASSERT_TRUE(s);
  const ControlTarget target{path_, kAdminGroup};
  const std::string got = in_child(s.get(), std::nullopt, [&] {
    ::setenv("SUDO_USER", "bob", 1);
    auto a = control_call(target, "deny", {{"request_id", "R2"}, {"reason", "月末结账"}});
    return a ? a->dump() : "ERR " + a.error().reason;
  });
  EXPECT_EQ(json::parse(got, nullptr, false), (json{{"result", {{"echo", "deny"}}}})) << got;
  ASSERT_EQ(handled_.size(), 1U);
  EXPECT_EQ(handled_[0].sudo_user, "bob");
  EXPECT_EQ(handled_[0].args["reason"], "月末结账");
}

TEST_F(ControlServerTest, ClientSaysTheAgentIsNotRunning) {
  auto a = control_call({dir_.path() + "/absent.sock", kAdminGroup}, "requests", {});
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().reason, "not_running");
  EXPECT_NE(a.error().message.find("absent.sock"), std::string::npos);
  EXPECT_NE(a.error().message.find("systemctl start rdiag-agent"), std::string::npos);
}

TEST_F(ControlServerTest, ClientGivesUpOnAnAgentThatNeverAnswers) {
  auto s = open();  // listening, but nobody runs its loop
  ASSERT_TRUE(s);
  auto a = control_call({path_, kAdminGroup}, "requests", {}, std::chrono::milliseconds(200));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().reason, "timeout");
  EXPECT_NE(a.error().message.find(path_), std::string::npos) << a.error().message;
}

TEST_F(ControlServerTest, ClientNamesTheAdminGroupWhenTheSocketKeepsItOut) {
  if (!root()) GTEST_SKIP() << "needs root to become another user";
  auto s = open();
  ASSERT_TRUE(s);
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod((dir_.path() + "/run").c_str(), 0755), 0);  // reach the 0660 socket
  const ControlTarget target{path_, kAdminGroup};
  const std::string got = in_child(s.get(), Who{kNobody, kNogroup, {}}, [&] {
    auto a = control_call(target, "requests", {});
    return a ? a->dump() : a.error().reason + "|" + a.error().message;
  });
  EXPECT_EQ(got.rfind("access|", 0), 0U) << got;
  EXPECT_NE(got.find(kAdminGroup), std::string::npos) << got;
  EXPECT_TRUE(handled_.empty());
}

}  // namespace
}  // namespace rdiag::agent
