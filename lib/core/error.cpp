#include "core/error.h"

#include <string_view>

namespace hone {

Error::Error(SourceLoc loc, std::string message, std::string hint)
    : std::runtime_error(message), loc_(loc), message_(std::move(message)), hint_(std::move(hint)) {}

std::string Error::where() const {
  // Trim the build machine's absolute path down to the repository-relative one.
  std::string_view f = loc_.file, root = HONE_SOURCE_DIR;
  if (f.substr(0, root.size()) == root) f.remove_prefix(root.size());
  return fmt::format("{}:{}", f, loc_.line);
}

}  // namespace hone
