// Message digests as text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rdiag {

// Lower-case hex of len bytes at data.
std::string hex_lower(const unsigned char* data, std::size_t len);

// Lower-case hex SHA-256, as sha256sum prints it; empty when OpenSSL fails
// (an empty hash never matches and fails checks).
std::string sha256_hex(std::string_view bytes);

}  // namespace rdiag
