// A child process the test keeps running in the background (its own process
// group, killed when the test is done), for tests that need something to
// look at: a JVM-like process, a command line with a password in it.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace rdiag::test {

// argv[0] may differ from the program run.
class Background {
 public:
  Background(const std::string& program, std::vector<std::string> argv,
             const std::string& stdin_file = "/dev/null") {
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      // Output is not looked at: the tests ask the server or /proc instead.
      ::dup2(::open(stdin_file.c_str(), O_RDONLY | O_CLOEXEC), 0);
      ::dup2(::open("/dev/null", O_WRONLY | O_CLOEXEC), 1);
      ::execv(program.c_str(), cargs.data());
      ::_exit(127);
    }
  }
  ~Background() {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

}  // namespace rdiag::test
