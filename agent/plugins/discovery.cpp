#include "agent/plugins/discovery.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <system_error>

#include "common/fs.h"
#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::agent::plugins {
namespace {

using i18n::tr;
namespace fs = std::filesystem;

// A manifest is a page of JSON; an env file a handful of lines. Anything far
// larger is a mistake, and reading it whole would cost the worker memory.
constexpr std::size_t kMaxManifestBytes = 1U << 20;
constexpr std::size_t kMaxEnvFileBytes = 64U << 10;

enum class Kind { kDir, kFile, kProgram, kSecret };

// Every refusal carries reason "untrusted" unless it is about the manifest's
// content ("bad_manifest") or a second plugin of a name ("duplicate").
Error untrusted(std::string message) {
  return make_error(std::move(message), "untrusted");
}

// After ownership: a root-owned FIFO or device as plugin.json is still wrong.
Result<void> check_type(const std::string& path, const struct stat& st, Kind kind) {
  if (kind == Kind::kDir) {
    if (!S_ISDIR(st.st_mode)) return untrusted(tr("agent.plugins.not_dir", path));
  } else if (!S_ISREG(st.st_mode)) {
    return untrusted(tr("agent.plugins.not_file", path));
  } else if (kind == Kind::kProgram && (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) {
    return untrusted(tr("agent.plugins.not_executable", path));
  }
  return {};
}

// sshd's StrictModes, per file: whoever can write it can run code as the
// collector worker (or, for an env file, read the database password).
Result<void> check_trusted(const std::string& path, const struct stat& st, uid_t trusted,
                           Kind kind) {
  if (st.st_uid != 0 && st.st_uid != trusted) {
    return untrusted(tr("agent.plugins.bad_owner", path, st.st_uid, trusted));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return untrusted(tr("agent.plugins.writable", path, fmt::format("{:04o}", st.st_mode & 07777)));
  }
  // Group-readable stays allowed: the usual setup is root:rdiag 0640.
  if (kind == Kind::kSecret && (st.st_mode & S_IROTH) != 0) {
    return untrusted(tr("agent.plugins.env_readable", path));
  }
  return check_type(path, st, kind);
}

// stat(), not lstat(): a symlink is judged by what it points to, which is
// what will be read or run (as sshd does).
Result<void> check_path(const std::string& path, uid_t trusted, Kind kind) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return untrusted(tr("agent.plugins.stat_failed", path, errno_text(errno)));
  }
  return check_trusted(path, st, trusted, kind);
}

// The folders of `dir` holding a plugin.json, sorted so that the order of
// plugins (and of refusals) does not depend on the file system.
Result<std::vector<std::string>> plugin_folders(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;  // editors' and package managers' leftovers
    std::error_code ignored;
    if (fs::is_directory(it->path(), ignored) && fs::exists(it->path() / "plugin.json", ignored)) {
      out.push_back(it->path().string());
    }
  }
  if (ec) return untrusted(tr("agent.plugins.list_failed", dir, ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

// The collect program and the env file belong to the plugin too. A missing
// env file is left to the run, which reports it in that plugin's entry: a
// plugin installed before its credentials exist should say so, not vanish.
Result<void> check_collect_files(const Plugin& p, uid_t trusted) {
  if (!p.collect) return {};
  if (auto ok = check_path(program_path(p), trusted, Kind::kProgram); !ok) return ok;
  const std::string& env = p.collect->env_file;
  std::error_code ec;
  if (env.empty() || !fs::exists(env, ec)) return {};
  return check_path(env, trusted, Kind::kSecret);
}

// One plugin folder: its own modes, then plugin.json, then what it names.
Result<Plugin> load_plugin(const std::string& folder, uid_t trusted) {
  if (auto ok = check_path(folder, trusted, Kind::kDir); !ok) return ok.error();
  const std::string manifest = folder + "/plugin.json";
  ReadFileHooks hooks;
  hooks.io_error = [&](int err) {
    return untrusted(tr("agent.plugins.read_failed", manifest, errno_text(err)));
  };
  hooks.too_big = [&] {
    return untrusted(tr("agent.plugins.too_big", manifest, kMaxManifestBytes));
  };
  // Checked on the open descriptor, so the file judged is the file read.
  hooks.check = [&](const struct stat& st) {
    return check_trusted(manifest, st, trusted, Kind::kFile);
  };
  auto text = read_file_bounded(manifest, kMaxManifestBytes, hooks);
  if (!text) return text.error();
  auto plugin = parse_manifest(*text, manifest);
  if (!plugin) return plugin.error();
  if (auto ok = check_collect_files(*plugin, trusted); !ok) return ok.error();
  return plugin;
}

// A bad plugins dir refuses everything in it: whoever can write the dir can
// swap any plugin folder for their own.
void scan_dir(const std::string& dir, uid_t trusted, Discovery& out,
              std::map<std::string, std::string>& seen) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT)
      out.refused.push_back(untrusted(tr("agent.plugins.stat_failed", dir, errno_text(errno))));
    return;  // a plugins dir nobody created is simply empty
  }
  if (auto ok = check_trusted(dir, st, trusted, Kind::kDir); !ok) {
    out.refused.push_back(ok.error());
    return;
  }
  auto folders = plugin_folders(dir);
  if (!folders) {
    out.refused.push_back(folders.error());
    return;
  }
  for (const auto& folder : *folders) {
    auto plugin = load_plugin(folder, trusted);
    if (!plugin) {
      out.refused.push_back(plugin.error());
      continue;
    }
    auto [it, fresh] = seen.emplace(plugin->name, plugin->manifest);
    if (!fresh) {
      out.refused.push_back(make_error(
          tr("agent.plugins.duplicate", plugin->name, plugin->manifest, it->second), "duplicate"));
      continue;
    }
    out.plugins.push_back(std::move(*plugin));
  }
}

