// `hone tokenize DIR -o FILE.h5 --model PATH`: ingested examples (train/valid/test.jsonl) into
// a token store, with the model's tokenizer and chat template, loss masks on what the model must
// learn to write, optional packing. With --pairs, the preference pairs of DIR/pairs.jsonl into a
// preference store: each pair's chosen and rejected answers as two sequences rendered as SFT
// examples are.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/fs.h"
#include "data/token_store.h"

namespace hone {
class Tokenizer;
class ChatTemplate;
}

namespace hone::data {

enum class Truncation { kError, kLeft, kRight };

// Whether examples are rendered through a chat template.
enum class TemplateMode {
  kAuto,  // the model's chat template if it has one
  kChat,  // a chat template (an error when there is none)
  kNone,  // plain text
};

struct TokenizeOptions {
  std::int64_t max_len = 2048;         // tokens per example (and per packed sequence)
  Truncation truncation = Truncation::kError;  // what to do with a longer example
  bool train_on_prompt = false;        // loss on prompt/user tokens too
  bool pack = false;                   // pack whole examples into sequences of up to max_len tokens
  TemplateMode template_mode = TemplateMode::kAuto;
  fs::path chat_template;              // a Jinja file to render with instead of the model's template
  int threads = 0;                     // 0: all cores; the output does not depend on it
  bool pairs = false;                  // tokenize DIR/pairs.jsonl into a preference store (never packed)
};

// The tokens of one canonical example (one line of an ingested .jsonl) and their loss mask.
struct TokenizedExample {
  std::vector<std::int32_t> ids;
  std::vector<std::uint8_t> loss;
};

// What tokenize_example needs besides the record, worked out once per run.
struct ExampleFormat {
  const Tokenizer* tokenizer = nullptr;
  const ChatTemplate* chat = nullptr;  // null: no chat template (prompt text, completion, eos)
  std::vector<std::int32_t> stop_ids;      // end-of-turn tokens: the loss ends after the first one
  bool train_on_prompt = false;
};

// Turns one canonical record (JSON text) into tokens. With a chat template: prompt -> user turn,
// completion -> assistant turn; else plain text with eos. Loss falls on completion / assistant
// tokens up to and including the end-of-turn token.
TokenizedExample tokenize_example(const ExampleFormat& format, const std::string& json_line, const std::string& where);

struct TokenizeReport {
  // Per split. With --pairs, `truncated` counts pairs with either answer cut.
  std::map<std::string, std::int64_t> examples, tokens, loss_tokens, sequences, truncated;
  std::map<std::string, std::int64_t> pairs;  // with --pairs: preference pairs (sequences / 2)
  double packing_efficiency = 0;  // train tokens / (train sequences x max_len), when packed
};

// Tokenizes an ingested directory into the store `out` (atomically). With options.pairs it reads
// pairs.jsonl (pairs_schema in corrections.h) instead of the splits: sequence 2i of a split is its pair i's chosen answer and 2i + 1
// the rejected one, each exactly what tokenize_example makes of the completion record
// {"format":"completion","system":..,"prompt":..,"completion":<the answer>}.
TokenizeReport tokenize_dataset(const fs::path& data_dir, const fs::path& out, const fs::path& model,
                                const TokenizeOptions& options);

}  // namespace hone::data
