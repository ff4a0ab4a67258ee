#include "console/site_session.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <ostream>

#include "common/i18n.h"
#include "console/exit_codes.h"
#include "console/files.h"
#include "console/known_hosts.h"
#include "console/terminal.h"

namespace rdiag::console {
namespace {

using rdiag::i18n::tr;

std::string known_hosts_path(const std::string& data_dir) {
  return data_dir + "/known_hosts";
}

std::string login_name() {
  const passwd* pw = getpwuid(geteuid());  // NOLINT(concurrency-mt-unsafe): single-threaded CLI
  return pw != nullptr && pw->pw_name != nullptr ? pw->pw_name : "rdiag";
}

}  // namespace

ClientSettings client_settings(const Context& ctx, const Site& site) {
  return ClientSettings{site.host, site.port, known_hosts_path(ctx.data_dir), login_name()};
}

AuthSettings auth_settings(const Context& ctx) {
  AuthSettings auth;
  auth.key_file = ctx.global.key_file;
  const char* sock = std::getenv("SSH_AUTH_SOCK");  // NOLINT(concurrency-mt-unsafe)
  if (sock != nullptr) auth.agent_socket = sock;
  auto home = home_directory();
  if (!home.empty()) {
    for (const char* name : {"id_ed25519", "id_rsa", "id_ecdsa"}) {
      auth.default_key_files.push_back(home + "/.ssh/" + name);
    }
  }
  return auth;
}

SiteSession::SiteSession(Context& ctx, Site site)
    : ctx_(ctx), site_(std::move(site)), client_(client_settings(ctx, site_)) {}

std::string SiteSession::where() const {
  return endpoint_text(site_.host, site_.port);
}

Result<void> SiteSession::open() {
  if (auto r = connect_checked(); !r) return r;
  auto pins = load_seal_pins(ctx_.data_dir);
  if (!pins) return pins.error();
  if (auto r = client_.authenticate(auth_settings(ctx_)); !r) return r;
  if (auto r = fetch_info(); !r) return r;
  bool seal_new = false;
  if (auto r = check_seal(*pins, seal_new); !r) return r;
  bool host_new = host_.status == HostKeyStatus::kUnknown;
  if (!host_new && !seal_new) return {};
  if (auto r = confirm_trust(host_new); !r) return r;
  return pin(host_new, seal_new, *pins);
}

Result<void> SiteSession::connect_checked() {
  if (auto r = client_.connect(); !r) return r;
  auto host = client_.check_host_key();
  if (!host) return host.error();
  host_ = std::move(*host);
  // Refused before authenticating: an impostor learns nothing about our key.
  if (host_.status == HostKeyStatus::kChanged) return host_key_changed();
  return {};
}

Result<void> SiteSession::fetch_info() {
  if (auto r = client_.open_rpc(); !r) return r;
  auto info = client_.call("agent.info", nlohmann::json::object());
  if (!info) return info.error();
  info_ = std::move(*info);
  return check_host_key_claim(info_, host_.fingerprint, where());
}

Result<void> SiteSession::check_seal(const SealPins& pins, bool& unpinned) {
  auto seal = seal_key_of(info_, where());
  if (!seal) return seal.error();
  seal_ = std::move(*seal);
  auto pinned = pins.find(site_.host, site_.port);
  unpinned = !pinned;
  if (pinned && *pinned != seal_.key) return seal_key_changed(*pinned);
  return {};
}

Result<void> SiteSession::confirm_trust(bool host_new) {
  std::string summary = tr(host_new ? "console.trust.first_contact" : "console.trust.seal_unpinned",
                           site_.name, where()) +
                        "\n" + tr("console.trust.host_key", host_.fingerprint) + "\n" +
                        tr("console.trust.seal_key", seal_.fingerprint) + "\n";
  if (ctx_.global.accept_new) {
    ctx_.err << summary << tr("console.trust.accepted_by_flag") << "\n";
    return {};
  }
  if (!ctx_.interactive) {
    return make_error(summary + tr("console.trust.not_interactive"), kReasonUntrusted);
  }
  ctx_.err << summary << tr("console.trust.compare") << "\n" << tr("console.trust.question");
  ctx_.err.flush();
  if (read_yes(ctx_.in)) return {};
  return make_error(tr("console.trust.declined", site_.name), kReasonUntrusted);
}

// Only after the engineer accepted: known_hosts first (libssh appends), then
// the seal pin (written atomically).
Result<void> SiteSession::pin(bool host_new, bool seal_new, SealPins& pins) {
  if (host_new) {
    // libssh appends with fopen(), which would leave the file 0644 under the
    // usual umask; create it 0600 first.
    if (auto r = create_private_file(known_hosts_path(ctx_.data_dir)); !r) return r;
    if (auto r = client_.remember_host_key(); !r) return r;
  }
  if (seal_new) {
    pins.set(site_.host, site_.port, seal_.key);
    if (auto r = save_seal_pins(ctx_.data_dir, pins); !r) return r;
  }
  return {};
}

Error SiteSession::host_key_changed() const {
  std::string path = known_hosts_path(ctx_.data_dir);
  std::string pinned = "?";
  if (auto text = read_text_file(path)) {
    auto fps = pinned_fingerprints(*text, site_.host, site_.port);
    if (!fps.empty()) pinned = fps.front();
  }
  return make_error(tr("console.trust.host_changed", site_.name, where(), pinned, host_.fingerprint,
                       known_hosts_name(site_.host, site_.port), path),
                    kReasonHostKeyChanged);
}

Error SiteSession::seal_key_changed(const std::string& pinned_key) const {
  return make_error(
      tr("console.trust.seal_changed", site_.name, where(), fingerprint_of_line(pinned_key),
         seal_.fingerprint, pin_name(site_.host, site_.port), seal_pins_path(ctx_.data_dir)),
      kReasonSealKeyChanged);
}

}  // namespace rdiag::console
