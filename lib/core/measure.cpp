#include "core/measure.h"

namespace hone {

std::uint64_t disk_usage(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return fs::file_size(p, ec);
  std::uint64_t n = 0;
  if (fs::is_directory(p, ec))
    for (const auto& e : fs::recursive_directory_iterator(p, ec))
      if (e.is_regular_file(ec)) n += e.file_size(ec);
  return n;
}

}  // namespace hone
