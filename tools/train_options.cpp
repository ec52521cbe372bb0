#include "train_options.h"

#include "options.h"

namespace hone::tools {

void TrainCliValues::apply(TrainOptions& t) const {
  t.lora.targets = parse_lora_targets(targets);
  t.lora.layers = parse_lora_layers(layers);
  t.dump_grads = dump_grads;
  t.shuffle = !no_shuffle;
}

void add_lora_options(CLI::App& cmd_, TrainOptions& t, TrainCliValues& v) {
  CLI::App* cmd = &cmd_;
  cmd->add_option("--targets", v.targets, "LoRA modules: all-linear, or a list of q,k,v,o,gate,up,down (phi3: qkv,o,gate_up,down)")
      ->capture_default_str()->group("LoRA");
  cmd->add_option("-r,--rank", t.lora.r, "LoRA rank")->capture_default_str()->group("LoRA");
  cmd->add_option("--alpha", t.lora.alpha, "LoRA alpha (scale alpha / rank)")->capture_default_str()->group("LoRA");
  cmd->add_option("--lora-dropout", t.lora.dropout, "Dropout on the LoRA input")->capture_default_str()->group("LoRA");
  cmd->add_flag("--rslora", t.lora.rslora, "Rank-stabilised scale alpha / sqrt(rank)")->capture_default_str()->group("LoRA");
  cmd->add_option("--lora-layers", v.layers,
                  "Decoder layers to adapt, e.g. 20-29 or 0,2,4-6 (PEFT's layers_to_transform); the backward pass "
                  "stops at the lowest")
      ->capture_default_str()->group("LoRA");
  cmd->add_option("--loraplus-lr-ratio", t.loraplus_lr_ratio, "LoRA+: lora_B learns at this multiple of --lr (1: off)")
      ->capture_default_str()->group("LoRA");
}

void add_loop_options(CLI::App& cmd_, TrainOptions& t, TrainCliValues& v) {
  CLI::App* cmd = &cmd_;
  cmd->add_option("--max-steps", t.max_steps, "Stop after N optimiser steps (0: use --epochs)")->capture_default_str();
  cmd->add_option("--epochs", t.epochs, "Passes over the training split")->capture_default_str();
  cmd->add_flag("--resume", t.resume, "Continue from the last checkpoint in --out (start fresh if there is none)")
      ->capture_default_str();
  cmd->add_option("--resume-from", t.resume_from,
                  "Continue from this checkpoint of --out (a directory under out/checkpoints, or its name "
                  "step-N); newer checkpoints are moved aside");

  const std::string opt = "Optimisation";
  cmd->add_option("--lr", t.lr, "Peak learning rate")->capture_default_str()->group(opt);
  add_choice(*cmd, "--schedule", t.schedule,
             Choices<Schedule>{{"cosine", Schedule::kCosine}, {"linear", Schedule::kLinear}, {"constant", Schedule::kConstant}},
             "Learning rate after warm-up")
      ->group(opt);
  cmd->add_option("--min-lr-ratio", t.min_lr_ratio, "Final learning rate as a fraction of the peak")->capture_default_str()->group(opt);
  cmd->add_option("--warmup-steps", t.warmup_steps, "Linear warm-up steps (-1: --warmup-ratio of the run)")->capture_default_str()->group(opt);
  cmd->add_option("--warmup-ratio", t.warmup_ratio, "Warm-up as a fraction of the steps")->capture_default_str()->group(opt);
  cmd->add_option("--weight-decay", t.weight_decay, "AdamW decoupled weight decay (not on norms and biases)")->capture_default_str()->group(opt);
  cmd->add_option("--adam-beta1", t.adam_beta1, "AdamW beta1")->capture_default_str()->group(opt);
  cmd->add_option("--adam-beta2", t.adam_beta2, "AdamW beta2")->capture_default_str()->group(opt);
  cmd->add_option("--adam-eps", t.adam_eps, "AdamW epsilon")->capture_default_str()->group(opt);
  cmd->add_option("--max-grad-norm", t.max_grad_norm, "Clip the global gradient norm (0: off)")->capture_default_str()->group(opt);
  cmd->add_option("-b,--batch-size", t.batch_size, "Sequences per micro-batch (per rank)")->capture_default_str()->group(opt);
  cmd->add_option("--grad-accum", t.grad_accum, "Micro-batches per optimiser step")->capture_default_str()->group(opt);
  cmd->add_flag("--freeze-embeddings", t.freeze_embeddings,
                "Training every weight: keep the token embedding and the output head as loaded (fewer trainable "
                "weights, a lighter step)")
      ->capture_default_str()->group(opt);
  cmd->add_option("--seed", t.seed, "Seed of the LoRA init, the data order and dropout")->capture_default_str()->group(opt);
  cmd->add_flag("--no-shuffle", v.no_shuffle, "Keep the store's sequence order")->group(opt);

  const std::string comp = "Compute";
  add_device_option(*cmd, t.device)->group(comp);
  add_dtype_option(*cmd, t.dtype, "the training step's, by autocast over float32 weights (no f16: no loss scaling)")->group(comp);
  cmd->add_flag("--checkpoint-activations", t.checkpoint_activations, "Recompute each layer in the backward pass")->capture_default_str()->group(comp);
  cmd->add_option("--ce-chunk", t.ce_chunk, "Output-head rows per cross-entropy chunk")->capture_default_str()->group(comp);
  cmd->add_option("--threads", t.threads, "CPU threads (0: all cores)")->capture_default_str()->group(comp);
  add_choice(*cmd, "--dist-backend", t.dist_backend,
             Choices<DistBackend>{{"auto", DistBackend::kAuto}, {"nccl", DistBackend::kNccl}, {"gloo", DistBackend::kGloo}},
             "Several processes (torchrun, srun): the collective library; auto is NCCL on CUDA when built in, else Gloo")
      ->group(comp);

  const std::string run = "Evaluation and output";
  cmd->add_option("--eval-every", t.eval_every, "Steps between valid-split evaluations (0: at the end only)")->capture_default_str()->group(run);
  cmd->add_option("--eval-batch-size", t.eval_batch_size, "Sequences per evaluation batch")->capture_default_str()->group(run);
  cmd->add_option("--eval-max-sequences", t.eval_max_sequences, "Evaluate on the first N valid sequences (0: all)")->capture_default_str()->group(run);
  cmd->add_option("--save-every", t.save_every, "Steps between checkpoints (0: at the end and on SIGINT/SIGTERM)")->capture_default_str()->group(run);
  cmd->add_option("--keep-checkpoints", t.keep_checkpoints, "Checkpoints kept (the newest)")->capture_default_str()->group(run);
  cmd->add_option("--log-every", t.log_every, "Steps between progress lines when stderr is not a terminal")->capture_default_str()->group(run);
  add_choice(*cmd, "--save-dtype", t.save_dtype, {ComputeDtype::kF32, ComputeDtype::kBF16, ComputeDtype::kF16},
             "Training every weight: the saved model's weights (training and checkpoints stay f32)")
      ->group(run);
  cmd->add_option("--max-bad-steps", t.max_bad_steps, "Stop after this many non-finite steps in a row")->capture_default_str()->group(run);
  add_choice(*cmd, "--progress", t.progress,
             Choices<ProgressMode>{{"auto", ProgressMode::kAuto}, {"bar", ProgressMode::kBar}, {"log", ProgressMode::kLog},
                                   {"none", ProgressMode::kNone}},
             "Progress on stderr: auto (a bar on a terminal, log lines otherwise), bar, log or none")
      ->group(run);

  cmd->add_option("--dump-grads", v.dump_grads, "Debugging: write every step's gradients to DIR/step-N.safetensors")
      ->group(run);
}

}  // namespace hone::tools
