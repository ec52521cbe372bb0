#pragma once
// Where bf16 is worth computing in.

#include <c10/core/Device.h>

#include <string>

namespace hone {

// Whether bf16 matrix multiplies on `device` take a native path: always on CUDA; on the CPU where
// PyTorch's oneDNN has bf16 kernels for it (AVX512 or AMX; the test is PyTorch's own,
// mkldnn::_is_mkldnn_bf16_supported). Elsewhere (AVX2-only CPUs) ATen multiplies bf16 with a
// reference loop: 6x (a forward linear) to 50x (a training step) slower than float32.
bool native_bf16(c10::Device device);

// "native" or "emulated", with the CPU's vector extension: for --version and warnings.
std::string cpu_bf16_description();

}  // namespace hone
