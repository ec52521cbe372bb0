// The HDF5 token store that `hone tokenize` writes and training, distillation and evaluation
// read (layout: docs/formats.md, "Token store").
//
//   /<split>/input_ids        int32 [tokens]        chunked, deflate
//   /<split>/loss_mask        uint8 [tokens]        1 where the token is a training target
//   /<split>/example_offsets  int64 [examples + 1]  example i is tokens [o[i], o[i+1])
//   /<split>/sequence_offsets int64 [sequences + 1] indices into example_offsets: sequence j packs
//                                                   examples [s[j], s[j+1]) (one each unpacked)
//   root attributes: the tokenizer fingerprint and special ids, template, max_len, packing, ...
//
// A preference store (root attribute `preference` = 1, `hone tokenize --pairs`) holds pairs:
// in each split, sequence 2i is pair i's chosen answer and 2i + 1 its rejected one, one example
// per sequence, each with at least one loss token.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"

namespace hone {
class Tokenizer;
}

namespace hone::data {

inline constexpr std::int64_t kTokenStoreVersion = 1;

struct TokenStoreMeta {
  std::string tokenizer_fingerprint;  // Tokenizer::fingerprint()
  std::int64_t vocab_size = 0;
  std::int64_t bos_id = -1, eos_id = -1, pad_id = -1;  // -1: none
  std::string template_name;          // "chat" (rendered with chat_template) or "none"
  std::string chat_template;          // the Jinja template the examples were rendered with ("" for none)
  std::int64_t max_len = 0;
  bool packed = false;
  bool train_on_prompt = false;
  bool preference = false;            // preference pairs: sequences 2i (chosen) and 2i + 1 (rejected)
  std::string manifest_sha256;        // of the ingest manifest.json
  std::string model;                  // the model path the tokenizer came from (informational)
};

// One split, fully in memory (a split of Banking77 is ~0.3 M tokens).
struct TokenSplit {
  std::vector<std::int32_t> input_ids;
  std::vector<std::uint8_t> loss_mask;
  std::vector<std::int64_t> example_offsets{0};
  std::vector<std::int64_t> sequence_offsets{0};
  std::int64_t examples() const { return static_cast<std::int64_t>(example_offsets.size()) - 1; }
  std::int64_t sequences() const { return static_cast<std::int64_t>(sequence_offsets.size()) - 1; }
  std::int64_t tokens() const { return static_cast<std::int64_t>(input_ids.size()); }
};

// SHA-256 of a split's contents (ids, loss mask, example and sequence offsets): what a file
// derived from the split (a teacher cache) records to prove it belongs to it.
std::string split_sha256(const TokenSplit& split);

// Writes the store atomically (temporary file, then rename).
void write_token_store(const fs::path& path, const TokenStoreMeta& meta, const std::map<std::string, TokenSplit>& splits);

struct TokenStore {
  TokenStoreMeta meta;
  std::map<std::string, TokenSplit> splits;  // "train", "valid", "test" (those present)
};

// Reads and validates a store (offsets monotonic and in range, ids inside the vocabulary; for a
// preference store, whole pairs of one-example sequences, each with a loss token): InputError
// naming the file and the dataset (and the pair) otherwise.
TokenStore read_token_store(const fs::path& path);

// The split `name` of `store` (read from `path`); InputError naming the file and the split when it
// is missing or holds no sequence.
const TokenSplit& require_split(const TokenStore& store, const fs::path& path, const std::string& name);

// InputError naming both fingerprints when the store was not made with this tokenizer.
void check_tokenizer(const TokenStore& store, const fs::path& store_path, const Tokenizer& tokenizer,
                     const std::string& model);

}  // namespace hone::data
