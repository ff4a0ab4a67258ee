#include "agent/collect/read.h"

#include <dirent.h>

#include <algorithm>
#include <memory>

#include "agent/collect/text.h"
#include "common/fs.h"
#include "common/i18n.h"

namespace rdiag::agent::collect {

Result<std::string> read_text(const std::string& path, std::size_t max_bytes) {
  ReadFileHooks hooks;
  hooks.io_error = [&](int err) {
    return make_error(i18n::tr("agent.collect.read_failed", path, errno_text(err)), "io");
  };
  return read_file_bounded(path, max_bytes, hooks);
}

std::vector<int> list_pids() {
  std::vector<int> pids;
  const std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/proc"), ::closedir);
  if (!dir) return pids;
  while (const dirent* e = ::readdir(dir.get())) {
    const auto n = to_u64(e->d_name);
    // pid_max is at most 2^22 (4194304), far below INT_MAX.
    if (n && *n > 0 && *n <= 4194304) pids.push_back(static_cast<int>(*n));
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace rdiag::agent::collect
