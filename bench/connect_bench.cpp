// connect_bench: the one SSH client bench/run.sh drives both servers with, so
// that rdiag-agent and OpenSSH sshd are compared through identical client code,
// identical algorithm lists and identical socket options.
//
//   connect_bench latency --target NAME=HOST:PORT [--target ...] --key FILE
//                 [--user root] [--iterations 200] [--warmup 10]
//     Full cycle per iteration: TCP connect, key exchange, public-key auth,
//     session channel, subsystem rdiag-v1, one request line, one reply line,
//     EOF/close, disconnect. Targets are interleaved iteration by iteration so
//     a drift in machine load hits both alike. One JSON line per target.
//
//   connect_bench hold --target NAME=HOST:PORT --key FILE [--sessions 50]
//                 [--hold-max 60]
//     Opens the sessions one after another, does one request on each, prints
//     {"ready":N} and holds them until SIGUSR1/SIGTERM (or --hold-max seconds),
//     so the caller can measure the server's memory meanwhile.
//
//   connect_bench free-port    prints a port the kernel considers free on 127.0.0.1
#include <arpa/inet.h>
#include <libssh/libssh.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/ssh/algorithms.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kRequest = R"({"jsonrpc":"2.0","id":1,"method":"agent.info"})"
                                 "\n";
constexpr long kIoTimeoutS = 10;  // any single step slower than this is a failure
constexpr int kReadTimeoutMs = 10000;

struct Target {
  std::string name;
  std::string host;
  int port = 0;
};

struct Options {
  std::string mode;
  std::vector<Target> targets;
  std::string key_file;
  std::string user = "root";
  int iterations = 200;
  int warmup = 10;
  int sessions = 50;
  int hold_max_s = 60;
};

// Milliseconds at each step boundary of one cycle.
struct Phases {
  double connect = 0, auth = 0, channel = 0, rpc = 0, close = 0;
  double total() const { return connect + auth + channel + rpc + close; }
};

struct SessionFree {
  void operator()(ssh_session s) const {
    ssh_disconnect(s);
    ssh_free(s);
  }
};
struct ChannelFree {
  void operator()(ssh_channel c) const { ssh_channel_free(c); }
};
struct KeyFree {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
using SessionPtr = std::unique_ptr<ssh_session_struct, SessionFree>;
using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelFree>;
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyFree>;

double ms_since(Clock::time_point& mark) {
  const auto now = Clock::now();
  const double ms = std::chrono::duration<double, std::milli>(now - mark).count();
  mark = now;
  return ms;
}

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "connect_bench: %s\n", message.c_str());
  std::exit(2);
}

// Client settings that mirror the agent's server lists (agent/ssh/algorithms.h),
// so both servers negotiate curve25519-sha256 + chacha20-poly1305.
bool configure(ssh_session s, const Target& t, const std::string& user) {
  bool no = false;
  int one = 1;
  long timeout = kIoTimeoutS;
  unsigned port = static_cast<unsigned>(t.port);
  using rdiag::agent::kCiphers, rdiag::agent::kKex, rdiag::agent::kMacs;
  return ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_HOST, t.host.c_str()) == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_PORT, &port) == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_USER, user.c_str()) == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_NODELAY, &one) == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_KEY_EXCHANGE, kKex) == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, kCiphers) == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, kCiphers) == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_HMAC_C_S, kMacs) == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_HMAC_S_C, kMacs) == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, rdiag::agent::kHostKeyAlgorithms) == SSH_OK &&
         ssh_options_set(s, SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES,
                         rdiag::agent::kPubkeyAlgorithms) == SSH_OK;
}

// Reads until the first newline; true when a JSON-RPC result line arrived.
bool read_reply_line(ssh_channel ch) {
  std::string line;
  char buf[4096];
  while (line.find('\n') == std::string::npos && line.size() < (1U << 20)) {
    const int n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, kReadTimeoutMs);
    if (n <= 0) return false;
    line.append(buf, static_cast<std::size_t>(n));
  }
  return line.find("\"result\"") != std::string::npos;
}

// An open, authenticated session with the subsystem started and one request
// answered. Fills the first four phases.
struct Open {
  SessionPtr session;
  ChannelPtr channel;
};

std::nullopt_t failed(std::string* why, std::string message) {
  *why = std::move(message);
  return std::nullopt;
}

