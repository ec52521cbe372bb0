#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "model/fused_cuda.h"

namespace hone::cuda {
namespace {

// float <-> element, rounding to nearest even as ATen does.
template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float to_f<__half>(__half v) { return __half2float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
// The value rounded to T and back: where the reference rounds an intermediate result.
template <typename T> __device__ __forceinline__ float round_to(float v) { return to_f<T>(from_f<T>(v)); }

constexpr int kRowThreads = 256;

// Sum over the block (blockDim.x == kRowThreads); every thread gets the total.
__device__ float block_sum(float v) {
  __shared__ float warp_sums[kRowThreads / 32];
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  float total = 0;
  for (int i = 0; i < kRowThreads / 32; ++i) total += warp_sums[i];
  __syncthreads();  // warp_sums may be reused by the next call
  return total;
}

// One block per row.
template <typename T>
__global__ void rms_norm_forward(const T* x, const T* w, T* y, float* rstd, long long cols, float eps) {
  const long long row = blockIdx.x;
  const T* xr = x + row * cols;
  T* yr = y + row * cols;
  float ss = 0;
  for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
    const float v = to_f(xr[j]);
    ss += v * v;
  }
  const float r = rsqrtf(block_sum(ss) / static_cast<float>(cols) + eps);
  if (threadIdx.x == 0) rstd[row] = r;
  for (long long j = threadIdx.x; j < cols; j += blockDim.x)
    yr[j] = from_f<T>(to_f(w[j]) * round_to<T>(to_f(xr[j]) * r));
}

// The reference's chain: y = w * cast(h), h = x * r. d h = float(cast(grad_y * w));
// grad_x = r * (dh - h * mean(dh * h)).
template <typename T>
__global__ void rms_norm_backward(const T* grad_y, const T* x, const T* w, const float* rstd, T* grad_x,
                                  long long cols) {
  const long long row = blockIdx.x;
  const T* gr = grad_y + row * cols;
  const T* xr = x + row * cols;
  T* dr = grad_x + row * cols;
  const float r = rstd[row];
  float dot = 0;
  for (long long j = threadIdx.x; j < cols; j += blockDim.x)
    dot += round_to<T>(to_f(gr[j]) * to_f(w[j])) * (to_f(xr[j]) * r);
  const float mean_dot = block_sum(dot) / static_cast<float>(cols);
  for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
    const float h = to_f(xr[j]) * r;
    const float dh = round_to<T>(to_f(gr[j]) * to_f(w[j]));
    dr[j] = from_f<T>(r * (dh - h * mean_dot));
  }
}

__device__ __forceinline__ float sigmoid(float g) { return 1.0f / (1.0f + __expf(-g)); }

template <typename T>
__global__ void swiglu_forward(const T* g, const T* u, T* y, long long n) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float gv = to_f(g[i]);
  y[i] = from_f<T>(round_to<T>(gv * sigmoid(gv)) * to_f(u[i]));
}

// grad_u = grad_y * silu(g); grad_g = (grad_y * u) * s * (1 + g * (1 - s)), s = sigmoid(g).
template <typename T>
__global__ void swiglu_backward(const T* grad_y, const T* g, const T* u, T* grad_g, T* grad_u, long long n) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float gv = to_f(g[i]), dy = to_f(grad_y[i]);
  const float s = sigmoid(gv);
  grad_u[i] = from_f<T>(dy * round_to<T>(gv * s));
  grad_g[i] = from_f<T>(round_to<T>(dy * to_f(u[i])) * s * (1.0f + gv * (1.0f - s)));
}

template <typename F>
bool dispatch(Elem elem, F&& f) {
  switch (elem) {
    case Elem::kF32: f(float{}); break;
    case Elem::kBF16: f(__nv_bfloat16{}); break;
    case Elem::kF16: f(__half{}); break;
    default: return false;
  }
  return cudaGetLastError() == cudaSuccess;
}

unsigned elementwise_blocks(long long n) { return static_cast<unsigned>((n + 255) / 256); }

}  // namespace

bool launch_rms_norm_forward(Elem elem, const void* x, const void* w, void* y, float* rstd, std::int64_t rows,
                             std::int64_t cols, float eps, void* stream) {
  if (rows == 0) return true;
  auto s = static_cast<cudaStream_t>(stream);
  return dispatch(elem, [&](auto t) {
    using T = decltype(t);
    rms_norm_forward<T><<<static_cast<unsigned>(rows), kRowThreads, 0, s>>>(
        static_cast<const T*>(x), static_cast<const T*>(w), static_cast<T*>(y), rstd, cols, eps);
  });
}

bool launch_rms_norm_backward(Elem elem, const void* grad_y, const void* x, const void* w, const float* rstd,
                              void* grad_x, std::int64_t rows, std::int64_t cols, void* stream) {
  if (rows == 0) return true;
  auto s = static_cast<cudaStream_t>(stream);
  return dispatch(elem, [&](auto t) {
    using T = decltype(t);
    rms_norm_backward<T><<<static_cast<unsigned>(rows), kRowThreads, 0, s>>>(
        static_cast<const T*>(grad_y), static_cast<const T*>(x), static_cast<const T*>(w), rstd,
        static_cast<T*>(grad_x), cols);
  });
}

bool launch_swiglu_forward(Elem elem, const void* g, const void* u, void* y, std::int64_t n, void* stream) {
  if (n == 0) return true;
  auto s = static_cast<cudaStream_t>(stream);
  return dispatch(elem, [&](auto t) {
    using T = decltype(t);
    swiglu_forward<T><<<elementwise_blocks(n), 256, 0, s>>>(static_cast<const T*>(g), static_cast<const T*>(u),
                                                            static_cast<T*>(y), n);
  });
}

bool launch_swiglu_backward(Elem elem, const void* grad_y, const void* g, const void* u, void* grad_g, void* grad_u,
                            std::int64_t n, void* stream) {
  if (n == 0) return true;
  auto s = static_cast<cudaStream_t>(stream);
  return dispatch(elem, [&](auto t) {
    using T = decltype(t);
    swiglu_backward<T><<<elementwise_blocks(n), 256, 0, s>>>(
        static_cast<const T*>(grad_y), static_cast<const T*>(g), static_cast<const T*>(u), static_cast<T*>(grad_g),
        static_cast<T*>(grad_u), n);
  });
}

}  // namespace hone::cuda
