// Token-level generation with a KV cache: greedy or sampled (temperature, top-k, top-p, seed),
// with the model's log-probability of each token generated.
// Text-level concerns (tokenizer, chat template, stop strings) live above, in lib/generate.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/decoder.h"

namespace hone {

struct SamplingOptions {
  double temperature = 0.0;  // 0: greedy (argmax)
  std::int64_t top_k = 0;    // keep the k most likely tokens (0: all)
  double top_p = 1.0;        // keep the smallest set whose probability reaches p (1: all)
  std::uint64_t seed = 0;    // sampling is deterministic for a seed
};

struct GenerationResult {
  std::vector<std::int64_t> tokens;  // generated tokens (a stop token included when hit)
  // log p(tokens[i] | prompt, tokens[0..i)) under the model's own distribution: log_softmax of
  // its float32 logits (temperature 1, no top-k/top-p cut, whatever `sampling` says) at the token
  // chosen, float32 even for a bf16 model. One per token, the same length as `tokens`.
  std::vector<double> logprobs;
  bool stopped = false;  // ended by a stop token or by the callback
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Generates up to `max_new_tokens` after `prompt`. Stops after a token of `stop_ids`, or when
// `on_token` (called with each new token) returns false.
GenerationResult generate_tokens(const Decoder& model, const std::vector<std::int64_t>& prompt,
                                 std::int64_t max_new_tokens, const SamplingOptions& sampling,
                                 const std::vector<std::int64_t>& stop_ids,
                                 const std::function<bool(std::int64_t)>& on_token = {});

// Picks the next token from one row of logits ([vocab]) as `sampling` says; `rng_state` carries
// the generator between calls.
std::int64_t sample_token(const at::Tensor& logits, const SamplingOptions& sampling, std::uint64_t& rng_state);

}  // namespace hone
