#include "core/ggml_quants.h"

#include <cstring>

#include "core/dtype.h"

// Every product and sum below is one float32 rounding, in gguf-py's order: f16 scales are
// converted to float32 first, a sub-block's scale (d * sc) and offset (dmin * m) are products of
// their own, and a weight is scale * q - offset. numpy never fuses a multiply-add, so neither may
// this file: each step is its own statement, and the build compiles ISO C++ (-std=c++17, no
// -ffp-contract=fast), so that no compiler turns them into FMAs.

namespace hone::quants {
namespace {

constexpr int kQK = 32;    // weights per block of Q5_0 / Q5_1 (QK5_0, QK5_1)
constexpr int kQKK = 256;  // weights per k-quant super-block (QK_K)

float load_half(const std::byte* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return half_to_float(v);
}

const std::uint8_t* u8(const std::byte* p) {
  return reinterpret_cast<const std::uint8_t*>(p);
}

// The 5th bits of a Q5_0 / Q5_1 block: bit j of a little-endian u32 for weight j.
std::uint32_t load_qh(const std::byte* p) {
  const std::uint8_t* b = u8(p);
  return static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
         static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
}

// The 5-bit code of weight j (0..31) of a Q5_0 / Q5_1 block: low nibble from qs (byte j holds
// weights j and j + 16), fifth bit from qh.
int q5_code(const std::uint8_t* qs, std::uint32_t qh, int j) {
  const int lo = j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4);
  return lo | static_cast<int>(((qh >> j) & 1u) << 4);
}

// get_scale_min_k4: scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block, 6 bits
// each in 12 bytes: bytes 0-3 hold the scales of 0-3 (and the top 2 bits of 4-7's scales),
// bytes 4-7 the mins of 0-3 (and the top 2 bits of 4-7's mins), bytes 8-11 the low 4 bits of
// 4-7's scale (low nibble) and min (high nibble).
void scale_min_k4(int j, const std::uint8_t* q, int& sc, int& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Scale of sub-block j (0..15) of a Q3_K super-block: 6 bits stored with a +32 bias in 12 bytes,
// the low 4 bits in the nibbles of bytes 0-7 (j < 8: low nibble of byte j, else high nibble of
// byte j - 8), the high 2 bits in bytes 8-11 (bits 2*(j/4) of byte 8 + j%4).
int q3_k_scale(const std::uint8_t* s, int j) {
  const int lo = j < 8 ? (s[j] & 0x0F) : (s[j - 8] >> 4);
  const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}

}  // namespace

// block_q5_0 (22 bytes): f16 d, u8 qh[4], u8 qs[16]; w = (q - 16) * d.
void dequantize_q5_0(const std::byte* src, float* dst, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQK; ++b, src += 22, dst += kQK) {
    const float d = load_half(src);
    const std::uint32_t qh = load_qh(src + 2);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(q5_code(u8(src + 6), qh, j) - 16) * d;
  }
}

// block_q5_1 (24 bytes): f16 d, f16 m, u8 qh[4], u8 qs[16]; w = q * d + m.
void dequantize_q5_1(const std::byte* src, float* dst, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQK; ++b, src += 24, dst += kQK) {
    const float d = load_half(src);
    const float m = load_half(src + 2);
    const std::uint32_t qh = load_qh(src + 4);
    for (int j = 0; j < kQK; ++j) {
      const float scaled = d * static_cast<float>(q5_code(u8(src + 8), qh, j));
      dst[j] = scaled + m;
    }
  }
}

// block_q2_K (84 bytes): u8 scales[16] (4-bit scale low, 4-bit min high, per 16 weights),
// u8 qs[64] (2-bit codes), f16 d, f16 dmin; w = d * sc * q - dmin * m.
// Each 32-byte half of qs holds 128 weights: bits 2s..2s+1 of byte l are weight 32s + l.
void dequantize_q2_k(const std::byte* src, float* dst, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQKK; ++b, src += 84, dst += kQKK) {
    const std::uint8_t* scales = u8(src);
    const std::uint8_t* qs = u8(src + 16);
    const float d = load_half(src + 80);
    const float dmin = load_half(src + 82);
    for (int w = 0; w < kQKK; ++w) {
      const int sc = scales[w / 16];
      const float dl = d * static_cast<float>(sc & 0x0F);
      const float ml = dmin * static_cast<float>(sc >> 4);
      const int q = (qs[(w / 128) * 32 + w % 32] >> (2 * ((w % 128) / 32))) & 3;
      const float scaled = dl * static_cast<float>(q);
      dst[w] = scaled - ml;
    }
  }
}

