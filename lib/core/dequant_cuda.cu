#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "core/dequant_cuda.h"
#include "core/ggml_types.h"

namespace hone::cuda {
namespace {

// One thread per weight. Block layouts as in ggml_types.h, bit order as in ggml_quants.cpp.
// Products and sums are rounded one by one (__fmul_rn, __fadd_rn, __fsub_rn): nvcc would fuse
// `a * b - c` into an FMA, while the CPU path and gguf-py round the product first.

__device__ long long weight_index() { return blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; }

// An f16 stored little-endian at any byte offset.
__device__ float half_at(const unsigned char* p) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(p[0] | (p[1] << 8))));
}

// d * q - offset, with two roundings.
__device__ float scaled_minus(float d, int q, float offset) {
  return __fsub_rn(__fmul_rn(d, static_cast<float>(q)), offset);
}

__global__ void dequant_q8_0(const unsigned char* src, float* dst, long long n) {
  const long long i = weight_index();
  if (i >= n) return;
  const unsigned char* b = src + (i / 32) * 34;
  dst[i] = static_cast<float>(reinterpret_cast<const signed char*>(b + 2)[i % 32]) * half_at(b);
}

// Q4_0 (18 bytes: d, qs[16]) or Q4_1 (20 bytes: d, m, qs[16]).
__global__ void dequant_q4(const unsigned char* src, float* dst, long long n, bool has_min) {
  const long long i = weight_index();
  if (i >= n) return;
  const unsigned char* b = src + (i / 32) * (has_min ? 20 : 18);
  const float d = half_at(b);
  const int j = static_cast<int>(i % 32);
  const unsigned char q = b[(has_min ? 4 : 2) + (j % 16)];
  const int v = j < 16 ? (q & 0x0F) : (q >> 4);
  dst[i] = has_min ? __fadd_rn(__fmul_rn(static_cast<float>(v), d), half_at(b + 2)) : static_cast<float>(v - 8) * d;
}

// Q5_0 (22 bytes: d, qh[4], qs[16]) or Q5_1 (24 bytes: d, m, qh[4], qs[16]).
__global__ void dequant_q5(const unsigned char* src, float* dst, long long n, bool has_min) {
  const long long i = weight_index();
  if (i >= n) return;
  const unsigned char* b = src + (i / 32) * (has_min ? 24 : 22);
  const unsigned char* qh = b + (has_min ? 4 : 2);
  const unsigned char* qs = qh + 4;
  const int j = static_cast<int>(i % 32);
  const int lo = j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4);
  const int q = lo | (((qh[j / 8] >> (j % 8)) & 1) << 4);
  const float d = half_at(b);
  dst[i] = has_min ? __fadd_rn(__fmul_rn(d, static_cast<float>(q)), half_at(b + 2)) : static_cast<float>(q - 16) * d;
}

// Q2_K (84 bytes): scales[16], qs[64], d, dmin.
__global__ void dequant_q2_k(const unsigned char* src, float* dst, long long n) {
  const long long i = weight_index();
  if (i >= n) return;
  const unsigned char* b = src + (i / 256) * 84;
  const int w = static_cast<int>(i % 256);
  const int sc = b[w / 16];
  const float dl = __fmul_rn(half_at(b + 80), static_cast<float>(sc & 0x0F));
  const float ml = __fmul_rn(half_at(b + 82), static_cast<float>(sc >> 4));
  const int q = (b[16 + (w / 128) * 32 + w % 32] >> (2 * ((w % 128) / 32))) & 3;
  dst[i] = scaled_minus(dl, q, ml);
}

