// Test harness for integration tests: temp dirs, child processes with captured
// output and deadlines, a real rdiag-agent on 127.0.0.1 port 0, engineer keys
// made by the stock ssh-keygen, and the stock OpenSSH client.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

// libssh's handle types (ssh_session, ssh_channel point to these), so that
// tests using RpcClient need not include libssh.
struct ssh_session_struct;
struct ssh_channel_struct;

namespace rdiag::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& text, int mode = 0644);
std::string read_file(const std::string& path);

struct ProcResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
  bool timed_out = false;
};

struct ProcOptions {
  std::string stdin_data;
  std::map<std::string, std::string> env;  // added to (or replacing in) our environment
  std::vector<std::string> unset_env;
  std::chrono::milliseconds timeout{30000};
};

// Runs argv to completion (killed at the timeout), capturing stdout and stderr.
ProcResult run(const std::vector<std::string>& argv, const ProcOptions& opts = {});

struct Key {
  std::string path;         // private key file
  std::string public_line;  // "ssh-ed25519 AAAA... comment"
  std::string fingerprint;  // SHA256:...
};
// A fresh Ed25519 key made by the stock ssh-keygen.
Key make_key(const std::string& dir, const std::string& name);

// A running rdiag-agent. Start() writes agent.json into the dir (merging
// `extra` into the defaults) and waits for the "listening on" line.
class Agent {
 public:
  explicit Agent(std::string dir) : dir_(std::move(dir)) {}
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Returns false (with the log in `log()`) if the agent did not come up.
  bool start(const nlohmann::json& extra = {}, const std::string& listen = "127.0.0.1:0",
             const std::map<std::string, std::string>& env = {});
  int stop();     // SIGTERM, wait, exit code
  void reload();  // SIGHUP
  // start() in two steps, for tests that act while the agent starts up (the
  // crash test kills it at random moments): spawn() writes agent.json as
  // start() does and starts the process without waiting; wait_listening()
  // then waits for the "listening on" line (false at the deadline or when the
  // agent exited first).
  bool spawn(const nlohmann::json& extra = {}, const std::string& listen = "127.0.0.1:0",
             const std::map<std::string, std::string>& env = {});
  bool wait_listening(std::chrono::milliseconds timeout);
  // SIGKILL and reap: a crash, nothing the agent can clean up after.
  void kill_hard();
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  std::string log() const;
  std::string engineers_path() const { return dir_ + "/engineers"; }
  std::string state_dir() const { return dir_ + "/state"; }
  std::string config_path() const { return dir_ + "/agent.json"; }
  // Connection processes (children of the agent), from /proc.
  std::vector<pid_t> children() const;

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int stdout_fd_ = -1;
};

// OpenSSH client options for a test peer we do not pin.
std::vector<std::string> ssh_base(int port, const std::string& key);
// `ssh -s ... rdiag-v1` with `input` on stdin; returns its result.
ProcResult ssh_rpc(int port, const std::string& key, const std::string& input,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));
// Parses NDJSON output into objects (non-JSON lines are skipped).
std::vector<nlohmann::json> json_lines(const std::string& text);

// Waits until pred() or the deadline; returns pred()'s last value.
template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    ::usleep(10000);
  }
  return pred();
}

// ---------------------------------------------------------------------------
// A small libssh client for tests that need packet-level control: it connects
// to 127.0.0.1, signs in with a key file, opens the rdiag-v1 subsystem, and
// then writes raw bytes and reads answer lines with deadlines. The host key is
// not checked (a test peer we do not pin). One client per thread.
class RpcClient {
 public:
  RpcClient() = default;
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  // Connect, authenticate with `key_path` and open rdiag-v1. False (with
  // error()) when any step fails; auth_denied() tells a refused key apart.
  bool connect(int port, const std::string& key_path,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));
  // One ssh_channel_write (one or more SSH packets) of exactly these bytes.
  bool write(const std::string& bytes);
  // The next line the agent sent (without "\n"), or nullopt at the deadline,
  // at EOF or when the connection is gone.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  // Writes request.dump() + "\n" and parses the next line.
  std::optional<nlohmann::json> call(
      const nlohmann::json& request,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  // Waits until the agent closes the channel or the connection; true if it did
  // within the timeout. Lines that arrive meanwhile are kept for read_line.
  bool wait_closed(std::chrono::milliseconds timeout);
  // Whether the session is up and the channel open, with no EOF from the agent.
  bool is_open() const;
  void close();
  // The local TCP port of this client's connection (0 when not connected).
  int local_port() const;
  bool auth_denied() const { return auth_denied_; }
  const std::string& error() const { return error_; }

 private:
  bool fail(const std::string& what);
  // One read with a timeout into buf_; false when the channel or session ended.
  bool read_some(int timeout_ms);

  ssh_session_struct* session_ = nullptr;  // libssh's ssh_session
  ssh_channel_struct* channel_ = nullptr;  // libssh's ssh_channel
  std::string buf_;
  std::string error_;
  bool auth_denied_ = false;
  bool closed_ = false;
};

// A JSON-RPC 2.0 request object.
nlohmann::json rpc_request(const nlohmann::json& id, const std::string& method,
                           const nlohmann::json& params = nullptr);

// Whether `pid` exists and is not a zombie.
bool process_alive(pid_t pid);

// /proc/PID/status as a map from field name to value ("Uid" -> "0\t0\t0\t0").
std::map<std::string, std::string> proc_status(pid_t pid);

// /proc/PID/cmdline split at NULs.
std::vector<std::string> proc_cmdline(pid_t pid);

}  // namespace rdiag::test
