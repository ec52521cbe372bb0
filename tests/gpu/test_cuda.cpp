// GPU tests (ctest label "gpu"): each skips where no GPU is visible or the build has no CUDA.
// They hold the CUDA path to the CPU path, which the rest of the suite holds to the peers:
//  - the CUDA kernels (RMSNorm and SwiGLU forward and backward) against the CPU composite /
//    reference in float32, bfloat16 and float16;
//  - the GGUF dequantisation kernels against the CPU decoders, bit for bit: on SmolLM2's tensors,
//    and on random blocks of every quantised type;
//  - a LoRA training step on a tiny random Llama (packed rows with per-document attention, and
//    causal rows): loss, every LoRA gradient and the parameters after one AdamW step, CUDA float32
//    against CPU float32, and CUDA bf16 autocast against CPU float32 within bf16 tolerances;
//  - a one-rank NCCL process group: an all-reduce leaves bf16 and float32 buckets and float64
//    scalars as they were, and a LoRA step whose gradients go through it equals the step without.
// scripts/gpu/run.sh builds hone on a GPU machine and runs `ctest -L gpu`.
#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/randn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "core/ggml_blocks.h"
#include "core/gguf.h"
#include "core/tensor_io.h"
#include "helpers.h"
#include "model/decoder.h"
#include "model/fused.h"
#include "model/model_fixtures.h"
#include "batch/batches.h"
#include "train/lora.h"
#include "batch/loss.h"
#include "train/optim.h"
#include "train/dist.h"
#include "train/trainer.h"
#include "train/train_fixtures.h"