std::optional<Open> open_and_ask(const Target& t, const Options& o, ssh_key key, Phases& p,
                                 std::string* why) {
  auto mark = Clock::now();
  Open out{SessionPtr(ssh_new()), nullptr};
  ssh_session s = out.session.get();
  if (s == nullptr || !configure(s, t, o.user)) return failed(why, "options");
  if (ssh_connect(s) != SSH_OK) return failed(why, ssh_get_error(s));
  p.connect = ms_since(mark);
  if (ssh_userauth_publickey(s, nullptr, key) != SSH_AUTH_SUCCESS) {
    return failed(why, std::string("auth: ") + ssh_get_error(s));
  }
  p.auth = ms_since(mark);
  out.channel.reset(ssh_channel_new(s));
  ssh_channel ch = out.channel.get();
  if (ch == nullptr || ssh_channel_open_session(ch) != SSH_OK ||
      ssh_channel_request_subsystem(ch, "rdiag-v1") != SSH_OK) {
    return failed(why, std::string("channel: ") + ssh_get_error(s));
  }
  p.channel = ms_since(mark);
  const auto len = static_cast<uint32_t>(std::strlen(kRequest));
  if (ssh_channel_write(ch, kRequest, len) != static_cast<int>(len) || !read_reply_line(ch)) {
    return failed(why, "no JSON-RPC result line");
  }
  p.rpc = ms_since(mark);
  return out;
}

void close_open(Open& o) {
  ssh_channel_send_eof(o.channel.get());
  ssh_channel_close(o.channel.get());
  o.channel.reset();
  o.session.reset();  // disconnect + free
}

bool one_cycle(const Target& t, const Options& o, ssh_key key, Phases& p, std::string* why,
               std::string* algos) {
  auto opened = open_and_ask(t, o, key, p, why);
  if (!opened) return false;
  if (algos != nullptr && algos->empty()) {
    ssh_session s = opened->session.get();
    *algos = std::string(R"("kex":")") + ssh_get_kex_algo(s) + R"(","cipher":")" +
             ssh_get_cipher_in(s) + R"(","hmac":")" + ssh_get_hmac_in(s) + "\"";
  }
  auto mark = Clock::now();
  close_open(*opened);
  p.close = ms_since(mark);
  return true;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest rank: with 200 samples, p90 is the 180th smallest.
  const auto idx = static_cast<std::size_t>(std::lround(q * static_cast<double>(v.size() - 1)));
  return v[std::min(idx, v.size() - 1)];
}

struct Samples {
  std::vector<Phases> runs;
  int failures = 0;
  std::string last_error;
  std::string algos;
};

std::string fmt_ms(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}

// libssh's error texts go into a JSON string: keep them printable and unquoted.
std::string json_safe(std::string text) {
  for (char& c : text) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '\'';
  }
  return text;
}

void print_latency(const Target& t, const Samples& s) {
  std::vector<double> total, con, auth, chan, rpc, close;
  for (const auto& p : s.runs) {
    total.push_back(p.total());
    con.push_back(p.connect);
    auth.push_back(p.auth);
    chan.push_back(p.channel);
    rpc.push_back(p.rpc);
    close.push_back(p.close);
  }
  std::string j = R"({"target":")" + t.name + R"(","iterations":)" + std::to_string(s.runs.size()) +
                  R"(,"failures":)" + std::to_string(s.failures);
  if (!s.algos.empty()) j += "," + s.algos;
  j += R"(,"min_ms":)" + fmt_ms(percentile(total, 0)) + R"(,"median_ms":)" +
       fmt_ms(percentile(total, 0.5)) + R"(,"p90_ms":)" + fmt_ms(percentile(total, 0.9)) +
       R"(,"max_ms":)" + fmt_ms(percentile(total, 1)) + R"(,"phase_median_ms":{"connect_kex":)" +
       fmt_ms(percentile(con, 0.5)) + R"(,"auth":)" + fmt_ms(percentile(auth, 0.5)) +
       R"(,"channel_subsystem":)" + fmt_ms(percentile(chan, 0.5)) + R"(,"rpc":)" +
       fmt_ms(percentile(rpc, 0.5)) + R"(,"close":)" + fmt_ms(percentile(close, 0.5)) + "}";
  if (s.failures > 0) j += R"(,"last_error":")" + json_safe(s.last_error) + "\"";
  std::printf("%s}\n", j.c_str());
}

