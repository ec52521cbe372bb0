#include "core/ggml_types.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "core/ggml_blocks.h"
#include "core/gguf.h"
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
  EXPECT_EQ(ggml_type_traits(12)->type_size, 144u);
  EXPECT_TRUE(ggml_type_traits(14)->dequantizable);  // Q6_K
  EXPECT_EQ(ggml_type_traits(20)->name, "IQ4_NL");   // known, so a file holding it opens
  EXPECT_FALSE(ggml_type_traits(20)->dequantizable);
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
  EXPECT_HONE_ERROR(ggml_dequantize(GGMLType::kQ8_K, buf.data(), out.data(), 256), InputError,
                    "cannot dequantise GGML type Q8_K (hone reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
                    "Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
  EXPECT_HONE_ERROR(ggml_dequantize(GGMLType::kIQ4_NL, buf.data(), out.data(), 32), InputError,
                    "cannot dequantise GGML type IQ4_NL");
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

// ---------------------------------------------------------------------------- dequantisation peers

// "" when `n` floats are bitwise equal, else how many differ and where the first one is.
std::string bitwise_difference(const float* mine, const float* theirs, std::size_t n) {
  if (std::memcmp(mine, theirs, n * sizeof(float)) == 0) return "";
  std::size_t differing = 0, first = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (std::memcmp(mine + i, theirs + i, sizeof(float)) != 0 && differing++ == 0) first = i;
  return fmt::format("{} of {} floats differ from gguf-py's, the first at {} (hone {}, gguf-py {})", differing, n,
                     first, mine[first], theirs[first]);
}

// hone's dequantisation of random blocks (ggml_blocks.h) of every quantised type is gguf-py's,
// bit for bit: 512 blocks a type (16384 weights of the 32-weight types, 131072 of the k-quants).
TEST(GGMLTypesPeer, DequantisationOfRandomBlocksIsBitwiseGgufPy) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv";
  test::TempDir dir;
  constexpr std::int64_t kBlocks = 512;
  std::map<GGMLType, std::vector<std::byte>> raw;
  std::vector<TensorWrite> writes;
  for (GGMLType type : test::quantised_ggml_types()) {
    raw[type] = test::random_ggml_blocks(type, kBlocks, 100 + static_cast<std::uint32_t>(type));
    const auto n = static_cast<std::int64_t>(raw[type].size());
    writes.push_back({std::string(ggml_type_name(type)), DType::kU8, {n}, raw[type].data(), raw[type].size()});
  }
  write_safetensors(dir / "blocks.safetensors", writes);
  auto r = test::run_python("gguf_peer.py",
                            {"dequant-raw", (dir / "blocks.safetensors").string(), (dir / "ref.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ref = SafetensorsFile::open(dir / "ref.safetensors");
  for (const auto& [type, bytes] : raw) {
    const std::string name(ggml_type_name(type));
    const std::int64_t n = kBlocks * ggml_type_traits(static_cast<std::uint32_t>(type))->block_size;
    const TensorView& theirs = ref.get(name);
    ASSERT_EQ(theirs.numel(), n) << name;
    std::vector<float> mine(static_cast<std::size_t>(n));
    ggml_dequantize(type, bytes.data(), mine.data(), n);
    EXPECT_EQ(bitwise_difference(mine.data(), reinterpret_cast<const float*>(theirs.data), mine.size()), "") << name;
  }
}

// Every tensor of `gguf` dequantised by hone (GGUFFile) and by gguf-py (gguf_peer.py dequant),
// compared bit for bit. A tensor of a type hone cannot dequantise must instead be an InputError
// naming the file, the tensor and the type. Returns the tensors compared, per type.
std::map<GGMLType, int> expect_bitwise_gguf_py(const fs::path& gguf, const test::TempDir& dir) {
  std::map<GGMLType, int> checked;
  const fs::path ref_path = dir / (gguf.stem().string() + ".f32.safetensors");
  auto r = test::run_python("gguf_peer.py", {"dequant", gguf.string(), ref_path.string()});
  if (r.exit_code != 0) {
    ADD_FAILURE() << gguf << ": gguf_peer.py dequant failed: " << r.err;
    return checked;
  }
  const auto g = GGUFFile::open(gguf);
  const auto ref = SafetensorsFile::open(ref_path);
  EXPECT_EQ(ref.tensors().size(), g.tensors().size()) << gguf;
  std::vector<float> mine;
  for (const GGUFTensorInfo& t : g.tensors()) {
    const std::string what = fmt::format("{}: {} ({})", gguf.filename().string(), t.name, ggml_type_name(t.type));
    if (!ggml_type_traits(static_cast<std::uint32_t>(t.type))->dequantizable) {
      mine.resize(static_cast<std::size_t>(t.numel()));
      EXPECT_HONE_ERROR(g.dequantize(t, mine.data()), InputError,
                        fmt::format("{}: tensor '{}': cannot dequantise GGML type {} (hone reads", gguf.string(),
                                    t.name, ggml_type_name(t.type)));
      continue;
    }
    const TensorView& theirs = ref.get(t.name);
    EXPECT_EQ(theirs.shape, t.shape()) << what;
    if (theirs.numel() != t.numel()) continue;
    mine.resize(static_cast<std::size_t>(t.numel()));
    g.dequantize(t, mine.data());
    EXPECT_EQ(bitwise_difference(mine.data(), reinterpret_cast<const float*>(theirs.data), mine.size()), "") << what;
    checked[t.type]++;
  }
  fs::remove(ref_path);
  return checked;
}

// Gemma 3 270M Q4_K_M as published (Q4_K, Q6_K, Q5_0, Q8_0 and F32 tensors written by llama.cpp),
// every tensor, the 262144 x 640 Q8_0 embedding included (gguf-py writes ~1 GB of float32).
TEST(GGMLTypesPeer, Gemma3Q4KMDequantisationIsBitwiseGgufPy) {
  if (!test::have_python() || !fs::exists(HONE_GEMMA_GGUF)) GTEST_SKIP() << "no virtualenv or " << HONE_GEMMA_GGUF;
  test::TempDir dir;
  auto checked = expect_bitwise_gguf_py(HONE_GEMMA_GGUF, dir);
  for (GGMLType type : {GGMLType::kQ4_K, GGMLType::kQ6_K, GGMLType::kQ5_0, GGMLType::kQ8_0, GGMLType::kF32})
    EXPECT_GT(checked[type], 0) << ggml_type_name(type);
}

// SmolLM2 requantised by llama.cpp's own quantiser (quantize_peer.py, llama_model_quantize):
// every tensor of each file is gguf-py's, bit for bit. SmolLM2's 576-wide rows are not a whole
// number of 256-weight super-blocks, so llama.cpp gives them its fallback types; the files hold
//   Q2_K:      Q3_K (ffn_down), Q4_0, Q8_0, F32
//   Q2_K-pure: Q2_K (ffn_down), Q4_0, F32  (--pure: no type mix, so Q2_K itself is used)
//   Q4_K_M:    Q4_K, Q6_K, Q5_0, Q8_0, F32
//   Q5_K_M:    Q5_K, Q6_K, Q5_1, Q8_0, F32
// which covers every k-quant, Q5_0 and Q5_1 in real llama.cpp output (Q3_K_M and Q6_K files add
// no type these lack). With the random blocks above, every dequantisable type is held to gguf-py.
TEST(GGMLTypesPeer, LlamaCppQuantisedFilesDequantiseBitwiseAsGgufPy) {
  if (!test::have_python() || !test::have_model()) GTEST_SKIP() << "no virtualenv or model (run scripts/setup.sh)";
  test::TempDir dir;
  const std::vector<std::string> ftypes = {"Q2_K", "Q2_K-pure", "Q4_K_M", "Q5_K_M"};
  std::vector<std::string> args = {"quantize", test::model_path(), dir.path().string()};
  args.insert(args.end(), ftypes.begin(), ftypes.end());
  auto r = test::run_python("quantize_peer.py", args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<GGMLType, int> checked;
  for (const std::string& ftype : ftypes) {
    SCOPED_TRACE(ftype);
    for (const auto& [type, count] : expect_bitwise_gguf_py(dir / (ftype + ".gguf"), dir)) checked[type] += count;
    fs::remove(dir / (ftype + ".gguf"));
  }
  for (GGMLType type : {GGMLType::kQ2_K, GGMLType::kQ3_K, GGMLType::kQ4_K, GGMLType::kQ5_K, GGMLType::kQ6_K,
                        GGMLType::kQ5_0, GGMLType::kQ5_1, GGMLType::kQ4_0, GGMLType::kQ8_0})
    EXPECT_GT(checked[type], 0) << ggml_type_name(type) << " not in any of llama.cpp's files";
}

}  // namespace
}  // namespace hone
