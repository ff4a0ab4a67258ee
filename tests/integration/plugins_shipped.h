// Shared by the tests of the shipped plugins (plugins_shipped*_test.cpp): run
// a plugin's `collect` as the agent's process runner will, keep helper
// processes in the background, and check the findings every plugin prints.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/background.h"
#include "tests/support/harness.h"

namespace rdiag::test::shipped {

using nlohmann::json;
using std::chrono::seconds;

inline const std::string kPlugins = std::string(RDIAG_SOURCE_DIR) + "/plugins";
inline const std::string kRunnerPath = "/usr/local/bin:/usr/bin:/bin";
inline const std::regex kNameRe("^[a-z0-9][a-z0-9._-]{0,63}$");
inline const std::set<std::string> kSeverities = {"info", "warning", "error", "critical"};

// Joins parts into one string (one allocation, unlike a chain of +).
inline std::string concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) out.append(p);
  return out;
}

inline bool text(const json& obj, const std::string& key) {
  return obj.contains(key) && obj[key].is_string() && !obj[key].get<std::string>().empty();
}

// Every finding a collect prints has the fields the report shows.
inline void expect_findings_shape(const json& out) {
  ASSERT_TRUE(out.is_object()) << out;
  for (const auto& f : out.value("findings", json::array())) {
    EXPECT_TRUE(kSeverities.contains(f.value("severity", ""))) << f;
    EXPECT_TRUE(std::regex_match(f.value("id", ""), kNameRe)) << f;
    EXPECT_TRUE(text(f, "title") && text(f, "cause") && text(f, "remedy")) << f;
    EXPECT_TRUE(f["evidence"].is_array()) << f;
  }
}

inline const json* find_id(const json& out, const std::string& id) {
  for (const auto& f : out["findings"]) {
    if (f["id"] == id) return &f;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Running a plugin as the process runner will: `env -i` with only the
// runner's variables, cwd "/", and as the unprivileged rdiag account when the
// machine has it (scripts/deps.sh creates it) and we are root.

struct Collected {
  ProcResult proc;
  json out;
};

inline Collected run_collect(const std::string& dir, const std::string& lang,
                             std::map<std::string, std::string> settings = {}) {
  std::vector<std::string> argv;
  if (::geteuid() == 0 && ::getpwnam("rdiag") != nullptr) {
    argv = {"/sbin/runuser", "-u", "rdiag", "--"};
  }
  // The runner's PATH unless a test replaces it (to hide a client binary).
  const std::string path = settings.contains("PATH") ? settings["PATH"] : kRunnerPath;
  settings.erase("PATH");
  argv.insert(argv.end(), {"/usr/bin/env", "-i", "-C", "/", "PATH=" + path, "LANG=" + lang,
                           "LC_ALL=" + lang, "RDIAG_PLUGIN_DIR=" + dir});
  for (const auto& [k, v] : settings) argv.push_back(k + "=" + v);
  argv.push_back(dir + "/collect");
  Collected c{run(argv, {.timeout = seconds(60)}), nullptr};
  c.out = json::parse(c.proc.out, nullptr, false);
  return c;
}

using rdiag::test::Background;

// A free loopback port: bound to port 0, read back, closed.
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace rdiag::test::shipped
