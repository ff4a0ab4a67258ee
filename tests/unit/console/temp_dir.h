// A scratch directory for one test, removed afterwards.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace rdiag::console::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rdiag-console-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A real Ed25519 public key and the fingerprint `ssh-keygen -lf` prints for it.
inline constexpr const char* kKeyA =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBrTQFdRh8hzCB2OeNu+cu1kdH3EGrOhCxciPi/yZjpp";
inline constexpr const char* kKeyAFingerprint =
    "SHA256:6xu4+JGNp7PRGeVYHwm1iXy5vsUsNGELzqPxNKv0Iss";
inline constexpr const char* kKeyB =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL8gGL9rQ9s3vpMEYZ16CQenrMXtoH7ZcEsbms/QyZJg";
inline constexpr const char* kKeyBFingerprint =
    "SHA256:wHabXtgm3pDyjf9wCK2AewjGxVSzh10tGr0SS43lngY";

}  // namespace rdiag::console::testing
