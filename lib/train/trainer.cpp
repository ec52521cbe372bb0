#include "train/trainer.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/index_select.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <spdlog/spdlog.h>

#include "core/device.h"
#include "core/error.h"
#include "core/json_file.h"
#include "core/measure.h"
#include "core/plot.h"
#include "core/version.h"
#include "data/token_store.h"
#include "model/decoder.h"
#include "text/tokenizer.h"
#include "train/dist.h"
#include "batch/loss.h"
#include "train/optim.h"

#ifdef HONE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace hone {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// ---------------------------------------------------------------------------- signals

std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) { g_signal.store(sig); }

// SIGINT/SIGTERM set a flag that the loop reads after each step; restored on scope exit.
class SignalScope {
 public:
  SignalScope() {
    g_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

double peak_cuda_mib(c10::Device device) {
#ifdef HONE_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0);
  }
#endif
  (void)device;
  return 0.0;
}

// ---------------------------------------------------------------------------- checkpoints

// out/checkpoints/step-00000120/{params.safetensors, optimizer.safetensors, state.json}
fs::path checkpoint_root(const fs::path& out) { return out / "checkpoints"; }

std::optional<std::pair<std::int64_t, fs::path>> latest_checkpoint(const fs::path& out) {
  const fs::path root = checkpoint_root(out);
  if (!fs::is_directory(root)) return std::nullopt;
  std::optional<std::pair<std::int64_t, fs::path>> best;
  static const std::regex name("step-([0-9]{8})");
  for (const auto& entry : fs::directory_iterator(root)) {
    std::smatch m;
    const std::string n = entry.path().filename().string();
    if (!entry.is_directory() || !std::regex_match(n, m, name)) continue;  // skips *.tmp-* leftovers
    if (!fs::exists(entry.path() / "state.json")) continue;
    const std::int64_t step = std::stoll(m[1].str());
    if (!best || step > best->first) best = std::make_pair(step, entry.path());
  }
  return best;
}

// Writes a checkpoint directory under a temporary name and renames it into place, then removes
// all but the newest `keep` checkpoints.
void save_checkpoint(const fs::path& out, std::int64_t step, const std::vector<TrainableParam>& params,
                     const AdamW& optimizer, const json& state, std::int64_t keep) {
  const fs::path root = checkpoint_root(out);
  fs::create_directories(root);
  const fs::path final_dir = root / fmt::format("step-{:08}", step);
  const fs::path tmp = root / fmt::format("step-{:08}.tmp-{}", step, ::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  write_parameters(tmp / "params.safetensors", params);
  optimizer.save(tmp / "optimizer.safetensors");
  write_file_atomic(tmp / "state.json", state.dump(2) + "\n");
  if (fs::exists(final_dir)) fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  // Keep the newest `keep` (at least the one just written).
  std::vector<std::pair<std::int64_t, fs::path>> all;
  static const std::regex name("step-([0-9]{8})(\\.tmp-[0-9]+)?");
  for (const auto& entry : fs::directory_iterator(root)) {
    std::smatch m;
    const std::string n = entry.path().filename().string();
    if (entry.is_directory() && std::regex_match(n, m, name)) {
      if (m[2].matched) {
        fs::remove_all(entry.path());  // an interrupted write
        continue;
      }
      all.emplace_back(std::stoll(m[1].str()), entry.path());
    }
  }
  std::sort(all.begin(), all.end());
  const std::int64_t k = std::max<std::int64_t>(1, keep);
  for (std::size_t i = 0; i + k < all.size(); ++i) fs::remove_all(all[i].second);
}

// ---------------------------------------------------------------------------- metrics

class Metrics {
 public:
  // Keeps the lines of steps <= `keep_through` (a resumed run), or starts empty (-1).
  Metrics(fs::path path, std::int64_t keep_through) : path_(std::move(path)) {
    std::string kept;
    if (keep_through >= 0 && fs::exists(path_)) {
      std::ifstream in(path_);
      std::string line;
      while (std::getline(in, line)) {
        json j = json::parse(line, nullptr, false);
        if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer() ||
            j["step"].get<std::int64_t>() > keep_through)
          continue;
        kept += line + "\n";
      }
    }
    write_file_atomic(path_, kept);
    file_ = std::fopen(path_.c_str(), "a");
    HONE_CHECK(file_ != nullptr, RuntimeError, "{}: cannot open for appending", path_.string());
  }
  ~Metrics() {
    if (file_) std::fclose(file_);
  }
  void write(const json& j) {
    const std::string line = j.dump() + "\n";
    HONE_CHECK(std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0,
               RuntimeError, "{}: write failed", path_.string());
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  std::FILE* file_ = nullptr;
};

// loss.svg from metrics.jsonl.
void write_loss_curve(const fs::path& metrics, const fs::path& svg, const std::string& title,
                      const std::string& y_label) {
  write_file_atomic(svg, loss_curve_svg(metrics, title, y_label));
}

// ---------------------------------------------------------------------------- progress

class Progress {
 public:
  Progress(ProgressMode mode, std::int64_t total, std::int64_t log_every, bool main)
      : total_(total), log_every_(std::max<std::int64_t>(1, log_every)) {
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    if (!main || mode == ProgressMode::kNone)
      kind_ = Kind::kNone;
    else if (mode == ProgressMode::kBar || (mode == ProgressMode::kAuto && tty))
      kind_ = Kind::kBar;
    else
      kind_ = Kind::kLog;
  }
  ~Progress() { finish(); }

  void update(std::int64_t step, double loss, double lr, double tokens_per_s, double eta_s) {
    if (kind_ == Kind::kLog && (step % log_every_ == 0 || step == total_)) {
      spdlog::info("step {}/{}  loss {:.4f}  lr {:.2e}  {:.0f} tok/s  eta {}", step, total_, loss, lr, tokens_per_s,
                   format_duration(eta_s));
    } else if (kind_ == Kind::kBar) {
      const int width = 30;
      const double frac = total_ > 0 ? static_cast<double>(step) / total_ : 1.0;
      const int filled = static_cast<int>(frac * width);
      std::string bar(filled, '=');
      if (filled < width) bar += '>' + std::string(width - filled - 1, ' ');
      std::fprintf(stderr, "\r%6lld/%lld [%s] %3.0f%%  loss %.4f  lr %.2e  %.0f tok/s  eta %s \033[K",
                   static_cast<long long>(step), static_cast<long long>(total_), bar.c_str(), frac * 100, loss, lr,
                   tokens_per_s, format_duration(eta_s).c_str());
      std::fflush(stderr);
      open_ = true;
    }
  }
  // Ends the bar's line before other output.
  void finish() {
    if (open_) std::fputc('\n', stderr);
    open_ = false;
  }

 private:
  enum class Kind { kNone, kBar, kLog } kind_;
  std::int64_t total_, log_every_;
  bool open_ = false;
};

// ---------------------------------------------------------------------------- the objective

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

// ---------------------------------------------------------------------------- helpers

// Sequences [offset, offset + n) of `order`.
std::vector<std::int64_t> slice(const std::vector<std::int64_t>& order, std::int64_t offset, std::int64_t n) {
  return std::vector<std::int64_t>(order.begin() + offset, order.begin() + offset + n);
}

std::uint64_t mix_seed(std::uint64_t seed, std::int64_t step, std::int64_t micro, int rank) {
  std::uint64_t x = seed ^ (0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(step + 1));
  x ^= 0xBF58476D1CE4E5B9ull * static_cast<std::uint64_t>(micro + 1);
  x ^= 0x94D049BB133111EBull * static_cast<std::uint64_t>(rank + 1);
  x = (x ^ (x >> 31)) * 0xD6E8FEB86659FD93ull;
  return (x ^ (x >> 32)) & ((1ull << 63) - 1);
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

}  // namespace


// ---------------------------------------------------------------------------- the loop

TrainSummary lora_train(const TrainOptions& o) { return train(o, TrainJob{}); }

TrainSummary train(const TrainOptions& o, const TrainJob& job) {
  HONE_CHECK(o.batch_size > 0 && o.grad_accum > 0, UsageError, "--batch-size and --grad-accum must be positive");
  HONE_CHECK(o.max_steps >= 0 && (o.max_steps > 0 || o.epochs > 0), UsageError,
             "give --max-steps N > 0 or --epochs E > 0");
  HONE_CHECK(o.lr > 0 && std::isfinite(o.lr), UsageError, "--lr must be positive, got {}", o.lr);
  HONE_CHECK(o.dtype != ComputeDtype::kF16, UsageError, Hint{"use --dtype bf16 (same range as float32)"},
             "--dtype f16 is not supported for training: the loop has no loss scaling");
  const Schedule schedule = o.schedule;
  if (o.threads > 0) at::set_num_threads(o.threads);

  const DistEnv env = DistEnv::from_environment();
  Communicator comm(env);
  const bool main = comm.is_main();
  const Compute compute = resolve_compute(o.device, o.dtype, env.local_rank);
  const c10::Device device = compute.device;
  const bool bf16 = compute.reduced();

  // Data, and the tokenizer it was made with.
  const std::shared_ptr<const data::TokenStore> store_owner =
      job.store ? job.store : std::make_shared<const data::TokenStore>(data::read_token_store(o.data));
  const data::TokenStore& store = *store_owner;
  const data::TokenSplit& train = data::require_split(store, o.data, "train");
  {
    const auto tokenizer = Tokenizer::load(o.model);
    data::check_tokenizer(store, o.data, *tokenizer, o.model.string());
  }
  const data::TokenSplit* valid = store.splits.count("valid") ? &store.splits.at("valid") : nullptr;
  if (valid && valid->sequences() == 0) valid = nullptr;

  // Model and what is trained. The option checks come first: loading a distill student may already
  // write into --out (a LoRA student's base).
  HONE_CHECK(o.full || !o.freeze_embeddings, UsageError,
             "--freeze-embeddings applies to training every weight (--full, or a distill student without --student-lora)");
  HONE_CHECK(o.loraplus_lr_ratio > 0, UsageError, "--loraplus-lr-ratio must be positive, got {}", o.loraplus_lr_ratio);
  HONE_CHECK(!o.full || o.loraplus_lr_ratio == 1.0, UsageError, "--loraplus-lr-ratio applies to LoRA training, not --full");
  LoadOptions load;
  load.device = device;
  load.dtype = at::kFloat;
  HONE_CHECK(o.base_dtype == ComputeDtype::kF32 || o.base_dtype == ComputeDtype::kBF16, UsageError,
             "--base-dtype must be f32 or bf16, got '{}'", to_string(o.base_dtype));
  if (o.base_dtype == ComputeDtype::kBF16) {
    HONE_CHECK(!o.full && !job.load_model, UsageError, "--base-dtype bf16 applies to LoRA training of a base model");
    HONE_CHECK(bf16, UsageError, Hint{"add --dtype bf16 (bf16 autocast)"},
               "--base-dtype bf16 needs bf16 compute; --dtype {} on {} computes in float32", to_string(o.dtype),
               device.str());
    load.dtype = at::kBFloat16;
  }
  Decoder model = job.load_model ? job.load_model(device, main) : load_decoder(o.model, load);
  HONE_CHECK(store.meta.vocab_size <= model.config().vocab_size, InputError,
             "{}: the store's vocabulary ({}) is larger than the model's ({})", o.data.string(), store.meta.vocab_size,
             model.config().vocab_size);
  if (comm.is_main()) spdlog::debug("model loaded: peak RSS {:.0f} MiB", peak_rss_mib());
  std::vector<TrainableParam> params =
      o.full ? full_parameters(model, o.freeze_embeddings) : attach_lora(model, o.lora, o.seed);
  if (!o.init_adapter.empty()) {
    HONE_CHECK(!o.full, UsageError, "--init-adapter applies to LoRA training, not --full");
    load_parameters(o.init_adapter / "adapter_model.safetensors", params);
  }
  for (TrainableParam& p : params)
    if (p.name.size() > 14 && p.name.compare(p.name.size() - 14, 14, ".lora_B.weight") == 0) p.lr_scale = o.loraplus_lr_ratio;
  std::int64_t trainable = 0;
  for (const TrainableParam& p : params) trainable += p.tensor.numel();
  AdamWOptions adam;
  adam.beta1 = o.adam_beta1, adam.beta2 = o.adam_beta2, adam.eps = o.adam_eps, adam.weight_decay = o.weight_decay;
  AdamW optimizer(params, adam);

  // Steps.
  const std::int64_t world = comm.world_size();
  const std::int64_t per_step = world * o.batch_size * o.grad_accum;  // sequences per optimiser step
  const std::int64_t steps_per_epoch = train.sequences() / per_step;
  HONE_CHECK(steps_per_epoch >= 1, UsageError,
             "the train split has {} sequences, fewer than one step needs ({} ranks x batch {} x accumulation {})",
             train.sequences(), world, o.batch_size, o.grad_accum);
  const std::int64_t total = o.max_steps > 0 ? o.max_steps
                                             : std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(
                                                                             o.epochs * steps_per_epoch)));
  const std::int64_t warmup =
      o.warmup_steps >= 0 ? o.warmup_steps : static_cast<std::int64_t>(std::llround(o.warmup_ratio * total));

