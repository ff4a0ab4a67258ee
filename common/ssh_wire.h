// SSH wire encoding (RFC 4251 section 5): big-endian uint32 and
// length-prefixed strings, as used by key blobs (ssh_key.cpp) and SSHSIG
// (sshsig.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rdiag::ssh_wire {

using ByteSpan = std::span<const std::uint8_t>;

inline std::string_view as_text(ByteSpan s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

inline ByteSpan as_span(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Appends to a byte buffer (the same type as rdiag::Bytes).
class Writer {
 public:
  void u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
      out_.push_back(static_cast<std::uint8_t>(v >> shift));
    }
  }
  void string(ByteSpan s) {
    u32(static_cast<std::uint32_t>(s.size()));
    raw(s);
  }
  void string(std::string_view s) { string(as_span(s)); }
  void raw(ByteSpan s) { out_.insert(out_.end(), s.begin(), s.end()); }
  std::vector<std::uint8_t>& out() { return out_; }

 private:
  std::vector<std::uint8_t> out_;
};

// Reads from a borrowed buffer; every read is bounds checked and yields
// nullopt past the end.
class Reader {
 public:
  explicit Reader(ByteSpan in) : in_(in) {}
  std::optional<std::uint32_t> u32() {
    if (in_.size() - pos_ < 4) return std::nullopt;
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | in_[pos_++];
    return v;
  }
  std::optional<ByteSpan> string() {
    auto len = u32();
    if (!len || in_.size() - pos_ < *len) return std::nullopt;
    return take(*len);
  }
  std::optional<ByteSpan> raw(std::size_t n) {
    if (in_.size() - pos_ < n) return std::nullopt;
    return take(n);
  }
  ByteSpan rest() const { return in_.subspan(pos_); }
  bool done() const { return pos_ == in_.size(); }

 private:
  ByteSpan take(std::size_t n) {
    ByteSpan s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  ByteSpan in_;
  std::size_t pos_ = 0;
};

// "<begin>\n", body in lines of width characters, "<end>\n": the armor
// around an OpenSSH private key or signature (OpenSSH wraps at 70 columns).
inline std::string armor_lines(std::string_view begin, std::string_view body, std::string_view end,
                               std::size_t width) {
  std::string out(begin);
  out += '\n';
  for (std::size_t i = 0; i < body.size(); i += width) {
    out += body.substr(i, width);
    out += '\n';
  }
  out += end;
  out += '\n';
  return out;
}

}  // namespace rdiag::ssh_wire
