// hone generate: complete a prompt with a model (and adapter), greedy or sampled (issue #3).
#include "command.h"

namespace hone::tools {

Run register_generate(CLI::App& root) {
  struct Options {
    std::string model;            // .gguf or HF directory
    std::string adapter;          // LoRA adapter directory
    std::string prompt;
    bool chat = false;            // apply the chat template as one user turn
    int max_new_tokens = 128;
    double temperature = 0.0;     // 0: greedy
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("generate", "Complete a prompt; prints only the completion on stdout");
  add_config_options(*cmd);
  cmd->add_option("-m,--model", o->model, "Model (.gguf or HF directory)")->required();
  cmd->add_option("--adapter", o->adapter, "LoRA adapter directory");
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text")->required();
  cmd->add_flag("--chat", o->chat, "Apply the chat template as one user turn")->capture_default_str();
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "Tokens to generate at most")->capture_default_str();
  cmd->add_option("--temperature", o->temperature, "Sampling temperature (0: greedy)")->capture_default_str();
  return [o] { (void)o; not_implemented("generate", 3); };  // `o` owns the bound option values
}

}  // namespace hone::tools
