// hone tokenize: token ids of a text (print mode), or an ingested data set into an HDF5 token
// store (store mode, issue #4).
#include <iostream>

#include "command.h"
#include "core/error.h"
#include "generate/text_generation.h"

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
  CLI::Option* text = cmd->add_option("--text", o->text, "Print the token ids of this text, space-separated, on one line");
  cmd->add_option("-o,--out", o->out, "Output token store (.h5)");
  cmd->add_flag("--add-special", o->add_special, "Add the model's special tokens (bos where the model adds one)")
      ->capture_default_str();
  cmd->add_flag("--chat", o->chat, "Apply the chat template to the text as one user turn with the generation prompt")
      ->capture_default_str();
  cmd->add_option("--max-len", o->max_len, "Maximum sequence length (store mode)")->capture_default_str();
  cmd->add_flag("--pack", o->pack, "Pack several examples into each sequence (store mode)")->capture_default_str();
  return [o, text] {
    if (text->count() == 0) {
      HONE_CHECK(!o->input.empty(), UsageError, "hone tokenize needs --text TEXT, or an ingested directory");
      not_implemented("tokenize (token store mode)", 4);
    }
    auto tokenizer = Tokenizer::load(o->model);
    const std::vector<std::int32_t> ids =
        o->chat ? prompt_tokens(*tokenizer, o->text, /*chat=*/true)
                : tokenizer->encode(o->text, o->add_special, /*parse_special=*/false);
    std::string line;
    for (std::size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
    std::cout << line << "\n";
  };
}

}  // namespace hone::tools
