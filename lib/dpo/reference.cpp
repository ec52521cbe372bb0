#include "dpo/reference.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/repeat_interleave.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "batch/loss.h"
#include "batch/targets.h"
#include "core/error.h"
#include "core/json_file.h"
#include "train/dist.h"

namespace hone {

using nlohmann::json;

at::Tensor sequence_logprobs(const Decoder& model, const Batch& b, bool checkpoint_layers, std::int64_t chunk,
                             at::Tensor* targets) {
  const std::int64_t rows = static_cast<std::int64_t>(b.row_targets.size());
  const at::Tensor counts = at::tensor(b.row_targets, at::TensorOptions().dtype(at::kLong)).to(b.targets.device());
  const at::Tensor logp = linear_target_logprobs(target_hidden(model, b, checkpoint_layers), model.lm_head(), b.targets, chunk);
  const at::Tensor row_of_target = at::repeat_interleave(at::arange(rows, counts.options()), counts);
  if (targets) *targets = counts.to(at::kFloat);
  return at::zeros({rows}, logp.options()).index_add(0, row_of_target, logp);
}

namespace {

// The split's sequences' reference log-probabilities, the ranks taking every world-th batch of
// `batch_pairs` pairs and summing the results.
std::vector<double> score_split(const Decoder& model, const data::TokenSplit& split, const PrepareContext& c,
                                std::int64_t chunk) {
  const std::int64_t n = split.sequences(), per_batch = 2 * std::max<std::int64_t>(1, c.batch_size);
  std::vector<double> out(static_cast<std::size_t>(n), 0.0);
  std::int64_t index = 0;
  for (std::int64_t start = 0; start < n; start += per_batch, ++index) {
    if (index % c.comm->world_size() != c.comm->rank()) continue;
    std::vector<std::int64_t> sequences;
    for (std::int64_t s = start; s < std::min(n, start + per_batch); ++s) sequences.push_back(s);
    const Batch b = make_batch(split, sequences, c.compute->device);
    const at::Tensor logps =
        sequence_logprobs(model, b, /*checkpoint_layers=*/false, chunk).to(at::kDouble).cpu().contiguous();
    const double* v = logps.data_ptr<double>();
    for (std::size_t i = 0; i < sequences.size(); ++i) out[static_cast<std::size_t>(sequences[i])] = v[i];
  }
  return c.comm->all_reduce_sum(out);
}

std::vector<double> read_values(const json& j, const fs::path& path, const char* key, const data::TokenSplit* split) {
  const std::size_t want = split ? static_cast<std::size_t>(split->sequences()) : 0;
  HONE_CHECK(j.contains(key) && j[key].is_array() && j[key].size() == want, InputError,
             Hint{"start the run again in a new --out: the reference must be the model the run started from"},
             "{}: '{}' must hold {} log-probabilities, one per sequence of the store's {} split", path.string(), key,
             want, key);
  std::vector<double> v;
  for (const json& x : j[key]) {
    HONE_CHECK(x.is_number(), InputError, "{}: '{}' holds a non-number", path.string(), key);
    v.push_back(x.get<double>());
  }
  return v;
}

}  // namespace

ReferenceLogprobs reference_logprobs(const Decoder& model, const PrepareContext& c, std::int64_t chunk) {
  const fs::path path = reference_path(c.out);
  ReferenceLogprobs r;
  if (c.resumed) {
    HONE_CHECK(fs::exists(path), InputError,
               Hint{"start the run again in a new --out: the reference is the model the run started from"},
               "{}: missing; the resumed run's reference log-probabilities were written there when it started",
               path.string());
    const json j = read_json_object(path);
    r.train = read_values(j, path, "train", c.train);
    r.valid = read_values(j, path, "valid", c.valid);
    return r;
  }
  at::NoGradGuard no_grad;
  AutocastScope autocast = c.compute->autocast();
  r.train = score_split(model, *c.train, c, chunk);
  if (c.valid) r.valid = score_split(model, *c.valid, c, chunk);
  if (c.main) {
    write_file_atomic(path, json{{"train", r.train}, {"valid", r.valid}}.dump() + "\n");
    spdlog::info("reference log-probabilities of {} train and {} valid answers: {}", r.train.size(), r.valid.size(),
                 path.string());
  }
  return r;
}

}  // namespace hone
