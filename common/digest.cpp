#include "common/digest.h"

#include <openssl/evp.h>

#include <array>

namespace rdiag {

std::string hex_lower(const unsigned char* data, std::size_t len) {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (std::size_t i = 0; i < len; ++i) {
    hex += kHex[data[i] >> 4];
    hex += kHex[data[i] & 0x0F];
  }
  return hex;
}

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
    return {};  // a broken OpenSSL
  }
  return hex_lower(md.data(), len);
}

}  // namespace rdiag
