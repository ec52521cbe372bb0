// GGML tensor types as GGUF stores them, and block (de)quantisation for the ones hone reads/writes.
//
// Block layouts follow ggml's reference C code (ggml/src/ggml-quants.c, ggml-common.h):
//   Q4_0: 32 weights = f16 d,           16 bytes of nibbles; w = (q - 8) * d
//   Q4_1: 32 weights = f16 d, f16 m,    16 bytes of nibbles; w = q * d + m
//   Q8_0: 32 weights = f16 d,           32 int8;             w = q * d
// Byte j of a nibble block holds weight j in its low and weight j+16 in its high nibble.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hone {

enum class GGMLType : std::uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15,
  kI8 = 24, kI16 = 25, kI32 = 26, kI64 = 27, kF64 = 28, kBF16 = 30,
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
