// The fuzz targets' one assertion: abort() makes libFuzzer keep the input
// that broke a promise, as it keeps one that crashed.
#pragma once

#include <cstdlib>

namespace rdiag::fuzz {

inline void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace rdiag::fuzz
