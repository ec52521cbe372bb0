#include "core/error.h"

#include <cstring>

namespace hone {

Error::Error(SourceLoc loc, std::string message, std::string hint)
    : std::runtime_error(message), loc_(loc), message_(std::move(message)), hint_(std::move(hint)) {}

std::string Error::where() const {
  // Trim the build machine's absolute path down to the repository-relative one.
  const char* f = loc_.file;
  if (const char* p = std::strstr(f, "/lib/")) f = p + 1;
  else if (const char* p = std::strstr(f, "/tools/")) f = p + 1;
  return fmt::format("{}:{}", f, loc_.line);
}

}  // namespace hone
