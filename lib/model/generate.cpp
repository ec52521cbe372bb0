#include "model/generate.h"

#include <ATen/ops/logsumexp.h>
#include <ATen/ops/tensor.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/measure.h"

namespace hone {

std::int64_t sample_token(const at::Tensor& logits_row, const SamplingOptions& s, std::uint64_t& rng_state) {
  at::Tensor row = logits_row.to(at::kCPU, at::kFloat).contiguous();
  const float* l = row.data_ptr<float>();
  const std::int64_t n = row.numel();
  if (s.temperature <= 0.0) return std::max_element(l, l + n) - l;  // first maximum, as torch.argmax

  // Candidates by decreasing logit; top-k cut, softmax at the temperature, top-p cut.
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  const std::int64_t k = s.top_k > 0 ? std::min(s.top_k, n) : n;
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](auto a, auto b) { return l[a] > l[b]; });
  idx.resize(static_cast<std::size_t>(k));
  std::vector<double> p(idx.size());
  const double top = l[idx[0]];
  double sum = 0;
  for (std::size_t i = 0; i < idx.size(); ++i) sum += p[i] = std::exp((l[idx[i]] - top) / s.temperature);
  std::size_t keep = idx.size();
  if (s.top_p < 1.0) {
    double cum = 0;
    for (std::size_t i = 0; i < idx.size(); ++i) {
      cum += p[i] / sum;
      if (cum >= s.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  std::mt19937_64 rng(rng_state);
  const double total = std::accumulate(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(keep), 0.0);
  double u = std::uniform_real_distribution<double>(0.0, total)(rng);
  rng_state = rng();
  for (std::size_t i = 0; i < keep; ++i) {
    if (u < p[i]) return idx[i];
    u -= p[i];
  }
  return idx[keep - 1];
}

namespace {

// log_softmax(row)[token] as row[token] - logsumexp(row), without the [vocab] log_softmax row.
// `row`: [vocab] float32 logits on the CPU.
double token_logprob(const at::Tensor& row, std::int64_t token) {
  return static_cast<double>(row.data_ptr<float>()[token]) - at::logsumexp(row, /*dim=*/0).item<double>();
}

}  // namespace

GenerationResult generate_tokens(const Decoder& model, const std::vector<std::int64_t>& prompt,
                                 std::int64_t max_new_tokens, const SamplingOptions& sampling,
                                 const std::vector<std::int64_t>& stop_ids,
                                 const std::function<bool(std::int64_t)>& on_token) {
  HONE_CHECK(!prompt.empty(), UsageError, "generation needs a prompt of at least one token");
  for (auto id : prompt)
    HONE_CHECK(id >= 0 && id < model.config().vocab_size, InputError, "prompt token id {} is outside the vocabulary (size {})",
               id, model.config().vocab_size);
  c10::InferenceMode inference;
  GenerationResult r;
  KVCache cache(model.config(), /*batch=*/1, static_cast<std::int64_t>(prompt.size()) + max_new_tokens, model.device(),
                model.dtype());
  std::uint64_t rng_state = sampling.seed;

  auto t0 = std::chrono::steady_clock::now();
  ForwardInput in;
  in.input_ids = at::tensor(prompt, at::kLong).unsqueeze(0);
  in.cache = &cache;
  at::Tensor last = model.logits(model.forward_hidden(in).select(1, -1)).select(0, 0);
  r.prefill_seconds = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  for (std::int64_t step = 0; step < max_new_tokens; ++step) {
    const at::Tensor row = last.to(at::kCPU, at::kFloat).contiguous();  // [vocab]: sampled from, then scored
    const std::int64_t next = sample_token(row, sampling, rng_state);
    r.tokens.push_back(next);
    r.logprobs.push_back(token_logprob(row, next));
    const bool stop = std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end();
    const bool go_on = on_token ? on_token(next) : true;  // sees every token, the stop token too
    if (stop || !go_on) {
      r.stopped = true;
      break;
    }
    if (step + 1 == max_new_tokens) break;
    in.input_ids = at::tensor(std::vector<std::int64_t>{next}, at::kLong).unsqueeze(0);
    const std::int64_t switch_at = model.rope_switch_length();
    if (switch_at > 0 && cache.length() == switch_at) {  // the first pass past it: everything again
      std::vector<std::int64_t> all = prompt;
      all.insert(all.end(), r.tokens.begin(), r.tokens.end());
      cache.reset();
      in.input_ids = at::tensor(all, at::kLong).unsqueeze(0);
    }
    last = model.logits(model.forward_hidden(in).select(1, -1)).select(0, 0);
  }
  r.decode_seconds = seconds_since(t0);
  return r;
}

}  // namespace hone
