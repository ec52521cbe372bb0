// The setup of a training run: option checks, data, the model and what is trained, the step plan,
// and the resume from the latest checkpoint (run_state.h).
#include <cmath>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/fs.h"
#include "model/adapter.h"
#include "model/loader.h"
#include "text/tokenizer.h"
#include "train/checkpoints.h"
#include "train/run_state.h"

namespace hone {

using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------- the default objective

// lora-train's: the cross-entropy on the loss-masked tokens.
class CrossEntropyObjective : public Objective {
 public:
  CrossEntropyObjective(const Decoder& model, bool checkpoint, std::int64_t chunk)
      : model_(model), checkpoint_(checkpoint), chunk_(chunk) {}
  at::Tensor loss_sum(const Batch& b) override { return cross_entropy_sum(model_, b, checkpoint_, chunk_); }

 private:
  const Decoder& model_;
  bool checkpoint_;
  std::int64_t chunk_;
};

// ---------------------------------------------------------------------------- data and model

// The token store (job.store, else read from o.data), checked against the model's tokenizer.
TrainData read_data(const TrainOptions& o, const TrainJob& job) {
  TrainData d;
  d.store = job.store ? job.store : std::make_shared<const data::TokenStore>(data::read_token_store(o.data));
  const data::TokenStore& store = *d.store;
  d.train = &data::require_split(store, o.data, "train");
  {
    const auto tokenizer = Tokenizer::load(o.model);
    data::check_tokenizer(store, o.data, *tokenizer, o.model.string());
  }
  HONE_CHECK(store.meta.preference == job.pairs, InputError,
             Hint{job.pairs ? "tokenize the corrections' pairs with `hone tokenize DIR --pairs`"
                            : "train on preference pairs with --objective dpo"},
             "{} is {}a store of preference pairs; {} trains on {}", o.data.string(),
             store.meta.preference ? "" : "not ", job.command,
             job.pairs ? "preference pairs (--objective dpo)" : "examples, not pairs");
  d.valid = store.splits.count("valid") ? &store.splits.at("valid") : nullptr;
  if (d.valid && d.valid->sequences() == 0) d.valid = nullptr;
  return d;
}

// How the base model is loaded: float32 on the device, or a bf16 frozen base (--base-dtype bf16),
// which needs bf16 compute on the resolved device.
LoadOptions base_load_options(const TrainOptions& o, const Compute& compute) {
  LoadOptions load;
  load.device = compute.device;
  load.dtype = at::kFloat;
  if (o.base_dtype == ComputeDtype::kBF16) {
    HONE_CHECK(compute.reduced(), UsageError, Hint{"add --dtype bf16 (bf16 autocast)"},
               "--base-dtype bf16 needs bf16 compute; --dtype {} on {} computes in float32", to_string(o.dtype),
               compute.device.str());
    load.dtype = at::kBFloat16;
  }
  return load;
}

// The model to train: job.load_model's, else the base model of o.model.
Decoder load_trained_model(const TrainOptions& o, const TrainJob& job, const Compute& compute, bool main,
                           const data::TokenStore& store) {
  const LoadOptions load = base_load_options(o, compute);
  Decoder model = job.load_model ? job.load_model(compute.device, main) : load_decoder(o.model, load);
  HONE_CHECK(store.meta.vocab_size <= model.config().vocab_size, InputError,
             "{}: the store's vocabulary ({}) is larger than the model's ({})", o.data.string(), store.meta.vocab_size,
             model.config().vocab_size);
  if (main) spdlog::debug("model loaded: peak RSS {:.0f} MiB", peak_rss_mib());
  return model;
}

// Every weight (--full), or fresh LoRA factors (from --init-adapter's when given); LoRA+ scales the
// learning rate of the lora_B factors.
std::vector<TrainableParam> trainable_parameters(const TrainOptions& o, Decoder& model) {
  std::vector<TrainableParam> params =
      o.full ? full_parameters(model, o.freeze_embeddings) : attach_lora(model, o.lora, o.seed);
  if (!o.init_adapter.empty()) {
    // The factors load by name and shape; the scale must match too, or the run would not start
    // from the adapter it names.
    const LoraAdapterConfig c = load_lora_config(o.init_adapter);
    HONE_CHECK(c.scale() == o.lora.scale(), UsageError,
               Hint{fmt::format("pass --rank {} --alpha {}{}", c.r, c.alpha, c.use_rslora ? " --rslora" : "")},
               "--init-adapter {} scales its factors by {} (r {}, alpha {}{}); this run's LoRA options scale by {}",
               o.init_adapter.string(), c.scale(), c.r, c.alpha, c.use_rslora ? ", rsLoRA" : "", o.lora.scale());
    load_parameters(o.init_adapter / "adapter_model.safetensors", params);
  }
  for (TrainableParam& p : params)
    if (p.name.size() > 14 && p.name.compare(p.name.size() - 14, 14, ".lora_B.weight") == 0)
      p.lr_scale = o.loraplus_lr_ratio;
  return params;
}

AdamWOptions adam_options(const TrainOptions& o) {
  AdamWOptions adam;
  adam.beta1 = o.adam_beta1, adam.beta2 = o.adam_beta2, adam.eps = o.adam_eps, adam.weight_decay = o.weight_decay;
  return adam;
}

// ---------------------------------------------------------------------------- steps and resume

StepPlan plan_steps(const TrainOptions& o, std::int64_t world, std::int64_t train_items, const char* items) {
  StepPlan p;
  p.world = world;
  p.per_step = world * o.batch_size * o.grad_accum;
  p.steps_per_epoch = train_items / p.per_step;
  HONE_CHECK(p.steps_per_epoch >= 1, UsageError,
             "the train split has {} {}, fewer than one step needs ({} ranks x batch {} x accumulation {})",
             train_items, items, world, o.batch_size, o.grad_accum);
  p.total = o.max_steps > 0
                ? o.max_steps
                : std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(o.epochs * p.steps_per_epoch)));
  p.warmup = o.warmup_steps >= 0 ? o.warmup_steps : static_cast<std::int64_t>(std::llround(o.warmup_ratio * p.total));
  return p;
}

