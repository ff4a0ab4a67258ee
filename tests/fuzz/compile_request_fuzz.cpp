// libFuzzer target for rdiag-compile's request (common/redact/hs_child.h):
// every length is checked before anything is allocated or compiled. Beyond
// "no crash": the helper answers (status 0) or refuses (status 2), and an
// answer is a database or an error naming an expression it was sent.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/redact/hs_child.h"
#include "tests/fuzz/fuzz_require.h"

using rdiag::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Mostly well-formed requests: the magic is ours, the fuzzer writes the rest.
  std::string request(rdiag::redact::detail::kHelperMagic, rdiag::redact::detail::kHelperMagicSize);
  request.append(reinterpret_cast<const char*>(data), size);
  const int in = ::memfd_create("req", MFD_CLOEXEC);
  const int out = ::memfd_create("ans", MFD_CLOEXEC);
  require(in >= 0 && out >= 0);
  require(::write(in, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  ::lseek(in, 0, SEEK_SET);
  const int status = rdiag::redact::detail::serve_compile(in, out);
  require(status == 0 || status == 2);
  char head[1 + sizeof(std::int32_t)] = {};
  const ssize_t n = ::pread(out, head, sizeof head, 0);
  if (status == 2) require(n == 0);
  if (status == 0) {
    require(n >= 1 && (head[0] == 'D' || head[0] == 'E'));
    std::uint32_t count = 0;
    std::memcpy(&count, request.data() + rdiag::redact::detail::kHelperMagicSize, sizeof count);
    if (head[0] == 'E' && n == static_cast<ssize_t>(sizeof head)) {
      std::int32_t index = 0;
      std::memcpy(&index, head + 1, sizeof index);
      require(index >= -1 && index < static_cast<std::int32_t>(count));
    }
  }
  ::close(in);
  ::close(out);
  return 0;
}
