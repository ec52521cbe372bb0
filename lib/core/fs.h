// Files: read-only memory maps, atomic writes (temporary file + rename), small whole-file reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace hone {

namespace fs = std::filesystem;

// A whole file mapped copy-on-write: readers see the file, writes (if any) stay private to the
// process, so a tensor built on the map can never modify the model file on disk.
class MappedFile {
 public:
  static std::shared_ptr<const MappedFile> open(const fs::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  const fs::path& path() const { return path_; }

 private:
  MappedFile() = default;
  fs::path path_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// Writes `path` atomically: the bytes go to a temporary file beside it, which `commit()` flushes
// and renames over `path`. If the object is destroyed without commit (an exception, a crash
// path), the temporary file is removed and `path` is untouched.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // Zero bytes up to the next multiple of `alignment` of the bytes written so far.
  void pad_to(std::size_t alignment, char fill = '\0');
  std::uint64_t bytes_written() const { return written_; }
  const fs::path& temp_path() const { return temp_; }
  void commit();

 private:
  fs::path path_;
  fs::path temp_;
  int fd_ = -1;
  std::uint64_t written_ = 0;
  bool committed_ = false;
};

// A directory written atomically: files go into `<out>.tmp.<pid>` beside `out`, which commit()
// renames onto `out` (an existing `out` is replaced only after the new one is complete). Destroyed
// without commit, the temporary directory is removed and `out` is untouched.
class AtomicDir {
 public:
  explicit AtomicDir(fs::path out);
  ~AtomicDir();
  AtomicDir(const AtomicDir&) = delete;
  AtomicDir& operator=(const AtomicDir&) = delete;
  const fs::path& path() const { return temp_; }  // where to write now
  void commit();

 private:
  fs::path out_;
  fs::path temp_;
  bool committed_ = false;
};

// Removes what writers killed before their commit left in `dir`: AtomicFile's `NAME.tmp.PID.N`
// and AtomicDir's `NAME.tmp.PID` and `NAME.old.PID`, of processes that are no longer alive.
void remove_stale_temporaries(const fs::path& dir);

// strerror(err) for a failed write, saying what to do when the disk or a limit is the cause.
std::string write_error(int err);

// Writes a whole small file atomically.
void write_file_atomic(const fs::path& path, std::string_view content);

// Reads a whole file as bytes; throws InputError naming the file if it cannot be read.
std::string read_file(const fs::path& path);

// Whether `path` is a regular file whose first bytes are `magic` (format sniffing; never throws).
bool file_starts_with(const fs::path& path, std::string_view magic);

}  // namespace hone
