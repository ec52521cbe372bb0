// hone lora-train: LoRA (or full) fine-tuning of a base model on an HDF5 token store.
#include "options.h"
#include "train_options.h"

namespace hone::tools {

Run register_lora_train(CLI::App& root) {
  struct Options {
    TrainOptions train;
    TrainCliValues cli;
    std::string model, data, out, init_adapter;
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

  return [o, cmd] {
    TrainOptions opts = o->train;
    opts.model = o->model;
    opts.data = o->data;
    opts.out = o->out;
    opts.init_adapter = o->init_adapter;
    o->cli.apply(opts);
    opts.effective_config = cmd->config_to_str(/*default_also=*/true, /*write_description=*/false);
    lora_train(opts);
  };
}

}  // namespace hone::tools
