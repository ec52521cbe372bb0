#include "text/tokenizer_export.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "text/pre_tokenizer.h"
#include "text/vocab.h"

namespace hone {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

// What Tokenizer::load reads: an HF directory, or else a GGUF file.
bool is_gguf_file(const fs::path& p) {
  std::error_code ec;
  return !fs::is_directory(p, ec);
}

VocabSpec load_spec(const fs::path& model_path) {
  VocabSpec spec = is_gguf_file(model_path) ? vocab_from_gguf(GGUFFile::open(model_path)) : vocab_from_hf_dir(model_path);
  finalize_vocab(spec);
  return spec;
}

GGUFValue string_array(const std::vector<std::string>& v) {
  std::vector<GGUFValue> items;
  items.reserve(v.size());
  for (const auto& s : v) items.push_back(GGUFValue::str(s));
  return GGUFValue::array(GGUFType::kString, std::move(items));
}

std::optional<std::string> token_text(const VocabSpec& spec, const std::optional<std::int32_t>& id) {
  if (!id || *id < 0 || *id >= static_cast<std::int32_t>(spec.tokens.size())) return std::nullopt;
  return spec.tokens[*id];
}

ordered_json json_or_null(const std::optional<std::string>& s) { return s ? ordered_json(*s) : ordered_json(nullptr); }

}  // namespace

std::vector<std::pair<std::string, GGUFValue>> tokenizer_gguf_metadata(const fs::path& model_path) {
  std::vector<std::pair<std::string, GGUFValue>> kv;
  if (is_gguf_file(model_path)) {
    const GGUFFile g = GGUFFile::open(model_path);
    for (const auto& [key, value] : g.metadata())
      if (key.rfind("tokenizer.", 0) == 0) kv.emplace_back(key, value);
    HONE_CHECK(!kv.empty(), InputError, "{}: no tokenizer.* metadata to export", model_path.string());
    return kv;
  }
  const VocabSpec spec = load_spec(model_path);
  const bool bpe = spec.kind == TokenizerKind::kByteLevelBPE;
  kv.emplace_back("tokenizer.ggml.model", GGUFValue::str(bpe ? "gpt2" : "llama"));
  if (bpe) {
    auto pre = pre_tokenizer_name_for(spec.pre_regexes, spec.ignore_merges);
    HONE_CHECK(pre.has_value(), InputError,
               Hint{"llama.cpp selects pre-tokenizer regexes by name (tokenizer.ggml.pre); this tokenizer.json's "
                    "pre_tokenizer matches none hone knows"},
               "{}: no llama.cpp pre-tokenizer has the regexes [{}]", spec.source, fmt::join(spec.pre_regexes, " | "));
    kv.emplace_back("tokenizer.ggml.pre", GGUFValue::str(*pre));
  }
  kv.emplace_back("tokenizer.ggml.tokens", string_array(spec.tokens));
  if (!bpe) {
    std::vector<GGUFValue> scores;
    for (float s : spec.scores) scores.push_back(GGUFValue::f32(s));
    kv.emplace_back("tokenizer.ggml.scores", GGUFValue::array(GGUFType::kF32, std::move(scores)));
  }
  std::vector<GGUFValue> types;
  for (TokenType t : spec.types) types.push_back(GGUFValue::i32(static_cast<std::int32_t>(t)));
  kv.emplace_back("tokenizer.ggml.token_type", GGUFValue::array(GGUFType::kI32, std::move(types)));
  if (bpe) {
    std::vector<std::string> merges;
    merges.reserve(spec.merges.size());
    for (const auto& [a, b] : spec.merges) merges.push_back(a + " " + b);
    kv.emplace_back("tokenizer.ggml.merges", string_array(merges));
  }
  auto id = [&](const char* key, const std::optional<std::int32_t>& v) {
    if (v) kv.emplace_back(key, GGUFValue::u32(static_cast<std::uint32_t>(*v)));
  };
  id("tokenizer.ggml.bos_token_id", spec.bos);
  id("tokenizer.ggml.eos_token_id", spec.eos);
  id("tokenizer.ggml.unknown_token_id", spec.unk);
  id("tokenizer.ggml.padding_token_id", spec.pad);
  kv.emplace_back("tokenizer.ggml.add_bos_token", GGUFValue::boolean(spec.add_bos));
  kv.emplace_back("tokenizer.ggml.add_eos_token", GGUFValue::boolean(spec.add_eos));
  if (!spec.chat_template.empty()) kv.emplace_back("tokenizer.chat_template", GGUFValue::str(spec.chat_template));
  return kv;
}

