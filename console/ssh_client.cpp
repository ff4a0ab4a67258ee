#include "console/ssh_client.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>

#include "common/i18n.h"
#include "common/ssh_algorithms.h"
#include "common/text_safety.h"
#include "console/sites.h"
#include "console/ssh_agent_keys.h"

namespace rdiag::console {
namespace {

using rdiag::i18n::tr;

// The agent offers the same lists (common/ssh_algorithms.h).
using ssh_algorithms::kCiphers;
using ssh_algorithms::kKex;
using ssh_algorithms::kMacs;
constexpr const char* kHostKeys = ssh_algorithms::kHostKeyAlgorithms;
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;

std::string libssh_error(ssh_session s) {
  return terminal_safe(ssh_get_error(s));
}

// libssh asks this for the passphrase of an encrypted key. We never prompt
// (not needed yet); noting the question is how we tell "encrypted" apart from
// "unreadable". noexcept: it is called from C.
int note_passphrase_wanted(const char* /*prompt*/, char* /*buf*/, size_t /*len*/, int /*echo*/,
                           int /*verify*/, void* userdata) noexcept {
  *static_cast<bool*>(userdata) = true;
  return -1;
}

Result<LoadedKey> load_private_key(const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0) {
    int err = errno;
    return make_error(tr("console.auth.key_unreadable", path, std::generic_category().message(err)),
                      err == ENOENT ? "not_found" : kReasonKeyUnusable);
  }
  bool wanted_passphrase = false;
  ssh_key raw = nullptr;
  int rc = ssh_pki_import_privkey_file(path.c_str(), nullptr, note_passphrase_wanted,
                                       &wanted_passphrase, &raw);
  KeyPtr key(raw);
  if (rc != SSH_OK || !key) {
    const char* id = wanted_passphrase ? "console.auth.key_encrypted" : "console.auth.key_invalid";
    return make_error(tr(id, path), kReasonKeyUnusable);
  }
  auto info = describe_key(key.get());
  if (!info) return info.error();
  return LoadedKey{std::move(key), std::move(*info)};
}

HostKeyStatus host_key_status(ssh_known_hosts_e state) {
  switch (state) {
    case SSH_KNOWN_HOSTS_OK:
      return HostKeyStatus::kKnown;
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:  // a pinned key of another type is a changed key too
      return HostKeyStatus::kChanged;
    default:  // UNKNOWN, NOT_FOUND (no known_hosts file yet)
      return HostKeyStatus::kUnknown;
  }
}

std::string join_lines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += "\n  " + item;
  return out;
}

}  // namespace

void SessionDeleter::operator()(ssh_session s) const noexcept {
  ssh_disconnect(s);
  ssh_free(s);
}
void ChannelDeleter::operator()(ssh_channel c) const noexcept {
  ssh_channel_free(c);
}
void KeyDeleter::operator()(ssh_key k) const noexcept {
  ssh_key_free(k);
}

Result<HostKey> describe_key(ssh_key key) {
  unsigned char* hash = nullptr;
  size_t hash_len = 0;
  char* b64 = nullptr;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len) != 0 ||
      ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
    ssh_clean_pubkey_hash(&hash);
    return make_error(tr("console.ssh.key_unreadable"), "bad_key");
  }
  char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len);
  HostKey out;
  out.fingerprint = fp != nullptr ? fp : "";
  out.public_line = std::string(ssh_key_type_to_char(ssh_key_type(key))) + " " + b64;
  ssh_string_free_char(fp);
  ssh_string_free_char(b64);
  ssh_clean_pubkey_hash(&hash);
  return out;
}

SshClient::SshClient(ClientSettings settings)
    : settings_(std::move(settings)), read_buf_(kReadChunk) {}

std::string SshClient::endpoint() const {
  return endpoint_text(settings_.host, settings_.port);
}

Error SshClient::connection_error(const char* message_id) const {
  return make_error(tr(message_id, endpoint(), libssh_error(session_.get())), kReasonConnect);
}

Result<void> SshClient::apply_options() {
  ssh_session s = session_.get();
  unsigned int port = settings_.port;
  long timeout = kConnectTimeout.count();
  int nodelay = 1;              // Nagle + delayed ACK cost ~40 ms a round trip (TESTING-NOTES.md)
  bool process_config = false;  // no ~/.ssh/config or /etc/ssh/ssh_config surprises
  bool ok = ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process_config) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_HOST, settings_.host.c_str()) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_PORT, &port) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_USER, settings_.user.c_str()) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, settings_.known_hosts.c_str()) == 0 &&
            // Only our own file pins agents; the system-wide one must not.
            ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") == 0 &&
            ssh_options_set(s, SSH_OPTIONS_KEY_EXCHANGE, kKex) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, kCiphers) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, kCiphers) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_HMAC_C_S, kMacs) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_HMAC_S_C, kMacs) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, kHostKeys) == 0;
  if (!ok) return connection_error("console.ssh.options_failed");
  return {};
}

