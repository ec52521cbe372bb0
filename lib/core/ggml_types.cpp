#include "core/ggml_types.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/error.h"
#include "core/ggml_quants.h"

namespace hone {
namespace {

struct Entry {
  GGMLType type;
  GGMLTypeTraits traits;
};
// Every type of ggml.h with its block size and bytes per block (gguf-py's GGML_QUANT_SIZES), so
// that a file holding a type hone cannot dequantise still opens, and the error names the type.
constexpr std::array<Entry, 32> kTypes = {{
    {GGMLType::kF32, {"F32", 1, 4, true}},          {GGMLType::kF16, {"F16", 1, 2, true}},
    {GGMLType::kQ4_0, {"Q4_0", 32, 18, true}},      {GGMLType::kQ4_1, {"Q4_1", 32, 20, true}},
    {GGMLType::kQ5_0, {"Q5_0", 32, 22, true}},      {GGMLType::kQ5_1, {"Q5_1", 32, 24, true}},
    {GGMLType::kQ8_0, {"Q8_0", 32, 34, true}},      {GGMLType::kQ8_1, {"Q8_1", 32, 36, false}},
    {GGMLType::kQ2_K, {"Q2_K", 256, 84, true}},     {GGMLType::kQ3_K, {"Q3_K", 256, 110, true}},
    {GGMLType::kQ4_K, {"Q4_K", 256, 144, true}},    {GGMLType::kQ5_K, {"Q5_K", 256, 176, true}},
    {GGMLType::kQ6_K, {"Q6_K", 256, 210, true}},    {GGMLType::kQ8_K, {"Q8_K", 256, 292, false}},
    {GGMLType::kIQ2_XXS, {"IQ2_XXS", 256, 66, false}}, {GGMLType::kIQ2_XS, {"IQ2_XS", 256, 74, false}},
    {GGMLType::kIQ3_XXS, {"IQ3_XXS", 256, 98, false}}, {GGMLType::kIQ1_S, {"IQ1_S", 256, 50, false}},
    {GGMLType::kIQ4_NL, {"IQ4_NL", 32, 18, false}}, {GGMLType::kIQ3_S, {"IQ3_S", 256, 110, false}},
    {GGMLType::kIQ2_S, {"IQ2_S", 256, 82, false}},  {GGMLType::kIQ4_XS, {"IQ4_XS", 256, 136, false}},
    {GGMLType::kI8, {"I8", 1, 1, false}},           {GGMLType::kI16, {"I16", 1, 2, false}},
    {GGMLType::kI32, {"I32", 1, 4, false}},         {GGMLType::kI64, {"I64", 1, 8, false}},
    {GGMLType::kF64, {"F64", 1, 8, false}},         {GGMLType::kIQ1_M, {"IQ1_M", 256, 56, false}},
    {GGMLType::kBF16, {"BF16", 1, 2, true}},        {GGMLType::kTQ1_0, {"TQ1_0", 256, 54, false}},
    {GGMLType::kTQ2_0, {"TQ2_0", 256, 66, false}},  {GGMLType::kMXFP4, {"MXFP4", 32, 17, false}},
}};

constexpr const char* kDequantizable = "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K";

std::uint16_t load_u16(const std::byte* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void store_u16(std::byte* p, std::uint16_t v) { std::memcpy(p, &v, 2); }

}  // namespace

std::optional<GGMLTypeTraits> ggml_type_traits(std::uint32_t type) {
  for (const auto& e : kTypes)
    if (static_cast<std::uint32_t>(e.type) == type) return e.traits;
  return std::nullopt;
}

std::string_view ggml_type_name(GGMLType t) {
  auto tr = ggml_type_traits(static_cast<std::uint32_t>(t));
  return tr ? tr->name : std::string_view("?");
}

std::optional<GGMLType> ggml_type_from_name(std::string_view name) {
  for (const auto& e : kTypes) {
    if (e.traits.name.size() != name.size()) continue;
    bool eq = true;
    for (std::size_t i = 0; i < name.size(); ++i)
      eq = eq && std::toupper(static_cast<unsigned char>(name[i])) == e.traits.name[i];
    if (eq) return e.type;
  }
  return std::nullopt;
}

std::size_t ggml_row_bytes(GGMLType type, std::int64_t n) {
  auto tr = ggml_type_traits(static_cast<std::uint32_t>(type));
  HONE_CHECK(tr.has_value(), RuntimeError, "unknown GGML type {}", static_cast<std::uint32_t>(type));
  HONE_CHECK(n % tr->block_size == 0, RuntimeError, "{} weights are not a whole number of {} blocks of {}", n,
             tr->name, tr->block_size);
  return static_cast<std::size_t>(n / tr->block_size) * tr->type_size;
}

// ---------------------------------------------------------------------------- dequantisation

void ggml_dequantize(GGMLType type, const std::byte* src, float* dst, std::int64_t n) {
  switch (type) {
    case GGMLType::kF32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * 4);
      return;
    case GGMLType::kF16:
      for (std::int64_t i = 0; i < n; ++i) dst[i] = half_to_float(load_u16(src + 2 * i));
      return;
    case GGMLType::kBF16:
      for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_to_float(load_u16(src + 2 * i));
      return;
    case GGMLType::kQ8_0:
      for (std::int64_t b = 0; b < n / 32; ++b, src += 34, dst += 32) {
        const float d = half_to_float(load_u16(src));
        const auto* q = reinterpret_cast<const std::int8_t*>(src + 2);
        for (int j = 0; j < 32; ++j) dst[j] = static_cast<float>(q[j]) * d;
      }
      return;
    case GGMLType::kQ4_0:
      for (std::int64_t b = 0; b < n / 32; ++b, src += 18, dst += 32) {
        const float d = half_to_float(load_u16(src));
        const auto* q = reinterpret_cast<const std::uint8_t*>(src + 2);
        for (int j = 0; j < 16; ++j) {
          dst[j] = static_cast<float>((q[j] & 0x0F) - 8) * d;
          dst[j + 16] = static_cast<float>((q[j] >> 4) - 8) * d;
        }
      }
      return;
    case GGMLType::kQ4_1:
      for (std::int64_t b = 0; b < n / 32; ++b, src += 20, dst += 32) {
        const float d = half_to_float(load_u16(src));
        const float m = half_to_float(load_u16(src + 2));
        const auto* q = reinterpret_cast<const std::uint8_t*>(src + 4);
        for (int j = 0; j < 16; ++j) {
          dst[j] = static_cast<float>(q[j] & 0x0F) * d + m;
          dst[j + 16] = static_cast<float>(q[j] >> 4) * d + m;
        }
      }
      return;
    case GGMLType::kQ5_0: quants::dequantize_q5_0(src, dst, n); return;
    case GGMLType::kQ5_1: quants::dequantize_q5_1(src, dst, n); return;
    case GGMLType::kQ2_K: quants::dequantize_q2_k(src, dst, n); return;
    case GGMLType::kQ3_K: quants::dequantize_q3_k(src, dst, n); return;
    case GGMLType::kQ4_K: quants::dequantize_q4_k(src, dst, n); return;
    case GGMLType::kQ5_K: quants::dequantize_q5_k(src, dst, n); return;
    case GGMLType::kQ6_K: quants::dequantize_q6_k(src, dst, n); return;
    default:
      HONE_THROW(InputError, Hint{"convert or requantise the model with llama.cpp to one of the types listed"},
                 "cannot dequantise GGML type {} (hone reads {})", ggml_type_name(type), kDequantizable);
  }
}

// ---------------------------------------------------------------------------- quantisation

void ggml_quantize(GGMLType type, const float* src, std::byte* dst, std::int64_t n) {
  switch (type) {
    case GGMLType::kF32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * 4);
      return;
    case GGMLType::kF16:
      for (std::int64_t i = 0; i < n; ++i) store_u16(dst + 2 * i, float_to_half(src[i]));
      return;
    case GGMLType::kBF16:
      for (std::int64_t i = 0; i < n; ++i) store_u16(dst + 2 * i, float_to_bf16(src[i]));
      return;
    case GGMLType::kQ8_0:  // quantize_row_q8_0_ref
      for (std::int64_t b = 0; b < n / 32; ++b, src += 32, dst += 34) {
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(src[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_u16(dst, float_to_half(d));
        auto* q = reinterpret_cast<std::int8_t*>(dst + 2);
        for (int j = 0; j < 32; ++j) q[j] = static_cast<std::int8_t>(std::roundf(src[j] * id));
      }
      return;
    case GGMLType::kQ4_0:  // quantize_row_q4_0_ref
      for (std::int64_t b = 0; b < n / 32; ++b, src += 32, dst += 18) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; ++j)
          if (std::fabs(src[j]) > amax) {
            amax = std::fabs(src[j]);
            max = src[j];
          }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_u16(dst, float_to_half(d));
        auto* q = reinterpret_cast<std::uint8_t*>(dst + 2);
        for (int j = 0; j < 16; ++j) {
          const auto x0 = std::min<std::uint8_t>(15, static_cast<std::int8_t>(src[j] * id + 8.5f));
          const auto x1 = std::min<std::uint8_t>(15, static_cast<std::int8_t>(src[j + 16] * id + 8.5f));
          q[j] = static_cast<std::uint8_t>(x0 | (x1 << 4));
        }
      }
      return;
    case GGMLType::kQ4_1:  // quantize_row_q4_1_ref
      for (std::int64_t b = 0; b < n / 32; ++b, src += 32, dst += 20) {
        float min = src[0], max = src[0];
        for (int j = 1; j < 32; ++j) {
          min = std::min(min, src[j]);
          max = std::max(max, src[j]);
        }
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_u16(dst, float_to_half(d));
        store_u16(dst + 2, float_to_half(min));
        auto* q = reinterpret_cast<std::uint8_t*>(dst + 4);
        for (int j = 0; j < 16; ++j) {
          const auto x0 = std::min<std::uint8_t>(15, static_cast<std::int8_t>((src[j] - min) * id + 0.5f));
          const auto x1 = std::min<std::uint8_t>(15, static_cast<std::int8_t>((src[j + 16] - min) * id + 0.5f));
          q[j] = static_cast<std::uint8_t>(x0 | (x1 << 4));
        }
      }
      return;
    default:
      HONE_THROW(UsageError, "cannot quantise to GGML type {} (hone writes F32, F16, BF16, Q8_0, Q4_0, Q4_1)",
                 ggml_type_name(type));
  }
}

}  // namespace hone
