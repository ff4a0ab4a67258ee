// Which files a log source means right now (sources.h list_files): glob(3),
// then the rotated siblings logrotate leaves beside each match.
#include <dirent.h>
#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include "agent/logs/sources.h"
#include "common/i18n.h"

namespace rdiag::agent::logs {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

struct Family {
  std::string dir;
  std::string base;
  std::vector<std::pair<Rotation, std::string>> rotated;  // rotation, full path
};

void split(const std::string& path, std::string& dir, std::string& name) {
  const auto slash = path.rfind('/');
  dir = path.substr(0, slash == 0 ? 1 : slash);
  name = path.substr(slash + 1);
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

// The names in dir that rotate `base`; an unreadable folder yields none (its
// glob already said what there is to say).
void add_siblings(Family& f) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(f.dir.c_str()), ::closedir);
  if (!d) return;
  while (const dirent* e = ::readdir(d.get())) {
    const std::string name = e->d_name;
    auto rot = rotation_of(name);
    if (rot && rot->base == f.base) f.rotated.emplace_back(*rot, join(f.dir, name));
  }
}

// Stats path (following symlinks: logs often live in linked folders) and
// appends it unless it is too old; non-regular files are reported, never opened.
void add_file(FileList& out, const std::string& path, bool current, bool gz,
              std::optional<EpochMs> since) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      out.skipped.emplace_back(
          path,
          make_error(i18n::tr("agent.logs.open_failed", path, std::strerror(errno)), "unreadable"));
    }
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    out.skipped.emplace_back(path,
                             make_error(i18n::tr("agent.logs.not_regular", path), "not_regular"));
    return;
  }
  const EpochMs mtime = EpochMs{st.st_mtim.tv_sec} * 1000 + st.st_mtim.tv_nsec / 1'000'000;
  if (since && mtime < *since) return;
  out.files.push_back(LogFile{path, gz, current, mtime});
}

// Keeps the newest kMaxFilesPerSource files: rotated ones go first, oldest
// first; current files only when there are more currents than the cap.
void apply_cap(FileList& out) {
  if (out.files.size() <= kMaxFilesPerSource) return;
  out.cut = true;
  std::vector<std::size_t> order(out.files.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const LogFile& x = out.files[a];
    const LogFile& y = out.files[b];
    return x.current != y.current ? !x.current : x.mtime < y.mtime;
  });
  std::vector<bool> drop(out.files.size(), false);
  for (std::size_t i = 0; i < out.files.size() - kMaxFilesPerSource; ++i) drop[order[i]] = true;
  std::vector<LogFile> kept;
  for (std::size_t i = 0; i < out.files.size(); ++i) {
    if (!drop[i]) kept.push_back(std::move(out.files[i]));
  }
  out.files = std::move(kept);
}

void glob_into(const std::string& pattern, std::map<std::string, Family>& families, FileList& out) {
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  if (rc == GLOB_ABORTED) {
    out.skipped.emplace_back(
        pattern, make_error(i18n::tr("agent.logs.glob_failed", pattern, std::strerror(EACCES)),
                            "unreadable"));
  }
  for (std::size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) {
    std::string dir;
    std::string name;
    split(g.gl_pathv[i], dir, name);
    const auto rot = rotation_of(name);
    const std::string base = rot ? rot->base : name;
    Family& f = families[join(dir, base)];
    f.dir = dir;
    f.base = base;
  }
  ::globfree(&g);
}

}  // namespace

std::optional<Rotation> rotation_of(std::string_view name) {
  Rotation r;
  if (name.size() > 3 && name.substr(name.size() - 3) == ".gz") {
    r.gz = true;
    name.remove_suffix(3);
  }
  // logrotate's dateext: "-YYYYMMDD"; numbered: ".N" (rotate counts stay small).
  if (name.size() > 9 && name[name.size() - 9] == '-' && all_digits(name.substr(name.size() - 8))) {
    r.base = std::string(name.substr(0, name.size() - 9));
    r.rank_class = 0;
    r.order = std::stoll(std::string(name.substr(name.size() - 8)));
    return r;
  }
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || name.size() - dot - 1 > 3 ||
      !all_digits(name.substr(dot + 1))) {
    return std::nullopt;
  }
  r.base = std::string(name.substr(0, dot));
  r.rank_class = 1;
  r.order = -std::stoll(std::string(name.substr(dot + 1)));
  return r;
}

FileList list_files(const Source& source, std::optional<EpochMs> since) {
  FileList out;
  std::map<std::string, Family> families;
  for (const std::string& pattern : source.globs) glob_into(pattern, families, out);
  for (auto& [path, f] : families) {
    add_siblings(f);
    std::sort(f.rotated.begin(), f.rotated.end(), [](const auto& a, const auto& b) {
      return std::pair(a.first.rank_class, a.first.order) <
             std::pair(b.first.rank_class, b.first.order);
    });
    for (const auto& [rot, file] : f.rotated) add_file(out, file, false, rot.gz, since);
    add_file(out, path, true, false, since);
  }
  apply_cap(out);
  return out;
}

}  // namespace rdiag::agent::logs
