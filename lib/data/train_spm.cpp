#include "data/train_spm.h"

#include <sentencepiece_trainer.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.h"

namespace hone::data {

std::int64_t train_sentencepiece(const fs::path& dir, const fs::path& out, const SpmTrainOptions& o) {
  const fs::path train = dir / "train.jsonl";
  HONE_CHECK(fs::exists(train), InputError, Hint{"pass the directory hone ingest wrote"}, "{}: no train.jsonl",
             dir.string());
  HONE_CHECK(o.vocab_size >= 256 + 4, UsageError, "--vocab-size must be at least 260 (256 byte pieces + specials), got {}",
             o.vocab_size);
  // The corpus: one line of text per line, in a temporary file beside the output.
  AtomicFile corpus(out.string() + ".corpus");
  std::int64_t lines = 0;
  auto add = [&](const std::string& text) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) {
        corpus.write(line);
        corpus.write("\n");
        ++lines;
      }
  };
  std::ifstream in(train);
  std::int64_t n = 0;
  for (std::string row; std::getline(in, row);) {
    ++n;
    if (row.empty()) continue;
    const auto j = nlohmann::json::parse(row, nullptr, /*allow_exceptions=*/false);
    HONE_CHECK(!j.is_discarded() && j.is_object(), InputError, "{}:{}: not a canonical record", train.string(), n);
    for (const char* key : {"text", "prompt", "completion"})
      if (j.contains(key) && j[key].is_string()) add(j[key].get<std::string>());
    if (j.contains("messages") && j["messages"].is_array())
      for (const auto& m : j["messages"])
        if (m.contains("content") && m["content"].is_string()) add(m["content"].get<std::string>());
  }
  HONE_CHECK(lines > 0, InputError, "{}: no text to train a SentencePiece model on", train.string());
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // BPE with byte fallback and digit splitting (as Llama 2's tokenizer); unk 0, bos 1, eos 2 (the
  // SentencePiece defaults Llama uses); deterministic sampling of at most max_sentences lines.
  const std::string args = fmt::format(
      "--input={} --model_prefix= --vocab_size={} --model_type=bpe --byte_fallback=true --split_digits=true "
      "--character_coverage=0.9995 --input_sentence_size={} --shuffle_input_sentence=false --num_threads={} "
      "--unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --minloglevel=2",
      corpus.temp_path().string(), o.vocab_size, o.max_sentences, threads);
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, nullptr, &model);
  HONE_CHECK(status.ok(), InputError, "{}: SentencePiece training failed: {}", train.string(), status.ToString());
  write_file_atomic(out, model);
  return lines;
}

}  // namespace hone::data