std::vector<fs::path> write_hf_tokenizer_files(const fs::path& model_path, const fs::path& dir,
                                               std::int64_t model_max_length) {
  std::vector<fs::path> written;
  if (!is_gguf_file(model_path)) {
    for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                             "chat_template.jinja"}) {
      if (!fs::exists(model_path / name)) continue;
      write_file_atomic(dir / name, read_file(model_path / name));
      written.push_back(dir / name);
    }
    HONE_CHECK(!written.empty(), InputError, "{}: no tokenizer files to copy", model_path.string());
    return written;
  }
  const VocabSpec spec = load_spec(model_path);
  HONE_CHECK(spec.kind == TokenizerKind::kByteLevelBPE, InputError,
             Hint{"export to hf from an HF directory copies its tokenizer.model instead"},
             "{}: writing tokenizer.json for a SentencePiece GGUF vocabulary is not supported", spec.source);

  // Vocabulary without llama.cpp's "[PAD<id>]" fillers past the tokenizer's end.
  std::size_t n = spec.tokens.size();
  while (n > 0 && spec.types[n - 1] == TokenType::kUnused && spec.tokens[n - 1] == "[PAD" + std::to_string(n - 1) + "]") --n;

  ordered_json added = ordered_json::array();
  ordered_json decoder_entries = ordered_json::object();
  for (std::size_t i = 0; i < n; ++i) {
    const TokenType t = spec.types[i];
    if (t != TokenType::kControl && t != TokenType::kUserDefined) continue;
    const bool special = t == TokenType::kControl;
    added.push_back({{"id", i}, {"content", spec.tokens[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", !special}, {"special", special}});
    decoder_entries[std::to_string(i)] = {{"content", spec.tokens[i]}, {"lstrip", false}, {"normalized", !special},
                                         {"rstrip", false}, {"single_word", false}, {"special", special}};
  }
  ordered_json pretok = ordered_json::array();
  for (const std::string& re : spec.pre_regexes)
    pretok.push_back({{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}});
  pretok.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}});

  ordered_json post;
  const auto bos = token_text(spec, spec.bos), eos = token_text(spec, spec.eos);
  if ((spec.add_bos && bos) || (spec.add_eos && eos)) {
    ordered_json single = ordered_json::array(), pair = ordered_json::array(), specials = ordered_json::object();
    auto special = [&](const std::string& text, std::int32_t id, int type_id) {
      specials[text] = {{"id", text}, {"ids", {id}}, {"tokens", {text}}};
      return ordered_json{{"SpecialToken", {{"id", text}, {"type_id", type_id}}}};
    };
    if (spec.add_bos && bos) single.push_back(special(*bos, *spec.bos, 0));
    single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
    if (spec.add_eos && eos) single.push_back(special(*eos, *spec.eos, 0));
    pair = single;
    if (spec.add_bos && bos) pair.push_back(special(*bos, *spec.bos, 1));
    pair.push_back({{"Sequence", {{"id", "B"}, {"type_id", 1}}}});
    if (spec.add_eos && eos) pair.push_back(special(*eos, *spec.eos, 1));
    post = {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
  } else {
    post = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  }

  ordered_json vocab = ordered_json::object();
  for (std::size_t i = 0; i < n; ++i) {
    HONE_CHECK(!vocab.contains(spec.tokens[i]), InputError, "{}: token {} '{}' appears twice in the vocabulary",
               spec.source, i, spec.tokens[i]);
    vocab[spec.tokens[i]] = i;
  }
  ordered_json merges = ordered_json::array();
  for (const auto& [a, b] : spec.merges) merges.push_back({a, b});

  ordered_json tok = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", pretok}}},
      {"post_processor", post},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", json_or_null(token_text(spec, spec.unk))},
        {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
        {"byte_fallback", false}, {"ignore_merges", spec.ignore_merges}, {"vocab", vocab}, {"merges", merges}}},
  };
  write_file_atomic(dir / "tokenizer.json", tok.dump(1) + "\n");
  written.push_back(dir / "tokenizer.json");

  ordered_json cfg = {{"add_bos_token", spec.add_bos},
                      {"add_eos_token", spec.add_eos},
                      {"added_tokens_decoder", decoder_entries},
                      {"bos_token", json_or_null(bos)},
                      {"clean_up_tokenization_spaces", false},
                      {"eos_token", json_or_null(eos)},
                      {"model_max_length", model_max_length},
                      {"pad_token", json_or_null(token_text(spec, spec.pad))},
                      {"tokenizer_class", "PreTrainedTokenizerFast"},
                      {"unk_token", json_or_null(token_text(spec, spec.unk))}};
  if (!spec.chat_template.empty()) cfg["chat_template"] = spec.chat_template;
  write_file_atomic(dir / "tokenizer_config.json", cfg.dump(2) + "\n");
  written.push_back(dir / "tokenizer_config.json");

  ordered_json stm = ordered_json::object();
  if (bos) stm["bos_token"] = *bos;
  if (eos) stm["eos_token"] = *eos;
  if (auto pad = token_text(spec, spec.pad)) stm["pad_token"] = *pad;
  if (auto unk = token_text(spec, spec.unk)) stm["unk_token"] = *unk;
  write_file_atomic(dir / "special_tokens_map.json", stm.dump(2) + "\n");
  written.push_back(dir / "special_tokens_map.json");
  return written;
}

}  // namespace hone