  // Fresh run or resume.
  const json identity = run_identity(o, job, store, static_cast<int>(world));
  const std::string base_model = job.base_model.empty() ? o.model.string() : job.base_model;
  std::int64_t step = 0, best_step = -1;
  double best_valid = -1.0;
  const auto latest = latest_checkpoint(o.out);
  if (latest && !o.resume)
    HONE_THROW(UsageError, Hint{"pass --resume to continue it, or choose another --out"},
               "{} already holds a run (checkpoint at step {})", o.out.string(), latest->first);
  if (latest) {
    const fs::path dir = latest->second;
    const std::string src = (dir / "state.json").string();
    const json state = read_json_object(dir / "state.json");
    HONE_CHECK(state.contains("identity") && state["identity"].is_object() && state.contains("step") &&
                   state["step"].is_number_integer(),
               InputError, "{}: not a hone checkpoint state (an 'identity' object and an integer 'step')", src);
    // Every key of either identity, so that a setting added or dropped on resume is refused too.
    const json& saved = state["identity"];
    std::set<std::string> keys;
    for (const auto& [key, value] : identity.items()) keys.insert(key);
    for (const auto& [key, value] : saved.items()) keys.insert(key);
    for (const std::string& key : keys)
      HONE_CHECK(saved.contains(key) && identity.contains(key) && saved[key] == identity[key], UsageError,
                 Hint{"resume with the options of the original run (its config.toml), or start a new --out"},
                 "cannot resume {}: '{}' was {} and is now {}", o.out.string(), key, saved.value(key, json()).dump(),
                 identity.contains(key) ? identity[key].dump() : "unset");
    load_parameters(dir / "params.safetensors", params);
    optimizer.load(dir / "optimizer.safetensors");
    step = state["step"].get<std::int64_t>();
    best_valid = json_value<double>(state, "best_valid_loss", -1.0, src);
    best_step = json_value<std::int64_t>(state, "best_step", -1, src);
    if (main) spdlog::info("resuming {} from step {} ({})", o.out.string(), step, dir.string());
  } else if (o.resume && main) {
    spdlog::info("--resume: {} holds no checkpoint, starting from step 0", o.out.string());
  }

