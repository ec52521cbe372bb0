// Random GGML blocks for the dequantisation tests (CPU against gguf-py, CUDA against the CPU).
// The bytes are random, except the f16 scale fields (d, and m or dmin where the block has one),
// which get random finite halves of magnitude 2^-20 to 2^2 (subnormal halves included). With
// finite scales no weight is inf or nan, so float bits compare exactly (a nan's payload would
// depend on the order of a product's operands).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/ggml_types.h"

namespace hone::test {

// The dequantisable block types (everything but the plain F32 / F16 / BF16).
inline const std::vector<GGMLType>& quantised_ggml_types() {
  static const std::vector<GGMLType> types = {GGMLType::kQ4_0, GGMLType::kQ4_1, GGMLType::kQ5_0, GGMLType::kQ5_1,
                                              GGMLType::kQ8_0, GGMLType::kQ2_K, GGMLType::kQ3_K, GGMLType::kQ4_K,
                                              GGMLType::kQ5_K, GGMLType::kQ6_K};
  return types;
}

// Byte offsets of a block's f16 scale fields (ggml-common.h's block structs).
inline std::vector<int> ggml_scale_offsets(GGMLType type) {
  switch (type) {
    case GGMLType::kQ4_1:
    case GGMLType::kQ5_1:
    case GGMLType::kQ4_K:
    case GGMLType::kQ5_K:
      return {0, 2};  // d, m / dmin first
    case GGMLType::kQ2_K:
      return {80, 82};  // d, dmin after scales[16] and qs[64]
    case GGMLType::kQ3_K:
      return {108};  // d last
    case GGMLType::kQ6_K:
      return {208};  // d last
    default:
      return {0};  // Q4_0, Q5_0, Q8_0: d first
  }
}

// `n_blocks` random blocks of `type`.
inline std::vector<std::byte> random_ggml_blocks(GGMLType type, std::int64_t n_blocks, std::uint32_t seed) {
  const std::size_t size = ggml_type_traits(static_cast<std::uint32_t>(type))->type_size;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> log2_magnitude(-20.0f, 2.0f);
  std::vector<std::byte> raw(static_cast<std::size_t>(n_blocks) * size);
  for (auto& b : raw) b = static_cast<std::byte>(byte(rng));
  for (std::int64_t i = 0; i < n_blocks; ++i) {
    for (int offset : ggml_scale_offsets(type)) {
      const float scale = std::exp2(log2_magnitude(rng)) * (byte(rng) < 128 ? -1.0f : 1.0f);
      const std::uint16_t h = float_to_half(scale);
      std::memcpy(raw.data() + static_cast<std::size_t>(i) * size + static_cast<std::size_t>(offset), &h, 2);
    }
  }
  return raw;
}

}  // namespace hone::test
