// A whole file as bytes, and a file made of bytes, for unit tests that
// cannot link the integration harness (tests/support/harness.h).
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace rdiag::test {

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void put(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace rdiag::test