// What must not change when a run is resumed.
json run_identity(const TrainOptions& o, const TrainJob& job, const data::TokenStore& store, int world_size) {
  const data::TokenSplit& train = store.splits.at("train");
  json j = {{"model", fs::absolute(o.model).lexically_normal().string()},
            {"tokenizer_fingerprint", store.meta.tokenizer_fingerprint},
            {"manifest_sha256", store.meta.manifest_sha256},
            {"train_tokens", train.tokens()},
            {"train_sequences", train.sequences()},
            {"mode", o.full ? "full" : "lora"},
            {"seed", o.seed},
            {"shuffle", o.shuffle},
            {"batch_size", o.batch_size},
            {"grad_accum", o.grad_accum},
            {"world_size", world_size}};
  if (o.full && o.freeze_embeddings) j["freeze_embeddings"] = true;
  if (!o.init_adapter.empty()) j["init_adapter"] = fs::absolute(o.init_adapter).lexically_normal().string();
  if (!o.full)
    j["lora"] = {{"r", o.lora.r},           {"alpha", o.lora.alpha},
                 {"targets", o.lora.targets}, {"rslora", o.lora.rslora},
                 {"layers", o.lora.layers},   {"loraplus_lr_ratio", o.loraplus_lr_ratio}};
  if (!job.identity_json.empty()) {
    const json extra = json::parse(job.identity_json);
    for (const auto& [key, value] : extra.items()) j[key] = value;
  }
  return j;
}

// A fresh run, or a checkpoint of o.out restored into `run`: the newest (--resume) or the one
// --resume-from names, after which the newer ones are moved aside.
void resume(const TrainOptions& o, const TrainJob& job, RunState& run) {
  run.identity = run_identity(o, job, *run.data.store, static_cast<int>(run.plan.world));
  run.base_model = job.base_model.empty() ? o.model.string() : job.base_model;
  const bool from = !o.resume_from.empty();
  const std::optional<CheckpointRef> chosen =
      from ? std::optional<CheckpointRef>(named_checkpoint(o.out, o.resume_from)) : latest_checkpoint(o.out);
  if (chosen && !o.resume && !from)
    HONE_THROW(UsageError, Hint{"pass --resume to continue it, or choose another --out"},
               "{} already holds a run (checkpoint at step {})", o.out.string(), chosen->step);
  if (chosen) {
    const CheckpointState state = load_checkpoint(chosen->dir, run.identity, o.out, run.params, run.optimizer);
    run.resumed = true;
    run.step = state.step;
    run.best_valid = state.best_valid_loss;
    run.best_step = state.best_step;
    if (run.main) {
      if (from) discard_checkpoints_after(o.out, run.step);
      spdlog::info("resuming {} from step {} ({})", o.out.string(), run.step, chosen->dir.string());
    }
  } else if (o.resume && run.main) {
    spdlog::info("--resume: {} holds no checkpoint, starting from step 0", o.out.string());
  }
}

}  // namespace

