// AdamW over the trainable parameters (LibTorch's fused kernel, at::_fused_adamw_), gradient
// clipping by global norm, and the learning-rate schedules (as transformers' get_*_schedule).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/fs.h"
#include "train/lora.h"

namespace hone {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;  // decoupled; not applied to norms and biases
};

class AdamW {
 public:
  AdamW(std::vector<TrainableParam> params, AdamWOptions options);

  // One update with the gradients in each parameter's .grad (undefined grads count as zero).
  void step(double lr);
  void zero_grad();
  // sqrt(sum of squared gradient entries), float64; scales the gradients by max_norm / norm when
  // that is below 1 and max_norm > 0. Returns the norm before clipping (NaN/Inf passes through).
  double clip_grad_norm(double max_norm);
  std::vector<at::Tensor> grads() const;  // one per parameter (zeros materialised when undefined)

  const std::vector<TrainableParam>& params() const { return params_; }
  std::int64_t steps() const { return steps_; }
  void save(const fs::path& file) const;  // exp_avg / exp_avg_sq per parameter and the step count
  void load(const fs::path& file);

 private:
  std::vector<TrainableParam> params_;
  AdamWOptions options_;
  std::vector<at::Tensor> exp_avg_, exp_avg_sq_, state_steps_;
  std::int64_t steps_ = 0;
};

enum class Schedule { kCosine, kLinear, kConstant };
Schedule parse_schedule(const std::string& name);  // UsageError for an unknown name

// Learning rate for update `step` (0-based) of `total`: linear warm-up from 0 over `warmup`
// updates, then cosine or linear decay to min_ratio * peak, or constant.
double scheduled_lr(Schedule schedule, std::int64_t step, std::int64_t total, std::int64_t warmup, double peak,
                    double min_ratio = 0.0);

}  // namespace hone