namespace hone {
namespace {

#define REQUIRE_GPU() \
  if (!cuda_available()) GTEST_SKIP() << "no GPU visible (or a build without CUDA)"

const c10::Device kGpu(c10::kCUDA, 0);

double rel(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor af = a.to(at::kCPU, at::kDouble), bf = b.to(at::kCPU, at::kDouble);
  return (af - bf).norm().item<double>() / std::max(1e-30, bf.norm().item<double>());
}

double tolerance(c10::ScalarType t) { return t == at::kFloat ? 1e-5 : t == at::kHalf ? 2e-3 : 1.6e-2; }

TEST(CudaKernels, RmsNormMatchesTheCpuComposite) {
  REQUIRE_GPU();
  at::manual_seed(11);
  for (c10::ScalarType t : {at::kFloat, at::kBFloat16, at::kHalf}) {
    for (std::int64_t cols : {64, 576, 2048, 333}) {
      SCOPED_TRACE(::testing::Message() << c10::toString(t) << " cols " << cols);
      ASSERT_TRUE(fused_cuda_kernels(at::randn({1}).to(kGpu, t), at::randn({1}).to(kGpu, t)));
      const at::Tensor x = (at::randn({3, 17, cols}) * 2).to(t), w = (1 + 0.1 * at::randn({cols})).to(t);
      const at::Tensor gy = at::randn({3, 17, cols}).to(t);
      at::Tensor xc = x.to(at::kFloat).requires_grad_(true), wc = w.to(at::kFloat).requires_grad_(true);
      at::Tensor yc = rms_norm_reference(xc, wc, 1e-5);
      yc.backward(gy.to(at::kFloat));
      at::Tensor xg = x.to(kGpu).requires_grad_(true), wg = w.to(kGpu).requires_grad_(true);
      at::Tensor yg = rms_norm(xg, wg, 1e-5);
      EXPECT_EQ(yg.scalar_type(), t);
      yg.backward(gy.to(kGpu));
      EXPECT_LT(rel(yg, yc), tolerance(t));
      EXPECT_LT(rel(xg.grad(), xc.grad()), 2 * tolerance(t));
      EXPECT_LT(rel(wg.grad(), wc.grad()), 2 * tolerance(t));
      // In float32 the kernel and the same composite on the GPU agree to rounding.
      if (t == at::kFloat) {
        EXPECT_LT(rel(yg, rms_norm_reference(x.to(kGpu), w.to(kGpu), 1e-5)), 1e-6);
      }
    }
  }
}

TEST(CudaKernels, SwigluMatchesTheCpuComposite) {
  REQUIRE_GPU();
  at::manual_seed(12);
  for (c10::ScalarType t : {at::kFloat, at::kBFloat16, at::kHalf}) {
    SCOPED_TRACE(c10::toString(t));
    const at::Tensor g = (at::randn({5, 31, 1536}) * 4).to(t), u = at::randn({5, 31, 1536}).to(t);
    const at::Tensor gy = at::randn({5, 31, 1536}).to(t);
    at::Tensor gc = g.to(at::kFloat).requires_grad_(true), uc = u.to(at::kFloat).requires_grad_(true);
    at::Tensor yc = swiglu_reference(gc, uc);
    yc.backward(gy.to(at::kFloat));
    at::Tensor gg = g.to(kGpu).requires_grad_(true), ug = u.to(kGpu).requires_grad_(true);
    at::Tensor yg = swiglu(gg, ug);
    yg.backward(gy.to(kGpu));
    EXPECT_LT(rel(yg, yc), tolerance(t));
    EXPECT_LT(rel(gg.grad(), gc.grad()), 2 * tolerance(t));
    EXPECT_LT(rel(ug.grad(), uc.grad()), 2 * tolerance(t));
  }
}

TEST(CudaKernels, DequantizationMatchesTheCpu) {
  REQUIRE_GPU();
  if (!fs::exists(HONE_MODEL_GGUF)) GTEST_SKIP() << "no " << HONE_MODEL_GGUF;
  const GGUFFile f = GGUFFile::open(HONE_MODEL_GGUF);
  std::set<int> seen;
  for (const GGUFTensorInfo& info : f.tensors()) {
    if (!seen.insert(static_cast<int>(info.type)).second) continue;
    SCOPED_TRACE(info.name);
    const at::Tensor cpu = to_tensor_f32(f, info, c10::kCPU), gpu = to_tensor_f32(f, info, kGpu);
    ASSERT_EQ(gpu.sizes(), cpu.sizes());
    EXPECT_TRUE(gpu.cpu().equal(cpu)) << "max diff " << (gpu.cpu() - cpu).abs().max().item<double>();
  }
  EXPECT_GE(seen.size(), 2u);
}

// Every quantised type's kernel equals the CPU decoder bit for bit on random blocks
// (core/ggml_blocks.h: 512 a type, random bytes with finite f16 scales), stored in a GGUF and read
// through to_tensor_f32 on each device.
TEST(CudaKernels, DequantizationOfRandomBlocksIsBitwiseTheCpu) {
  REQUIRE_GPU();
  test::TempDir dir;
  GGUFWriter g;
  std::map<GGMLType, std::vector<std::byte>> raw;
  for (GGMLType type : test::quantised_ggml_types()) {
    raw[type] = test::random_ggml_blocks(type, 512, 200 + static_cast<std::uint32_t>(type));
    const std::int64_t row = 32 * ggml_type_traits(static_cast<std::uint32_t>(type))->block_size;
    const std::vector<std::byte>& bytes = raw[type];
    g.add_tensor(std::string(ggml_type_name(type)), type, {16, row},
                 [&bytes](std::byte* dst) { std::memcpy(dst, bytes.data(), bytes.size()); });
  }
  g.write(dir / "blocks.gguf");
  const GGUFFile f = GGUFFile::open(dir / "blocks.gguf");
  ASSERT_EQ(f.tensors().size(), raw.size());
  for (const GGUFTensorInfo& info : f.tensors()) {
    SCOPED_TRACE(info.name);
    const at::Tensor cpu = to_tensor_f32(f, info, c10::kCPU), gpu = to_tensor_f32(f, info, kGpu).cpu();
    ASSERT_EQ(gpu.sizes(), cpu.sizes());
    const at::Tensor differ = gpu.view(at::kInt).ne(cpu.view(at::kInt)).flatten();
    const std::int64_t n_differ = differ.sum().item<std::int64_t>();
    EXPECT_EQ(n_differ, 0) << "of " << differ.numel() << " floats; the first at "
                           << (n_differ ? differ.nonzero()[0].item<std::int64_t>() : -1);
  }
}

// One LoRA training step of a tiny random Llama on `device`, optionally in bf16 autocast: the
// loss, the LoRA gradients and the LoRA parameters after one AdamW update.
struct StepResult {
  double loss = 0;
  std::vector<at::Tensor> grads, after;
};

StepResult lora_step(c10::Device device, bool bf16, bool packed, Communicator* comm = nullptr) {
  ModelWeights w = test::random_weights(test::tiny_config("llama"), 21);
  for (auto& [name, t] : w.tensors) t = t.to(device);
  Decoder model(std::move(w));
  model.set_training(true);
  LoraOptions o;
  o.r = 4;
  o.dropout = 0;
  const auto params = attach_lora(model, o, 3);
  {
    at::NoGradGuard g;
    at::manual_seed(5);  // the same values on both devices: drawn on the CPU, then copied
    for (const auto& p : params) p.tensor.copy_(at::randn(p.tensor.sizes()) * 0.05);
  }
  data::TokenSplit s;
  s.input_ids = {5, 9, 13, 2, 7, 11, 3, 8, 1, 4, 6, 10, 12, 14, 15, 16};
  s.loss_mask = {0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1};
  s.example_offsets = {0, 4, 9, 16};
  s.sequence_offsets = packed ? std::vector<std::int64_t>{0, 2, 3} : std::vector<std::int64_t>{0, 1, 2, 3};
  const std::vector<std::int64_t> seqs = packed ? std::vector<std::int64_t>{0, 1} : std::vector<std::int64_t>{0, 1, 2};
  const Batch b = make_batch(s, seqs, device);
  at::Tensor loss;
  {
    AutocastScope autocast(device.type(), bf16 ? at::kBFloat16 : at::kFloat);
    loss = cross_entropy_sum(model, b, /*checkpoint_layers=*/false, 3) / static_cast<double>(b.loss_tokens);
  }
  loss.backward();
  if (comm != nullptr) {
    std::vector<at::Tensor> grads;
    for (const auto& p : params) grads.push_back(p.tensor.grad());
    comm->all_reduce_sum(grads, 4096);  // small buckets: several all-reduces
  }
  StepResult r;
  r.loss = loss.item<double>();
  for (const auto& p : params) r.grads.push_back(p.tensor.grad().cpu().clone());
  AdamW opt(params, AdamWOptions{});
  opt.step(1e-3);
  for (const auto& p : params) r.after.push_back(p.tensor.detach().cpu().clone());
  return r;
}

TEST(CudaParity, LoraStepFloat32MatchesTheCpu) {
  REQUIRE_GPU();
  for (bool packed : {true, false}) {
    SCOPED_TRACE(packed ? "packed rows" : "causal rows");
    const StepResult cpu = lora_step(c10::kCPU, false, packed), gpu = lora_step(kGpu, false, packed);
    EXPECT_NEAR(gpu.loss, cpu.loss, 1e-5 * std::fabs(cpu.loss));
    ASSERT_EQ(gpu.grads.size(), cpu.grads.size());
    for (std::size_t i = 0; i < cpu.grads.size(); ++i) {
      EXPECT_LT(rel(gpu.grads[i], cpu.grads[i]), 1e-4) << "gradient " << i;
      EXPECT_LT(rel(gpu.after[i], cpu.after[i]), 1e-4) << "parameter " << i;
    }
  }
}

TEST(CudaParity, LoraStepBf16AutocastIsWithinBf16ToleranceOfTheCpu) {
  REQUIRE_GPU();
  const StepResult cpu = lora_step(c10::kCPU, false, true), gpu = lora_step(kGpu, true, true);
  EXPECT_NEAR(gpu.loss, cpu.loss, 2e-2 * std::fabs(cpu.loss));
  for (std::size_t i = 0; i < cpu.grads.size(); ++i) {
    EXPECT_LT(rel(gpu.grads[i], cpu.grads[i]), 5e-2) << "gradient " << i;
    EXPECT_LT(rel(gpu.after[i], cpu.after[i]), 3e-2) << "parameter " << i;
  }
}

// A one-rank NCCL group on GPU 0, as torchrun --nproc-per-node 1 starts it.
std::unique_ptr<Communicator> one_rank_nccl() {
  DistEnv e;
  e.launched = true;
  e.master_port = test::free_port();
  return std::make_unique<Communicator>(e, CommOptions{DistBackend::kNccl, kGpu, std::chrono::seconds(120)});
}

TEST(CudaNccl, OneRankGroupAllReduces) {
  REQUIRE_GPU();
  ASSERT_TRUE(nccl_built()) << "a CUDA build without NCCL (no nccl.h in the wheel's nvidia-nccl?)";
  const auto comm = one_rank_nccl();
  ASSERT_EQ(comm->backend(), DistBackend::kNccl);
  at::manual_seed(3);
  at::Tensor a = at::randn({1000}).to(kGpu), b = at::randn({37, 5}).to(kGpu, at::kBFloat16);
  const at::Tensor a0 = a.clone(), b0 = b.clone();
  comm->all_reduce_sum({a, b}, 1024);
  EXPECT_TRUE(a.equal(a0));
  EXPECT_TRUE(b.equal(b0));
  EXPECT_EQ(b.scalar_type(), at::kBFloat16);
  EXPECT_EQ(comm->all_reduce_sum(std::vector<double>{0.25, 7.0}), (std::vector<double>{0.25, 7.0}));
  comm->barrier();
}

TEST(CudaNccl, OneRankStepEqualsTheStepWithoutAGroup) {
  REQUIRE_GPU();
  ASSERT_TRUE(nccl_built());
  const auto comm = one_rank_nccl();
  for (bool bf16 : {false, true}) {
    SCOPED_TRACE(bf16 ? "bf16 autocast" : "float32");
    const StepResult alone = lora_step(kGpu, bf16, true), grouped = lora_step(kGpu, bf16, true, comm.get());
    EXPECT_EQ(grouped.loss, alone.loss);
    for (std::size_t i = 0; i < alone.grads.size(); ++i) {
      EXPECT_TRUE(grouped.grads[i].equal(alone.grads[i])) << "gradient " << i;
      EXPECT_TRUE(grouped.after[i].equal(alone.after[i])) << "parameter " << i;
    }
  }
}

}  // namespace
}  // namespace hone