// ---------------------------------------------------------------------------- the setup

void validate_train_options(const TrainOptions& o, const TrainJob& job) {
  HONE_CHECK(o.batch_size > 0 && o.grad_accum > 0, UsageError, "--batch-size and --grad-accum must be positive");
  HONE_CHECK(o.max_steps >= 0 && (o.max_steps > 0 || o.epochs > 0), UsageError,
             "give --max-steps N > 0 or --epochs E > 0");
  HONE_CHECK(o.lr > 0 && std::isfinite(o.lr), UsageError, "--lr must be positive, got {}", o.lr);
  HONE_CHECK(o.dtype != ComputeDtype::kF16, UsageError, Hint{"use --dtype bf16 (same range as float32)"},
             "--dtype f16 is not supported for training: the loop has no loss scaling");
  // What is trained.
  HONE_CHECK(
      o.full || !o.freeze_embeddings, UsageError,
      "--freeze-embeddings applies to training every weight (--full, or a distill student without --student-lora)");
  HONE_CHECK(o.loraplus_lr_ratio > 0, UsageError, "--loraplus-lr-ratio must be positive, got {}", o.loraplus_lr_ratio);
  HONE_CHECK(!o.full || o.loraplus_lr_ratio == 1.0, UsageError,
             "--loraplus-lr-ratio applies to LoRA training, not --full");
  HONE_CHECK(!o.full || o.init_adapter.empty(), UsageError, "--init-adapter applies to LoRA training, not --full");
  HONE_CHECK(o.base_dtype == ComputeDtype::kF32 || o.base_dtype == ComputeDtype::kBF16, UsageError,
             "--base-dtype must be f32 or bf16, got '{}'", to_string(o.base_dtype));
  HONE_CHECK(o.base_dtype != ComputeDtype::kBF16 || (!o.full && !job.load_model), UsageError,
             "--base-dtype bf16 applies to LoRA training of a base model");
  HONE_CHECK(o.save_dtype == ComputeDtype::kF32 || o.save_dtype == ComputeDtype::kBF16 ||
                 o.save_dtype == ComputeDtype::kF16,
             UsageError, "--save-dtype must be f32, bf16 or f16, got '{}'", to_string(o.save_dtype));
}

RunState load_or_resume(const TrainOptions& o, const TrainJob& job, const Communicator& comm, const Compute& compute) {
  TrainData data = read_data(o, job);
  Decoder model = load_trained_model(o, job, compute, comm.is_main(), *data.store);
  std::vector<TrainableParam> params = trainable_parameters(o, model);
  RunState run(std::move(data), std::move(model), std::move(params), adam_options(o));
  run.compute = compute;
  run.main = comm.is_main();
  run.pairs = job.pairs;
  for (const TrainableParam& p : run.params) run.trainable += p.tensor.numel();
  run.plan = plan_steps(o, comm.world_size(), item_count(*run.data.train, run.pairs),
                        run.pairs ? "preference pairs" : "sequences");
  resume(o, job, run);
  return run;
}

std::unique_ptr<Metrics> open_run_directory(const TrainOptions& o, const RunState& run) {
  if (!run.main) return nullptr;
  fs::create_directories(o.out);
  for (const fs::path& dir : {o.out, o.out / "best", o.out / "model", checkpoint_root(o.out)})
    remove_stale_temporaries(dir);  // what a killed run left of files it was writing
  auto metrics = std::make_unique<Metrics>(o.out / "metrics.jsonl", run.resumed ? run.step : -1);
  if (!o.effective_config.empty()) write_file_atomic(o.out / "config.toml", o.effective_config);
  const char* items = run.pairs ? "preference pairs" : "sequences";
  spdlog::info("{}: {} trainable parameters ({}), {} train {}, {} steps of {} {} ({} per epoch)", o.model.string(),
               run.trainable, o.full ? "full" : fmt::format("LoRA r={}", o.lora.r),
               item_count(*run.data.train, run.pairs), items, run.plan.total, run.plan.per_step, items,
               run.plan.steps_per_epoch);
  return metrics;
}

std::unique_ptr<Objective> make_objective(const TrainOptions& o, const TrainJob& job, const RunState& run) {
  if (job.make_objective) return job.make_objective(run.model, run.compute.device);
  return std::make_unique<CrossEntropyObjective>(run.model, o.checkpoint_activations, o.ce_chunk);
}

}  // namespace hone