Result<void> SshClient::connect() {
  session_.reset(ssh_new());
  if (!session_) return make_error(tr("console.ssh.no_memory"), kReasonConnect);
  if (auto r = apply_options(); !r) return r;
  if (ssh_connect(session_.get()) != SSH_OK) return connection_error("console.ssh.connect_failed");
  return {};
}

Result<HostKey> SshClient::check_host_key() {
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(session_.get(), &raw) != SSH_OK) {
    return connection_error("console.ssh.no_host_key");
  }
  KeyPtr key(raw);
  auto info = describe_key(key.get());
  if (!info) return info.error();
  auto state = ssh_session_is_known_server(session_.get());
  if (state == SSH_KNOWN_HOSTS_ERROR) {
    return make_error(
        tr("console.ssh.known_hosts_error", settings_.known_hosts, libssh_error(session_.get())),
        "known_hosts");
  }
  info->status = host_key_status(state);
  return info;
}

Result<void> SshClient::remember_host_key() {
  if (ssh_session_update_known_hosts(session_.get()) != SSH_OK) {
    return make_error(
        tr("console.ssh.known_hosts_error", settings_.known_hosts, libssh_error(session_.get())),
        "known_hosts");
  }
  return {};
}

Result<bool> SshClient::offer_key(const LoadedKey& key) {
  // Ask first, sign only for a key the agent would take: the agent counts
  // failed *signed* attempts, and we may have several keys to offer.
  int rc = ssh_userauth_try_publickey(session_.get(), nullptr, key.key.get());
  if (rc == SSH_AUTH_SUCCESS) rc = ssh_userauth_publickey(session_.get(), nullptr, key.key.get());
  if (rc == SSH_AUTH_SUCCESS) return true;
  if (rc == SSH_AUTH_ERROR) return connection_error("console.ssh.auth_error");
  return false;  // SSH_AUTH_DENIED, or PARTIAL (a second factor we do not do)
}

Result<void> SshClient::auth_with_explicit_key(const std::string& path) {
  auto key = load_private_key(path);
  if (!key) return key.error();
  auto accepted = offer_key(*key);
  if (!accepted) return accepted.error();
  if (*accepted) return {};
  return make_error(
      tr("console.auth.denied_key", endpoint(), key->info.fingerprint, key->info.public_line),
      kReasonAuthDenied);
}

Result<bool> SshClient::auth_with_default_key(const std::string& path, AuthAttempts& attempts) {
  auto key = load_private_key(path);
  if (!key) {
    // A default file that is absent is simply not a candidate.
    if (key.error().reason != "not_found") attempts.notes.push_back(key.error().message);
    return false;
  }
  attempts.tried.push_back(key->info.fingerprint + " (" + path + ")");
  return offer_key(*key);
}

Result<bool> SshClient::auth_with_agent(const std::string& socket, AuthAttempts& attempts) {
  int rc = ssh_userauth_agent(session_.get(), nullptr);
  if (rc == SSH_AUTH_SUCCESS) return true;
  if (rc == SSH_AUTH_ERROR && ssh_is_connected(session_.get()) == 0) {
    return connection_error("console.ssh.auth_error");
  }
  // Only for the message: which keys did the ssh-agent offer?
  if (auto ids = list_agent_identities(socket)) {
    for (const auto& id : *ids) {
      attempts.tried.push_back(id.fingerprint + " (ssh-agent: " + terminal_safe(id.comment) + ")");
    }
  }
  return false;
}

Result<void> SshClient::authenticate(const AuthSettings& auth) {
  if (!auth.key_file.empty()) return auth_with_explicit_key(auth.key_file);
  AuthAttempts attempts;
  if (!auth.agent_socket.empty()) {
    auto accepted = auth_with_agent(auth.agent_socket, attempts);
    if (!accepted) return accepted.error();
    if (*accepted) return {};
  }
  // As ssh does: the default files too, when the ssh-agent had nothing accepted.
  for (const auto& path : auth.default_key_files) {
    auto accepted = auth_with_default_key(path, attempts);
    if (!accepted) return accepted.error();
    if (*accepted) return {};
  }
  if (attempts.tried.empty()) {
    return make_error(tr("console.auth.no_key") + join_lines(attempts.notes), kReasonNoKey);
  }
  return make_error(tr("console.auth.denied_keys", endpoint(), join_lines(attempts.tried)),
                    kReasonAuthDenied);
}

