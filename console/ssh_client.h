// The console's SSH client (libssh): connect with a fixed, audited algorithm
// set, check the host key against <data_dir>/known_hosts, authenticate with a
// public key, and speak JSON-RPC 2.0 on the "rdiag-v1" subsystem.
//
// One SshClient is one SSH session; like every libssh session it belongs to
// one thread.
#pragma once

#include <libssh/libssh.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "console/rpc_reply.h"

namespace rdiag::console {

struct SessionDeleter {
  void operator()(ssh_session s) const noexcept;
};
struct ChannelDeleter {
  void operator()(ssh_channel c) const noexcept;
};
struct KeyDeleter {
  void operator()(ssh_key k) const noexcept;
};
using SessionPtr = std::unique_ptr<ssh_session_struct, SessionDeleter>;
using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelDeleter>;
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyDeleter>;

constexpr std::chrono::seconds kConnectTimeout{10};
constexpr std::chrono::seconds kCallTimeout{30};

struct ClientSettings {
  std::string host;
  std::uint16_t port = 0;
  std::string known_hosts;  // path of the console's own known_hosts file
  std::string user;         // the local login name; the agent ignores it
};

enum class HostKeyStatus { kKnown, kUnknown, kChanged };

struct HostKey {
  HostKeyStatus status = HostKeyStatus::kUnknown;
  std::string fingerprint;  // SHA256:... of the presented key, as ssh-keygen -lf
  std::string public_line;  // "ssh-ed25519 AAAA..."
};

struct AuthSettings {
  std::string key_file;      // --key; empty: ssh-agent, then the default files
  std::string agent_socket;  // $SSH_AUTH_SOCK, empty when unset
  std::vector<std::string> default_key_files;
};

// Error reasons (Error::reason) callers map to exit codes.
inline constexpr const char* kReasonConnect = "connect_failed";
inline constexpr const char* kReasonAuthDenied = "auth_denied";
inline constexpr const char* kReasonNoKey = "no_key";
inline constexpr const char* kReasonKeyUnusable = "key_unusable";

// A private key read from a file, with what messages say about it.
struct LoadedKey {
  KeyPtr key;
  HostKey info;  // fingerprint and public line
};

// What authenticate() tried, for the message when nothing was accepted.
struct AuthAttempts {
  std::vector<std::string> tried;  // "SHA256:... (where)"
  std::vector<std::string> notes;  // keys we could not use, and why
};

// What a caller may learn while call() waits for its answer: the agent's
// notification lines (objects without an id: session.state, progress) and,
// about once a second of silence, that time passes (to redraw a clock).
struct CallObserver {
  std::function<void(const nlohmann::json&)> on_notification;  // untrusted text
  std::function<void()> on_tick;
};
constexpr std::chrono::milliseconds kTickInterval{1000};

class SshClient {
 public:
  explicit SshClient(ClientSettings settings);

  // TCP connect and key exchange (10 s timeout).
  Result<void> connect();
  // Where the presented host key stands against known_hosts.
  Result<HostKey> check_host_key();
  Result<void> authenticate(const AuthSettings& auth);
  // Opens a session channel with subsystem "rdiag-v1".
  Result<void> open_rpc();
  // One request, waiting for its response. An error response becomes an Error
  // with the agent's reason and message; its code is kept in last_rpc_code().
  Result<nlohmann::json> call(std::string_view method, const nlohmann::json& params,
                              std::chrono::milliseconds timeout = kCallTimeout);
  // Replaces the observer (an empty one stops the callbacks). Callbacks run
  // inside call() and must not call back into this client.
  void set_observer(CallObserver observer) { observer_ = std::move(observer); }
  // Appends the presented host key to known_hosts (after the user accepted it).
  Result<void> remember_host_key();

  int last_rpc_code() const { return last_rpc_code_; }
  // "host:port" or "[v6]:port", for messages.
  std::string endpoint() const;

 private:
  Result<void> apply_options();
  Result<bool> offer_key(const LoadedKey& key);
  Result<void> auth_with_explicit_key(const std::string& path);
  Result<bool> auth_with_default_key(const std::string& path, AuthAttempts& attempts);
  Result<bool> auth_with_agent(const std::string& socket, AuthAttempts& attempts);
  Error connection_error(const char* message_id) const;
  Result<void> write_all(std::string_view data);
  Result<std::size_t> read_some(std::chrono::milliseconds timeout);
  Result<nlohmann::json> await_reply(std::int64_t id, std::string_view method,
                                     std::chrono::milliseconds timeout);
  std::optional<Result<nlohmann::json>> take_reply(std::string_view line, std::int64_t id);

  ClientSettings settings_;
  SessionPtr session_;
  ChannelPtr channel_;  // declared after session_: freed before it
  LineBuffer lines_;
  std::vector<char> read_buf_;
  std::int64_t next_id_ = 1;
  int last_rpc_code_ = 0;
  CallObserver observer_;
};

// Fingerprint and "type base64" line of a libssh public key.
Result<HostKey> describe_key(ssh_key key);

}  // namespace rdiag::console
