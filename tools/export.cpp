// hone export: PEFT adapter, merged HF checkpoint, GGUF model or GGUF LoRA adapter (issue #6).
#include "command.h"

namespace hone::tools {

Run register_export(CLI::App& root) {
  struct Options {
    std::string model;    // base model
    std::string adapter;  // adapter directory (optional for gguf/hf conversion)
    std::string format;   // peft | hf | gguf | gguf-lora
    std::string out;
    std::string dtype = "f16";
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("export", "Write files that transformers/PEFT, vLLM and llama.cpp load");
  add_config_options(*cmd);
  cmd->add_option("-m,--model", o->model, "Base model (.gguf or HF directory)")->required();
  cmd->add_option("--adapter", o->adapter, "Adapter directory to export or merge");
  cmd->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"peft", "hf", "gguf", "gguf-lora"}))
      ->required();
  cmd->add_option("-o,--out", o->out, "Output file or directory")->required();
  cmd->add_option("--dtype", o->dtype, "Weight type of merged outputs")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0"}))
      ->capture_default_str();
  return [o] { (void)o; not_implemented("export", 6); };  // `o` owns the bound option values
}

}  // namespace hone::tools
