// Helpers shared by the unit tests that check against the stock OpenSSH
// tools: a private temporary folder, running a shell command, small files.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>  // mkdtemp

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

namespace rdiag::test_util {

// A private temporary folder named <prefix>-XXXXXX, removed with everything
// in it.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix) {
    std::string tmpl =
        (std::filesystem::path(::testing::TempDir()) / (std::string(prefix) + "-XXXXXX")).string();
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CmdResult {
  int status = -1;
  std::string out;  // stdout and stderr together
};

// Runs a fixed command line through the shell; paths come from mkdtemp only.
inline CmdResult run(const std::string& cmd) {
  CmdResult r;
  // NOLINTNEXTLINE(cert-env33-c): the point is to run the real ssh-keygen
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "re");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  r.status = ::pclose(p);
  return r;
}

inline bool have_ssh_keygen() {
  return run("command -v ssh-keygen").status == 0;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

}  // namespace rdiag::test_util
