// Block decoders for the 5-bit and k-quant GGML types (internal to ggml_types.cpp). Each turns `n`
// weights (a whole number of blocks) at `src` into float32 at `dst`, as ggml's dequantize_row_*
// reference code (ggml/src/ggml-quants.c) does, with gguf-py's float32 operations in the same
// order (gguf/quants.py), so that the result is bitwise gguf-py's. Block layouts: ggml_types.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hone::quants {

void dequantize_q5_0(const std::byte* src, float* dst, std::int64_t n);
void dequantize_q5_1(const std::byte* src, float* dst, std::int64_t n);
void dequantize_q2_k(const std::byte* src, float* dst, std::int64_t n);
void dequantize_q3_k(const std::byte* src, float* dst, std::int64_t n);
void dequantize_q4_k(const std::byte* src, float* dst, std::int64_t n);
void dequantize_q5_k(const std::byte* src, float* dst, std::int64_t n);
void dequantize_q6_k(const std::byte* src, float* dst, std::int64_t n);

}  // namespace hone::quants
