#include "tests/support/harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <libssh/libssh.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace rdiag::test {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> merged_env(const ProcOptions& opts) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& name : opts.unset_env) env.erase(name);
  for (const auto& [k, v] : opts.env) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Feeds stdin and drains stdout/stderr until the child closes both or the deadline.
void pump(int in_fd, int out_fd, int err_fd, const std::string& input, ProcResult& r,
          Clock::time_point deadline) {
  std::size_t written = 0;
  if (input.empty()) ::close(in_fd), in_fd = -1;
  while (out_fd >= 0 || err_fd >= 0) {
    pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      break;
    }
    ::poll(fds, 3, static_cast<int>(std::min<long>(left.count(), 200)));
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      char buf[65536];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        (i == 0 ? out_fd : err_fd) = -1;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
    if (in_fd >= 0 && fds[2].revents != 0) {
      ssize_t n = ::write(in_fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      if (n <= 0 || written == input.size()) ::close(in_fd), in_fd = -1;
    }
  }
  for (int fd : {in_fd, out_fd, err_fd}) {
    if (fd >= 0) ::close(fd);
  }
}

}  // namespace

TempDir::TempDir() {
  std::string tmpl = "/tmp/rdiag-test-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& text, int mode) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ProcResult run(const std::vector<std::string>& argv, const ProcOptions& opts) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed");
  }
  std::vector<std::string> args = argv;
  std::vector<std::string> env = merged_env(opts);
  auto cargs = c_strings(args);
  auto cenv = c_strings(env);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execvpe(cargs[0], cargs.data(), cenv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  ProcResult r;
  pump(in[1], out[0], err[0], opts.stdin_data, r, Clock::now() + opts.timeout);
  if (r.timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

Key make_key(const std::string& dir, const std::string& name) {
  Key k;
  k.path = dir + "/" + name;
  auto r = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", k.path});
  if (r.exit_code != 0) throw std::runtime_error("ssh-keygen failed: " + r.err);
  k.public_line = read_file(k.path + ".pub");
  while (!k.public_line.empty() && k.public_line.back() == '\n') k.public_line.pop_back();
  auto fp = run({"ssh-keygen", "-l", "-f", k.path + ".pub"});
  std::istringstream ss(fp.out);
  std::string bits;
  ss >> bits >> k.fingerprint;
  return k;
}

Agent::~Agent() {
  if (pid_ > 0) stop();
}

bool Agent::start(const nlohmann::json& extra, const std::string& listen,
                  const std::map<std::string, std::string>& env) {
  if (spawn(extra, listen, env) && wait_listening(std::chrono::seconds(15))) return true;
  stop();
  return false;
}

int Agent::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  pid_t got = 0;
  while ((got = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline) ::usleep(10000);
  if (got == 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
  if (got == 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void Agent::reload() {
  ::kill(pid_, SIGHUP);
}

bool Agent::spawn(const nlohmann::json& extra, const std::string& listen,
                  const std::map<std::string, std::string>& env) {
  // The records, crash and load tests send many requests per key: the
  // per-key limits are lifted here, and the consent tests set them back.
  nlohmann::json cfg = {
      {"state_dir", "state"},
      {"engineers_file", "engineers"},
      {"control_socket", "control.sock"},
      {"limits", {{"pending_requests_per_key", 1000000}, {"requests_per_hour", 1000000}}}};
  if (extra.is_object()) cfg.merge_patch(extra);
  write_file(config_path(), cfg.dump(2));
  if (::access(engineers_path().c_str(), F_OK) != 0) write_file(engineers_path(), "");
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return false;
  const int log_fd =
      ::open((dir_ + "/agent.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  std::vector<std::string> args = {RDIAG_AGENT_BIN, "--config", config_path(),
                                   "run",           "--listen", listen};
  ProcOptions opts;
  opts.env = env;
  std::vector<std::string> envs = merged_env(opts);
  auto cargs = c_strings(args);
  auto cenv = c_strings(envs);
  port_ = 0;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    ::dup2(log_fd, 2);
    ::execve(cargs[0], cargs.data(), cenv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(log_fd);
  stdout_fd_ = out[0];
  return pid_ > 0;
}

bool Agent::wait_listening(std::chrono::milliseconds timeout) {
  std::string line;
  const auto deadline = Clock::now() + timeout;
  while (line.find('\n') == std::string::npos) {
    // A zero timeout still looks once: "is it listening yet?".
    const auto left = std::max<long>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    pollfd p{stdout_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long>(left, 100))) <= 0) {
      if (left == 0) return false;
      continue;
    }
    char c = 0;
    if (::read(stdout_fd_, &c, 1) != 1) return false;  // the agent exited
    line.push_back(c);
  }
  if (line.rfind("listening on ", 0) != 0) return false;
  port_ = std::atoi(line.substr(line.rfind(':') + 1).c_str());
  return port_ > 0;
}

void Agent::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
}

std::string Agent::log() const {
  return read_file(dir_ + "/agent.log");
}

std::vector<pid_t> Agent::children() const {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const pid_t p = static_cast<pid_t>(std::atoi(e->d_name));
    if (p <= 0) continue;
    std::string stat = read_file("/proc/" + std::string(e->d_name) + "/stat");
    auto close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream ss(stat.substr(close_paren + 2));
    std::string state;
    pid_t ppid = 0;
    ss >> state >> ppid;
    if (ppid == pid_) out.push_back(p);
  }
  ::closedir(d);
  return out;
}

std::vector<std::string> ssh_base(int port, const std::string& key) {
  return {"ssh",
          "-F",
          "/dev/null",
          "-o",
          "StrictHostKeyChecking=no",
          "-o",
          "UserKnownHostsFile=/dev/null",
          "-o",
          "BatchMode=yes",
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          "LogLevel=ERROR",
          "-i",
          key,
          "-p",
          std::to_string(port)};
}

ProcResult ssh_rpc(int port, const std::string& key, const std::string& input,
                   std::chrono::milliseconds timeout) {
  auto argv = ssh_base(port, key);
  for (const char* a : {"-T", "-s", "tester@127.0.0.1", "rdiag-v1"}) argv.emplace_back(a);
  ProcOptions opts;
  opts.stdin_data = input;
  opts.timeout = timeout;
  opts.unset_env = {"SSH_AUTH_SOCK"};
  return run(argv, opts);
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

// ---------------------------------------------------------------------------
// RpcClient (libssh client)

RpcClient::~RpcClient() {
  close();
}

bool RpcClient::fail(const std::string& what) {
  error_ = what;
  if (session_ != nullptr) {
    const char* e = ssh_get_error(session_);
    if (e != nullptr && *e != '\0') error_ += ": " + std::string(e);
  }
  return false;
}

bool RpcClient::connect(int port, const std::string& key_path, std::chrono::milliseconds timeout) {
  close();
  closed_ = false;
  auth_denied_ = false;
  error_.clear();
  buf_.clear();
  session_ = ssh_new();
  if (session_ == nullptr) return fail("ssh_new");
  const bool no = false;
  const int yes = 1;
  const unsigned int uport = static_cast<unsigned int>(port);
  const long secs = std::max<long>(1, static_cast<long>(timeout.count() / 1000));
  // Nothing from ~/.ssh or /etc/ssh may change what the test does.
  ssh_options_set(session_, SSH_OPTIONS_PROCESS_CONFIG, &no);
  ssh_options_set(session_, SSH_OPTIONS_HOST, "127.0.0.1");
  ssh_options_set(session_, SSH_OPTIONS_PORT, &uport);
  ssh_options_set(session_, SSH_OPTIONS_USER, "tester");
  ssh_options_set(session_, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
  ssh_options_set(session_, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  ssh_options_set(session_, SSH_OPTIONS_TIMEOUT, &secs);
  ssh_options_set(session_, SSH_OPTIONS_NODELAY, &yes);
  if (ssh_connect(session_) != SSH_OK) return fail("ssh_connect");
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_file(key_path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
    return fail("cannot read key " + key_path);
  }
  const int rc = ssh_userauth_publickey(session_, nullptr, key);
  ssh_key_free(key);
  if (rc != SSH_AUTH_SUCCESS) {
    auth_denied_ = rc == SSH_AUTH_DENIED || rc == SSH_AUTH_PARTIAL;
    return fail("ssh_userauth_publickey returned " + std::to_string(rc));
  }
  channel_ = ssh_channel_new(session_);
  if (channel_ == nullptr) return fail("ssh_channel_new");
  if (ssh_channel_open_session(channel_) != SSH_OK) return fail("ssh_channel_open_session");
  if (ssh_channel_request_subsystem(channel_, "rdiag-v1") != SSH_OK) {
    return fail("ssh_channel_request_subsystem rdiag-v1");
  }
  return true;
}

bool RpcClient::write(const std::string& bytes) {
  if (channel_ == nullptr) return fail("not connected");
  std::size_t done = 0;
  while (done < bytes.size()) {
    const std::size_t n = std::min<std::size_t>(bytes.size() - done, 1U << 20);
    const int w = ssh_channel_write(channel_, bytes.data() + done, static_cast<uint32_t>(n));
    if (w <= 0) return fail("ssh_channel_write");
    done += static_cast<std::size_t>(w);
  }
  return true;
}

bool RpcClient::read_some(int timeout_ms) {
  if (channel_ == nullptr || closed_) return false;
  char tmp[65536];
  const int n = ssh_channel_read_timeout(channel_, tmp, sizeof tmp, 0, timeout_ms);
  if (n > 0) {
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }
  if (n == SSH_ERROR || ssh_channel_is_eof(channel_) != 0 || ssh_channel_is_closed(channel_) != 0 ||
      ssh_is_connected(session_) == 0) {
    closed_ = true;
    return false;
  }
  return true;
}

std::optional<std::string> RpcClient::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    if (!read_some(static_cast<int>(std::min<long>(left, 100)))) {
      // Whatever is buffered already has been checked for a newline.
      return std::nullopt;
    }
  }
}

std::optional<nlohmann::json> RpcClient::call(const nlohmann::json& request,
                                              std::chrono::milliseconds timeout) {
  if (!write(request.dump() + "\n")) return std::nullopt;
  auto line = read_line(timeout);
  if (!line) return std::nullopt;
  auto j = nlohmann::json::parse(*line, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

bool RpcClient::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!closed_) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    read_some(static_cast<int>(std::min<long>(left, 20)));
  }
  return true;
}

bool RpcClient::is_open() const {
  return session_ != nullptr && channel_ != nullptr && !closed_ &&
         ssh_is_connected(session_) != 0 && ssh_channel_is_open(channel_) != 0 &&
         ssh_channel_is_eof(channel_) == 0;
}

void RpcClient::close() {
  if (channel_ != nullptr) {
    ssh_channel_free(channel_);
    channel_ = nullptr;
  }
  if (session_ != nullptr) {
    ssh_disconnect(session_);
    ssh_free(session_);
    session_ = nullptr;
  }
}

int RpcClient::local_port() const {
  if (session_ == nullptr) return 0;
  const int fd = ssh_get_fd(session_);
  if (fd < 0) return 0;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

nlohmann::json rpc_request(const nlohmann::json& id, const std::string& method,
                           const nlohmann::json& params) {
  nlohmann::json r = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) r["params"] = params;
  return r;
}

bool process_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) return false;
  const char state = stat[close_paren + 2];
  return state != 'Z' && state != 'X';
}

std::map<std::string, std::string> proc_status(pid_t pid) {
  std::map<std::string, std::string> out;
  std::istringstream ss(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(ss, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    const auto first = value.find_first_not_of(" \t");
    value = first == std::string::npos ? std::string() : value.substr(first);
    out[line.substr(0, colon)] = value;
  }
  return out;
}

std::vector<std::string> proc_cmdline(pid_t pid) {
  std::vector<std::string> out;
  const std::string raw = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::size_t start = 0;
  while (start < raw.size()) {
    auto end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    out.push_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace rdiag::test
