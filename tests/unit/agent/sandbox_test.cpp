// The connection process's seccomp filter, checked in a forked child: what an
// exploit would reach for first is refused or kills the process.
#include "agent/ssh/sandbox.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

#include "agent/ssh/privsep.h"

namespace rdiag::agent {
namespace {

// Runs body in a sandboxed child; returns its wait status.
int in_sandbox(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!demote(nullptr) || !install_connection_sandbox()) ::_exit(99);
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(Sandbox, OpeningFilesIsRefused) {
  const int status = in_sandbox([] {
    const int fd = ::open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    return fd < 0 && errno == EACCES ? 0 : 1;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Sandbox, NewSocketsAndProcessesAreRefused) {
  const int status = in_sandbox([] {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    const pid_t p = ::fork();
    if (p == 0) ::_exit(0);
    return s < 0 && p < 0 ? 0 : 1;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Sandbox, ExecKillsTheProcess) {
  const int status = in_sandbox([] {
    char arg0[] = "/bin/true";
    char* argv[] = {arg0, nullptr};
    ::execv("/bin/true", argv);
    return 3;  // reached only if exec was merely refused
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(Sandbox, ReadingAndWritingExistingDescriptorsStillWorks) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  const int status = in_sandbox([&] { return ::write(p[1], "ok", 2) == 2 ? 0 : 1; });
  char buf[2] = {};
  EXPECT_EQ(::read(p[0], buf, 2), 2);
  ::close(p[0]);
  ::close(p[1]);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace rdiag::agent
