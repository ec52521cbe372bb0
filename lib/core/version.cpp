#include "core/version.h"

#include <torch/version.h>

#include <fmt/format.h>

#include "core/tensor_io.h"

#ifdef HONE_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace hone {

std::string version_string() {
#ifdef HONE_WITH_CUDA
  const std::string cuda = fmt::format("CUDA build, {} GPU{} visible", c10::cuda::device_count(),
                                       c10::cuda::device_count() == 1 ? "" : "s");
#else
  const std::string cuda = "CPU-only build";
#endif
  return fmt::format("hone {} (LibTorch {}, {})", HONE_VERSION, TORCH_VERSION, cuda);
}

}  // namespace hone
