// A run's metrics.jsonl (one JSON object per line: a training step, or an evaluation on the valid
// split; docs/formats.md, "Run directory"), the loss curve drawn from it, and the memory peaks
// each step line records.
#pragma once

#include <c10/core/Device.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <cstdio>
#include <string>

#include "core/fs.h"

namespace hone {

// Appends one line per write and flushes it, so that the file is complete up to the last step
// whenever the process dies.
class Metrics {
 public:
  // Keeps the lines of steps <= `keep_through` (a resumed run), or starts empty (-1).
  Metrics(fs::path path, std::int64_t keep_through);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void write(const nlohmann::json& line);
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  std::FILE* file_ = nullptr;
};

// loss.svg from metrics.jsonl (core/plot.h, loss_curve_svg), written atomically.
void write_loss_curve(const fs::path& metrics, const fs::path& svg, const std::string& title,
                      const std::string& y_label);

// This process's peak resident memory so far, MiB.
double peak_rss_mib();
// The peak of the CUDA caching allocator's allocations on `device`, MiB; 0 on the CPU.
double peak_cuda_mib(c10::Device device);

}  // namespace hone
