// Log text arrives as UTF-8 or, on many Chinese ERP servers, GB18030. Every
// scan and redaction works on valid UTF-8, so bytes are decoded first; bytes
// that are not valid in the chosen encoding become U+FFFD and never stop a scan.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace rdiag::redact {

// kAuto keeps valid UTF-8 as it is and decodes anything else as GB18030
// (the config's "encoding": "auto").
enum class Encoding { kAuto, kUtf8, kGb18030 };

// The config word: "auto", "utf-8" (or "utf8"), "gb18030"; case-insensitive.
// The error names the value and the accepted words.
Result<Encoding> parse_encoding(std::string_view word);

// Valid UTF-8 out, whatever comes in.
std::string to_utf8(std::string_view bytes, Encoding enc);

// A GB18030 decoder that keeps its iconv descriptor between calls (opening
// one costs more than decoding a line). One per thread or scan.
class Gb18030Decoder {
 public:
  Gb18030Decoder();
  ~Gb18030Decoder();
  Gb18030Decoder(const Gb18030Decoder&) = delete;
  Gb18030Decoder& operator=(const Gb18030Decoder&) = delete;
  std::string decode(std::string_view bytes);

 private:
  void* cd_;  // iconv_t; (void*)-1 when glibc lacks GB18030
};

// True when bytes are well-formed UTF-8 (Unicode table 3-7). Fast on ASCII,
// which is most of any log.
bool is_valid_utf8(std::string_view bytes);

// The length of the longest prefix of bytes that does not end inside a UTF-8
// sequence, for cutting a sample without splitting a character.
std::size_t utf8_prefix(std::string_view bytes, std::size_t max_bytes);

}  // namespace rdiag::redact
