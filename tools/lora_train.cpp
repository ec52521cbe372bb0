// hone lora-train: LoRA (or full) fine-tuning of a base model on an HDF5 token store, with the
// cross-entropy (sft) or, on a store of preference pairs, DPO.
#include "core/error.h"
#include "dpo/dpo.h"
#include "options.h"
#include "train_options.h"

namespace hone::tools {

Run register_lora_train(CLI::App& root) {
  enum class Objective { kSft, kDpo };
  struct Options {
    TrainOptions train;
    TrainCliValues cli;
    std::string model, data, out, init_adapter;
    Objective objective = Objective::kSft;
    DpoOptions dpo;
    std::string replay;
  };
  auto o = std::make_shared<Options>();
  TrainOptions& t = o->train;
  CLI::App* cmd = root.add_subcommand("lora-train", "Fine-tune a LoRA adapter (or the whole model) on a token store");
  add_config_options(*cmd);
  cmd->add_option("-m,--model", o->model, "Base model (.gguf or HF directory)")->required();
  cmd->add_option("--data", o->data, "Token store (.h5) from hone tokenize")->required();
  cmd->add_option("-o,--out", o->out, "Run directory (adapter, checkpoints, metrics)")->required();
  add_loop_options(*cmd, t, o->cli);
  add_lora_options(*cmd, t, o->cli);
  cmd->add_option("--init-adapter", o->init_adapter, "Start from this PEFT adapter's factors")->group("LoRA");
  add_choice(*cmd, "--base-dtype", t.base_dtype, {ComputeDtype::kF32, ComputeDtype::kBF16},
             "Frozen base weights: f32, or bf16 (half the memory; needs bf16 compute: --dtype bf16, or auto/fast where "
             "they resolve to it)")
      ->group("Compute");
  cmd->add_flag("--full", t.full, "Train every weight instead of a LoRA adapter")->capture_default_str()->group("LoRA");
  add_choice(*cmd, "--objective", o->objective, {{"sft", Objective::kSft}, {"dpo", Objective::kDpo}},
             "sft: the cross-entropy on the examples' answers; dpo: preference tuning on a store of pairs (hone "
             "tokenize --pairs), against the model the run starts from (--init-adapter's, else the base)")
      ->group("Preference tuning");
  cmd->add_option("--beta", o->dpo.beta, "dpo: how far the policy may move from the reference (the loss's beta)")
      ->capture_default_str()
      ->group("Preference tuning");
  add_choice(*cmd, "--dpo-loss", o->dpo.loss, {DpoLoss::kSigmoid, DpoLoss::kIpo},
             "dpo: sigmoid (DPO) or ipo (IPO, on per-token log-ratios), as TRL's loss_type")
      ->group("Preference tuning");
  cmd->add_option("--replay", o->replay,
                  "dpo: a token store of the original training data, mixed into every step with the cross-entropy")
      ->group("Preference tuning");
  cmd->add_option("--replay-ratio", o->dpo.replay_ratio, "dpo: replay sequences per preference pair in each micro-batch")
      ->capture_default_str()
      ->group("Preference tuning");

  return [o, cmd] {
    TrainOptions opts = o->train;
    opts.model = o->model;
    opts.data = o->data;
    opts.out = o->out;
    opts.init_adapter = o->init_adapter;
    o->cli.apply(opts);
    opts.effective_config = cmd->config_to_str(/*default_also=*/true, /*write_description=*/false);
    if (o->objective == Objective::kSft) {
      HONE_CHECK(o->replay.empty() && cmd->count("--beta") == 0 && cmd->count("--dpo-loss") == 0 &&
                     cmd->count("--replay-ratio") == 0,
                 UsageError, "--beta, --dpo-loss, --replay and --replay-ratio apply to --objective dpo");
      lora_train(opts);
      return;
    }
    DpoOptions dpo = o->dpo;
    dpo.replay = o->replay;
    dpo_train(opts, dpo);
  };
}

}  // namespace hone::tools
