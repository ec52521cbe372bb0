// Unit tests of the training pieces: the fused linear cross-entropy, AdamW and the schedules,
// batches from a token store, LoRA initialisation and packed-document equivalence.
#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cross_entropy_loss.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/full.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/compute.h"
#include "core/device.h"
#include "core/error.h"
#include "helpers.h"
#include "model/adapter.h"
#include "model/config.h"
#include "model/decoder.h"
#include "model/loader.h"
#include "model/model_fixtures.h"
#include "batch/batches.h"
#include "train/lora.h"
#include "batch/loss.h"
#include "train/optim.h"
#include "train/trainer.h"

namespace hone {
namespace {

using nlohmann::json;
using test::TempDir;

double rel(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).norm().item<double>() / std::max(1e-30, b.norm().item<double>());
}

TEST(TrainLoss, FusedLinearCrossEntropyEqualsFullLogits) {
  at::manual_seed(0);
  for (std::int64_t chunk : {1, 7, 1000}) {
    at::Tensor h = at::randn({23, 16}, at::kDouble).to(at::kFloat).requires_grad_(true);
    at::Tensor w = at::randn({50, 16}).requires_grad_(true);
    at::Tensor t = at::randint(0, 50, {23}, at::kLong);
    at::Tensor loss = linear_cross_entropy(h, w, t, chunk);
    loss.backward();
    at::Tensor h2 = h.detach().clone().requires_grad_(true), w2 = w.detach().clone().requires_grad_(true);
    at::Tensor ref = at::cross_entropy_loss(at::matmul(h2, w2.t()), t, {}, at::Reduction::Sum);
    ref.backward();
    EXPECT_NEAR(loss.item<double>(), ref.item<double>(), 1e-4 * std::fabs(ref.item<double>())) << chunk;
    EXPECT_LT(rel(h.grad(), h2.grad()), 1e-5) << chunk;
    EXPECT_LT(rel(w.grad(), w2.grad()), 1e-5) << chunk;
  }
  // A frozen head: no gradient for it, the hidden gradient still right.
  at::Tensor h = at::randn({5, 8}).requires_grad_(true), w = at::randn({11, 8});
  at::Tensor t = at::randint(0, 11, {5}, at::kLong);
  (linear_cross_entropy(h, w, t, 2) * 0.5).backward();
  at::Tensor h2 = h.detach().clone().requires_grad_(true);
  (at::cross_entropy_loss(at::matmul(h2, w.t()), t, {}, at::Reduction::Sum) * 0.5).backward();
  EXPECT_LT(rel(h.grad(), h2.grad()), 1e-5);
  EXPECT_FALSE(w.grad().defined());
  EXPECT_HONE_ERROR(linear_cross_entropy(h, at::randn({11, 9}), t), UsageError, "do not fit");
}

// Under bf16 autocast the head's products run in bf16, as autocast runs a linear layer (HF's
// logits under autocast): the loss equals cross-entropy of the float32 cast of bf16 logits, and
// stays within bf16 tolerance of the float32 loss. Off autocast nothing changes.
TEST(TrainLoss, FusedLinearCrossEntropyUnderBf16AutocastIsAutocastsLinear) {
  at::manual_seed(2);
  const at::Tensor h0 = at::randn({37, 64}), w0 = at::randn({300, 64}) * 0.3;
  const at::Tensor t = at::randint(0, 300, {37}, at::kLong);
  at::Tensor h = h0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
  {
    AutocastScope autocast(c10::DeviceType::CPU, at::kBFloat16);
    linear_cross_entropy(h, w, t, 16).backward();
  }
  // Reference: bf16 operands, float32 cross-entropy, autograd for the gradients.
  at::Tensor hb = h0.to(at::kBFloat16).requires_grad_(true), wb = w0.to(at::kBFloat16).requires_grad_(true);
  at::Tensor ref = at::cross_entropy_loss(at::matmul(hb, wb.t()).to(at::kFloat), t, {}, at::Reduction::Sum);
  ref.backward();
  at::Tensor h32 = h0.clone().requires_grad_(true), w32 = w0.clone().requires_grad_(true);
  at::Tensor f32 = at::cross_entropy_loss(at::matmul(h32, w32.t()), t, {}, at::Reduction::Sum);
  f32.backward();
  at::Tensor loss;
  {
    AutocastScope autocast(c10::DeviceType::CPU, at::kBFloat16);
    loss = linear_cross_entropy(h0, w0, t, 16);
  }
  EXPECT_NEAR(loss.item<double>(), ref.item<double>(), 1e-5 * std::fabs(ref.item<double>()));
  EXPECT_GT(std::fabs(loss.item<double>() - f32.item<double>()), 1e-6 * std::fabs(f32.item<double>()))
      << "bf16 was not used";
  EXPECT_NEAR(loss.item<double>(), f32.item<double>(), 1e-2 * std::fabs(f32.item<double>()));
  EXPECT_EQ(h.grad().scalar_type(), at::kFloat);
  EXPECT_EQ(w.grad().scalar_type(), at::kFloat);
  EXPECT_LT(rel(h.grad(), hb.grad().to(at::kFloat)), 2e-2);
  EXPECT_LT(rel(w.grad(), wb.grad().to(at::kFloat)), 2e-2);
  EXPECT_LT(rel(h.grad(), h32.grad()), 3e-2);
  EXPECT_LT(rel(w.grad(), w32.grad()), 3e-2);
  // Autocast off again: float32.
  EXPECT_NEAR(linear_cross_entropy(h0, w0, t, 16).item<double>(), f32.item<double>(), 1e-5 * std::fabs(f32.item<double>()));
}

TEST(TrainOptim, FusedAdamWEqualsTheFormula) {
  at::manual_seed(1);
  at::Tensor p = at::randn({6, 4}).requires_grad_(true), q = at::randn({4}).requires_grad_(true);
  at::Tensor p_ref = p.detach().clone().to(at::kDouble), q_ref = q.detach().clone().to(at::kDouble);
  AdamWOptions o;
  o.weight_decay = 0.1;
  AdamW opt({{"p", p, true}, {"q", q, false}}, o);
  at::Tensor m_p = at::zeros_like(p_ref), v_p = at::zeros_like(p_ref), m_q = at::zeros_like(q_ref),
             v_q = at::zeros_like(q_ref);
  const double lr = 1e-2;
  for (int step = 1; step <= 3; ++step) {
    at::Tensor gp = at::randn({6, 4}), gq = at::randn({4});
    p.mutable_grad() = gp.clone();
    q.mutable_grad() = gq.clone();
    opt.step(lr);
    auto ref = [&](at::Tensor& x, at::Tensor& m, at::Tensor& v, const at::Tensor& g, double wd) {
      at::Tensor gd = g.to(at::kDouble);
      x = x * (1 - lr * wd);
      m = m * o.beta1 + gd * (1 - o.beta1);
      v = v * o.beta2 + gd * gd * (1 - o.beta2);
      const double bc1 = 1 - std::pow(o.beta1, step), bc2 = 1 - std::pow(o.beta2, step);
      x = x - lr / bc1 * m / ((v / bc2).sqrt() + o.eps);
    };
    ref(p_ref, m_p, v_p, gp, 0.1);
    ref(q_ref, m_q, v_q, gq, 0.0);  // no decay on this one (a norm / bias)
    EXPECT_LT((p.detach().to(at::kDouble) - p_ref).abs().max().item<double>(), 1e-6) << step;
    EXPECT_LT((q.detach().to(at::kDouble) - q_ref).abs().max().item<double>(), 1e-6) << step;
  }
  EXPECT_EQ(opt.steps(), 3);
}

// --dtype: auto keeps the CPU in float32; fast takes bf16 exactly where it is native (CUDA,
// and a CPU where PyTorch's own test, torch.ops.mkldnn._is_mkldnn_bf16_supported, says so: on an
// AVX2-only CPU bf16 matrix multiplies fall back to a reference loop, several times slower).
TEST(TrainPrecision, FastIsBf16WhereNative) {
  const c10::Device cpu(c10::kCPU), cuda(c10::kCUDA, 0);  // no GPU needed: only the device's type is read
  EXPECT_EQ(resolve_dtype(ComputeDtype::kAuto, cpu), at::kFloat);
  EXPECT_EQ(resolve_dtype(ComputeDtype::kAuto, cuda), at::kBFloat16);
  EXPECT_EQ(resolve_dtype(ComputeDtype::kBF16, cpu), at::kBFloat16);
  EXPECT_EQ(resolve_dtype(ComputeDtype::kF32, cuda), at::kFloat);
  EXPECT_EQ(resolve_dtype(ComputeDtype::kFast, cuda), at::kBFloat16);
  EXPECT_EQ(resolve_dtype(ComputeDtype::kFast, cpu) == at::kBFloat16, native_bf16(cpu));
  EXPECT_EQ(resolve_dtype(ComputeDtype::kF16, cuda), at::kHalf);
  EXPECT_HONE_ERROR(resolve_dtype(ComputeDtype::kF16, cpu), UsageError, "--dtype f16 computes only on CUDA");
  EXPECT_HONE_ERROR(resolve_device("tpu", 0), UsageError, "--device must be cpu, cuda or cuda:N, got 'tpu'");
  // Without a GPU, cuda is the local rank's index as given; with GPUs, LocalGpu.* tests the mapping.
  if (cuda_device_count() == 0) {
    EXPECT_EQ(resolve_device("cuda", 3), c10::Device(c10::kCUDA, 3));
  }
  for (const char* name : {"auto", "fast", "f32", "bf16", "f16"})
    EXPECT_EQ(to_string(*compute_dtype_from_string(name)), name);
  EXPECT_FALSE(compute_dtype_from_string("fp32").has_value());
  if (!test::have_python()) GTEST_SKIP() << "needs the virtualenv for PyTorch's answer";
  const auto r = test::run_python("train_peer.py", {"bf16-native"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["native"].get<bool>(), native_bf16(cpu)) << cpu_bf16_description();
}

TEST(TrainOptim, ClippingAndSchedules) {
  at::Tensor p = at::zeros({2}).requires_grad_(true);
  AdamW opt({{"p", p, true}}, {});
  p.mutable_grad() = at::tensor({3.0f, 4.0f});
  EXPECT_NEAR(opt.clip_grad_norm(1.0), 5.0, 1e-9);
  EXPECT_NEAR(p.grad().norm().item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(opt.clip_grad_norm(0.0), 1.0, 1e-5);  // 0: measure only

  // transformers' get_cosine_schedule_with_warmup(warmup=10, total=110) and linear.
  EXPECT_DOUBLE_EQ(scheduled_lr(Schedule::kCosine, 0, 110, 10, 1.0), 0.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(Schedule::kCosine, 5, 110, 10, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(scheduled_lr(Schedule::kCosine, 10, 110, 10, 1.0), 1.0);
  EXPECT_NEAR(scheduled_lr(Schedule::kCosine, 60, 110, 10, 1.0), 0.5, 1e-12);
  EXPECT_NEAR(scheduled_lr(Schedule::kCosine, 110, 110, 10, 1.0, 0.1), 0.1, 1e-12);
  EXPECT_NEAR(scheduled_lr(Schedule::kLinear, 35, 110, 10, 2.0), 1.5, 1e-12);
  EXPECT_DOUBLE_EQ(scheduled_lr(Schedule::kConstant, 100, 110, 10, 3.0), 3.0);
  EXPECT_HONE_ERROR(parse_schedule("step"), UsageError, "cosine, linear or constant");
}

data::TokenSplit two_rows() {
  // Row 0 packs examples [10 11 12] and [20 21]; row 1 holds [30 31 32 33]. Loss mask on the
  // answers, and (deliberately) on the first token of example 2, which nothing predicts.
  data::TokenSplit s;
  s.input_ids = {10, 11, 12, 20, 21, 30, 31, 32, 33};
  s.loss_mask = {0, 1, 1, 1, 1, 0, 0, 1, 1};
  s.example_offsets = {0, 3, 5, 9};
  s.sequence_offsets = {0, 2, 3};
  return s;
}

TEST(TrainBatches, PositionsDocumentsAndTargets) {
  const data::TokenSplit s = two_rows();
  const Batch b = make_batch(s, {0, 1}, c10::kCPU);
  ASSERT_EQ(b.input_ids.sizes().vec(), (std::vector<std::int64_t>{2, 5}));
  auto row = [](const at::Tensor& t, int r) {
    at::Tensor c = t[r].contiguous();
    return std::vector<std::int64_t>(c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel());
  };
  EXPECT_EQ(row(b.input_ids, 0), (std::vector<std::int64_t>{10, 11, 12, 20, 21}));
  EXPECT_EQ(row(b.input_ids, 1), (std::vector<std::int64_t>{30, 31, 32, 33, 0}));
  EXPECT_EQ(row(b.position_ids, 0), (std::vector<std::int64_t>{0, 1, 2, 0, 1}));
  EXPECT_EQ(row(b.document_ids, 0), (std::vector<std::int64_t>{0, 0, 0, 1, 1}));
  EXPECT_EQ(row(b.document_ids, 1), (std::vector<std::int64_t>{0, 0, 0, 0, -1}));
  // Targets: 11 (from position 0), 12 (1), 21 (3; 20 starts its example), 32 (6), 33 (7).
  auto flat = [](const at::Tensor& t) {
    return std::vector<std::int64_t>(t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + t.numel());
  };
  EXPECT_EQ(flat(b.target_index), (std::vector<std::int64_t>{0, 1, 3, 6, 7}));
  EXPECT_EQ(flat(b.targets), (std::vector<std::int64_t>{11, 12, 21, 32, 33}));
  EXPECT_EQ(b.loss_tokens, 5);
  EXPECT_EQ(b.tokens, 9);
  EXPECT_EQ(count_loss_tokens(s, {0, 1}), 5);
  EXPECT_FALSE(make_batch(s, {1}, c10::kCPU).document_ids.defined());  // one example per row: causal only

  const auto order = epoch_order(100, 3, 0);
  EXPECT_EQ(order, epoch_order(100, 3, 0));
  EXPECT_NE(order, epoch_order(100, 3, 1));
  EXPECT_NE(order, epoch_order(100, 4, 0));
  std::vector<std::int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 100; ++i) ASSERT_EQ(sorted[i], i);
}

TEST(TrainLora, PeftInitialisationAndNames) {
  Decoder model(test::random_weights(test::tiny_config("llama"), 1));
  LoraOptions o;
  o.r = 4;
  o.alpha = 8;
  o.targets = parse_lora_targets("q,v,down");
  EXPECT_EQ(o.targets, (std::vector<std::string>{"q_proj", "v_proj", "down_proj"}));
  const auto params = attach_lora(model, o, 5);
  ASSERT_EQ(params.size(), 3u * 2u * model.layers().size());
  EXPECT_EQ(params[0].name, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(params[1].name, "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight");
  const double bound = 1.0 / std::sqrt(static_cast<double>(model.config().hidden_size));
  EXPECT_LE(params[0].tensor.abs().max().item<double>(), bound);
  EXPECT_GT(params[0].tensor.abs().max().item<double>(), 0.8 * bound);
  EXPECT_EQ(params[1].tensor.abs().max().item<double>(), 0.0);
  EXPECT_TRUE(params[0].tensor.requires_grad());
  EXPECT_DOUBLE_EQ(model.layers()[0].q_proj.lora_scale, 2.0);
  EXPECT_FALSE(model.layers()[0].k_proj.lora_a.defined());
  // Seeded: the same factors again.
  Decoder again(test::random_weights(test::tiny_config("llama"), 1));
  EXPECT_TRUE(attach_lora(again, o, 5)[0].tensor.equal(params[0].tensor));
  EXPECT_TRUE(parse_lora_targets("all-linear").empty());  // every module of the model
  EXPECT_EQ(lora_target_modules(again, {}).size(), 7u);
  EXPECT_HONE_ERROR(parse_lora_targets("q,attn"), UsageError, "unknown module 'attn_proj'");
  EXPECT_HONE_ERROR(lora_target_modules(again, parse_lora_targets("qkv,o")), UsageError,
                    "'qkv_proj', which a llama model does not have");
}

// phi3 adapts its fused projections under PEFT's names; q/k/v name no module of it.
TEST(TrainLora, FusedProjectionsOfPhi3) {
  Decoder model(test::random_weights(test::tiny_config("phi3"), 1));
  EXPECT_EQ(lora_target_modules(model, {}),
            (std::vector<std::string>{"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}));
  LoraOptions o;
  o.r = 4;
  const auto params = attach_lora(model, o, 5);
  ASSERT_EQ(params.size(), 4u * 2u * model.layers().size());
  EXPECT_EQ(params[0].name, "base_model.model.model.layers.0.self_attn.qkv_proj.lora_A.weight");
  const ModelConfig& c = model.config();
  EXPECT_EQ(params[1].tensor.size(0), (c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim);
  EXPECT_EQ(params[4].name, "base_model.model.model.layers.0.mlp.gate_up_proj.lora_A.weight");
  o.targets = parse_lora_targets("q,v");
  EXPECT_HONE_ERROR(attach_lora(model, o, 5), UsageError,
                    "'q_proj', which a phi3 model does not have");
}

// --lora-layers: factors on the listed layers only (PEFT's layers_to_transform in the adapter
// config); the layers below the lowest run without autograd, which changes no gradient.
TEST(TrainLora, LayersToTransform) {
  EXPECT_EQ(parse_lora_layers("3-4,0,2,3"), (std::vector<std::int64_t>{0, 2, 3, 4}));
  EXPECT_TRUE(parse_lora_layers("all").empty());
  EXPECT_HONE_ERROR(parse_lora_layers("1,x"), UsageError, "'x' is not a layer index");
  EXPECT_HONE_ERROR(parse_lora_layers("4-2"), UsageError, "the range 4-2 runs backwards");
  EXPECT_HONE_ERROR(parse_lora_layers("-1"), UsageError, "is not a layer index");

  ModelConfig cfg = test::tiny_config("llama");
  cfg.num_hidden_layers = 3;
  LoraOptions o;
  o.r = 4;
  o.dropout = 0;
  o.layers = {5};
  Decoder bad(test::random_weights(cfg, 4));
  EXPECT_HONE_ERROR(attach_lora(bad, o, 1), UsageError, "--lora-layers names layer 5, but the model has layers 0 to 2");

  // Reference: factors on every layer, B of layer 0 zero (so layer 0's factors change nothing
  // in the forward pass); then the same model with factors on layers 1 and 2 only.
  Decoder all(test::random_weights(cfg, 4)), top(test::random_weights(cfg, 4));
  o.layers = {};
  const auto p_all = attach_lora(all, o, 2);
  o.layers = {1, 2};
  const auto p_top = attach_lora(top, o, 2);
  ASSERT_EQ(p_top.size(), 2u * 2u * 7u);
  EXPECT_EQ(p_top[0].name, "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight");
  EXPECT_FALSE(top.layers()[0].q_proj.lora_a.defined());
  EXPECT_FALSE(layer_requires_grad(top.layers()[0]));
  EXPECT_TRUE(layer_requires_grad(top.layers()[1]));
  {
    at::NoGradGuard g;
    at::manual_seed(7);
    for (std::size_t i = 0; i < p_top.size(); ++i) {
      p_top[i].tensor.normal_(0, 0.05);
      p_all[i + 14].tensor.copy_(p_top[i].tensor);  // layer 0 holds the first 14 of p_all
    }
  }
  data::TokenSplit s;
  s.input_ids = {5, 9, 13, 2, 7, 11, 3, 8, 1};
  s.loss_mask = {0, 1, 1, 1, 0, 0, 1, 1, 1};
  s.example_offsets = {0, 4, 9};
  s.sequence_offsets = {0, 2};
  for (const bool checkpoint : {false, true}) {
    for (const auto* ps : {&p_all, &p_top})
      for (const auto& p : *ps) p.tensor.mutable_grad() = at::Tensor();
    at::Tensor l_all = cross_entropy_sum(all, make_batch(s, {0}, c10::kCPU), checkpoint, 3);
    at::Tensor l_top = cross_entropy_sum(top, make_batch(s, {0}, c10::kCPU), checkpoint, 3);
    l_all.backward();
    l_top.backward();
    EXPECT_NEAR(l_top.item<double>(), l_all.item<double>(), 1e-6 * std::fabs(l_all.item<double>()));
    for (std::size_t i = 0; i < p_top.size(); ++i)
      EXPECT_LT(rel(p_top[i].tensor.grad(), p_all[i + 14].tensor.grad()), 1e-6) << p_top[i].name << " " << checkpoint;
  }

  // The adapter records the layers as PEFT does.
  TempDir dir;
  write_peft_adapter(dir / "a", o, p_top, "base");
  const json j = json::parse(test::read_bytes(dir / "a" / "adapter_config.json"));
  EXPECT_EQ(j["layers_to_transform"], json::array({1, 2}));
  const LoraAdapter back = read_lora_adapter(dir / "a", cfg, "base");
  EXPECT_EQ(back.config.layers_to_transform, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(back.factors.size(), 14u);
}

// --base-dtype bf16: the same LoRA step on a bf16 copy of the base, under bf16 autocast, is within
// bf16 tolerance of float32 (the factors are float32 in both), and its gradients are on average no
// more than twice as far from float32's as those of the float32 base under the same autocast.
TEST(TrainLora, Bf16BaseIsWithinBf16ToleranceOfFloat32) {
  const ModelWeights w = test::random_weights(test::tiny_config("llama"), 6);
  ModelWeights wb = w;
  for (auto& [name, t] : wb.tensors) t = t.to(at::kBFloat16);
  Decoder f32(w), b16(wb);
  LoraOptions o;
  o.r = 4;
  o.dropout = 0;
  const auto p32 = attach_lora(f32, o, 8), p16 = attach_lora(b16, o, 8);
  {
    at::NoGradGuard g;
    at::manual_seed(1);
    for (std::size_t i = 0; i < p32.size(); ++i) {
      p32[i].tensor.normal_(0, 0.05);
      p16[i].tensor.copy_(p32[i].tensor);
    }
  }
  EXPECT_EQ(b16.layers()[0].q_proj.weight.scalar_type(), at::kBFloat16);
  EXPECT_EQ(p16[0].tensor.scalar_type(), at::kFloat);
  data::TokenSplit s;
  s.input_ids = {5, 9, 13, 2, 7, 11, 3, 8, 1};
  s.loss_mask = {0, 1, 1, 1, 0, 0, 1, 1, 1};
  s.example_offsets = {0, 4, 9};
  s.sequence_offsets = {0, 2};
  double loss32 = 0, loss16 = 0;
  {
    AutocastScope autocast(c10::kCPU, at::kBFloat16);
    at::Tensor l32 = cross_entropy_sum(f32, make_batch(s, {0}, c10::kCPU), false, 3);
    at::Tensor l16 = cross_entropy_sum(b16, make_batch(s, {0}, c10::kCPU), false, 3);
    l32.backward();
    l16.backward();
    loss32 = l32.item<double>();
    loss16 = l16.item<double>();
  }
  // The float32 reference without autocast: the bf16 base must be about as close to it as the
  // float32 base under bf16 autocast is.
  std::vector<at::Tensor> g_autocast;
  for (const auto& p : p32) g_autocast.push_back(p.tensor.grad().clone());
  for (const auto& p : p32) p.tensor.mutable_grad() = at::Tensor();
  at::Tensor l_ref = cross_entropy_sum(f32, make_batch(s, {0}, c10::kCPU), false, 3);
  l_ref.backward();
  EXPECT_NEAR(loss16, l_ref.item<double>(), 2e-2 * std::fabs(l_ref.item<double>()));
  EXPECT_NEAR(loss32, l_ref.item<double>(), 2e-2 * std::fabs(l_ref.item<double>()));
  double worst16 = 0, worst_autocast = 0, total16 = 0, total_autocast = 0;
  for (std::size_t i = 0; i < p32.size(); ++i) {
    ASSERT_TRUE(p16[i].tensor.grad().defined()) << p16[i].name;
    EXPECT_EQ(p16[i].tensor.grad().scalar_type(), at::kFloat);
    const double e16 = rel(p16[i].tensor.grad(), p32[i].tensor.grad()), ea = rel(g_autocast[i], p32[i].tensor.grad());
    worst16 = std::max(worst16, e16);
    worst_autocast = std::max(worst_autocast, ea);
    total16 += e16;
    total_autocast += ea;
  }
  std::printf("gradient error against float32: bf16 base worst %.4f mean %.4f; float32 base in autocast worst %.4f mean %.4f\n",
              worst16, total16 / p32.size(), worst_autocast, total_autocast / p32.size());
  EXPECT_LT(worst16, 8e-2);
  EXPECT_LT(total16 / p32.size(), 2.0 * total_autocast / p32.size());
}

// LoRA+: lora_B factors move at ratio times the learning rate of lora_A (AdamW's first step moves
// every entry by about lr, whatever its gradient's size).
TEST(TrainLora, LoraPlusScalesTheLearningRateOfB) {
  at::Tensor a = at::zeros({2, 3}).requires_grad_(true), b = at::zeros({3, 2}).requires_grad_(true);
  a.mutable_grad() = at::full({2, 3}, 0.5);
  b.mutable_grad() = at::full({3, 2}, 2.0);
  AdamW opt({{"m.lora_A.weight", a, true, 1.0}, {"m.lora_B.weight", b, true, 16.0}}, AdamWOptions{});
  opt.step(1e-3);
  EXPECT_NEAR(a.detach().abs().max().item<double>(), 1e-3, 1e-9);
  EXPECT_NEAR(b.detach().abs().max().item<double>(), 16e-3, 1e-8);
}

// A packed row (two examples, per-document attention, positions restarting) gives the same loss
// and LoRA gradients as the two examples in their own rows.
TEST(TrainLora, PackedRowEqualsSeparateExamples) {
  Decoder model(test::random_weights(test::tiny_config("qwen2"), 2));
  LoraOptions o;
  o.r = 4;
  o.dropout = 0;
  const auto params = attach_lora(model, o, 3);
  {
    at::NoGradGuard g;
    for (const auto& p : params) p.tensor.normal_(0, 0.05);
  }
  data::TokenSplit s;
  s.input_ids = {5, 9, 13, 2, 7, 11, 3, 8, 1};
  s.loss_mask = {0, 1, 1, 1, 0, 0, 1, 1, 1};
  s.example_offsets = {0, 4, 9};
  s.sequence_offsets = {0, 2};  // one packed row
  data::TokenSplit u = s;
  u.sequence_offsets = {0, 1, 2};  // the same examples, one per row
  auto run = [&](const data::TokenSplit& split, std::vector<std::int64_t> seqs) {
    for (const auto& p : params) p.tensor.mutable_grad() = at::Tensor();
    at::Tensor loss = cross_entropy_sum(model, make_batch(split, seqs, c10::kCPU), /*checkpoint_layers=*/false, 3);
    loss.backward();
    std::vector<at::Tensor> grads;
    for (const auto& p : params) grads.push_back(p.tensor.grad().clone());
    return std::make_pair(loss.item<double>(), grads);
  };
  const auto [loss_packed, g_packed] = run(s, {0});
  const auto [loss_rows, g_rows] = run(u, {0, 1});
  EXPECT_NEAR(loss_packed, loss_rows, 1e-5 * std::fabs(loss_rows));
  for (std::size_t i = 0; i < g_rows.size(); ++i) EXPECT_LT(rel(g_packed[i], g_rows[i]), 1e-5) << params[i].name;

  // Activation checkpointing changes nothing either.
  for (const auto& p : params) p.tensor.mutable_grad() = at::Tensor();
  at::Tensor loss = cross_entropy_sum(model, make_batch(s, {0}, c10::kCPU), /*checkpoint_layers=*/true, 3);
  loss.backward();
  EXPECT_NEAR(loss.item<double>(), loss_packed, 1e-6 * std::fabs(loss_packed));
  for (std::size_t i = 0; i < params.size(); ++i)
    EXPECT_LT(rel(params[i].tensor.grad(), g_packed[i]), 1e-6) << params[i].name;
}

}  // namespace
}  // namespace hone
