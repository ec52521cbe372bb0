// Small measurements that several commands report: elapsed wall time, durations and bytes on disk.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/fs.h"

namespace hone {

// Seconds of wall time (steady clock) since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// "42s", "3m07s" or "2h05m"; "-" for a negative or non-finite duration.
std::string format_duration(double seconds);

// Bytes of a file, or of every regular file under a directory; 0 for what does not exist.
std::uint64_t disk_usage(const fs::path& path);

}  // namespace hone
