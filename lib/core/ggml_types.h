// GGML tensor types as GGUF stores them, and block (de)quantisation for the ones hone reads/writes.
//
// Block layouts (bytes per block) follow ggml's block structs (ggml/src/ggml-common.h) and its
// reference C code (ggml/src/ggml-quants.c); d, m, dmin are f16 unless noted, q the stored code:
//   Q4_0 (18):  32 weights = d, qs[16] nibbles;                      w = (q - 8) * d
//   Q4_1 (20):  32 weights = d, m, qs[16] nibbles;                   w = q * d + m
//   Q5_0 (22):  32 weights = d, qh[4] fifth bits, qs[16] nibbles;    w = (q - 16) * d
//   Q5_1 (24):  32 weights = d, m, qh[4], qs[16];                    w = q * d + m
//   Q8_0 (34):  32 weights = d, int8 qs[32];                         w = q * d
// Byte j of a 32-weight nibble block holds weight j in its low and weight j+16 in its high nibble;
// bit j of qh (a little-endian u32) is weight j's fifth bit. The k-quants are super-blocks of 256
// weights in sub-blocks of 16 or 32, each with its own scale (and min) quantised against d (dmin):
//   Q2_K (84):  scales[16] (4-bit scale | 4-bit min << 4), qs[64] 2-bit, d, dmin;
//               w = d * sc * q - dmin * m
//   Q3_K (110): hmask[32] high bits, qs[64] low 2 bits, scales[12] (16 x 6 bits, +32 bias), d;
//               w = d * (sc - 32) * (q - 4 if the high bit is clear)
//   Q4_K (144): d, dmin, scales[12] (8 scales, 8 mins of 6 bits), qs[128] nibbles;
//               w = d * sc * q - dmin * m per 32 weights
//   Q5_K (176): d, dmin, scales[12] (as Q4_K), qh[32] fifth bits, qs[128]; w as Q4_K
//   Q6_K (210): ql[128] low nibbles, qh[64] high 2 bits, int8 scales[16], d; w = d * sc * (q - 32)
// The bit-level order of each is spelled out beside its decoder in ggml_quants.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hone {

enum class GGMLType : std::uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15,
  kIQ2_XXS = 16, kIQ2_XS = 17, kIQ3_XXS = 18, kIQ1_S = 19, kIQ4_NL = 20, kIQ3_S = 21, kIQ2_S = 22, kIQ4_XS = 23,
  kI8 = 24, kI16 = 25, kI32 = 26, kI64 = 27, kF64 = 28, kIQ1_M = 29, kBF16 = 30,
  kTQ1_0 = 34, kTQ2_0 = 35, kMXFP4 = 39,
};

struct GGMLTypeTraits {
  std::string_view name;
  std::int64_t block_size;   // weights per block
  std::size_t type_size;     // bytes per block
  bool dequantizable;        // hone can turn it into float32
};

// Traits of a known type; nullopt for a type id hone does not know.
std::optional<GGMLTypeTraits> ggml_type_traits(std::uint32_t type);
std::string_view ggml_type_name(GGMLType t);
std::optional<GGMLType> ggml_type_from_name(std::string_view name);  // "q8_0", "F16", ...

// Bytes needed for `n` weights of `type`; `n` must be a multiple of the block size.
std::size_t ggml_row_bytes(GGMLType type, std::int64_t n);

// Turns `n` weights of `type` at `src` into float32 at `dst`. Throws for a type that is not
// dequantizable (the message lists the supported ones).
void ggml_dequantize(GGMLType type, const std::byte* src, float* dst, std::int64_t n);

// Encodes `n` float32 weights as `type` (F32, F16, BF16, Q8_0, Q4_0, Q4_1), exactly as ggml's
// reference quantisers do; `dst` holds ggml_row_bytes(type, n) bytes.
void ggml_quantize(GGMLType type, const float* src, std::byte* dst, std::int64_t n);

}  // namespace hone
