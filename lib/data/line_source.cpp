#include "data/line_source.h"

#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "text/sha256.h"

namespace hone::data {

namespace {
constexpr std::size_t kChunk = 1 << 20;
constexpr std::size_t kOverlongKeep = 4096;  // bytes of an overlong line kept for rejects.jsonl
}  // namespace

LineSource::LineSource(const std::filesystem::path& path, std::uint64_t max_line_bytes)
    : path_(path), max_line_bytes_(max_line_bytes), buf_(kChunk) {
  gz_ = gzopen(path.c_str(), "rb");
  HONE_CHECK(gz_ != nullptr, InputError, "{}: cannot open: {}", path.string(), std::strerror(errno));
  gzbuffer(gz_, kChunk);
}

LineSource::~LineSource() {
  if (gz_ != nullptr) gzclose(gz_);
}

bool LineSource::fill() {
  if (eof_) return false;
  const int n = gzread(gz_, buf_.data(), static_cast<unsigned>(buf_.size()));
  if (n < 0) {
    int errnum = 0;
    const char* msg = gzerror(gz_, &errnum);
    HONE_THROW(InputError, "{}: cannot read (after line {}): {}", path_.string(), line_number_,
               errnum == Z_ERRNO ? std::strerror(errno) : msg);
  }
  if (n == 0) {
    // A truncated .gz ends with Z_BUF_ERROR set but gzread returning 0, like a clean end.
    int errnum = 0;
    const char* msg = gzerror(gz_, &errnum);
    HONE_CHECK(errnum == Z_OK, InputError, "{}: cannot read (after line {}): {} (truncated gzip file?)",
               path_.string(), line_number_, msg);
  }
  pos_ = 0;
  end_ = static_cast<std::size_t>(n);
  if (n == 0) eof_ = true;
  return n > 0;
}

bool LineSource::next(std::string& line) {
  line.clear();
  overlong_ = 0;
  std::uint64_t length = 0;
  bool any = false;
  for (;;) {
    if (pos_ == end_ && !fill()) break;
    any = true;
    const char* start = buf_.data() + pos_;
    const void* nl = std::memchr(start, '\n', end_ - pos_);
    const std::size_t n = nl ? static_cast<const char*>(nl) - start : end_ - pos_;
    length += n;
    if (length <= max_line_bytes_) {
      line.append(start, n);
    } else if (line.size() < kOverlongKeep) {
      line.append(start, std::min(n, kOverlongKeep - line.size()));
    }
    pos_ += n;
    if (nl) {
      ++pos_;
      break;
    }
  }
  if (!any) return false;
  ++line_number_;
  if (length > max_line_bytes_) overlong_ = length;
  if (!line.empty() && line.back() == '\r' && !overlong_) line.pop_back();
  if (line_number_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  return true;
}

FileDigest digest_file(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  HONE_CHECK(f != nullptr, InputError, "{}: cannot open: {}", path.string(), std::strerror(errno));
  Sha256 sha;
  FileDigest d;
  std::vector<char> buf(kChunk);
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) {
    sha.update(buf.data(), n);
    d.bytes += n;
  }
  HONE_CHECK(!std::ferror(f.get()), InputError, "{}: cannot read: {}", path.string(), std::strerror(errno));
  d.sha256 = sha.hex_digest();
  return d;
}

}  // namespace hone::data