// Upper case only, as environment variables are by convention; it also keeps
// a stray "password=..." line (lower case) from being taken for a setting.
bool valid_env_key(std::string_view key) {
  if (key.empty() || (key[0] >= '0' && key[0] <= '9')) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Error env_error(std::string message) {
  return make_error(std::move(message), "env_file");
}

// One line of an env file; never quotes the line back (it may be a secret).
Result<void> env_line(std::string_view line, const std::string& path, int line_no,
                      std::map<std::string, int, std::less<>>& seen) {
  if (line.find('\0') != std::string_view::npos) {
    return env_error(tr("agent.plugins.env_nul", path, line_no));
  }
  const auto eq = line.find('=');
  if (eq == std::string_view::npos)
    return env_error(tr("agent.plugins.env_no_equals", path, line_no));
  const std::string_view key = line.substr(0, eq);
  if (!valid_env_key(key)) return env_error(tr("agent.plugins.env_bad_key", path, line_no));
  auto [it, fresh] = seen.emplace(std::string(key), line_no);
  if (!fresh) return env_error(tr("agent.plugins.env_duplicate", path, line_no, key, it->second));
  return {};
}

}  // namespace

Discovery discover(const std::vector<std::string>& dirs, uid_t trusted_uid) {
  Discovery out;
  std::map<std::string, std::string> seen;  // plugin name -> the manifest that won
  for (const auto& dir : dirs) {
    try {
      std::error_code ec;
      // Plugin::dir is documented absolute (and shown to plugins as
      // RDIAG_PLUGIN_DIR); the config normally gives absolute dirs already.
      const fs::path abs = fs::absolute(dir, ec);
      scan_dir(ec ? dir : abs.lexically_normal().string(), trusted_uid, out, seen);
    } catch (const std::exception& e) {  // bad_alloc, or std::filesystem on odd names
      out.refused.push_back(untrusted(tr("agent.plugins.list_failed", dir, e.what())));
    }
  }
  return out;
}

Result<std::vector<std::string>> read_env_file(const std::string& path, uid_t trusted_uid) {
  ReadFileHooks hooks;
  hooks.io_error = [&](int err) {
    return env_error(tr("agent.plugins.env_unreadable", path, errno_text(err)));
  };
  hooks.too_big = [&] { return env_error(tr("agent.plugins.too_big", path, kMaxEnvFileBytes)); };
  hooks.check = [&](const struct stat& st) -> Result<void> {
    auto ok = check_trusted(path, st, trusted_uid, Kind::kSecret);
    if (!ok) return env_error(ok.error().message);
    return {};
  };
  auto text = read_file_bounded(path, kMaxEnvFileBytes, hooks);
  if (!text) return text.error();
  std::vector<std::string> env;
  std::map<std::string, int, std::less<>> seen;  // key -> first line, for the message
  std::string_view rest = *text;
  for (int line_no = 1; !rest.empty(); ++line_no) {
    const auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // saved on Windows
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    if (auto ok = env_line(line, path, line_no, seen); !ok) return ok.error();
    env.emplace_back(line);
  }
  return env;
}

Discovery discover_for_job(const nlohmann::json& job) {
  std::vector<std::string> dirs;
  if (auto it = job.find("plugins_dirs"); it != job.end() && it->is_array()) {
    for (const nlohmann::json& d : *it) {
      if (d.is_string()) dirs.push_back(d.get<std::string>());
    }
  }
  return discover(dirs, job.value("trusted_uid", uid_t{0}));
}

}  // namespace rdiag::agent::plugins
