// The worker's side of hs_child.h: hand one compile to `rdiag-compile` and
// load what it answers. Between fork and exec only async-signal-safe calls:
// the worker has threads (collectors, plugin runs) while an engine is built.
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "common/fs.h"
#include "common/i18n.h"
#include "common/redact/engine.h"
#include "common/redact/hs_child.h"
#include "common/redact/regex.h"

namespace rdiag::redact {
namespace {

std::atomic<int> g_helper_fd{-1};

// The helper's limits. A compile of every built-in redaction and a few
// hundred rules takes well under a second and a few MiB; these only stop a
// pattern that would make the compiler run away.
constexpr rlim_t kHelperCpuSeconds = 60;
constexpr rlim_t kHelperMemory = rlim_t{2} << 30;
constexpr rlim_t kHelperAnswerBytes = rlim_t{256} << 20;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // ASan reserves terabytes of address space
#else
constexpr bool kSanitized = false;
#endif

void put_u32(std::string& out, std::uint32_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

[[noreturn]] void exec_helper(int exe, int in, int out, char* const* envp, pid_t parent) noexcept {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (::getppid() != parent) ::_exit(126);  // the worker died before the line above
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0) ::_exit(126);
  // dup2 onto itself keeps close-on-exec: clear it (a caller whose 0 or 1 is
  // already the memory file).
  if (::fcntl(0, F_SETFD, 0) != 0 || ::fcntl(1, F_SETFD, 0) != 0) ::_exit(126);
  // The worker's socket to the monitor and whatever else it holds stay here;
  // the helper's own executable is still reachable through `exe` by exec.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) ::_exit(126);
  const struct rlimit core { 0, 0 };
  const struct rlimit cpu { kHelperCpuSeconds, kHelperCpuSeconds };
  const struct rlimit fsize { kHelperAnswerBytes, kHelperAnswerBytes };
  const struct rlimit memory { kHelperMemory, kHelperMemory };
  ::setrlimit(RLIMIT_CORE, &core);
  ::setrlimit(RLIMIT_CPU, &cpu);
  ::setrlimit(RLIMIT_FSIZE, &fsize);
  if (!kSanitized) ::setrlimit(RLIMIT_AS, &memory);
  char arg0[] = "rdiag-compile";
  char* argv[] = {arg0, nullptr};
  ::syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
  ::_exit(127);
}

detail::HsDatabase::Failure whole(std::string message, const char* reason = "compile_unavailable") {
  detail::HsDatabase::Failure f;
  f.whole = true;
  f.reason = reason;
  f.message = std::move(message);
  return f;
}

// A helper that died: the limit it hit, in words, where the signal says.
detail::HsDatabase::Failure killed(int sig) {
  switch (sig) {
    case SIGXCPU:
    case SIGKILL:
      return whole(i18n::tr("common.redact.helper_cpu", kHelperCpuSeconds), "too_costly");
    case SIGXFSZ:
      return whole(i18n::tr("common.redact.helper_size", kHelperAnswerBytes >> 20), "too_costly");
    case SIGABRT:
    case SIGSEGV:
    case SIGBUS:
      return whole(i18n::tr("common.redact.helper_memory", sig, kHelperMemory >> 30), "too_costly");
    default:
      return whole(i18n::tr("common.redact.helper_signal", sig));
  }
}

}  // namespace

void compile_in_helper(int helper_exe_fd) {
  g_helper_fd.store(helper_exe_fd);
}

namespace detail {

int compile_helper_fd() {
  return g_helper_fd.load();
}

hs_database_t* compile_with_helper(int exe, const std::vector<const char*>& patterns,
                                   const std::vector<unsigned>& flags,
                                   HsDatabase::Failure* failure) {
  std::string request(kHelperMagic, kHelperMagicSize);
  put_u32(request, static_cast<std::uint32_t>(patterns.size()));
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    const std::size_t len = std::strlen(patterns[i]);
    put_u32(request, flags[i]);
    put_u32(request, static_cast<std::uint32_t>(len));
    request.append(patterns[i], len);
  }
  const UniqueFd in(::memfd_create("rdiag-compile-request", MFD_CLOEXEC));
  const UniqueFd out(::memfd_create("rdiag-compile-answer", MFD_CLOEXEC));
  if (in.get() < 0 || out.get() < 0 || !write_all(in.get(), request) ||
      ::lseek(in.get(), 0, SEEK_SET) != 0) {
    *failure = whole(i18n::tr("common.redact.helper_start", errno_text(errno)));
    return nullptr;
  }
  // The environment the sanitizer preset needs, nothing else.
  std::vector<std::string> env;
  for (const char* var : {"ASAN_OPTIONS", "UBSAN_OPTIONS"}) {
    const char* v = std::getenv(var);  // NOLINT(concurrency-mt-unsafe): nobody sets these
    if (v != nullptr) env.push_back(std::string(var) + "=" + v);
  }
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) exec_helper(exe, in.get(), out.get(), envp.data(), parent);
  if (pid < 0) {
    *failure = whole(i18n::tr("common.redact.helper_start", errno_text(errno)));
    return nullptr;
  }
  // The helper's CPU limit bounds this wait; it never sleeps.
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    *failure = killed(WTERMSIG(status));
    return nullptr;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {  // serve_compile's own bounds
    *failure = whole(i18n::tr("common.redact.helper_refused", detail::kHelperMaxExpressions,
                              detail::kHelperMaxPatternBytes >> 20),
                     "too_costly");
    return nullptr;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *failure = whole(i18n::tr("common.redact.helper_exit", WEXITSTATUS(status)));
    return nullptr;
  }
  struct stat st {};
  if (::fstat(out.get(), &st) != 0 || st.st_size < 1 ||
      static_cast<rlim_t>(st.st_size) > kHelperAnswerBytes) {
    *failure = whole(i18n::tr("common.redact.helper_answer"));
    return nullptr;
  }
  std::string answer(static_cast<std::size_t>(st.st_size), '\0');
  if (::pread(out.get(), answer.data(), answer.size(), 0) != st.st_size) {
    *failure = whole(i18n::tr("common.redact.helper_answer"));
    return nullptr;
  }
  if (answer[0] == kHelperError && answer.size() >= 1 + sizeof(std::int32_t)) {
    std::int32_t index = 0;
    std::memcpy(&index, answer.data() + 1, sizeof index);
    failure->message = answer.substr(1 + sizeof index);
    if (index < 0 || static_cast<std::size_t>(index) >= patterns.size()) {
      *failure = whole(failure->message, "too_costly");  // Vectorscan's "out of memory" and kin
    } else {
      failure->index = static_cast<std::size_t>(index);
    }
    return nullptr;
  }
  hs_database_t* db = nullptr;
  if (answer[0] != kHelperDatabase ||
      hs_deserialize_database(answer.data() + 1, answer.size() - 1, &db) != HS_SUCCESS) {
    *failure = whole(i18n::tr("common.redact.helper_answer"));
    return nullptr;
  }
  return db;
}

}  // namespace detail
}  // namespace rdiag::redact
