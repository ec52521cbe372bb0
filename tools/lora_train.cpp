// hone lora-train: LoRA fine-tuning of a base model on an HDF5 token store (issue #5).
#include "command.h"

namespace hone::tools {

Run register_lora_train(CLI::App& root) {
  struct Options {
    std::string model;      // base model: .gguf or HF directory
    std::string data;       // token store (.h5)
    std::string out;        // run directory
    int max_steps = 0;      // 0: run --epochs
    double epochs = 1.0;
    bool resume = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("lora-train", "Fine-tune a LoRA adapter on a token store");
  add_config_options(*cmd);
  cmd->add_option("-m,--model", o->model, "Base model (.gguf or HF directory)")->required();
  cmd->add_option("--data", o->data, "Token store (.h5) from hone tokenize")->required();
  cmd->add_option("-o,--out", o->out, "Run directory (adapter, checkpoints, metrics)")->required();
  cmd->add_option("--max-steps", o->max_steps, "Stop after N optimiser steps (0: use --epochs)")->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "Passes over the training split")->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Continue from the last checkpoint in --out")->capture_default_str();
  return [o] { (void)o; not_implemented("lora-train", 5); };  // `o` owns the bound option values
}

}  // namespace hone::tools