  std::optional<Metrics> metrics;
  if (main) {
    fs::create_directories(o.out);
    metrics.emplace(o.out / "metrics.jsonl", latest ? step : -1);
    if (!o.effective_config.empty()) write_file_atomic(o.out / "config.toml", o.effective_config);
    spdlog::info("{}: {} trainable parameters ({}), {} train sequences, {} steps of {} sequences ({} per epoch)",
                 o.model.string(), trainable, o.full ? "full" : fmt::format("LoRA r={}", o.lora.r), train.sequences(),
                 total, per_step, steps_per_epoch);
  }

  std::unique_ptr<Objective> objective_owner =
      job.make_objective ? job.make_objective(model, device)
                         : std::make_unique<CrossEntropyObjective>(model, o.checkpoint_activations, o.ce_chunk);
  Objective& objective = *objective_owner;
  // Mean loss over the valid split (all ranks take every world-th batch).
  auto evaluate = [&]() -> double {
    const std::int64_t n = o.eval_max_sequences > 0 ? std::min(o.eval_max_sequences, valid->sequences())
                                                    : valid->sequences();
    const std::vector<std::int64_t> order = epoch_order(n, 0, 0, /*shuffle=*/false);
    double sum = 0, count = 0;
    at::NoGradGuard no_grad;
    model.set_training(false);
    AutocastScope autocast = compute.autocast();
    std::int64_t batch_index = 0;
    for (std::int64_t off = 0; off < n; off += o.eval_batch_size, ++batch_index) {
      if (batch_index % world != comm.rank()) continue;
      const Batch b = make_batch(*valid, slice(order, off, std::min(o.eval_batch_size, n - off)), device);
      if (b.loss_tokens == 0) continue;
      sum += objective.valid_loss_sum(b).item<double>();
      count += static_cast<double>(b.loss_tokens);
    }
    const std::vector<double> total_sum = comm.all_reduce_sum(std::vector<double>{sum, count});
    return total_sum[1] > 0 ? total_sum[0] / total_sum[1] : std::nan("");
  };

