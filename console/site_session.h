// A verified connection to one site's agent: SSH with the host key checked
// against known_hosts, public-key authentication, agent.info, and the seal key
// checked against its pin. First contact asks the engineer (or --accept-new)
// before anything is pinned; a changed host or seal key is refused.
#pragma once

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "console/agent_info.h"
#include "console/context.h"
#include "console/seal_pins.h"
#include "console/sites.h"
#include "console/ssh_client.h"

namespace rdiag::console {

class SiteSession {
 public:
  SiteSession(Context& ctx, Site site);

  // Connects, verifies and (on first contact) pins. On failure, the error's
  // reason and last_rpc_code() give the exit code (exit_code_for).
  Result<void> open();

  SshClient& client() { return client_; }
  const nlohmann::json& info() const { return info_; }
  const std::string& host_fingerprint() const { return host_.fingerprint; }
  const std::string& seal_fingerprint() const { return seal_.fingerprint; }
  int last_rpc_code() const { return client_.last_rpc_code(); }

 private:
  Result<void> connect_checked();
  Result<void> fetch_info();
  Error host_key_changed() const;
  Error seal_key_changed(const std::string& pinned_key) const;
  Result<void> check_seal(const SealPins& pins, bool& unpinned);
  Result<void> confirm_trust(bool host_new);
  Result<void> pin(bool host_new, bool seal_new, SealPins& pins);
  std::string where() const;

  Context& ctx_;
  Site site_;
  SshClient client_;
  HostKey host_;
  SealKey seal_;
  nlohmann::json info_;
};

// The SSH settings for a site: the data dir's known_hosts and the login name.
ClientSettings client_settings(const Context& ctx, const Site& site);
// --key, else $SSH_AUTH_SOCK, else ~/.ssh/id_ed25519, id_rsa, id_ecdsa.
AuthSettings auth_settings(const Context& ctx);

}  // namespace rdiag::console
