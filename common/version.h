#pragma once

namespace rdiag {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace rdiag