// block_q3_K (110 bytes): u8 hmask[32] (high bits), u8 qs[64] (low 2 bits, laid out as Q2_K's),
// u8 scales[12] (16 scales of 6 bits), f16 d; w = d * (sc - 32) * (q - 4 * !hbit), where bit
// w / 32 of hmask[w % 32] is weight w's high bit (set means no -4 offset).
void dequantize_q3_k(const std::byte* src, float* dst, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQKK; ++b, src += 110, dst += kQKK) {
    const std::uint8_t* hmask = u8(src);
    const std::uint8_t* qs = u8(src + 32);
    const std::uint8_t* scales = u8(src + 96);
    const float d = load_half(src + 108);
    for (int w = 0; w < kQKK; ++w) {
      const float dl = d * static_cast<float>(q3_k_scale(scales, w / 16));
      const int lo = (qs[(w / 128) * 32 + w % 32] >> (2 * ((w % 128) / 32))) & 3;
      const int high = (hmask[w % 32] >> (w / 32)) & 1;
      dst[w] = dl * static_cast<float>(lo - (high ? 0 : 4));
    }
  }
}

namespace {

// block_q4_K (144 bytes): f16 d, f16 dmin, u8 scales[12] (8 scales and 8 mins of 6 bits, see
// scale_min_k4), u8 qs[128]; w = d * sc * q - dmin * m per 32 weights. Each 32 bytes of qs hold
// 64 weights: the low nibbles the first 32, the high nibbles the next 32.
// block_q5_K (176 bytes): the same with u8 qh[32] between scales and qs; bit j of qh[l] is the
// fifth bit of weight 32 j + l.
void dequantize_q45_k(const std::byte* src, float* dst, std::int64_t n, bool five_bits) {
  const std::size_t block_bytes = five_bits ? 176 : 144;
  for (std::int64_t b = 0; b < n / kQKK; ++b, src += block_bytes, dst += kQKK) {
    const float d = load_half(src);
    const float dmin = load_half(src + 2);
    const std::uint8_t* scales = u8(src + 4);
    const std::uint8_t* qh = five_bits ? u8(src + 16) : nullptr;
    const std::uint8_t* qs = u8(src + (five_bits ? 48 : 16));
    for (int j = 0; j < 8; ++j) {  // sub-block of 32 weights
      int sc = 0, m = 0;
      scale_min_k4(j, scales, sc, m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(m);
      const std::uint8_t* q = qs + (j / 2) * 32;
      const int shift = 4 * (j % 2);
      for (int l = 0; l < 32; ++l) {
        const int code = ((q[l] >> shift) & 0x0F) | (qh != nullptr ? ((qh[l] >> j) & 1) << 4 : 0);
        const float scaled = d1 * static_cast<float>(code);  // rounded before the subtraction, as gguf-py
        dst[j * 32 + l] = scaled - m1;
      }
    }
  }
}

}  // namespace

void dequantize_q4_k(const std::byte* src, float* dst, std::int64_t n) { dequantize_q45_k(src, dst, n, false); }
void dequantize_q5_k(const std::byte* src, float* dst, std::int64_t n) { dequantize_q45_k(src, dst, n, true); }

// block_q6_K (210 bytes): u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits), i8 scales[16] (per
// 16 weights), f16 d; w = d * sc * (q - 32). Per 128 weights (64 bytes of ql, 32 of qh): weight
// o takes the nibble (o / 64) of ql[o % 64] and bits 2 (o / 32) of qh[o % 32].
void dequantize_q6_k(const std::byte* src, float* dst, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQKK; ++b, src += 210, dst += kQKK) {
    const std::uint8_t* ql = u8(src);
    const std::uint8_t* qh = u8(src + 128);
    const auto* scales = reinterpret_cast<const std::int8_t*>(src + 192);
    const float d = load_half(src + 208);
    for (int w = 0; w < kQKK; ++w) {
      const int c = w / 128, o = w % 128;
      const int lo = (ql[c * 64 + o % 64] >> (4 * (o / 64))) & 0x0F;
      const int hi = (qh[c * 32 + o % 32] >> (2 * (o / 32))) & 3;
      const float dl = d * static_cast<float>(scales[w / 16]);
      dst[w] = dl * static_cast<float>((lo | (hi << 4)) - 32);
    }
  }
}

}  // namespace hone::quants
