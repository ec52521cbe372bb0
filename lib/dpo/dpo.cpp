#include "dpo/dpo.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/clamp_min.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "core/error.h"
#include "data/token_store.h"
#include "dpo/reference.h"

namespace hone {

using nlohmann::json;

const char* to_string(DpoLoss loss) { return loss == DpoLoss::kIpo ? "ipo" : "sigmoid"; }

namespace {

// Which sequences of the replay store's train split each micro-batch draws: consecutive runs of
// an endless sequence of seeded permutations, indexed by the micro-batch's position in the run,
// so that a resumed run (and every rank count) draws the same sequences at the same step.
class ReplayDraw {
 public:
  ReplayDraw(std::int64_t sequences, std::int64_t per_micro_batch, std::uint64_t seed)
      : n_(sequences), per_(per_micro_batch), seed_(seed ^ 0x5245504C41590000ull) {}

  std::vector<std::int64_t> draw(const MicroBatchPosition& p) {
    const std::int64_t first = ((p.step * p.grad_accum + p.micro) * p.world + p.rank) * per_;
    std::vector<std::int64_t> out;
    for (std::int64_t k = first; k < first + per_; ++k) {
      const std::int64_t epoch = k / n_;
      if (epoch != epoch_) {
        order_ = epoch_order(n_, seed_, epoch, /*shuffle=*/true);
        epoch_ = epoch;
      }
      out.push_back(order_[static_cast<std::size_t>(k % n_)]);
    }
    return out;
  }

