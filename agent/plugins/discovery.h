// Finding plugins on disk and deciding whether to trust them. A plugin runs
// code in the collector worker, so its files get sshd's StrictModes rule:
// owned by root (or the agent's own account) and writable by nobody else.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/plugins/manifest.h"
#include "common/result.h"

namespace rdiag::agent::plugins {

struct Discovery {
  std::vector<Plugin> plugins;
  std::vector<Error> refused;  // one per refused plugin or plugins dir, naming path and fix
};

// Walks each dir's immediate subfolders holding plugin.json, in name order.
// Files and folders (the plugins dir itself, the plugin folder, plugin.json,
// the collect executable, env_file) must be owned by root or trusted_uid and
// not group- or world-writable; env_file also not world-readable. Otherwise
// that plugin is refused with a message naming the path and the fix (chown
// root / chmod go-w). A missing plugins dir is not an error. Duplicate plugin
// names: the first dir wins, the later one is refused. Never throws.
Discovery discover(const std::vector<std::string>& dirs, uid_t trusted_uid);

// The same for a worker job: its "plugins_dirs" (strings; anything else is
// skipped) and "trusted_uid" (0 when absent), as agent/rpc_worker.cpp sets them.
Discovery discover_for_job(const nlohmann::json& job);

// env_file: KEY=VALUE lines, '#' comments, blank lines; keys ^[A-Z_][A-Z0-9_]*$;
// the value is everything after the first '=', verbatim (no quotes, no
// expansion). Errors name file and line but never quote a line, which may
// hold a password. The file must pass the ownership rule above and must not
// be world-readable (it holds credentials). Returns "KEY=VALUE" strings.
Result<std::vector<std::string>> read_env_file(const std::string& path, uid_t trusted_uid);

}  // namespace rdiag::agent::plugins
