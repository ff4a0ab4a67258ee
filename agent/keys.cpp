#include "agent/keys.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "common/i18n.h"

namespace rdiag::agent {

Result<void> ensure_state_dir(const std::string& state_dir) {
  if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(i18n::tr("agent.state_dir.create", state_dir, std::strerror(errno)));
  }
  struct stat st {};
  if (::stat(state_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return make_error(i18n::tr("agent.state_dir.not_dir", state_dir));
  }
  // Like sshd's StrictModes: a state dir others can write could have its keys
  // or records swapped underneath us.
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return make_error(i18n::tr("agent.state_dir.writable", state_dir));
  }
  return {};
}

Result<AgentKeys> load_agent_keys(const std::string& state_dir) {
  if (auto r = ensure_state_dir(state_dir); !r) return r.error();
  auto host = load_or_create_ed25519(state_dir + "/host_ed25519", "rdiag-agent host key");
  if (!host) return host.error();
  auto seal = load_or_create_ed25519(state_dir + "/seal_ed25519", "rdiag-agent seal key");
  if (!seal) return seal.error();
  AgentKeys keys{*host, *seal, {}};  // copies: the key type wipes itself on destruction
  keys.host_pem = openssh_private_key_pem(keys.host);
  return keys;
}

}  // namespace rdiag::agent
