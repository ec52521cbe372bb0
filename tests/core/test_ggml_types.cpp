#include "core/ggml_types.h"

#include <cmath>
#include <random>

#include "core/safetensors.h"
#include "helpers.h"

namespace hone {
namespace {

std::vector<float> random_weights(std::int64_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(rng);
  v[3] = 0.4f;  // an outlier in the first block
  for (int j = 32; j < 64; ++j) v[j] = 0.0f;  // an all-zero block
  return v;
}

TEST(GGMLTypes, TraitsAndNames) {
  EXPECT_EQ(ggml_type_traits(3)->name, "Q4_1");
  EXPECT_EQ(ggml_type_traits(8)->type_size, 34u);
  EXPECT_FALSE(ggml_type_traits(4).has_value());  // removed Q4_2
  EXPECT_EQ(ggml_type_from_name("q8_0"), GGMLType::kQ8_0);
  EXPECT_EQ(ggml_row_bytes(GGMLType::kQ4_0, 64), 36u);
  EXPECT_HONE_ERROR(ggml_row_bytes(GGMLType::kQ4_0, 33), RuntimeError, "not a whole number of Q4_0 blocks");
}

TEST(GGMLTypes, QuantiseDequantiseErrorIsBoundedByTheBlockScale) {
  const std::int64_t n = 4096;
  const auto w = random_weights(n, 1);
  for (auto type : {GGMLType::kF32, GGMLType::kF16, GGMLType::kBF16, GGMLType::kQ8_0, GGMLType::kQ4_0, GGMLType::kQ4_1}) {
    std::vector<std::byte> q(ggml_row_bytes(type, n));
    ggml_quantize(type, w.data(), q.data(), n);
    std::vector<float> back(static_cast<std::size_t>(n));
    ggml_dequantize(type, q.data(), back.data(), n);
    for (std::int64_t b = 0; b < n / 32; ++b) {
      float amax = 0, lo = w[b * 32], hi = w[b * 32];
      for (int j = 0; j < 32; ++j) {
        amax = std::max(amax, std::fabs(w[b * 32 + j]));
        lo = std::min(lo, w[b * 32 + j]);
        hi = std::max(hi, w[b * 32 + j]);
      }
      float tol = 0;
      switch (type) {
        case GGMLType::kF16: tol = amax * 1e-3f; break;
        case GGMLType::kBF16: tol = amax * 8e-3f; break;
        case GGMLType::kQ8_0: tol = amax / 127 * 0.51f + amax * 1e-3f; break;
        case GGMLType::kQ4_0: tol = amax / 8 * 1.01f + amax * 4e-3f; break;
        case GGMLType::kQ4_1: tol = (hi - lo) / 15 * 0.51f + amax * 2e-3f; break;
        default: break;
      }
      for (int j = 0; j < 32; ++j)
        ASSERT_LE(std::fabs(back[b * 32 + j] - w[b * 32 + j]), tol)
            << ggml_type_name(type) << " block " << b << " weight " << j;
    }
  }
}

TEST(GGMLTypes, UnsupportedTypesAreClearErrors) {
  std::vector<std::byte> buf(256);
  std::vector<float> out(256);
  EXPECT_HONE_ERROR(ggml_dequantize(GGMLType::kQ4_K, buf.data(), out.data(), 256), InputError,
                    "cannot dequantise GGML type Q4_K (hone reads F32, F16, BF16, Q8_0, Q4_0, Q4_1)");
  EXPECT_HONE_ERROR(ggml_quantize(GGMLType::kQ6_K, out.data(), buf.data(), 256), UsageError,
                    "cannot quantise to GGML type Q6_K");
}

// hone's quantisers produce the same bytes as gguf-py's (which mirror ggml's reference code).
TEST(GGMLTypesPeer, QuantisationIsByteIdenticalToGgufPy) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv";
  test::TempDir dir;
  const std::int64_t n = 32 * 64;
  const auto w = random_weights(n, 7);
  write_safetensors(dir / "in.safetensors", {{"w", DType::kF32, {64, 32}, w.data(), w.size() * 4}});
  for (auto type : {GGMLType::kQ8_0, GGMLType::kQ4_0, GGMLType::kQ4_1, GGMLType::kF16, GGMLType::kBF16}) {
    const std::string name(ggml_type_name(type));
    auto r = test::run_python("gguf_peer.py", {"quantize", (dir / "in.safetensors").string(),
                                               (dir / (name + ".safetensors")).string(), name});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto f = SafetensorsFile::open(dir / (name + ".safetensors"));
    const auto& ref = f.get("w");
    std::vector<std::byte> q(ggml_row_bytes(type, n));
    ggml_quantize(type, w.data(), q.data(), n);
    ASSERT_EQ(ref.nbytes, q.size()) << name;
    std::size_t differing = 0;
    for (std::size_t i = 0; i < q.size(); ++i) differing += ref.data[i] != q[i];
    EXPECT_EQ(differing, 0u) << name << ": bytes differ from gguf-py's";
  }
}

}  // namespace
}  // namespace hone
