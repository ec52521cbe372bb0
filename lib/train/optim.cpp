#include "train/optim.h"

#include <ATen/core/grad_mode.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_norm.h>
#include <ATen/ops/_fused_adamw.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"

namespace hone {

AdamW::AdamW(std::vector<TrainableParam> params, AdamWOptions options)
    : params_(std::move(params)), options_(options) {
  for (const TrainableParam& p : params_) {
    exp_avg_.push_back(at::zeros_like(p.tensor, p.tensor.options().requires_grad(false)));
    exp_avg_sq_.push_back(at::zeros_like(p.tensor, p.tensor.options().requires_grad(false)));
    state_steps_.push_back(at::zeros({}, p.tensor.options().dtype(at::kFloat).requires_grad(false)));
  }
}

std::vector<at::Tensor> AdamW::grads() const {
  std::vector<at::Tensor> out;
  for (const TrainableParam& p : params_) {
    at::Tensor g = p.tensor.grad();
    out.push_back(g.defined() ? g : at::zeros_like(p.tensor, p.tensor.options().requires_grad(false)));
  }
  return out;
}

void AdamW::zero_grad() {
  for (const TrainableParam& p : params_) {
    at::Tensor g = p.tensor.mutable_grad();
    if (g.defined()) g.zero_();
  }
}

double AdamW::clip_grad_norm(double max_norm) {
  std::vector<at::Tensor> gs;
  for (const TrainableParam& p : params_)
    if (p.tensor.grad().defined()) gs.push_back(p.tensor.grad());
  if (gs.empty()) return 0.0;
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> norms = at::_foreach_norm(gs, 2, at::kDouble);
  const double norm = at::stack(norms).pow(2).sum().sqrt().item<double>();
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) at::_foreach_mul_(gs, max_norm / (norm + 1e-6));
  return norm;
}

void AdamW::step(double lr) {
  at::NoGradGuard no_grad;
  // Each group of parameters with the same weight decay and learning-rate scale goes through the
  // fused kernel once.
  std::vector<std::pair<bool, double>> groups;
  for (const TrainableParam& p : params_)
    if (std::find(groups.begin(), groups.end(), std::make_pair(p.decay, p.lr_scale)) == groups.end())
      groups.emplace_back(p.decay, p.lr_scale);
  for (const auto& [decay, scale] : groups) {
    std::vector<at::Tensor> ps, gs, m, v, s;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      if (params_[i].decay != decay || params_[i].lr_scale != scale) continue;
      at::Tensor g = params_[i].tensor.grad();
      if (!g.defined()) g = at::zeros_like(params_[i].tensor, params_[i].tensor.options().requires_grad(false));
      ps.push_back(params_[i].tensor);
      gs.push_back(g);
      m.push_back(exp_avg_[i]);
      v.push_back(exp_avg_sq_[i]);
      s.push_back(state_steps_[i]);
    }
    at::_foreach_add_(s, 1.0);  // the kernel reads the incremented count (as torch.optim.AdamW does)
    at::_fused_adamw_(ps, gs, m, v, /*max_exp_avg_sqs=*/{}, s, lr * scale, options_.beta1, options_.beta2,
                      decay ? options_.weight_decay : 0.0, options_.eps, /*amsgrad=*/false, /*maximize=*/false);
  }
  ++steps_;
}

void AdamW::save(const fs::path& file) const {
  std::vector<at::Tensor> keep;
  std::vector<TensorWrite> writes;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    keep.push_back(c);
    writes.push_back({name, DType::kF32, c.sizes().vec(), c.data_ptr(), static_cast<std::size_t>(c.nbytes())});
  };
  for (std::size_t i = 0; i < params_.size(); ++i) {
    add("exp_avg." + params_[i].name, exp_avg_[i]);
    add("exp_avg_sq." + params_[i].name, exp_avg_sq_[i]);
    add("step." + params_[i].name, state_steps_[i]);
  }
  write_safetensors(file, writes, {{"optimizer", "adamw"}, {"steps", std::to_string(steps_)}});
}

void AdamW::load(const fs::path& file) {
  const SafetensorsFile st = SafetensorsFile::open(file);
  const std::string src = file.string();
  HONE_CHECK(st.tensors().size() == 3 * params_.size(), InputError,
             "{}: holds {} tensors, expected {} (3 per trainable parameter) — a checkpoint of another run?", src,
             st.tensors().size(), 3 * params_.size());
  at::NoGradGuard no_grad;
  auto load = [&](const std::string& name, at::Tensor& into) {
    const TensorView& v = st.get(name);
    HONE_CHECK(v.shape == into.sizes().vec() && v.dtype == DType::kF32, InputError,
               "{}: tensor '{}' has shape [{}], expected float32 [{}]", src, name, fmt::join(v.shape, ", "),
               fmt::join(into.sizes(), ", "));
    into.copy_(to_tensor(v, st.mapping()));
  };
  for (std::size_t i = 0; i < params_.size(); ++i) {
    load("exp_avg." + params_[i].name, exp_avg_[i]);
    load("exp_avg_sq." + params_[i].name, exp_avg_sq_[i]);
    load("step." + params_[i].name, state_steps_[i]);
  }
  auto it = st.metadata().find("steps");
  HONE_CHECK(it != st.metadata().end(), InputError, "{}: no 'steps' in the metadata", src);
  steps_ = std::stoll(it->second);
}

Schedule parse_schedule(const std::string& name) {
  if (name == "cosine") return Schedule::kCosine;
  if (name == "linear") return Schedule::kLinear;
  if (name == "constant") return Schedule::kConstant;
  HONE_THROW(UsageError, "--schedule must be cosine, linear or constant, got '{}'", name);
}

double scheduled_lr(Schedule schedule, std::int64_t step, std::int64_t total, std::int64_t warmup, double peak,
                    double min_ratio) {
  if (step < warmup) return peak * static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup));
  if (schedule == Schedule::kConstant) return peak;
  const double progress =
      std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(std::max<std::int64_t>(1, total - warmup)));
  const double factor = schedule == Schedule::kCosine ? 0.5 * (1.0 + std::cos(M_PI * progress)) : 1.0 - progress;
  return peak * (min_ratio + (1.0 - min_ratio) * factor);
}

}  // namespace hone
