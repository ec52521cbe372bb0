// hone tokenize: token ids of a text (issue #3), or an ingested directory into an HDF5 token
// store (issue #4).
#include "command.h"

namespace hone::tools {

Run register_tokenize(CLI::App& root) {
  struct Options {
    std::string input;          // ingested directory (store mode)
    std::string model;          // .gguf file or HF model directory
    std::string text;           // text to tokenize (print mode)
    std::string out;            // FILE.h5 (store mode)
    bool add_special = false;   // add bos/eos as the model does
    bool chat = false;          // apply the chat template as one user turn
    int max_len = 2048;
    bool pack = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("tokenize", "Tokenize a text, or an ingested data set into an HDF5 token store");
  add_config_options(*cmd);
  cmd->add_option("input", o->input, "Ingested data directory (store mode)");
  cmd->add_option("-m,--model", o->model, "Model whose tokenizer to use (.gguf or HF directory)")->required();
  cmd->add_option("--text", o->text, "Print the token ids of this text");
  cmd->add_option("-o,--out", o->out, "Output token store (.h5)");
  cmd->add_flag("--add-special", o->add_special, "Add the model's special tokens (bos)")->capture_default_str();
  cmd->add_flag("--chat", o->chat, "Apply the chat template to the text as one user turn")->capture_default_str();
  cmd->add_option("--max-len", o->max_len, "Maximum sequence length")->capture_default_str();
  cmd->add_flag("--pack", o->pack, "Pack several examples into each sequence")->capture_default_str();
  return [o] { not_implemented("tokenize", o->text.empty() ? 4 : 3); };
}

}  // namespace hone::tools
