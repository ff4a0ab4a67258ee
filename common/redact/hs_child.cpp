// The helper side of hs_child.h. Linked into `rdiag-compile` on its own:
// Vectorscan and the C library only, so the helper starts small.
#include "common/redact/hs_child.h"

#include <hs/hs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace rdiag::redact::detail {
namespace {

// The whole request, if it is at most max bytes.
bool read_all(int fd, std::string& out, std::size_t max) {
  char chunk[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    if (out.size() + static_cast<std::size_t>(n) > max) return false;
    out.append(chunk, static_cast<std::size_t>(n));
  }
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// A cursor over the request that never reads past its end.
struct Reader {
  const std::string& bytes;
  std::size_t pos = 0;
  bool u32(std::uint32_t* v) {
    if (bytes.size() - pos < sizeof *v) return false;
    std::memcpy(v, bytes.data() + pos, sizeof *v);
    pos += sizeof *v;
    return true;
  }
  bool text(std::uint32_t len, std::string* out) {
    if (bytes.size() - pos < len) return false;
    out->assign(bytes, pos, len);
    pos += len;
    return true;
  }
};

}  // namespace

int serve_compile(int in_fd, int out_fd) {
  std::string request;
  if (!read_all(in_fd, request, kHelperMaxRequestBytes) || request.size() < kHelperMagicSize ||
      request.compare(0, kHelperMagicSize, kHelperMagic, kHelperMagicSize) != 0) {
    return 2;
  }
  Reader r{request, kHelperMagicSize};
  std::uint32_t count = 0;
  if (!r.u32(&count) || count == 0 || count > kHelperMaxExpressions) return 2;
  // Every expression takes at least its two u32s: no allocation for more
  // expressions than the request can hold.
  if (count > (request.size() - r.pos) / (2 * sizeof(std::uint32_t))) return 2;
  std::vector<std::string> patterns(count);
  std::vector<unsigned> flags(count);
  std::vector<unsigned> ids(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint32_t len = 0;
    if (!r.u32(&flags[i]) || !r.u32(&len) || len > kHelperMaxPatternBytes ||
        !r.text(len, &patterns[i]) || patterns[i].find('\0') != std::string::npos) {
      return 2;
    }
    ids[i] = i;
  }
  if (r.pos != request.size()) return 2;
  request = std::string();  // the compiler's peak is what counts; give this back first
  std::vector<const char*> exprs;
  exprs.reserve(count);
  for (const std::string& p : patterns) exprs.push_back(p.c_str());

  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  const hs_error_t rc = hs_compile_multi(exprs.data(), flags.data(), ids.data(), count,
                                         HS_MODE_BLOCK, nullptr, &db, &err);
  if (rc != HS_SUCCESS) {
    std::string answer(1, kHelperError);
    const std::int32_t index = err != nullptr ? err->expression : -1;
    answer.append(reinterpret_cast<const char*>(&index), sizeof index);
    answer += err != nullptr && err->message != nullptr ? err->message : "unknown error";
    hs_free_compile_error(err);
    return write_all(out_fd, answer.data(), answer.size()) ? 0 : 3;
  }
  char* bytes = nullptr;
  std::size_t size = 0;
  const bool serialized = hs_serialize_database(db, &bytes, &size) == HS_SUCCESS;
  hs_free_database(db);
  if (!serialized) return 3;
  const bool ok = write_all(out_fd, &kHelperDatabase, 1) && write_all(out_fd, bytes, size);
  std::free(bytes);  // NOLINT(cppcoreguidelines-no-malloc): Vectorscan allocated it with malloc
  return ok ? 0 : 3;
}

}  // namespace rdiag::redact::detail
