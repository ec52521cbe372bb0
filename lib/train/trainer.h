// The training loop shared by `hone lora-train` and `hone distill`: data order and sharding,
// gradient accumulation normalised by the loss tokens of the whole (all-rank) batch, AdamW with
// a schedule and clipping, NaN/Inf step skipping, evaluation on the valid split with
// best-checkpoint tracking, atomic checkpoints with resume, SIGINT/SIGTERM handling, metrics,
// a loss curve and progress. What is being minimised is an Objective; LoRA training's is the
// cross-entropy on loss-masked tokens.
//
// The files: setup.cpp (option checks, data, model, resume into a RunState, run_state.h),
// trainer.cpp (the step, evaluate-and-save, the final outputs, and train() over them),
// checkpoints.h, metrics.h, progress.h and signals.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/compute.h"
#include "core/fs.h"
#include "model/decoder.h"
#include "batch/batches.h"
#include "batch/targets.h"
#include "train/dist_backend.h"
#include "train/lora.h"
#include "train/optim.h"
#include "train/progress.h"

namespace hone {

struct TrainOptions {
  fs::path model;  // base model: .gguf or HF directory
  fs::path data;   // token store from `hone tokenize`
  fs::path out;    // run directory
  std::int64_t max_steps = 0;  // 0: run `epochs`
  double epochs = 1.0;
  bool resume = false;
  fs::path resume_from;  // --resume-from: this checkpoint of `out` rather than the newest (implies resume)

  // What is trained.
  bool full = false;  // every weight instead of LoRA factors
  bool freeze_embeddings = false;  // with full: the token embedding and output head stay as loaded
  LoraOptions lora;
  fs::path init_adapter;  // start from this PEFT adapter's factors instead of a fresh init

  // Optimisation.
  double lr = 2e-4;
  double min_lr_ratio = 0.0;
  Schedule schedule = Schedule::kCosine;  // after warm-up
  std::int64_t warmup_steps = -1;  // -1: warmup_ratio * total steps
  double warmup_ratio = 0.03;
  double weight_decay = 0.0;
  // LoRA+ (Hayou et al., 2024; PEFT's loraplus_lr_ratio): lora_B factors learn at this multiple of
  // the learning rate. 1: plain LoRA.
  double loraplus_lr_ratio = 1.0;
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  double max_grad_norm = 1.0;  // 0: no clipping
  std::int64_t batch_size = 8;  // sequences per micro-batch, per rank
  std::int64_t grad_accum = 1;  // micro-batches per optimiser step
  std::uint64_t seed = 0;
  bool shuffle = true;

  // Compute.
  std::string device = "cpu";  // cpu, cuda, cuda:N (cuda: cuda:LOCAL_RANK)
  // The step's compute type, by autocast over float32 weights: auto (bf16 on CUDA, f32 on the CPU),
  // fast, f32 or bf16 (f16 is refused: the loop has no loss scaling).
  ComputeDtype dtype = ComputeDtype::kAuto;
  // The frozen base's weights when training LoRA: f32, or bf16 (half the memory and no per-step
  // casts under bf16 autocast; the residual stream is then bf16 too, as in a model loaded in
  // bf16 for PEFT). Needs bf16 compute; the factors and optimiser state stay float32.
  ComputeDtype base_dtype = ComputeDtype::kF32;
  bool checkpoint_activations = false;
  std::int64_t ce_chunk = 1024;  // rows of the output head per cross-entropy chunk
  // --full: the saved model's weights (out/model): f32, bf16 or f16. Training, checkpoints and the
  // optimiser state stay float32 whatever this is.
  ComputeDtype save_dtype = ComputeDtype::kF32;
  int threads = 0;               // CPU threads (0: LibTorch's default)
  // Several processes: the collective library (auto: NCCL on CUDA when built in, else Gloo).
  DistBackend dist_backend = DistBackend::kAuto;

