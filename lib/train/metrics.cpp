#include "train/metrics.h"

#include <sys/resource.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/plot.h"

#ifdef HONE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace hone {

using nlohmann::json;

Metrics::Metrics(fs::path path, std::int64_t keep_through) : path_(std::move(path)) {
  std::string kept;
  if (keep_through >= 0 && fs::exists(path_)) {
    std::ifstream in(path_);
    std::string line;
    while (std::getline(in, line)) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer() ||
          j["step"].get<std::int64_t>() > keep_through)
        continue;
      kept += line + "\n";
    }
  }
  write_file_atomic(path_, kept);
  file_ = std::fopen(path_.c_str(), "a");
  HONE_CHECK(file_ != nullptr, RuntimeError, "{}: cannot open for appending", path_.string());
}

Metrics::~Metrics() {
  if (file_) std::fclose(file_);
}

void Metrics::write(const json& line) {
  const std::string text = line.dump() + "\n";
  HONE_CHECK(std::fwrite(text.data(), 1, text.size(), file_) == text.size() && std::fflush(file_) == 0,
             RuntimeError, "{}: write failed: {}", path_.string(), write_error(errno));
}

void write_loss_curve(const fs::path& metrics, const fs::path& svg, const std::string& title,
                      const std::string& y_label) {
  write_file_atomic(svg, loss_curve_svg(metrics, title, y_label));
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

double peak_cuda_mib(c10::Device device) {
#ifdef HONE_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0);
  }
#endif
  (void)device;
  return 0.0;
}

}  // namespace hone
