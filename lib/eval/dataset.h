// The examples `hone eval` measures a model on: canonical records (as `hone ingest` writes them)
// read from an ingested directory's split or a .jsonl file, and their prompt and answer tokens,
// made exactly as `hone tokenize` makes them for training.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"
#include "data/tokenize.h"
#include "text/chat_template.h"

namespace hone {

class Tokenizer;

struct EvalRecord {
  std::string id;
  std::string line;    // the canonical JSON record
  std::string where;   // file:line
  std::string target;  // the reference answer (completion / last assistant message)
  std::string label;   // classification label ("" when none)
};

struct EvalDataset {
  std::vector<EvalRecord> records;
  std::vector<std::string> labels;  // sorted; empty unless every record has a label
  std::string source;               // the .jsonl file read
};

// The records of `data` (a directory `hone ingest` wrote: its `split`.jsonl, with the labels of its
// manifest; or a .jsonl file): the first `limit` (0: all), then `sample` evenly spaced ones (0: all;
// a split sorted by label keeps every label). Completion records are the reference answer; chat
// records must end with an assistant message. InputError for anything else.
EvalDataset read_eval_dataset(const fs::path& data, const std::string& split, std::int64_t limit, std::int64_t sample);

// An example's tokens: the prompt, then the answer (the last run of loss tokens: the last
// assistant turn up to its end-of-turn token).
struct EncodedExample {
  std::vector<std::int32_t> prompt, answer;
};

// Renders records with the tokenizer's chat template (when it has one) as training does.
class ExampleEncoder {
 public:
  explicit ExampleEncoder(const Tokenizer& tokenizer);
  ExampleEncoder(const ExampleEncoder&) = delete;  // format_ points into chat_
  ExampleEncoder& operator=(const ExampleEncoder&) = delete;

  // InputError naming `where` when the record has no prompt or no answer.
  EncodedExample encode(const std::string& line, const std::string& where) const;

  // Every label's answer tokens, in `labels` order: the label as the completion of `record`'s
  // prompt (so that chat and system turns are those of the examples).
  std::vector<std::vector<std::int32_t>> label_answers(const EvalRecord& record,
                                                       const std::vector<std::string>& labels) const;

 private:
  std::optional<ChatTemplate> chat_;
  data::ExampleFormat format_;
};

}  // namespace hone