// Q3_K (110 bytes): hmask[32], qs[64], scales[12], d.
__global__ void dequant_q3_k(const unsigned char* src, float* dst, long long n) {
  const long long i = weight_index();
  if (i >= n) return;
  const unsigned char* b = src + (i / 256) * 110;
  const int w = static_cast<int>(i % 256), j = w / 16;
  const unsigned char* s = b + 96;
  const int sc = ((j < 8 ? (s[j] & 0x0F) : (s[j - 8] >> 4)) | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
  const float dl = __fmul_rn(half_at(b + 108), static_cast<float>(sc));
  const int lo = (b[32 + (w / 128) * 32 + w % 32] >> (2 * ((w % 128) / 32))) & 3;
  const int high = (b[w % 32] >> (w / 32)) & 1;
  dst[i] = __fmul_rn(dl, static_cast<float>(lo - (high ? 0 : 4)));
}

// Q4_K (144 bytes: d, dmin, scales[12], qs[128]) or Q5_K (176 bytes: d, dmin, scales[12],
// qh[32], qs[128]); the 6-bit scale and min of sub-block j as ggml's get_scale_min_k4.
__global__ void dequant_q45_k(const unsigned char* src, float* dst, long long n, bool has_qh) {
  const long long i = weight_index();
  if (i >= n) return;
  const unsigned char* b = src + (i / 256) * (has_qh ? 176 : 144);
  const int w = static_cast<int>(i % 256), j = w / 32, l = w % 32;
  const unsigned char* s = b + 4;
  const int sc = j < 4 ? (s[j] & 63) : ((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
  const int m = j < 4 ? (s[j + 4] & 63) : ((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  const float d1 = __fmul_rn(half_at(b), static_cast<float>(sc));
  const float m1 = __fmul_rn(half_at(b + 2), static_cast<float>(m));
  int q = (b[(has_qh ? 48 : 16) + (j / 2) * 32 + l] >> (4 * (j % 2))) & 0x0F;
  if (has_qh) q |= ((b[16 + l] >> j) & 1) << 4;
  dst[i] = scaled_minus(d1, q, m1);
}

// Q6_K (210 bytes): ql[128], qh[64], int8 scales[16], d.
__global__ void dequant_q6_k(const unsigned char* src, float* dst, long long n) {
  const long long i = weight_index();
  if (i >= n) return;
  const unsigned char* b = src + (i / 256) * 210;
  const int w = static_cast<int>(i % 256), c = w / 128, o = w % 128;
  const int lo = (b[c * 64 + o % 64] >> (4 * (o / 64))) & 0x0F;
  const int hi = (b[128 + c * 32 + o % 32] >> (2 * (o / 32))) & 3;
  const int sc = reinterpret_cast<const signed char*>(b + 192)[w / 16];
  const float dl = __fmul_rn(half_at(b + 208), static_cast<float>(sc));
  dst[i] = __fmul_rn(dl, static_cast<float>((lo | (hi << 4)) - 32));
}

__global__ void dequant_f16(const __half* src, float* dst, long long n) {
  const long long i = weight_index();
  if (i < n) dst[i] = __half2float(src[i]);
}

__global__ void dequant_bf16(const __nv_bfloat16* src, float* dst, long long n) {
  const long long i = weight_index();
  if (i < n) dst[i] = __bfloat162float(src[i]);
}

}  // namespace

bool launch_dequantize(std::uint32_t type, const void* src, float* dst, std::int64_t n, void* stream) {
  constexpr int kThreads = 256;
  const unsigned blocks = static_cast<unsigned>((n + kThreads - 1) / kThreads);
  auto s = static_cast<cudaStream_t>(stream);
  auto* u8 = static_cast<const unsigned char*>(src);
  switch (static_cast<GGMLType>(type)) {
    case GGMLType::kF16: dequant_f16<<<blocks, kThreads, 0, s>>>(static_cast<const __half*>(src), dst, n); break;
    case GGMLType::kBF16:
      dequant_bf16<<<blocks, kThreads, 0, s>>>(static_cast<const __nv_bfloat16*>(src), dst, n);
      break;
    case GGMLType::kQ4_0: dequant_q4<<<blocks, kThreads, 0, s>>>(u8, dst, n, false); break;
    case GGMLType::kQ4_1: dequant_q4<<<blocks, kThreads, 0, s>>>(u8, dst, n, true); break;
    case GGMLType::kQ5_0: dequant_q5<<<blocks, kThreads, 0, s>>>(u8, dst, n, false); break;
    case GGMLType::kQ5_1: dequant_q5<<<blocks, kThreads, 0, s>>>(u8, dst, n, true); break;
    case GGMLType::kQ8_0: dequant_q8_0<<<blocks, kThreads, 0, s>>>(u8, dst, n); break;
    case GGMLType::kQ2_K: dequant_q2_k<<<blocks, kThreads, 0, s>>>(u8, dst, n); break;
    case GGMLType::kQ3_K: dequant_q3_k<<<blocks, kThreads, 0, s>>>(u8, dst, n); break;
    case GGMLType::kQ4_K: dequant_q45_k<<<blocks, kThreads, 0, s>>>(u8, dst, n, false); break;
    case GGMLType::kQ5_K: dequant_q45_k<<<blocks, kThreads, 0, s>>>(u8, dst, n, true); break;
    case GGMLType::kQ6_K: dequant_q6_k<<<blocks, kThreads, 0, s>>>(u8, dst, n); break;
    default: return false;
  }
  return cudaGetLastError() == cudaSuccess;
}

}  // namespace hone::cuda
