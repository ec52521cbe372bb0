// Internal to lib/train: the state of one training run, as the setup (setup.cpp) builds it and the
// loop (trainer.cpp) advances it. The split follows torchtune's recipes: the setup validates the
// options, loads the model, attaches what is trained and restores a checkpoint; the loop only
// steps, evaluates and saves.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/compute.h"
#include "data/token_store.h"
#include "model/decoder.h"
#include "train/dist.h"
#include "train/lora.h"
#include "train/metrics.h"
#include "train/optim.h"
#include "train/trainer.h"

namespace hone {

// The token store and the splits the run reads.
struct TrainData {
  std::shared_ptr<const data::TokenStore> store;
  const data::TokenSplit* train = nullptr;
  const data::TokenSplit* valid = nullptr;  // null when the store has no valid split, or an empty one
};

// How long the run is, in optimiser steps of how many sequences.
struct StepPlan {
  std::int64_t world = 1;            // ranks
  std::int64_t per_step = 0;         // sequences per optimiser step, all ranks together
  std::int64_t steps_per_epoch = 0;  // whole steps in one pass over the train split
  std::int64_t total = 0;            // optimiser steps of the whole run (resumes included)
  std::int64_t warmup = 0;           // warm-up steps of the learning-rate schedule
};

// Items of a split: its sequences, or with preference pairs (`pairs`) its pairs (sequences 2i and
// 2i + 1 are pair i).
inline std::int64_t item_count(const data::TokenSplit& split, bool pairs) {
  return pairs ? split.sequences() / 2 : split.sequences();
}

struct RunState {
  RunState(TrainData data_in, Decoder model_in, std::vector<TrainableParam> params_in, const AdamWOptions& adam)
      : data(std::move(data_in)), model(std::move(model_in)), params(std::move(params_in)), optimizer(params, adam) {}

  Compute compute;   // this rank's device and compute type
  bool main = true;  // rank 0: the rank that writes the run directory and logs
  TrainData data;
  bool pairs = false;  // the job trains on preference pairs (TrainJob::pairs)

  // What is trained and how.
  Decoder model;
  std::vector<TrainableParam> params;  // the leaves the optimiser updates (views into `model`)
  AdamW optimizer;
  std::int64_t trainable = 0;  // trainable weights (entries of the tensors in `params`)
  // What the loop minimises. Holds a reference to `model`: the state is not moved once it is set.
  std::unique_ptr<Objective> objective;
  StepPlan plan;

  // The run, as its checkpoints record it.
  nlohmann::json identity;   // settings that must not change on --resume
  std::string base_model;    // the adapter's base_model_name_or_path
  bool resumed = false;      // restored from a checkpoint in --out
  std::int64_t step = 0;     // optimiser steps done
  double best_valid = -1.0;  // best valid-split loss so far (-1: none yet)
  std::int64_t best_step = -1;

  // The loop in this process.
  std::vector<std::int64_t> order;  // the current epoch's sequence order
  std::int64_t order_epoch = -1;    // the epoch `order` belongs to
  std::int64_t start_step = 0;      // `step` when this process began training
  std::int64_t bad_in_a_row = 0;    // consecutive non-finite steps
  std::int64_t skipped_steps = 0;   // non-finite steps skipped
  double last_loss = 0.0;           // mean loss of the last step
  double train_seconds = 0.0;       // time in steps
  double tokens_done = 0.0;         // tokens trained on, all ranks
};

// UsageError for options out of range or contradicting each other; runs before anything is read,
// loaded or written (loading a distill student may already write into --out).
void validate_train_options(const TrainOptions& o, const TrainJob& job);

// Reads the data (checked against the model's tokenizer), loads the model on `compute`'s device,
// attaches what is trained, plans the steps, and restores the latest checkpoint of o.out when
// resuming. UsageError when o.out holds a run and o.resume is off, or the run's identity changed.
RunState load_or_resume(const TrainOptions& o, const TrainJob& job, const Communicator& comm, const Compute& compute);

// The main rank's run directory: creates o.out, metrics.jsonl (the lines through the resumed step
// kept) and config.toml, and logs what is trained. Null on the other ranks.
std::unique_ptr<Metrics> open_run_directory(const TrainOptions& o, const RunState& run);

// What the loop minimises for run.model: job.make_objective's, else the cross-entropy.
std::unique_ptr<Objective> make_objective(const TrainOptions& o, const TrainJob& job, const RunState& run);

}  // namespace hone