  // Evaluation, checkpoints, output.
  std::int64_t eval_every = 0;     // steps between valid-split evaluations (0: only at the end)
  std::int64_t eval_batch_size = 16;
  std::int64_t eval_max_sequences = 0;  // 0: the whole valid split
  std::int64_t save_every = 0;     // steps between checkpoints (0: only at the end and on a signal)
  std::int64_t keep_checkpoints = 2;
  std::int64_t log_every = 10;     // steps between progress log lines when stderr is not a terminal
  std::int64_t max_bad_steps = 5;  // consecutive non-finite steps before giving up
  ProgressMode progress = ProgressMode::kAuto;
  std::string effective_config;    // TOML of the command's options, saved as config.toml
  fs::path dump_grads;             // debugging: write each step's summed gradients to DIR/step-N.safetensors
};

struct TrainSummary {
  std::int64_t steps = 0;            // optimiser steps done (in total, across resumes)
  std::int64_t skipped_steps = 0;    // non-finite steps skipped in this process
  double last_loss = 0.0;            // mean loss of the last step
  double best_valid_loss = -1.0;     // -1: no valid split
  std::int64_t best_step = -1;
  double seconds = 0.0;              // training time in this process
  double tokens_per_second = 0.0;
  std::int64_t tokens = 0;           // tokens trained on in this process (all ranks)
  double peak_rss_mib = 0.0;
};

class Communicator;

// What an objective may read before the first step of this process (Objective::prepare).
struct PrepareContext {
  Communicator* comm = nullptr;
  const Compute* compute = nullptr;
  const data::TokenSplit* train = nullptr;
  const data::TokenSplit* valid = nullptr;  // null: none
  fs::path out;          // the run directory (created)
  bool resumed = false;  // restored from a checkpoint: the trained weights are no longer the start's
  bool main = true;      // the rank that writes
  std::int64_t batch_size = 16;  // items per forward pass when scoring a split
};

// Where a training micro-batch sits in the run. An objective that draws more data per micro-batch
// (replay) keys its draw on it, so that a resumed run draws what the uninterrupted run drew.
struct MicroBatchPosition {
  std::int64_t step = 0, micro = 0, grad_accum = 1;
  int rank = 0, world = 1;
};

// What the loop minimises, given the model it trains.
class Objective {
 public:
  virtual ~Objective() = default;
  // The loss summed over the batch's units (float32 scalar; with gradients when training).
  virtual at::Tensor loss_sum(const Batch& batch) = 0;
  // The loss the valid split is scored with (best-checkpoint tracking); default: loss_sum.
  virtual at::Tensor valid_loss_sum(const Batch& batch) { return loss_sum(batch); }
  // What a step's loss is the mean over, for `sequences` of `split`: its loss tokens (default), or
  // its preference pairs. The loop divides the summed loss by the step's units over all ranks.
  virtual double units(const data::TokenSplit& split, const std::vector<std::int64_t>& sequences) const {
    return static_cast<double>(count_loss_tokens(split, sequences));
  }
  // Once per process, after the model is loaded (and restored) and before the first step.
  virtual void prepare(const PrepareContext& /*context*/) {}
  // Before each training micro-batch's loss_sum.
  virtual void begin_micro_batch(const MicroBatchPosition& /*position*/) {}
  // More per-step metrics (metrics.jsonl keys), and this rank's sums of them since the last call:
  // the loop sums them over the ranks and divides by the step's units.
  virtual std::vector<std::string> metric_names() const { return {}; }
  virtual std::vector<double> take_metric_sums() { return {}; }
  // Whether the metric `name` means something on the valid split too (evaluations log it as
  // valid_<name>).
  virtual bool valid_metric(const std::string& /*name*/) const { return true; }
};

// What a training command plugs into the shared loop; every field has lora-train's default.
struct TrainJob {
  std::string command = "lora-train";  // recorded in run.json
  // The model to train, float32 on `device`, built on every rank (`main`: rank 0, the one that
  // writes). Default: load_decoder(options.model).
  std::function<Decoder(c10::Device device, bool main)> load_model;
  // What the loop minimises for the trained model. Default: cross_entropy_sum.
  std::function<std::unique_ptr<Objective>(const Decoder& model, c10::Device device)> make_objective;
  // The token store at options.data when the command has read it already (default: read here).
  std::shared_ptr<const data::TokenStore> store;
  // Preference pairs: the store must be a preference store (sequences 2i and 2i + 1 are pair i's
  // chosen and rejected answers), and --batch-size, the order and the step plan count pairs. Any
  // other job refuses a preference store (it would learn the rejected answers).
  bool pairs = false;
  std::string identity_json;  // a JSON object of more settings that must not change on --resume
  std::string base_model;     // the adapter's base_model_name_or_path (default: options.model)
  std::string loss_label = "cross-entropy (nats per loss token)";  // y axis of loss.svg
  // Returns a JSON object whose keys are added to run.json when it is written (facts the run
  // found that are not settings, such as how a student's layers were chosen); unset: none.
  std::function<std::string()> run_json_extra;
};

// The loop: trains what `job` describes and writes the run directory (docs/formats.md, "Run
// directory"): a PEFT adapter (LoRA) or a full HF model directory with tokenizer files (--full).
TrainSummary train(const TrainOptions& options, const TrainJob& job);

// `hone lora-train`: train() with the default job.
TrainSummary lora_train(const TrainOptions& options);

}  // namespace hone
