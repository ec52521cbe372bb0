#include "core/fs.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>  // renameat2
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "core/kill_point.h"

namespace hone {

std::string write_error(int err) {
  if (err == ENOSPC || err == EFBIG || err == EDQUOT)
    return fmt::format("{} (the disk is full, or a file-size or quota limit was reached)", std::strerror(err));
  return std::strerror(err);
}

namespace {

// Flushes a directory's entries (a rename in it) to disk; best effort, as on some file systems
// directories cannot be opened for fsync.
void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

// ---------------------------------------------------------------------------- MappedFile

std::shared_ptr<const MappedFile> MappedFile::open(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  HONE_CHECK(fd >= 0, InputError, "{}: cannot open: {}", path.string(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    HONE_THROW(InputError, "{}: not a regular file", path.string());
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<std::size_t>(st.st_size);
  if (m->size_ > 0) {
    void* p = ::mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    HONE_CHECK(p != MAP_FAILED, RuntimeError, "{}: mmap failed: {}", path.string(), std::strerror(err));
    m->data_ = static_cast<std::byte*>(p);
  } else {
    ::close(fd);
  }
  return m;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

// ---------------------------------------------------------------------------- AtomicFile

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)) {
  static std::atomic<unsigned> counter{0};
  fs::path dir = path_.parent_path();
  if (!dir.empty() && !fs::exists(dir)) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    HONE_CHECK(!ec, RuntimeError, "{}: cannot create directory: {}", dir.string(), ec.message());
  }
  temp_ = path_;
  temp_ += fmt::format(".tmp.{}.{}", ::getpid(), counter++);
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  HONE_CHECK(fd_ >= 0, RuntimeError, "{}: cannot create: {}", temp_.string(), std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFile::write(const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    HONE_CHECK(w > 0, RuntimeError, "{}: write failed: {}", path_.string(), write_error(w < 0 ? errno : ENOSPC));
    p += w;
    n -= static_cast<std::size_t>(w);
    written_ += static_cast<std::uint64_t>(w);
  }
  kill_point("file.write");
}

void AtomicFile::pad_to(std::size_t alignment, char fill) {
  std::size_t rem = written_ % alignment;
  if (rem == 0) return;
  std::string pad(alignment - rem, fill);
  write(pad);
}

void AtomicFile::commit() {
  HONE_CHECK(!committed_, RuntimeError, "{}: committed twice", path_.string());
  HONE_CHECK(::fsync(fd_) == 0, RuntimeError, "{}: fsync failed: {}", path_.string(), write_error(errno));
  HONE_CHECK(::close(fd_) == 0, RuntimeError, "{}: close failed: {}", path_.string(), write_error(errno));
  fd_ = -1;
  kill_point("file.commit");
  std::error_code ec;
  fs::rename(temp_, path_, ec);
  HONE_CHECK(!ec, RuntimeError, "{}: cannot rename to {}: {}", temp_.string(), path_.string(), ec.message());
  committed_ = true;
}

AtomicDir::AtomicDir(fs::path out) : out_(std::move(out)) {
  const fs::path parent = out_.parent_path().empty() ? fs::path(".") : out_.parent_path();
  temp_ = parent / fmt::format("{}.tmp.{}", out_.filename().string(), ::getpid());
  std::error_code ec;
  fs::remove_all(temp_, ec);  // a stale one from an earlier process with the same pid
  fs::create_directories(temp_, ec);
  HONE_CHECK(!ec, RuntimeError, "{}: cannot create directory: {}", temp_.string(), ec.message());
}

AtomicDir::~AtomicDir() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(temp_, ec);
  }
}

void AtomicDir::commit() {
  kill_point("dir.commit");
  // Where the kernel and file system allow, the new directory and the old one trade places in one
  // step, so that `out` exists at every moment; otherwise the old one is moved aside first.
  std::error_code ec;
  fs::path old;
  if (fs::exists(out_)) {
    if (::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, out_.c_str(), RENAME_EXCHANGE) == 0) {
      committed_ = true;
      sync_directory(out_.parent_path());
      fs::remove_all(temp_, ec);  // now the old directory
      return;
    }
    old = temp_.parent_path() / fmt::format("{}.old.{}", out_.filename().string(), ::getpid());
    fs::rename(out_, old, ec);
    HONE_CHECK(!ec, RuntimeError, "{}: cannot move aside: {}", out_.string(), ec.message());
  }
  fs::rename(temp_, out_, ec);
  HONE_CHECK(!ec, RuntimeError, "{}: cannot rename to {}: {}", temp_.string(), out_.string(), ec.message());
  committed_ = true;
  sync_directory(out_.parent_path());
  if (!old.empty()) fs::remove_all(old, ec);
}

void remove_stale_temporaries(const fs::path& dir) {
  static const std::regex name(R"(.+\.(tmp|old)\.([0-9]+)(\.[0-9]+)?)");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string n = entry.path().filename().string();
    if (!std::regex_match(n, m, name)) continue;
    const long pid = std::stol(m[2].str());
    if (pid == ::getpid() || (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;  // alive
    fs::remove_all(entry.path(), ec);
  }
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  HONE_CHECK(in.good(), InputError, "{}: cannot open: {}", path.string(), std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  HONE_CHECK(!in.bad(), InputError, "{}: read failed", path.string());
  return ss.str();
}

bool file_starts_with(const fs::path& path, std::string_view magic) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  std::ifstream f(path, std::ios::binary);
  std::string head(magic.size(), '\0');
  f.read(head.data(), static_cast<std::streamsize>(head.size()));
  return f.gcount() == static_cast<std::streamsize>(magic.size()) && head == magic;
}

}  // namespace hone
