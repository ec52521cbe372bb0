#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "core/dequant_cuda.h"

namespace hone::cuda {
namespace {

// One thread per weight. Block layouts as in ggml_types.h.
__global__ void dequant_q8_0(const unsigned char* src, float* dst, long long n) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const unsigned char* b = src + (i / 32) * 34;
  const float d = __half2float(*reinterpret_cast<const __half*>(b));
  dst[i] = static_cast<float>(reinterpret_cast<const signed char*>(b + 2)[i % 32]) * d;
}

__global__ void dequant_q4(const unsigned char* src, float* dst, long long n, bool has_min) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const int bytes = has_min ? 20 : 18;
  const unsigned char* b = src + (i / 32) * bytes;
  const float d = __half2float(*reinterpret_cast<const __half*>(b));
  const int j = static_cast<int>(i % 32);
  const unsigned char q = b[(has_min ? 4 : 2) + (j % 16)];
  const int v = j < 16 ? (q & 0x0F) : (q >> 4);
  dst[i] = has_min ? v * d + __half2float(*reinterpret_cast<const __half*>(b + 2)) : (v - 8) * d;
}

__global__ void dequant_f16(const __half* src, float* dst, long long n) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = __half2float(src[i]);
}

__global__ void dequant_bf16(const __nv_bfloat16* src, float* dst, long long n) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = __bfloat162float(src[i]);
}

}  // namespace

bool launch_dequantize(std::uint32_t type, const void* src, float* dst, std::int64_t n, void* stream) {
  constexpr int kThreads = 256;
  const unsigned blocks = static_cast<unsigned>((n + kThreads - 1) / kThreads);
  auto s = static_cast<cudaStream_t>(stream);
  auto* u8 = static_cast<const unsigned char*>(src);
  switch (type) {
    case 1: dequant_f16<<<blocks, kThreads, 0, s>>>(static_cast<const __half*>(src), dst, n); break;
    case 30: dequant_bf16<<<blocks, kThreads, 0, s>>>(static_cast<const __nv_bfloat16*>(src), dst, n); break;
    case 2: dequant_q4<<<blocks, kThreads, 0, s>>>(u8, dst, n, false); break;
    case 3: dequant_q4<<<blocks, kThreads, 0, s>>>(u8, dst, n, true); break;
    case 8: dequant_q8_0<<<blocks, kThreads, 0, s>>>(u8, dst, n); break;
    default: return false;
  }
  return cudaGetLastError() == cudaSuccess;
}

}  // namespace hone::cuda
