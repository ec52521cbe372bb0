// Text in, text out: a model with its tokenizer, prompts (plain or chat-formatted), generation
// that stops at end-of-turn tokens or stop strings, and the completion decoded back to text.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/adapter.h"
#include "model/decoder.h"
#include "model/generate.h"
#include "text/tokenizer.h"

namespace hone {

// A decoder and the tokenizer that goes with it, checked against each other.
struct LanguageModel {
  std::unique_ptr<Decoder> decoder;
  std::unique_ptr<Tokenizer> tokenizer;
};

// Loads both from a .gguf file or an HF model directory. InputError when the tokenizer has more
// tokens than the model has embedding rows.
LanguageModel load_language_model(const fs::path& path, const LoadOptions& options = {});

// Merges the PEFT adapter in `adapter_dir` into `model` (checked against its config and its
// tokenizer; `base_name` names the base in errors), and selects the chat template prompts are
// rendered with: the file `chat_template` (--chat-template) when given, else the adapter's
// training template, else the model's own. With no `adapter_dir` it only selects. Returns the
// adapter read (empty without one).
LoraAdapter apply_adapter(LanguageModel& model, const fs::path& adapter_dir, const fs::path& chat_template,
                          const std::string& base_name);

// Prompt token ids. chat: `text` becomes one user turn of the model's chat template followed by
// the generation prompt (the template's special tokens are parsed as such); otherwise the text is
// encoded with the model's special tokens (bos where the model adds one) and no special-token
// parsing, so user text can never inject control tokens.
std::vector<std::int32_t> prompt_tokens(const Tokenizer& tokenizer, const std::string& text, bool chat,
                                        const std::optional<std::string>& system = std::nullopt);

struct TextGenerationOptions {
  std::int64_t max_new_tokens = 128;
  SamplingOptions sampling;
  std::vector<std::string> stop;  // stop strings: the completion ends before the first one
  bool ignore_eos = false;        // keep going past end-of-turn tokens (benchmarks)
};

struct TextGenerationResult {
  std::string text;                  // the completion, without the stop token or stop string
  std::vector<std::int32_t> tokens;  // generated ids (including a final stop token)
  std::vector<double> logprobs;      // the model's log-probability of each of `tokens` (GenerationResult)
  std::string stop_reason;           // "eos", "stop string", "length"
  std::int64_t prompt_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

TextGenerationResult generate_text(const LanguageModel& model, const std::vector<std::int32_t>& prompt,
                                   const TextGenerationOptions& options);

// The model's confidence in its answer: the mean of `r.logprobs` over the answer's tokens, that
// is every generated token except the final end-of-turn token when generation stopped on one
// (stop_reason "eos"). A completion cut by a stop string counts all its tokens, those that spell
// the stop string too; one cut by length counts all. NaN when the answer has no tokens (the model
// ended its turn at once, or max_new_tokens is 0). UsageError when `r.logprobs` and `r.tokens`
// differ in length.
double mean_logprob(const TextGenerationResult& r);

}  // namespace hone
