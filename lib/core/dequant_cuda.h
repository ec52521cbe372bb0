// CUDA dequantisation of GGML blocks (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K,
// Q5_K, Q6_K) straight into device float32, so that a quantised GGUF is uploaded at its stored size
// and expanded on the GPU. The CPU reference is ggml_dequantize (ggml_types.h); the kernels round
// every product and sum as it does, and the tests hold the two bitwise equal where a GPU exists.
#pragma once

#include <cstdint>

namespace hone::cuda {

// `src` and `dst` are device pointers; `n` weights; runs on `stream` (a cudaStream_t).
// Returns false for a type without a kernel.
bool launch_dequantize(std::uint32_t ggml_type, const void* src, float* dst, std::int64_t n, void* stream);

}  // namespace hone::cuda
