// `hone tokenize DIR --train-spm --vocab-size N -o tokenizer.model`: a SentencePiece model trained
// on the ingested training text, for students trained from scratch with a vocabulary of their own.
#pragma once

#include <cstdint>

#include "core/fs.h"

namespace hone::data {

struct SpmTrainOptions {
  std::int64_t vocab_size = 8000;
  int threads = 0;                       // 0: all cores
  std::int64_t max_sentences = 2000000;  // sampled (deterministically) beyond this many lines
};

// Trains on every text of DIR/train.jsonl (texts, prompts, completions, message contents, one
// line per line of text) a BPE model with byte fallback (no unknown bytes, as Llama 2's), and
// writes it to `out` atomically. Returns the number of lines it was trained on.
std::int64_t train_sentencepiece(const fs::path& data_dir, const fs::path& out, const SpmTrainOptions& options);

}  // namespace hone::data
