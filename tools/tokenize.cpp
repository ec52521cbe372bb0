// hone tokenize: token ids of a text (print mode), or an ingested data set into an HDF5 token
// store (store mode).
#include <fmt/format.h>

#include <iostream>
#include <optional>

#include "command.h"
#include "core/error.h"
#include "data/tokenize.h"
#include "data/train_spm.h"
#include "generate/text_generation.h"
#include "options.h"
#include "text/chat_template.h"

namespace hone::tools {

Run register_tokenize(CLI::App& root) {
  struct Options {
    std::string input;            // ingested directory (store mode)
    std::string model;            // .gguf file or HF model directory
    std::string text;             // text to tokenize (print mode)
    std::string out;              // FILE.h5 (store mode)
    bool add_special = false;     // print mode: add bos/eos as the model does
    bool chat = false;            // print mode: apply the chat template as one user turn
    std::optional<std::string> system;  // print mode: the system message (as ingest --system)
    data::TokenizeOptions store;  // store mode
    bool train_spm = false;       // train a SentencePiece model instead of tokenizing
    data::SpmTrainOptions spm;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("tokenize", "Tokenize a text, or an ingested data set into an HDF5 token store");
  add_config_options(*cmd);
  cmd->add_option("input", o->input, "Ingested data directory (store mode)");
  cmd->add_option("-m,--model", o->model, "Model whose tokenizer to use (.gguf or HF directory)");
  CLI::Option* text = cmd->add_option("--text", o->text, "Print the token ids of this text, space-separated, on one line");
  cmd->add_option("-o,--out", o->out, "Output token store (.h5)");
  cmd->add_flag("--add-special", o->add_special, "Add the model's special tokens (bos where the model adds one)")
      ->capture_default_str();
  cmd->add_flag("--chat", o->chat, "Apply the chat template to the text as one user turn with the generation prompt")
      ->capture_default_str();
  cmd->add_option("--system", o->system,
                  "Print mode: system message (as ingest --system); with --chat it replaces the template's default "
                  "system turn, without it it leads the text");
  cmd->add_option("--max-len", o->store.max_len, "Store mode: tokens per example (and per packed sequence)")
      ->capture_default_str();
  add_choice(*cmd, "--truncation", o->store.truncation,
             Choices<data::Truncation>{{"error", data::Truncation::kError}, {"left", data::Truncation::kLeft},
                                       {"right", data::Truncation::kRight}},
             "Store mode: an example longer than --max-len is an error, or cut");
  cmd->add_flag("--train-on-prompt", o->store.train_on_prompt, "Store mode: loss on prompt/user tokens too")
      ->capture_default_str();
  cmd->add_flag("--pack", o->store.pack, "Store mode: pack whole examples into sequences of up to --max-len tokens")
      ->capture_default_str();
  cmd->add_flag("--pairs", o->store.pairs,
                "Store mode: tokenize DIR/pairs.jsonl into a preference store (each pair's chosen and rejected "
                "answers as two sequences) instead of the splits")
      ->capture_default_str();
  cmd->add_option("--chat-template", o->store.chat_template, "Jinja chat template file to render with instead of the model's");
  add_choice(*cmd, "--template", o->store.template_mode,
             Choices<data::TemplateMode>{{"auto", data::TemplateMode::kAuto}, {"chat", data::TemplateMode::kChat},
                                         {"none", data::TemplateMode::kNone}},
             "Store mode: chat template (auto: the model's, if any)");
  cmd->add_flag("--train-spm", o->train_spm,
                "Train a SentencePiece model (BPE, byte fallback) on DIR's training text; -o names the .model file")
      ->capture_default_str();
  cmd->add_option("--vocab-size", o->spm.vocab_size, "With --train-spm: vocabulary size")->capture_default_str();
  cmd->add_option("--threads", o->store.threads, "Store mode: threads (0: all cores; output does not depend on it)")
      ->capture_default_str();
  return [o, text] {
    if (o->train_spm) {
      HONE_CHECK(!o->input.empty() && !o->out.empty(), UsageError, "--train-spm needs DIR and -o FILE.model");
      o->spm.threads = o->store.threads;
      const auto lines = data::train_sentencepiece(o->input, o->out, o->spm);
      std::cout << fmt::format("wrote {} (vocab {}, trained on {} lines)\n", o->out, o->spm.vocab_size, lines);
      return;
    }
    HONE_CHECK(!o->model.empty(), UsageError, "hone tokenize needs --model PATH (the tokenizer to use)");
    if (text->count() == 0) {
      HONE_CHECK(!o->input.empty(), UsageError, "hone tokenize needs --text TEXT, or an ingested directory");
      HONE_CHECK(!o->out.empty(), UsageError, "hone tokenize DIR needs -o FILE.h5");
      const auto r = data::tokenize_dataset(o->input, o->out, o->model, o->store);
      std::cout << "wrote " << o->out << "\n";
      for (const auto& [split, n] : r.examples)
        std::cout << fmt::format("  {:<5} {}, {} tokens, {} with loss, {} sequences{}\n", split,
                                 o->store.pairs ? fmt::format("{} pairs", r.pairs.at(split)) : fmt::format("{} examples", n),
                                 r.tokens.at(split), r.loss_tokens.at(split), r.sequences.at(split),
                                 r.truncated.count(split) ? fmt::format(", {} truncated", r.truncated.at(split)) : "");
      if (o->store.pack) std::cout << fmt::format("  packing efficiency (train) {:.1f}%\n", 100 * r.packing_efficiency);
      return;
    }
    auto tokenizer = Tokenizer::load(o->model);
    select_chat_template(*tokenizer, o->store.chat_template);
    const std::vector<std::int32_t> ids =
        o->chat || o->system ? prompt_tokens(*tokenizer, o->text, o->chat, o->system)
                             : tokenizer->encode(o->text, o->add_special, /*parse_special=*/false);
    std::string line;
    for (std::size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
    std::cout << line << "\n";
  };
}

}  // namespace hone::tools
