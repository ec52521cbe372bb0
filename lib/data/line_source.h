// Physical lines of a plain or gzip-compressed file, read in chunks through zlib's gz* API
// (gzread passes uncompressed files through unchanged), so memory stays flat on large inputs.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace hone::data {

class LineSource {
 public:
  // Lines longer than `max_line_bytes` are not held in memory: see overlong().
  LineSource(const std::filesystem::path& path, std::uint64_t max_line_bytes);
  ~LineSource();
  LineSource(const LineSource&) = delete;
  LineSource& operator=(const LineSource&) = delete;

  // The next line without its '\n' (and without a '\r' before it); a UTF-8 byte-order mark at the
  // start of the file is dropped. Returns false at the end of the file.
  bool next(std::string& line);
  // 1-based number of the line last returned.
  std::uint64_t line_number() const { return line_number_; }
  // The full length of the line last returned when it exceeded the cap (`line` then holds only
  // its first bytes), else 0.
  std::uint64_t overlong() const { return overlong_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  bool fill();

  std::filesystem::path path_;
  gzFile gz_ = nullptr;
  std::uint64_t max_line_bytes_;
  std::vector<char> buf_;
  std::size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
  std::uint64_t line_number_ = 0;
  std::uint64_t overlong_ = 0;
};

// SHA-256 (hex) and size of a file as stored, read in chunks.
struct FileDigest {
  std::string sha256;
  std::uint64_t bytes = 0;
};
FileDigest digest_file(const std::filesystem::path& path);

}  // namespace hone::data
