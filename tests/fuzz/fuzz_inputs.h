// Helpers shared by the text and data fuzz targets: splitting one fuzz input into several files
// or parts, and reading small numbers (option bytes, varints) from the front of an input.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace hone::fuzz {

// The parts of `input` between occurrences of `separator` (always at least one part). A target
// whose reader takes several files (tokenizer.json and tokenizer_config.json; a template and its
// messages) reads them from one input this way; libFuzzer learns the separator from its
// comparisons, and the seed writers join parts with join_parts.
inline std::vector<std::string_view> split_parts(std::string_view input, std::string_view separator) {
  std::vector<std::string_view> parts;
  for (std::size_t from = 0;;) {
    const std::size_t at = input.find(separator, from);
    if (at == std::string_view::npos) {
      parts.push_back(input.substr(from));
      return parts;
    }
    parts.push_back(input.substr(from, at - from));
    from = at + separator.size();
  }
}

inline std::string join_parts(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += separator;
    out += parts[i];
  }
  return out;
}

// Reads bytes off the front of an input; past its end every read gives zeros (so that a truncated
// input still decodes to something, as libFuzzer's FuzzedDataProvider does).
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  std::size_t left() const { return pos_ < size_ ? size_ - pos_ : 0; }
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  // LEB128 (7 bits a byte, low first), at most 10 bytes.
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 70 && !empty(); shift += 7) {
      const std::uint8_t b = byte();
      v |= static_cast<std::uint64_t>(b & 0x7f) << (shift < 64 ? shift : 63);
      if ((b & 0x80) == 0) break;
    }
    return v;
  }
  // Zigzag-decoded varint: 0, -1, 1, -2, ... as 0, 1, 2, 3, ...
  std::int64_t svarint() {
    const std::uint64_t u = varint();
    return static_cast<std::int64_t>(u >> 1) ^ -static_cast<std::int64_t>(u & 1);
  }
  template <class T>
  T raw() {
    unsigned char b[sizeof(T)] = {};
    for (auto& c : b) c = byte();
    T v;
    std::memcpy(&v, b, sizeof v);
    return v;
  }
  // `n` bytes (fewer at the end of the input).
  std::string bytes(std::size_t n) {
    n = std::min(n, left());
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  std::string rest() { return bytes(left()); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// The writing side of ByteReader, for the seed writers.
class ByteWriter {
 public:
  void byte(std::uint8_t b) { out_.push_back(static_cast<char>(b)); }
  void varint(std::uint64_t v) {
    do {
      std::uint8_t b = v & 0x7f;
      v >>= 7;
      if (v != 0) b |= 0x80;
      byte(b);
    } while (v != 0);
  }
  void svarint(std::int64_t v) {
    varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  template <class T>
  void raw(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof v);
    out_.append(b, sizeof b);
  }
  void bytes(std::string_view s) { out_.append(s); }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

}  // namespace hone::fuzz
