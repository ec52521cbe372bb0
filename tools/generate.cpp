// hone generate: complete a prompt with a model (and adapter); prints only the completion.
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <optional>

#include "command.h"
#include "generate/text_generation.h"
#include "options.h"

namespace hone::tools {

Run register_generate(CLI::App& root) {
  struct Options {
    std::string model;                 // .gguf or HF directory
    std::string adapter;               // LoRA adapter directory
    std::string chat_template;         // Jinja file that replaces the model's (or adapter's) template
    std::optional<std::string> system;  // system message (the one the model was tuned with)
    std::string prompt;
    bool chat = false;                 // apply the chat template as one user turn
    TextGenerationOptions generation;  // length, sampling, stop strings
    int threads = 0;                   // CPU threads (0: all cores)
    bool warmup = false;               // one untimed pass first (benchmarks)
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("generate", "Complete a prompt; prints only the completion on stdout");
  add_config_options(*cmd);
  cmd->add_option("-m,--model", o->model, "Model (.gguf or HF directory)")->required();
  cmd->add_option("--adapter", o->adapter, "PEFT LoRA adapter directory, merged into the model");
  cmd->add_option("--system", o->system,
                  "System message (the one the data were ingested with, ingest --system); with --chat it replaces "
                  "the template's default system turn, without it it leads the prompt");
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text")->required();
  cmd->add_flag("--chat", o->chat, "Apply the chat template as one user turn")->capture_default_str();
  cmd->add_option("--chat-template", o->chat_template,
                  "Jinja chat template file (default: the adapter's training template, else the model's)");
  cmd->add_option("-n,--max-new-tokens", o->generation.max_new_tokens, "Tokens to generate at most")->capture_default_str();
  cmd->add_option("--temperature", o->generation.sampling.temperature, "Sampling temperature (0: greedy)")
      ->capture_default_str();
  add_top_k_option(*cmd, o->generation.sampling.top_k, "sample among them (0: all)");
  cmd->add_option("--top-p", o->generation.sampling.top_p, "Sample among the smallest set reaching probability p")
      ->capture_default_str();
  cmd->add_option("--seed", o->generation.sampling.seed, "Sampling seed")->capture_default_str();
  cmd->add_option("--stop", o->generation.stop, "Stop before this string (repeatable)");
  cmd->add_flag("--ignore-eos", o->generation.ignore_eos, "Do not stop at end-of-turn tokens (benchmarks)")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--warmup", o->warmup, "Run one untimed pass first, so -v timings exclude one-time start-up costs")
      ->capture_default_str();
  return [o] {
    if (o->threads > 0) at::set_num_threads(o->threads);
    LanguageModel model = load_language_model(o->model);
    apply_adapter(model, o->adapter, o->chat_template, o->model);
    model.decoder->pack_for_cpu_inference();
    const auto prompt = prompt_tokens(*model.tokenizer, o->prompt, o->chat, o->system);
    if (o->warmup) {
      TextGenerationOptions once = o->generation;
      once.max_new_tokens = 2;
      generate_text(model, prompt, once);
    }
    const TextGenerationResult r = generate_text(model, prompt, o->generation);
    std::cout << r.text << std::flush;
    if (!r.text.empty() && r.text.back() != '\n') std::cout << "\n";
    const auto n = static_cast<double>(r.tokens.size());
    spdlog::debug("prompt {} tokens in {:.3f} s ({:.1f} tokens/s); generated {} tokens in {:.3f} s ({:.1f} tokens/s); stop: {}",
                  r.prompt_tokens, r.prefill_seconds, r.prompt_tokens / std::max(r.prefill_seconds, 1e-9), r.tokens.size(),
                  r.decode_seconds, n / std::max(r.decode_seconds, 1e-9), r.stop_reason);
  };
}

}  // namespace hone::tools