int run_latency(const Options& o, ssh_key key) {
  std::vector<Samples> all(o.targets.size());
  for (int i = 0; i < o.warmup + o.iterations; ++i) {
    for (std::size_t t = 0; t < o.targets.size(); ++t) {
      Phases p;
      std::string why;
      const bool ok = one_cycle(o.targets[t], o, key, p, &why, &all[t].algos);
      if (i < o.warmup) continue;  // warm caches, page tables, the agent's first fork
      if (ok) {
        all[t].runs.push_back(p);
      } else {
        ++all[t].failures;
        all[t].last_error = why;
      }
    }
  }
  for (std::size_t t = 0; t < o.targets.size(); ++t) print_latency(o.targets[t], all[t]);
  for (const auto& s : all) {
    if (s.failures > 0) return 1;
  }
  return 0;
}

int run_hold(const Options& o, ssh_key key) {
  // Blocked before any session exists, so an early SIGUSR1 is not lost.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGUSR1, SIGTERM, SIGINT}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  std::vector<Open> held;
  for (int i = 0; i < o.sessions; ++i) {
    Phases p;
    std::string why;
    auto opened = open_and_ask(o.targets[0], o, key, p, &why);
    if (!opened) die("session " + std::to_string(i + 1) + ": " + why);
    held.push_back(std::move(*opened));
  }
  std::printf("{\"target\":\"%s\",\"ready\":%zu}\n", o.targets[0].name.c_str(), held.size());
  std::fflush(stdout);
  timespec limit{o.hold_max_s, 0};
  sigtimedwait(&set, nullptr, &limit);
  for (auto& h : held) close_open(h);
  return 0;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) != 0) {
    die("cannot bind 127.0.0.1:0");
  }
  std::printf("%u\n", unsigned{ntohs(sin.sin_port)});
  ::close(fd);
  return 0;
}

// A whole decimal number in [low, high], or death naming what was wrong.
int parse_int(const std::string& text, int low, int high, const std::string& what) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < low || v > high) {
    die(what + " wants a number from " + std::to_string(low) + " to " + std::to_string(high) +
        ", got '" + text + "'");
  }
  return static_cast<int>(v);
}

Target parse_target(const std::string& spec) {
  const auto eq = spec.find('=');
  const auto colon = spec.rfind(':');
  if (eq == std::string::npos || colon == std::string::npos || colon < eq) {
    die("--target wants NAME=HOST:PORT, got '" + spec + "'");
  }
  return {spec.substr(0, eq), spec.substr(eq + 1, colon - eq - 1),
          parse_int(spec.substr(colon + 1), 1, 65535, "--target port")};
}

Options parse_args(int argc, char** argv) {
  if (argc < 2) die("usage: connect_bench latency|hold|free-port [options] (see its source)");
  Options o;
  o.mode = argv[1];
  const std::map<std::string, std::function<void(const std::string&)>> setters = {
      {"--target", [&](const std::string& v) { o.targets.push_back(parse_target(v)); }},
      {"--key", [&](const std::string& v) { o.key_file = v; }},
      {"--user", [&](const std::string& v) { o.user = v; }},
      {"--iterations",
       [&](const std::string& v) { o.iterations = parse_int(v, 1, 100000, "--iterations"); }},
      {"--warmup", [&](const std::string& v) { o.warmup = parse_int(v, 0, 100000, "--warmup"); }},
      {"--sessions",
       [&](const std::string& v) { o.sessions = parse_int(v, 1, 100000, "--sessions"); }},
      {"--hold-max",
       [&](const std::string& v) { o.hold_max_s = parse_int(v, 1, 100000, "--hold-max"); }},
  };
  for (int i = 2; i < argc; i += 2) {
    auto it = setters.find(argv[i]);
    if (it == setters.end()) die(std::string("unknown option ") + argv[i]);
    if (i + 1 >= argc) die(std::string("option ") + argv[i] + " needs a value");
    it->second(argv[i + 1]);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  if (o.mode == "free-port") return free_port();
  if (o.mode != "latency" && o.mode != "hold") die("unknown mode " + o.mode);
  if (o.targets.empty() || o.key_file.empty()) die("--target and --key are required");
  ssh_init();
  ssh_key raw = nullptr;
  if (ssh_pki_import_privkey_file(o.key_file.c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK) {
    die("cannot read private key " + o.key_file);
  }
  KeyPtr key(raw);
  const int rc = o.mode == "latency" ? run_latency(o, key.get()) : run_hold(o, key.get());
  key.reset();
  ssh_finalize();
  return rc;
}