 private:
  std::int64_t n_, per_;
  std::uint64_t seed_;
  std::int64_t epoch_ = -1;
  std::vector<std::int64_t> order_;
};

// The metrics the objective adds to metrics.jsonl, as TRL names them.
const std::vector<std::string> kPairMetrics = {"dpo_loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                                               "rewards/accuracies"};

class DpoObjective : public Objective {
 public:
  DpoObjective(const Decoder& model, const TrainOptions& o, const DpoOptions& d,
               std::shared_ptr<const data::TokenStore> replay)
      : model_(model), o_(o), d_(d), replay_store_(std::move(replay)) {
    if (replay_store_)
      replay_ = std::make_unique<ReplayDraw>(replay_store_->splits.at("train").sequences(),
                                             std::llround(d.replay_ratio * static_cast<double>(o.batch_size)), o.seed);
  }

  double units(const data::TokenSplit&, const std::vector<std::int64_t>& sequences) const override {
    return static_cast<double>(sequences.size() / 2);
  }

  void prepare(const PrepareContext& context) override {
    device_ = context.compute->device;
    reference_ = reference_logprobs(model_, context, o_.ce_chunk);
  }

  void begin_micro_batch(const MicroBatchPosition& position) override {
    if (replay_) replay_sequences_ = replay_->draw(position);
  }

  at::Tensor loss_sum(const Batch& b) override {
    at::Tensor loss = pairs_loss_sum(b, reference_.train);
    if (!replay_) return loss;
    const at::Tensor replay = replay_loss_sum(static_cast<double>(b.sequences.size() / 2));
    sums_[kPairMetrics.size()] += replay.item<double>();
    return loss + replay;
  }

  at::Tensor valid_loss_sum(const Batch& b) override { return pairs_loss_sum(b, reference_.valid); }

  std::vector<std::string> metric_names() const override {
    std::vector<std::string> names = kPairMetrics;
    if (replay_) names.push_back("replay_loss");
    return names;
  }

  bool valid_metric(const std::string& name) const override { return name != "replay_loss"; }

  std::vector<double> take_metric_sums() override {
    std::vector<double> out = sums_;
    out.resize(metric_names().size(), 0.0);
    sums_.assign(kPairMetrics.size() + 1, 0.0);
    return out;
  }

 private:
  // The DPO loss summed over the batch's pairs (rows 2i and 2i + 1), and its metrics' sums.
  at::Tensor pairs_loss_sum(const Batch& b, const std::vector<double>& reference) {
    at::Tensor tokens;
    const at::Tensor logps = sequence_logprobs(model_, b, o_.checkpoint_activations, o_.ce_chunk, &tokens);
    std::vector<double> ref;
    for (std::int64_t s : b.sequences) ref.push_back(reference.at(static_cast<std::size_t>(s)));
    const at::Tensor ref_t = at::tensor(ref, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat).to(logps.device());
    const auto pick = [](const at::Tensor& t, std::int64_t parity) { return t.slice(0, parity, t.size(0), 2); };
    const PairLogprobs p{pick(logps, 0), pick(logps, 1), pick(ref_t, 0), pick(ref_t, 1), pick(tokens, 0),
                         pick(tokens, 1)};
    const PairLosses l = pair_losses(p, d_.loss, d_.beta);
    const at::Tensor loss = l.loss.sum();
    // The metrics' sums in one copy to the host (one synchronisation on a GPU, not five).
    const at::Tensor metrics = at::stack({loss.detach(), l.chosen_rewards.sum(), l.rejected_rewards.sum(),
                                          (l.chosen_rewards - l.rejected_rewards).sum(),
                                          (l.chosen_rewards > l.rejected_rewards).sum().to(at::kFloat)})
                                   .to(at::kDouble)
                                   .cpu();
    for (std::size_t i = 0; i < kPairMetrics.size(); ++i) sums_[i] += metrics[static_cast<std::int64_t>(i)].item<double>();
    return loss;
  }

  // The replay sequences' mean cross-entropy per loss token, summed over them and weighted so that
  // the step's division by its pairs leaves their mean: each weighs pairs / replay sequences.
  at::Tensor replay_loss_sum(double pairs) {
    const Batch r = make_batch(replay_store_->splits.at("train"), replay_sequences_, device_);
    at::Tensor tokens;
    const at::Tensor logps = sequence_logprobs(model_, r, o_.checkpoint_activations, o_.ce_chunk, &tokens);
    const at::Tensor per_sequence = -logps / at::clamp_min(tokens, 1.0);
    return per_sequence.sum() * (pairs / static_cast<double>(replay_sequences_.size()));
  }

  const Decoder& model_;
  TrainOptions o_;
  DpoOptions d_;
  std::shared_ptr<const data::TokenStore> replay_store_;
  std::unique_ptr<ReplayDraw> replay_;
  std::vector<std::int64_t> replay_sequences_;
  c10::Device device_ = c10::kCPU;
  ReferenceLogprobs reference_;
  std::vector<double> sums_ = std::vector<double>(kPairMetrics.size() + 1, 0.0);
};

void validate(const TrainOptions& o, const DpoOptions& d) {
  HONE_CHECK(d.beta > 0 && std::isfinite(d.beta), UsageError, "--beta must be positive, got {}", d.beta);
  if (d.replay.empty()) return;
  HONE_CHECK(d.replay_ratio > 0 && std::isfinite(d.replay_ratio), UsageError,
             "--replay-ratio must be positive, got {}", d.replay_ratio);
  HONE_CHECK(std::llround(d.replay_ratio * static_cast<double>(o.batch_size)) >= 1, UsageError,
             Hint{"raise --replay-ratio or --batch-size"},
             "--replay-ratio {} with --batch-size {} draws no replay sequence per micro-batch", d.replay_ratio,
             o.batch_size);
}

// The replay store: an example store (not pairs) of the preference store's tokenizer.
std::shared_ptr<const data::TokenStore> read_replay(const DpoOptions& d, const data::TokenStore& prefs,
                                                    const fs::path& prefs_path) {
  if (d.replay.empty()) return nullptr;
  auto replay = std::make_shared<const data::TokenStore>(data::read_token_store(d.replay));
  HONE_CHECK(!replay->meta.preference, InputError, Hint{"--replay takes the store the model was trained on"},
             "{}: a store of preference pairs; replay needs examples", d.replay.string());
  data::require_split(*replay, d.replay, "train");
  HONE_CHECK(replay->meta.tokenizer_fingerprint == prefs.meta.tokenizer_fingerprint, InputError,
             "{} was tokenized with another tokenizer than {} ({} against {})", d.replay.string(),
             prefs_path.string(), replay->meta.tokenizer_fingerprint, prefs.meta.tokenizer_fingerprint);
  return replay;
}

}  // namespace

TrainSummary dpo_train(const TrainOptions& o, const DpoOptions& d) {
  validate(o, d);
  TrainJob job;
  job.pairs = true;
  job.store = std::make_shared<const data::TokenStore>(data::read_token_store(o.data));
  const std::shared_ptr<const data::TokenStore> replay = read_replay(d, *job.store, o.data);
  json identity = {{"objective", "dpo"}, {"beta", d.beta}, {"dpo_loss", to_string(d.loss)}};
  if (replay)
    identity["replay"] = {{"store", fs::absolute(d.replay).lexically_normal().string()},
                          {"manifest_sha256", replay->meta.manifest_sha256},
                          {"train_sequences", replay->splits.at("train").sequences()},
                          {"ratio", d.replay_ratio}};
  job.identity_json = identity.dump();
  job.loss_label = replay ? "DPO loss + replay cross-entropy" : std::string("DPO loss (") + to_string(d.loss) + ")";
  job.make_objective = [o, d, replay](const Decoder& model, c10::Device) -> std::unique_ptr<Objective> {
    return std::make_unique<DpoObjective>(model, o, d, replay);
  };
  job.run_json_extra = [o, d] {
    return json{{"objective", "dpo"},
                {"reference", o.init_adapter.empty() ? "the base model" : o.init_adapter.string()},
                {"reference_logps", reference_path(o.out).filename().string()}}
        .dump();
  };
  return train(o, job);
}

}  // namespace hone
