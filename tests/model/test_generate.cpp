// The log-probabilities generation reports, against a full forward pass of the same tiny model,
// and the mean answer log-probability built on them.
#include "model/generate.h"

#include <ATen/ops/log_softmax.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <c10/core/InferenceMode.h>

#include <cmath>

#include "generate/text_generation.h"
#include "helpers.h"
#include "model_fixtures.h"

namespace hone {
namespace {

constexpr double kTolerance = 1e-4;  // float32 logits, cached steps against one full pass

at::Tensor ids_tensor(const std::vector<std::int64_t>& ids) {
  return at::tensor(ids, at::kLong).unsqueeze(0);
}

std::vector<std::int64_t> some_ids(std::int64_t n, std::int64_t vocab, std::int64_t salt) {
  std::vector<std::int64_t> ids;
  for (std::int64_t i = 0; i < n; ++i) ids.push_back((i * 31 + salt * 17 + 5) % vocab);
  return ids;
}

// [steps, vocab]: row i is log_softmax of the float32 logits that predict tokens[i], from one
// forward pass of prompt + tokens[0..steps-1) with no cache. With LongRoPE (phi3) the
// frequencies depend on the whole length, so there each row is the last of its own prefix's pass,
// as generation re-encodes everything when it crosses the switch.
at::Tensor reference_logprobs(const Decoder& model, const std::vector<std::int64_t>& prompt,
                              const std::vector<std::int64_t>& tokens) {
  std::vector<std::int64_t> seq = prompt;
  seq.insert(seq.end(), tokens.begin(), tokens.end() - 1);
  const auto steps = static_cast<std::int64_t>(tokens.size());
  const auto first = static_cast<std::int64_t>(prompt.size()) - 1;  // the position that predicts tokens[0]
  ForwardInput in;
  if (model.rope_switch_length() == 0) {
    in.input_ids = ids_tensor(seq);
    return at::log_softmax(model.forward(in)[0].to(at::kFloat), /*dim=*/-1).narrow(0, first, steps);
  }
  std::vector<at::Tensor> rows;
  for (std::int64_t i = 0; i < steps; ++i) {
    in.input_ids = ids_tensor({seq.begin(), seq.begin() + first + 1 + i});
    rows.push_back(at::log_softmax(model.forward(in)[0][-1].to(at::kFloat), /*dim=*/-1));
  }
  return at::stack(rows);
}

class GenerateLogprobs : public ::testing::TestWithParam<std::string> {};

// Greedy: each token is the argmax of its reference row and its log-probability is that row's
// value there, which is the row's maximum.
TEST_P(GenerateLogprobs, GreedyEqualsLogSoftmaxOfTheFullForward) {
  c10::InferenceMode guard;
  Decoder model(test::random_weights(test::tiny_config(GetParam()), 11));
  const auto prompt = some_ids(10, 97, 3);  // 10 + 12 tokens cross phi3's LongRoPE switch at 16
  const GenerationResult r = generate_tokens(model, prompt, /*max_new_tokens=*/12, {}, {});
  ASSERT_EQ(r.tokens.size(), 12u);
  ASSERT_EQ(r.logprobs.size(), r.tokens.size());
  const at::Tensor ref = reference_logprobs(model, prompt, r.tokens);
  for (std::size_t i = 0; i < r.tokens.size(); ++i) {
    const at::Tensor row = ref[static_cast<std::int64_t>(i)];
    EXPECT_EQ(r.tokens[i], row.argmax().item<std::int64_t>()) << "step " << i;
    EXPECT_NEAR(r.logprobs[i], row[r.tokens[i]].item<double>(), kTolerance) << "step " << i;
    EXPECT_NEAR(r.logprobs[i], row.max().item<double>(), kTolerance) << "step " << i;
    EXPECT_LT(r.logprobs[i], 0.0) << "step " << i;
  }
  // A stop token ends generation with its own log-probability the last one.
  const GenerationResult stopped = generate_tokens(model, prompt, 12, {}, {r.tokens[3]});
  ASSERT_EQ(stopped.tokens.size(), 4u);
  EXPECT_EQ(stopped.logprobs, std::vector<double>(r.logprobs.begin(), r.logprobs.begin() + 4));
}

// Sampled: the log-probability is the model's own (temperature 1, no top-k cut), not that of the
// distribution the token was drawn from.
TEST_P(GenerateLogprobs, SampledReportsTheModelsDistribution) {
  c10::InferenceMode guard;
  Decoder model(test::random_weights(test::tiny_config(GetParam()), 12));
  const auto prompt = some_ids(7, 97, 4);
  const SamplingOptions s{/*temperature=*/1.7, /*top_k=*/8, /*top_p=*/0.95, /*seed=*/5};
  const GenerationResult r = generate_tokens(model, prompt, /*max_new_tokens=*/12, s, {});
  ASSERT_EQ(r.logprobs.size(), r.tokens.size());
  const at::Tensor ref = reference_logprobs(model, prompt, r.tokens);
  int below_max = 0;  // steps that sampled other than the argmax: the test sees real sampling
  for (std::size_t i = 0; i < r.tokens.size(); ++i) {
    const at::Tensor row = ref[static_cast<std::int64_t>(i)];
    EXPECT_NEAR(r.logprobs[i], row[r.tokens[i]].item<double>(), kTolerance) << "step " << i;
    below_max += r.logprobs[i] < row.max().item<double>() - kTolerance;
  }
  EXPECT_GT(below_max, 0);
}

INSTANTIATE_TEST_SUITE_P(Families, GenerateLogprobs,
                         ::testing::Values("llama", "qwen2", "mistral", "qwen3", "gemma3", "phi3"));

// ---------------------------------------------------------------------------- mean_logprob

TEST(MeanLogprob, LeavesOutTheEndOfTurnTokenOnly) {
  TextGenerationResult r;
  r.tokens = {5, 6, 7};
  r.logprobs = {-1.0, -2.0, -6.0};
  r.stop_reason = "eos";
  EXPECT_DOUBLE_EQ(mean_logprob(r), -1.5);
  r.stop_reason = "length";
  EXPECT_DOUBLE_EQ(mean_logprob(r), -3.0);
  r.stop_reason = "stop string";
  EXPECT_DOUBLE_EQ(mean_logprob(r), -3.0);
  // An answer of no tokens: the model ended its turn at once, or nothing was generated.
  r.tokens = {7};
  r.logprobs = {-0.5};
  r.stop_reason = "eos";
  EXPECT_TRUE(std::isnan(mean_logprob(r)));
  r.tokens.clear();
  r.logprobs.clear();
  r.stop_reason = "length";
  EXPECT_TRUE(std::isnan(mean_logprob(r)));
  r.tokens = {5, 6};
  r.logprobs = {-1.0};
  EXPECT_HONE_ERROR(mean_logprob(r), UsageError, "1 log-probabilities for 2 generated tokens");
}

}  // namespace
}  // namespace hone
