#include "distill/influence.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cosine_similarity.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <algorithm>
#include <numeric>
#include <nlohmann/json.hpp>
#include <spdlog/fmt/fmt.h>

#include "batch/batches.h"
#include "core/error.h"
#include "distill/distill.h"
#include "model/decoder.h"

namespace hone {

std::string_view to_string(LayerChoice choice) { return choice == LayerChoice::kEven ? "even" : "influence"; }

LayerInfluence layer_influence(const Decoder& teacher, const data::TokenSplit& split, std::int64_t sample) {
  HONE_CHECK(sample > 0, UsageError, "--influence-sample must be positive, got {}", sample);
  at::NoGradGuard no_grad;
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const std::int64_t S = split.sequences(), n = std::min(sample, S);
  const auto L = static_cast<std::size_t>(teacher.config().num_hidden_layers);
  LayerInfluence out;
  out.scores.assign(L, 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t seq = i * S / n;  // evenly spaced, the first included
    const Batch b = make_batch(split, {seq}, teacher.device());
    const std::int64_t len = b.row_tokens.at(0);
    if (len == 0) continue;
    ForwardInput in;
    in.input_ids = b.input_ids.narrow(1, 0, len);
    in.position_ids = b.position_ids.narrow(1, 0, len);
    if (b.document_ids.defined()) in.document_ids = b.document_ids.narrow(1, 0, len);
    std::vector<at::Tensor> outputs;
    at::Tensor x;
    in.layer_outputs = &outputs;
    in.embedding_output = &x;
    teacher.forward_hidden(in);
    for (std::size_t l = 0; l < L; ++l) {
      const at::Tensor y = outputs.at(l);
      const at::Tensor cos = at::cosine_similarity(x.squeeze(0).to(at::kFloat), y.squeeze(0).to(at::kFloat), 1);
      out.scores[l] += (1.0 - cos.to(at::kDouble)).sum().item<double>();
      x = y;
    }
    ++out.sequences;
    out.tokens += len;
  }
  HONE_CHECK(out.tokens > 0, InputError, "the train split has no tokens to measure layer influence on");
  for (double& s : out.scores) s /= static_cast<double>(out.tokens);
  return out;
}

std::vector<std::int64_t> most_influential(const std::vector<double>& scores, std::int64_t n) {
  HONE_CHECK(n >= 1 && n <= static_cast<std::int64_t>(scores.size()), UsageError, "cannot keep {} of {} layers", n,
             scores.size());
  std::vector<std::int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return scores[static_cast<std::size_t>(a)] > scores[static_cast<std::size_t>(b)];
  });
  order.resize(static_cast<std::size_t>(n));
  std::sort(order.begin(), order.end());
  return order;
}

std::string StudentLayers::json() const {
  nlohmann::json j = {{"layers", keep}, {"layer_choice", to_string(choice)}};
  if (choice == LayerChoice::kInfluence)
    j["influence"] = {{"scores", influence.scores}, {"sequences", influence.sequences}, {"tokens", influence.tokens}};
  return j.dump();
}

std::string StudentLayers::summary() const {
  std::string s = fmt::format("layers {} ({})", fmt::join(keep, ","), to_string(choice));
  if (choice == LayerChoice::kInfluence) {
    std::vector<std::string> scores;
    for (double v : influence.scores) scores.push_back(fmt::format("{:.4f}", v));
    s += fmt::format("; block influence of each teacher layer over {} sequences ({} tokens): {}", influence.sequences,
                     influence.tokens, fmt::join(scores, " "));
  }
  return s;
}

StudentLayers choose_student_layers(const std::string& spec, LayerChoice choice, const Decoder& teacher,
                                    const data::TokenSplit& split, std::int64_t sample) {
  const std::int64_t L = teacher.config().num_hidden_layers;
  StudentLayers s;
  s.choice = choice;
  s.keep = parse_student_layers(spec, L);
  if (choice == LayerChoice::kEven) return s;
  const std::string body = spec.substr(spec.find(':') + 1);
  HONE_CHECK(body.find(',') == std::string::npos, UsageError, Hint{"give layers:N, or drop --layer-choice influence"},
             "--layer-choice influence chooses the layers of layers:N, but --student {} lists them", spec);
  s.influence = layer_influence(teacher, split, sample);
  s.keep = most_influential(s.influence.scores, static_cast<std::int64_t>(s.keep.size()));
  return s;
}

}  // namespace hone