  auto state_json = [&](std::int64_t at_step) {
    return json{{"step", at_step},
                {"epoch", static_cast<double>(at_step) / static_cast<double>(steps_per_epoch)},
                {"total_steps", total},
                {"best_valid_loss", best_valid},
                {"best_step", best_step},
                {"identity", identity},
                {"hone_version", version_string()}};
  };
  auto checkpoint = [&](std::int64_t at_step) {
    if (main) save_checkpoint(o.out, at_step, params, optimizer, state_json(at_step), o.keep_checkpoints);
    comm.barrier();
  };

  TrainSummary summary;
  if (valid && step == 0 && o.eval_every > 0) {  // the starting point, for comparison
    const double v = evaluate();
    if (main) {
      spdlog::info("step 0: valid loss {:.4f}", v);
      metrics->write({{"step", 0}, {"valid_loss", v}});
    }
  }
  SignalScope signals;
  Progress progress(o.progress, total, o.log_every, main);
  std::vector<std::int64_t> order;
  std::int64_t order_epoch = -1, bad_in_a_row = 0;
  double train_seconds = 0, tokens_done = 0;
  const std::int64_t start_step = step;

  while (step < total) {
    const auto t0 = Clock::now();
    const std::int64_t epoch = step / steps_per_epoch, index = step % steps_per_epoch;
    if (epoch != order_epoch) {
      order = epoch_order(train.sequences(), o.seed, epoch, o.shuffle);
      order_epoch = epoch;
    }
    // This rank's micro-batches of the step's global batch.
    std::vector<std::vector<std::int64_t>> micro;
    std::int64_t local_loss_tokens = 0;
    for (std::int64_t m = 0; m < o.grad_accum; ++m) {
      const std::int64_t offset = index * per_step + (m * world + comm.rank()) * o.batch_size;
      micro.push_back(slice(order, offset, o.batch_size));
      local_loss_tokens += count_loss_tokens(train, micro.back());
    }
    // The loss is normalised by the loss tokens of the whole step (all micro-batches, all ranks).
    const double step_loss_tokens = comm.all_reduce_sum(std::vector<double>{static_cast<double>(local_loss_tokens)})[0];

    model.set_training(true);
    double loss_sum = 0, tokens = 0;
    for (std::int64_t m = 0; m < o.grad_accum; ++m) {
      at::manual_seed(mix_seed(o.seed, step, m, comm.rank()));  // dropout masks: a function of the step
      const Batch b = make_batch(train, micro[m], device);
      tokens += static_cast<double>(b.tokens);
      if (b.loss_tokens == 0) continue;
      at::Tensor loss;
      {
        AutocastScope autocast = compute.autocast();
        loss = objective.loss_sum(b);
      }
      loss_sum += loss.item<double>();
      (loss / step_loss_tokens).backward();
    }
    std::vector<at::Tensor> grads = optimizer.grads();
    comm.all_reduce_sum(grads);  // sums; each rank's gradients are already divided by the global count
    for (std::size_t i = 0; i < params.size(); ++i)
      if (!params[i].tensor.grad().defined()) params[i].tensor.mutable_grad() = grads[i];
    if (!o.dump_grads.empty() && main) {
      std::vector<TrainableParam> named;
      for (std::size_t i = 0; i < params.size(); ++i) named.push_back({params[i].name, grads[i], true});
      fs::create_directories(o.dump_grads);
      write_parameters(o.dump_grads / fmt::format("step-{}.safetensors", step + 1), named);
    }
    const std::vector<double> totals =
        comm.all_reduce_sum(std::vector<double>{loss_sum, tokens, static_cast<double>(g_signal.load() != 0)});
    const double loss_mean = step_loss_tokens > 0 ? totals[0] / step_loss_tokens : 0.0;
    const double grad_norm = optimizer.clip_grad_norm(o.max_grad_norm);
    const double lr = scheduled_lr(schedule, step, total, warmup, o.lr, o.min_lr_ratio);
    const bool finite = std::isfinite(loss_mean) && std::isfinite(grad_norm);
    if (finite) {
      optimizer.step(lr);
      bad_in_a_row = 0;
    } else {
      ++bad_in_a_row;
      ++summary.skipped_steps;
      if (main)
        spdlog::warn("step {}: non-finite {} ({}); the update is skipped", step + 1,
                     std::isfinite(loss_mean) ? "gradient norm" : "loss", std::isfinite(loss_mean) ? grad_norm : loss_mean);
      HONE_CHECK(bad_in_a_row < o.max_bad_steps, RuntimeError,
                 Hint{"lower --lr, check the data, or resume from the last checkpoint with other settings"},
                 "{} consecutive steps with a non-finite loss or gradient (last: step {}); stopping without saving",
                 bad_in_a_row, step + 1);
    }
    optimizer.zero_grad();
    ++step;

    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    train_seconds += seconds;
    tokens_done += totals[1];
    const double tps = train_seconds > 0 ? tokens_done / train_seconds : 0.0;
    summary.last_loss = loss_mean;
    if (main) {
      json line = {{"step", step},
                   {"epoch", static_cast<double>(step) / static_cast<double>(steps_per_epoch)},
                   {"loss", finite ? json(loss_mean) : json(nullptr)},
                   {"lr", lr},
                   {"grad_norm", std::isfinite(grad_norm) ? json(grad_norm) : json(nullptr)},
                   {"tokens", totals[1]},
                   {"loss_tokens", step_loss_tokens},
                   {"tokens_per_s", totals[1] / seconds},
                   {"step_s", seconds},
                   {"peak_rss_mib", peak_rss_mib()}};
      if (device.is_cuda()) line["peak_cuda_mib"] = peak_cuda_mib(device);
      if (!finite) line["skipped"] = true;
      metrics->write(line);
      const double per_step_s = train_seconds / static_cast<double>(step - start_step);
      progress.update(step, loss_mean, lr, tps, per_step_s * static_cast<double>(total - step));
    }

    const bool stop = totals[2] > 0;
    const bool last = step == total;
    if (valid && ((o.eval_every > 0 && step % o.eval_every == 0) || last)) {
      const double v = evaluate();
      const bool improved = std::isfinite(v) && (best_valid < 0 || v < best_valid);
      if (improved) {
        best_valid = v;
        best_step = step;
        if (main && !o.full) write_peft_adapter(o.out / "best", o.lora, params, base_model, store.meta.tokenizer_fingerprint,
                                                store.meta.chat_template);
      }
      if (main) {
        progress.finish();
        spdlog::info("step {}: valid loss {:.4f}{}", step, v, improved ? " (best so far)" : "");
        metrics->write({{"step", step}, {"valid_loss", v}, {"best_valid_loss", best_valid}});
      }
    }
    if (last || stop || (o.save_every > 0 && step % o.save_every == 0)) checkpoint(step);
    if (stop) {
      progress.finish();
      if (main) write_loss_curve(metrics->path(), o.out / "loss.svg", o.out.filename().string(), job.loss_label);
      HONE_THROW(InterruptedError, Hint{"run the same command with --resume to continue"},
                 "stopped by a signal after step {}; checkpoint saved in {}", step,
                 (checkpoint_root(o.out) / fmt::format("step-{:08}", step)).string());
    }
  }
  progress.finish();