Result<void> SshClient::open_rpc() {
  ChannelPtr channel(ssh_channel_new(session_.get()));
  if (!channel || ssh_channel_open_session(channel.get()) != SSH_OK) {
    return connection_error("console.ssh.channel_failed");
  }
  if (ssh_channel_request_subsystem(channel.get(), "rdiag-v1") != SSH_OK) {
    return connection_error("console.ssh.subsystem_failed");
  }
  channel_ = std::move(channel);
  return {};
}

Result<void> SshClient::write_all(std::string_view data) {
  while (!data.empty()) {
    auto chunk = static_cast<std::uint32_t>(std::min<std::size_t>(data.size(), 1U << 20));
    int n = ssh_channel_write(channel_.get(), data.data(), chunk);
    if (n <= 0) return connection_error("console.rpc.write_failed");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Returns 0 on timeout; an error when the channel ends or fails.
Result<std::size_t> SshClient::read_some(std::chrono::milliseconds timeout) {
  int n = ssh_channel_read_timeout(channel_.get(), read_buf_.data(),
                                   static_cast<std::uint32_t>(read_buf_.size()), 0,
                                   static_cast<int>(timeout.count()));
  if (n == SSH_ERROR) return connection_error("console.rpc.read_failed");
  // Stderr is not part of the protocol; drain it so it cannot fill the window.
  std::array<char, 1024> discard{};
  while (ssh_channel_read_nonblocking(channel_.get(), discard.data(),
                                      static_cast<std::uint32_t>(discard.size()), 1) > 0) {
  }
  if (n > 0) return static_cast<std::size_t>(n);
  if (ssh_channel_is_eof(channel_.get()) != 0 || ssh_channel_is_closed(channel_.get()) != 0) {
    return make_error(tr("console.rpc.closed", endpoint()), "connection_closed");
  }
  return std::size_t{0};
}

Result<nlohmann::json> SshClient::call(std::string_view method, const nlohmann::json& params,
                                       std::chrono::milliseconds timeout) {
  last_rpc_code_ = 0;
  if (!channel_) return make_error(tr("console.rpc.not_open"), "internal");
  std::int64_t id = next_id_++;
  if (auto w = write_all(request_line(id, method, params)); !w) return w.error();
  return await_reply(id, method, timeout);
}

// Turns the agent's reply into a Result; nullopt for lines that are not ours.
std::optional<Result<nlohmann::json>> SshClient::take_reply(std::string_view line,
                                                            std::int64_t id) {
  auto reply = interpret_reply(line, id);
  if (!reply) return Result<nlohmann::json>(reply.error());
  if (reply->kind == Reply::Kind::kResult) return Result<nlohmann::json>(std::move(reply->result));
  if (reply->kind == Reply::Kind::kSkip) {
    if (reply->notification.is_object() && observer_.on_notification) {
      observer_.on_notification(reply->notification);
    }
    return std::nullopt;
  }
  last_rpc_code_ = reply->code;
  std::string message =
      reply->message.empty() ? tr("console.rpc.error_no_message", reply->code) : reply->message;
  return Result<nlohmann::json>(
      make_error(tr("console.rpc.agent_error", endpoint(), message), reply->reason));
}

Result<nlohmann::json> SshClient::await_reply(std::int64_t id, std::string_view method,
                                              std::chrono::milliseconds timeout) {
  // The timeout bounds silence, not the whole transfer: a large response over a
  // slow link may take longer than 30 s while still making progress.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    while (auto line = lines_.next_line()) {
      if (auto done = take_reply(*line, id)) return std::move(*done);
    }
    if (lines_.overflowed())
      return make_error(tr("console.rpc.too_large", endpoint()), "bad_response");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return make_error(tr("console.rpc.timeout", endpoint(), std::string(method),
                           std::chrono::duration_cast<std::chrono::seconds>(timeout).count()),
                        "timeout");
    }
    // With a clock to redraw, wake up once a second even when nothing comes.
    auto n = read_some(observer_.on_tick ? std::min(left, kTickInterval) : left);
    if (!n) return n.error();
    if (*n > 0) {
      lines_.append(std::string_view(read_buf_.data(), *n));
      deadline = std::chrono::steady_clock::now() + timeout;
    } else if (observer_.on_tick) {
      observer_.on_tick();
    }
  }
}

}  // namespace rdiag::console
