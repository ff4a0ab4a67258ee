#include "common/redact/encoding.h"

#include <iconv.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "common/i18n.h"
#include "common/text_safety.h"

namespace rdiag::redact {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

bool ascii_word(const unsigned char* p) {
  std::uint64_t w = 0;
  std::memcpy(&w, p, sizeof w);
  return (w & 0x8080808080808080ULL) == 0;
}

// Length of the well-formed sequence starting at i, or 0 (Unicode table 3-7).
std::size_t sequence_length(const unsigned char* p, std::size_t n) {
  const unsigned c = p[0];
  std::size_t len = 0;
  unsigned lo = 0x80;
  unsigned hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlongs
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (n < len || p[1] < lo || p[1] > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (p[k] < 0x80 || p[k] > 0xBF) return 0;
  }
  return len;
}

const auto kNoIconv = reinterpret_cast<iconv_t>(-1);  // NOLINT: iconv's error value

std::string from_gb18030(iconv_t cd, std::string_view in) {
  if (cd == kNoIconv) return sanitize_utf8(in);
  std::string out(in.size() * 2 + 16, '\0');  // valid GB18030 grows by at most 3/2
  char* src = const_cast<char*>(in.data());   // iconv's API is not const-correct
  std::size_t src_left = in.size();
  std::size_t used = 0;
  while (src_left > 0) {
    char* dst = out.data() + used;
    std::size_t dst_left = out.size() - used;
    const std::size_t rc = ::iconv(cd, &src, &src_left, &dst, &dst_left);
    used = out.size() - dst_left;
    if (rc != static_cast<std::size_t>(-1)) break;
    if (errno == E2BIG) {
      out.resize(out.size() * 2);
      continue;
    }
    // EILSEQ or a truncated sequence (EINVAL): one byte becomes U+FFFD.
    if (out.size() - used < kReplacement.size()) out.resize(out.size() * 2);
    std::memcpy(out.data() + used, kReplacement.data(), kReplacement.size());
    used += kReplacement.size();
    ++src;
    --src_left;
  }
  out.resize(used);
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

Gb18030Decoder::Gb18030Decoder() : cd_(::iconv_open("UTF-8", "GB18030")) {}

Gb18030Decoder::~Gb18030Decoder() {
  if (cd_ != kNoIconv) ::iconv_close(cd_);
}

std::string Gb18030Decoder::decode(std::string_view bytes) {
  if (cd_ != kNoIconv) ::iconv(cd_, nullptr, nullptr, nullptr, nullptr);  // reset shift state
  return from_gb18030(cd_, bytes);
}

Result<Encoding> parse_encoding(std::string_view word) {
  const std::string w = lower(word);
  if (w == "auto") return Encoding::kAuto;
  if (w == "utf-8" || w == "utf8") return Encoding::kUtf8;
  if (w == "gb18030") return Encoding::kGb18030;
  return make_error(i18n::tr("common.redact.bad_encoding", sanitize_utf8(word)), "bad_encoding");
}

bool is_valid_utf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    if (i + 8 <= n && ascii_word(p + i)) {
      i += 8;
    } else if (p[i] < 0x80) {
      ++i;
    } else {
      const std::size_t len = sequence_length(p + i, n - i);
      if (len == 0) return false;
      i += len;
    }
  }
  return true;
}

std::size_t utf8_prefix(std::string_view bytes, std::size_t max_bytes) {
  if (bytes.size() <= max_bytes) return bytes.size();
  std::size_t cut = max_bytes;
  // Step back over continuation bytes to the start of the cut character.
  while (cut > 0 && (static_cast<unsigned char>(bytes[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

std::string to_utf8(std::string_view bytes, Encoding enc) {
  switch (enc) {
    case Encoding::kGb18030:
      return Gb18030Decoder().decode(bytes);
    case Encoding::kUtf8:
      return is_valid_utf8(bytes) ? std::string(bytes) : sanitize_utf8(bytes);
    case Encoding::kAuto:
      break;
  }
  return is_valid_utf8(bytes) ? std::string(bytes) : Gb18030Decoder().decode(bytes);
}

}  // namespace rdiag::redact