  summary.steps = step;
  summary.best_valid_loss = best_valid;
  summary.best_step = best_step;
  summary.seconds = train_seconds;
  summary.tokens = static_cast<std::int64_t>(tokens_done);
  summary.tokens_per_second = train_seconds > 0 ? tokens_done / train_seconds : 0.0;
  summary.peak_rss_mib = peak_rss_mib();
  if (main) {
    if (o.full)
      write_full_model(o.out / "model", model, o.model, store.meta.max_len);
    else
      write_peft_adapter(o.out, o.lora, params, base_model, store.meta.tokenizer_fingerprint, store.meta.chat_template);
    write_loss_curve(metrics->path(), o.out / "loss.svg", o.out.filename().string(), job.loss_label);
    json run = {{"hone_version", version_string()},
                {"command", job.command},
                {"model", o.model.string()},
                {"data", o.data.string()},
                {"steps", summary.steps},
                {"last_loss", summary.last_loss},
                {"best_valid_loss", best_valid < 0 ? json(nullptr) : json(best_valid)},
                {"best_step", best_step < 0 ? json(nullptr) : json(best_step)},
                {"trainable_parameters", trainable},
                {"train_seconds", summary.seconds},
                {"tokens_per_s", summary.tokens_per_second},
                {"peak_rss_mib", summary.peak_rss_mib},
                {"world_size", world},
                {"identity", identity}};
    write_file_atomic(o.out / "run.json", run.dump(2) + "\n");
    spdlog::info("done: {} steps, last loss {:.4f}{}, {:.0f} tok/s; {} in {}", summary.steps, summary.last_loss,
                 best_valid >= 0 ? fmt::format(", best valid loss {:.4f} at step {}", best_valid, best_step) : "",
                 summary.tokens_per_second, o.full ? "model" : "adapter", (o.full ? o.out / "model" : o.out).string());
  }
  comm.barrier();
  return summary;
}

}  // namespace hone
