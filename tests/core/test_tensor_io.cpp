#include "core/tensor_io.h"

#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/tensor.h>

#include "helpers.h"

namespace hone {
namespace {

using test::TempDir;

TEST(TensorIO, SafetensorsViewBecomesATensorWithoutCopying) {
  TempDir dir;
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};
  const std::vector<std::uint16_t> b = {float_to_bf16(1.5f), float_to_bf16(-2.0f)};
  write_safetensors(dir / "t.safetensors",
                    {{"a", DType::kF32, {2, 3}, a.data(), 24}, {"b", DType::kBF16, {2}, b.data(), 4}});
  at::Tensor ta, tb;
  {
    auto f = SafetensorsFile::open(dir / "t.safetensors");
    ta = to_tensor(f.get("a"), f.mapping());
    tb = to_tensor(f.get("b"), f.mapping());
    EXPECT_EQ(ta.data_ptr(), static_cast<const void*>(f.get("a").data)) << "aligned data is not copied";
  }
  // The tensors keep the mapping alive after the file object is gone.
  EXPECT_EQ(ta.sizes(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(ta[1][2].item<float>(), 6.0f);
  EXPECT_EQ(tb.scalar_type(), at::kBFloat16);
  EXPECT_EQ(tb[1].item<float>(), -2.0f);
  // Writing to the tensor never reaches the file (private copy-on-write mapping).
  ta.mul_(10);
  auto again = SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_EQ(reinterpret_cast<const float*>(again.get("a").data)[5], 6.0f);
}

TEST(TensorIO, GGUFTensorDequantisesToFloat32InTorchOrder) {
  TempDir dir;
  std::vector<float> w(2 * 64);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) / 128.0f - 0.5f;
  GGUFWriter g;
  g.add_tensor_f32("w", GGMLType::kQ8_0, {2, 64}, w.data());
  g.write(dir / "w.gguf");
  auto f = GGUFFile::open(dir / "w.gguf");
  at::Tensor t = to_tensor_f32(f, f.tensor("w"));
  EXPECT_EQ(t.sizes(), (std::vector<std::int64_t>{2, 64}));
  at::Tensor ref = at::tensor(w).view({2, 64});
  EXPECT_TRUE(at::allclose(t, ref, /*rtol=*/0, /*atol=*/0.5 / 127 + 1e-4));
}

// CUDA dequantisation equals the CPU reference, type by type (runs only where a GPU is present).
TEST(TensorIO, CudaDequantisationEqualsCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU";
  TempDir dir;
  std::vector<float> w(4 * 256);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::sin(static_cast<float>(i) * 0.37f) * 0.2f;
  GGUFWriter g;
  for (auto type : {GGMLType::kF32, GGMLType::kF16, GGMLType::kBF16, GGMLType::kQ8_0, GGMLType::kQ4_0, GGMLType::kQ4_1})
    g.add_tensor_f32(std::string(ggml_type_name(type)), type, {4, 256}, w.data());
  g.write(dir / "w.gguf");
  auto f = GGUFFile::open(dir / "w.gguf");
  for (const auto& t : f.tensors()) {
    at::Tensor cpu = to_tensor_f32(f, t);
    at::Tensor gpu = to_tensor_f32(f, t, c10::Device(c10::kCUDA, 0)).cpu();
    EXPECT_TRUE(at::equal(cpu, gpu)) << t.name;
  }
}

}  // namespace
}  // namespace hone
