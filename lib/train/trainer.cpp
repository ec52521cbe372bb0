// The training loop (trainer.h): one step, evaluation with best-checkpoint tracking and periodic
// checkpoints, the stop on a signal, and the run directory's final files. The setup that runs
// before it (option checks, model, resume) is setup.cpp.
#include "train/trainer.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>

#include <chrono>
#include <cmath>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/kill_point.h"
#include "core/measure.h"
#include "core/version.h"
#include "train/checkpoints.h"
#include "train/run_state.h"
#include "train/signals.h"

namespace hone {

using nlohmann::json;

namespace {

// The sequences of items [offset, offset + n) of `order`: the items themselves, or with preference
// pairs (`pairs`) each pair's chosen and rejected sequences, 2i and 2i + 1.
std::vector<std::int64_t> slice(const std::vector<std::int64_t>& order, std::int64_t offset, std::int64_t n,
                                bool pairs) {
  if (!pairs) return std::vector<std::int64_t>(order.begin() + offset, order.begin() + offset + n);
  std::vector<std::int64_t> sequences;
  for (std::int64_t i = offset; i < offset + n; ++i) {
    sequences.push_back(2 * order[i]);
    sequences.push_back(2 * order[i] + 1);
  }
  return sequences;
}


// The seed of the default generator for micro-batch `micro` of `step` on `rank`: dropout masks are
// a function of the step, so that a resumed run draws the ones the uninterrupted run drew.
std::uint64_t mix_seed(std::uint64_t seed, std::int64_t step, std::int64_t micro, int rank) {
  std::uint64_t x = seed ^ (0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(step + 1));
  x ^= 0xBF58476D1CE4E5B9ull * static_cast<std::uint64_t>(micro + 1);
  x ^= 0x94D049BB133111EBull * static_cast<std::uint64_t>(rank + 1);
  x = (x ^ (x >> 31)) * 0xD6E8FEB86659FD93ull;
  return (x ^ (x >> 32)) & ((1ull << 63) - 1);
}

// ---------------------------------------------------------------------------- one step

// What one optimiser step reports (all ranks agree on every field).
struct StepResult {
  double units = 0;        // loss tokens (or pairs) of the step, all micro-batches of all ranks
  double tokens = 0;       // tokens of the step, all ranks
  double loss_mean = 0;    // loss per unit
  double grad_norm = 0;    // before clipping
  double lr = 0;
  std::vector<double> extra;  // the objective's metric_names(), per unit
  bool finite = true;  // false: the update was skipped
  bool stop = false;   // a rank received SIGINT or SIGTERM
};

// This rank's micro-batches of step `run.step`: the step takes `per_step` consecutive items
// (sequences, or preference pairs) of the epoch's order, micro-batch m of rank r the
// (m * world + r)-th `batch_size` of them.
std::vector<std::vector<std::int64_t>> micro_batches(const TrainOptions& o, RunState& run, int rank) {
  const std::int64_t epoch = run.step / run.plan.steps_per_epoch, index = run.step % run.plan.steps_per_epoch;
  if (epoch != run.order_epoch) {
    run.order = epoch_order(item_count(*run.data.train, run.pairs), o.seed, epoch, o.shuffle);
    run.order_epoch = epoch;
  }
  std::vector<std::vector<std::int64_t>> micro;
  for (std::int64_t m = 0; m < o.grad_accum; ++m) {
    const std::int64_t offset = index * run.plan.per_step + (m * run.plan.world + rank) * o.batch_size;
    micro.push_back(slice(run.order, offset, o.batch_size, run.pairs));
  }
  return micro;
}

// Forward and backward over this rank's micro-batches; each loss is divided by the units of
// the whole step, so the gradients add up to those of the step's mean. Returns this rank's
// {loss sum, tokens}.
std::pair<double, double> accumulate_gradients(const TrainOptions& o, RunState& run,
                                               const std::vector<std::vector<std::int64_t>>& micro,
                                               double step_units, int rank) {
  run.model.set_training(true);
  double loss_sum = 0, tokens = 0;
  for (std::int64_t m = 0; m < o.grad_accum; ++m) {
    at::manual_seed(mix_seed(o.seed, run.step, m, rank));  // dropout masks: a function of the step
    run.objective->begin_micro_batch({run.step, m, o.grad_accum, rank, static_cast<int>(run.plan.world)});
    const Batch b = make_batch(*run.data.train, micro[m], run.compute.device);
    tokens += static_cast<double>(b.tokens);
    if (b.loss_tokens == 0) continue;
    at::Tensor loss;
    {
      AutocastScope autocast = run.compute.autocast();
      loss = run.objective->loss_sum(b);
    }
    loss_sum += loss.item<double>();
    (loss / step_units).backward();
  }
  return {loss_sum, tokens};
}

// Sums the gradients over the ranks into each parameter's .grad (--dump-grads: and writes them).
void reduce_gradients(const TrainOptions& o, RunState& run, Communicator& comm) {
  std::vector<at::Tensor> grads = run.optimizer.grads();
  comm.all_reduce_sum(grads);  // sums; each rank's gradients are already divided by the global count
  for (std::size_t i = 0; i < run.params.size(); ++i)
    if (!run.params[i].tensor.grad().defined()) run.params[i].tensor.mutable_grad() = grads[i];
  if (!o.dump_grads.empty() && run.main) {
    std::vector<TrainableParam> named;
    for (std::size_t i = 0; i < run.params.size(); ++i) named.push_back({run.params[i].name, grads[i], true});
    fs::create_directories(o.dump_grads);
    write_parameters(o.dump_grads / fmt::format("step-{}.safetensors", run.step + 1), named);
  }
}

// Clips the gradients and updates with the scheduled learning rate, or skips the update when the
// loss or the gradient norm is not finite (RuntimeError after max_bad_steps such steps in a row).
void apply_update(const TrainOptions& o, RunState& run, StepResult& r) {
  r.grad_norm = run.optimizer.clip_grad_norm(o.max_grad_norm);
  r.lr = scheduled_lr(o.schedule, run.step, run.plan.total, run.plan.warmup, o.lr, o.min_lr_ratio);
  r.finite = std::isfinite(r.loss_mean) && std::isfinite(r.grad_norm);
  if (r.finite) {
    run.optimizer.step(r.lr);
    run.bad_in_a_row = 0;
    return;
  }
  ++run.bad_in_a_row;
  ++run.skipped_steps;
  if (run.main)
    spdlog::warn("step {}: non-finite {} ({}); the update is skipped", run.step + 1,
                 std::isfinite(r.loss_mean) ? "gradient norm" : "loss",
                 std::isfinite(r.loss_mean) ? r.grad_norm : r.loss_mean);
  HONE_CHECK(run.bad_in_a_row < o.max_bad_steps, RuntimeError,
             Hint{"lower --lr, check the data, or resume from the last checkpoint with other settings"},
             "{} consecutive steps with a non-finite loss or gradient (last: step {}); stopping without saving",
             run.bad_in_a_row, run.step + 1);
}

// One optimiser step: the micro-batches, backward, the all-rank gradient sum, the update.
StepResult train_step(const TrainOptions& o, RunState& run, Communicator& comm) {
  const std::vector<std::vector<std::int64_t>> micro = micro_batches(o, run, comm.rank());
  double local_units = 0;
  for (const std::vector<std::int64_t>& sequences : micro) local_units += run.objective->units(*run.data.train, sequences);
  StepResult r;
  // The loss is normalised by the units (loss tokens, or pairs) of the whole step (all
  // micro-batches, all ranks).
  r.units = comm.all_reduce_sum(std::vector<double>{local_units})[0];
  const auto [loss_sum, tokens] = accumulate_gradients(o, run, micro, r.units, comm.rank());
  reduce_gradients(o, run, comm);
  std::vector<double> local = {loss_sum, tokens, static_cast<double>(signal_received())};
  for (double v : run.objective->take_metric_sums()) local.push_back(v);
  const std::vector<double> totals = comm.all_reduce_sum(local);
  r.loss_mean = r.units > 0 ? totals[0] / r.units : 0.0;
  r.tokens = totals[1];
  r.stop = totals[2] > 0;
  for (std::size_t i = 3; i < totals.size(); ++i) r.extra.push_back(r.units > 0 ? totals[i] / r.units : 0.0);
  apply_update(o, run, r);
  run.optimizer.zero_grad();
  ++run.step;
  return r;
}

// This process's totals, and the step's metrics line and progress (main rank).
void record_step(RunState& run, const StepResult& r, double seconds, Metrics* metrics, Progress& progress) {
  run.train_seconds += seconds;
  run.tokens_done += r.tokens;
  run.last_loss = r.loss_mean;
  if (!run.main) return;
  json line = {{"step", run.step},
               {"epoch", static_cast<double>(run.step) / static_cast<double>(run.plan.steps_per_epoch)},
               {"loss", r.finite ? json(r.loss_mean) : json(nullptr)},
               {"lr", r.lr},
               {"grad_norm", std::isfinite(r.grad_norm) ? json(r.grad_norm) : json(nullptr)},
               {"tokens", r.tokens},
               {run.pairs ? "pairs" : "loss_tokens", r.units},
               {"tokens_per_s", r.tokens / seconds},
               {"step_s", seconds},
               {"peak_rss_mib", peak_rss_mib()}};
  if (run.compute.device.is_cuda()) line["peak_cuda_mib"] = peak_cuda_mib(run.compute.device);
  if (!r.finite) line["skipped"] = true;
  const std::vector<std::string> names = run.objective->metric_names();
  for (std::size_t i = 0; i < names.size() && i < r.extra.size(); ++i) line[names[i]] = r.extra[i];
  metrics->write(line);
  const double tps = run.train_seconds > 0 ? run.tokens_done / run.train_seconds : 0.0;
  const double per_step_s = run.train_seconds / static_cast<double>(run.step - run.start_step);
  progress.update(run.step, r.loss_mean, r.lr, tps, per_step_s * static_cast<double>(run.plan.total - run.step));
}

// ---------------------------------------------------------------------------- evaluation and checkpoints

// What an evaluation of the valid split gives: the mean loss, and the objective's metrics.
struct ValidResult {
  double loss = std::nan("");
  std::vector<double> extra;  // the objective's metric_names(), per unit
};

// The valid split's mean loss (the first eval_max_sequences items; all ranks take every world-th
// batch).
ValidResult evaluate(const TrainOptions& o, RunState& run, Communicator& comm) {
  const data::TokenSplit& valid = *run.data.valid;
  const std::int64_t items = item_count(valid, run.pairs);
  const std::int64_t n = o.eval_max_sequences > 0 ? std::min(o.eval_max_sequences, items) : items;
  const std::vector<std::int64_t> order = epoch_order(n, 0, 0, /*shuffle=*/false);
  double sum = 0, count = 0;
  at::NoGradGuard no_grad;
  run.model.set_training(false);
  AutocastScope autocast = run.compute.autocast();
  std::int64_t batch_index = 0;
  for (std::int64_t off = 0; off < n; off += o.eval_batch_size, ++batch_index) {
    if (batch_index % run.plan.world != comm.rank()) continue;
    const std::vector<std::int64_t> sequences = slice(order, off, std::min(o.eval_batch_size, n - off), run.pairs);
    const Batch b = make_batch(valid, sequences, run.compute.device);
    if (b.loss_tokens == 0) continue;
    sum += run.objective->valid_loss_sum(b).item<double>();
    count += run.objective->units(valid, sequences);
  }
  std::vector<double> local = {sum, count};
  for (double v : run.objective->take_metric_sums()) local.push_back(v);
  const std::vector<double> total = comm.all_reduce_sum(local);
  ValidResult r;
  if (total[1] > 0) r.loss = total[0] / total[1];
  for (std::size_t i = 2; i < total.size(); ++i) r.extra.push_back(total[1] > 0 ? total[i] / total[1] : 0.0);
  return r;
}

// The metrics.jsonl line of a valid-split evaluation.
json valid_line(const RunState& run, const ValidResult& v) {
  json line = {{"step", run.step}, {"valid_loss", v.loss}};
  const std::vector<std::string> names = run.objective->metric_names();
  for (std::size_t i = 0; i < names.size() && i < v.extra.size(); ++i)
    if (run.objective->valid_metric(names[i])) line["valid_" + names[i]] = v.extra[i];
  return line;
}

// A checkpoint's state.json.
json checkpoint_state(const RunState& run) {
  return json{{"step", run.step},
              {"epoch", static_cast<double>(run.step) / static_cast<double>(run.plan.steps_per_epoch)},
              {"total_steps", run.plan.total},
              {"best_valid_loss", run.best_valid},
              {"best_step", run.best_step},
              {"identity", run.identity},
              {"hone_version", version_string()}};
}

// After a step: the valid-split evaluation every eval_every steps and at the last (a new best LoRA
// adapter goes to out/best), then a checkpoint every save_every steps, at the last and on a signal.
void evaluate_and_save(const TrainOptions& o, RunState& run, Communicator& comm, Metrics* metrics, Progress& progress,
                       bool stop) {
  const bool last = run.step == run.plan.total;
  if (run.data.valid && ((o.eval_every > 0 && run.step % o.eval_every == 0) || last)) {
    const ValidResult result = evaluate(o, run, comm);
    const double v = result.loss;
    const bool improved = std::isfinite(v) && (run.best_valid < 0 || v < run.best_valid);
    if (improved) {
      run.best_valid = v;
      run.best_step = run.step;
      if (run.main && !o.full)
        write_peft_adapter(o.out / "best", o.lora, run.params, run.base_model,
                           run.data.store->meta.tokenizer_fingerprint, run.data.store->meta.chat_template);
      kill_point("outputs.best");
    }
    if (run.main) {
      progress.finish();
      spdlog::info("step {}: valid loss {:.4f}{}", run.step, v, improved ? " (best so far)" : "");
      json line = valid_line(run, result);
      line["best_valid_loss"] = run.best_valid;
      metrics->write(line);
    }
  }
  if (last || stop || (o.save_every > 0 && run.step % o.save_every == 0)) {
    if (run.main)
      save_checkpoint(o.out, run.step, run.params, run.optimizer, checkpoint_state(run), o.keep_checkpoints);
    comm.barrier();
  }
}

// After the checkpoint a signal asked for: the loss curve so far, then InterruptedError. The
// ranks wait for the main rank's curve, so that a launcher that stops the job when its first
// process exits (srun --kill-on-bad-exit) does not cut that write short.
[[noreturn]] void stop_on_signal(const TrainOptions& o, const TrainJob& job, const RunState& run, Metrics* metrics,
                                 Progress& progress, Communicator& comm) {
  progress.finish();
  if (run.main) write_loss_curve(metrics->path(), o.out / "loss.svg", o.out.filename().string(), job.loss_label);
  comm.barrier();
  HONE_THROW(InterruptedError, Hint{"run the same command with --resume to continue"},
             "stopped by a signal after step {}; checkpoint saved in {}", run.step,
             checkpoint_dir(o.out, run.step).string());
}

// ---------------------------------------------------------------------------- the outputs

TrainSummary summarise(const RunState& run) {
  TrainSummary s;
  s.steps = run.step;
  s.skipped_steps = run.skipped_steps;
  s.last_loss = run.last_loss;
  s.best_valid_loss = run.best_valid;
  s.best_step = run.best_step;
  s.seconds = run.train_seconds;
  s.tokens = static_cast<std::int64_t>(run.tokens_done);
  s.tokens_per_second = run.train_seconds > 0 ? run.tokens_done / run.train_seconds : 0.0;
  s.peak_rss_mib = peak_rss_mib();
  return s;
}

// --save-dtype as a scalar type (validate_train_options admits f32, bf16 and f16 only).
c10::ScalarType saved_type(ComputeDtype d) {
  return d == ComputeDtype::kBF16 ? c10::kBFloat16 : d == ComputeDtype::kF16 ? c10::kHalf : c10::kFloat;
}

// The run directory's final files (main rank): the adapter (LoRA) or out/model (--full), the loss
// curve and run.json; then the summary line.
void write_outputs(const TrainOptions& o, const TrainJob& job, const RunState& run, const TrainSummary& summary,
                   const Metrics& metrics) {
  const data::TokenStoreMeta& meta = run.data.store->meta;
  if (o.full)
    write_full_model(o.out / "model", run.model, o.model, meta.max_len, saved_type(o.save_dtype), meta.chat_template);
  else
    write_peft_adapter(o.out, o.lora, run.params, run.base_model, meta.tokenizer_fingerprint, meta.chat_template);
  kill_point("outputs.weights");
  write_loss_curve(metrics.path(), o.out / "loss.svg", o.out.filename().string(), job.loss_label);
  kill_point("outputs.curve");
  const json run_json = {{"hone_version", version_string()},
                         {"command", job.command},
                         {"model", o.model.string()},
                         {"data", o.data.string()},
                         {"steps", summary.steps},
                         {"last_loss", summary.last_loss},
                         {"best_valid_loss", run.best_valid < 0 ? json(nullptr) : json(run.best_valid)},
                         {"best_step", run.best_step < 0 ? json(nullptr) : json(run.best_step)},
                         {"trainable_parameters", run.trainable},
                         {"train_seconds", summary.seconds},
                         {"tokens_per_s", summary.tokens_per_second},
                         {"peak_rss_mib", summary.peak_rss_mib},
                         {"world_size", run.plan.world},
                         {"identity", run.identity}};
  json out = run_json;
  if (job.run_json_extra) out.update(json::parse(job.run_json_extra()));
  write_file_atomic(o.out / "run.json", out.dump(2) + "\n");
  spdlog::info(
      "done: {} steps, last loss {:.4f}{}, {:.0f} tok/s; {} in {}", summary.steps, summary.last_loss,
      run.best_valid >= 0 ? fmt::format(", best valid loss {:.4f} at step {}", run.best_valid, run.best_step) : "",
      summary.tokens_per_second, o.full ? "model" : "adapter", (o.full ? o.out / "model" : o.out).string());
}

}  // namespace

// ---------------------------------------------------------------------------- the loop

TrainSummary lora_train(const TrainOptions& o) { return train(o, TrainJob{}); }

TrainSummary train(const TrainOptions& o, const TrainJob& job) {
  validate_train_options(o, job);
  if (o.threads > 0) at::set_num_threads(o.threads);
  const DistEnv env = DistEnv::from_environment();
  const Compute compute = resolve_compute(o.device, o.dtype, env.local_rank);
  Communicator comm(env, {choose_backend(o.dist_backend, compute.device.type(), nccl_built()), compute.device});
  RunState run = load_or_resume(o, job, comm, compute);
  const std::unique_ptr<Metrics> metrics = open_run_directory(o, run);
  run.objective = make_objective(o, job, run);
  run.model.set_training(false);  // the objective's preparation scores with the model as it starts
  run.objective->prepare({&comm, &run.compute, run.data.train, run.data.valid, o.out, run.resumed, run.main,
                          o.eval_batch_size});

  if (run.data.valid && run.step == 0 && o.eval_every > 0) {  // the starting point, for comparison
    const ValidResult v = evaluate(o, run, comm);
    if (run.main) {
      spdlog::info("step 0: valid loss {:.4f}", v.loss);
      metrics->write(valid_line(run, v));
    }
  }
  SignalScope signals;
  Progress progress(o.progress, run.plan.total, o.log_every, run.main);
  run.start_step = run.step;
  while (run.step < run.plan.total) {
    const auto t0 = std::chrono::steady_clock::now();
    const StepResult r = train_step(o, run, comm);
    record_step(run, r, seconds_since(t0), metrics.get(), progress);
    evaluate_and_save(o, run, comm, metrics.get(), progress, r.stop);
    if (r.stop) stop_on_signal(o, job, run, metrics.get(), progress, comm);
  }
  progress.finish();

  const TrainSummary summary = summarise(run);
  if (run.main) write_outputs(o, job, run, summary, *metrics);
  comm.barrier();
  return summary;
}

}  // namespace hone
