// LD_PRELOAD shim for the "sshd-nodelay" baseline in bench/run.sh: sets
// TCP_NODELAY on every socket sshd accepts. sshd turns Nagle off only for
// interactive (pty) sessions, so on a subsystem session its small back-to-back
// writes wait for the client's delayed ACK (~40 ms on loopback). rdiag-agent
// sets TCP_NODELAY; this row shows what sshd costs without those stalls.
// The option survives sshd's re-exec because it lives on the socket.
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace {

int with_nodelay(int fd) {
  if (fd >= 0) {
    int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

template <typename Fn>
Fn next_symbol(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int accept(int fd, sockaddr* addr, socklen_t* len) {
  using Fn = int (*)(int, sockaddr*, socklen_t*);
  static const Fn real = next_symbol<Fn>("accept");
  return with_nodelay(real(fd, addr, len));
}

extern "C" int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  using Fn = int (*)(int, sockaddr*, socklen_t*, int);
  static const Fn real = next_symbol<Fn>("accept4");
  return with_nodelay(real(fd, addr, len, flags));
}
