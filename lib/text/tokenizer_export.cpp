#include "text/tokenizer_export.h"

#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "text/pre_tokenizer.h"
#include "text/tokenizer_json.h"
#include "text/vocab.h"

namespace hone {

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
  // llama.cpp prepends a space to SentencePiece text unless told not to (Gemma 3 is not): the
  // directory's normalizer says which, and without the key its GGUF would tokenize otherwise.
  if (!bpe) kv.emplace_back("tokenizer.ggml.add_space_prefix", GGUFValue::boolean(spec.add_space_prefix));
  if (!spec.chat_template.empty()) kv.emplace_back("tokenizer.chat_template", GGUFValue::str(spec.chat_template));
  return kv;
}

// ---------------------------------------------------------------------------- HF tokenizer files

namespace {

// nlohmann's ordered_map looks every key up linearly on insertion; the vocabulary has up to
// hundreds of thousands of keys, so entries go straight into its underlying vector once the
// caller has checked that the keys are distinct.
void append_entry(ordered_json& object, std::string key, ordered_json value) {
  auto& entries = static_cast<std::vector<std::pair<const std::string, ordered_json>>&>(
      object.get_ref<ordered_json::object_t&>());
  entries.emplace_back(std::move(key), std::move(value));
}

ordered_json added_token(std::size_t id, const std::string& content, bool normalized, bool special) {
  return {{"id", id},       {"content", content},       {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", normalized}, {"special", special}};
}

// tokenizer.json for a byte-level BPE GGUF vocabulary: its merges, and its pre-tokenizer regexes
// as Split steps before a ByteLevel step without its own regex.
ordered_json bpe_tokenizer_json(const VocabSpec& spec, std::size_t n) {
  ordered_json pretok = ordered_json::array();
  for (const std::string& re : spec.pre_regexes)
    pretok.push_back({{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}});
  pretok.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}});
  ordered_json post = hf_template_processing(spec);
  if (post.is_null())
    post = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  ordered_json merges = ordered_json::array();
  for (const auto& [a, b] : spec.merges) merges.push_back({a, b});
  const auto unk = hf_token_text(spec, spec.unk);
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", hf_added_tokens(spec, n, /*sentencepiece=*/false)},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", pretok}}},
      {"post_processor", post},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", json_or_null(unk)}, {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
        {"ignore_merges", spec.ignore_merges}, {"vocab", hf_vocab(spec, n)}, {"merges", merges}}},
  };
}

// tokenizer_config.json: special tokens, add_bos/add_eos, the added tokens by id, the chat template.
ordered_json tokenizer_config(const VocabSpec& spec, const ordered_json& added, std::int64_t model_max_length) {
  ordered_json decoder_entries = ordered_json::object();
  for (const ordered_json& t : added) {
    ordered_json entry = t;
    entry.erase("id");
    append_entry(decoder_entries, std::to_string(t["id"].get<std::size_t>()), std::move(entry));
  }
  ordered_json cfg = {{"add_bos_token", spec.add_bos},
                      {"add_eos_token", spec.add_eos},
                      {"added_tokens_decoder", decoder_entries},
                      {"bos_token", json_or_null(hf_token_text(spec, spec.bos))},
                      {"clean_up_tokenization_spaces", false},
                      {"eos_token", json_or_null(hf_token_text(spec, spec.eos))},
                      {"model_max_length", model_max_length},
                      {"pad_token", json_or_null(hf_token_text(spec, spec.pad))},
                      {"tokenizer_class", "PreTrainedTokenizerFast"},
                      {"unk_token", json_or_null(hf_token_text(spec, spec.unk))}};
  if (!spec.chat_template.empty()) cfg["chat_template"] = spec.chat_template;
  return cfg;
}

ordered_json special_tokens_map(const VocabSpec& spec) {
  ordered_json stm = ordered_json::object();
  if (auto bos = hf_token_text(spec, spec.bos)) stm["bos_token"] = *bos;
  if (auto eos = hf_token_text(spec, spec.eos)) stm["eos_token"] = *eos;
  if (auto pad = hf_token_text(spec, spec.pad)) stm["pad_token"] = *pad;
  if (auto unk = hf_token_text(spec, spec.unk)) stm["unk_token"] = *unk;
  return stm;
}

// JSON text of `j`; InputError (not nlohmann's type_error) when a vocabulary string is not UTF-8.
std::string dump_json(const ordered_json& j, int indent, const VocabSpec& spec) {
  try {
    return j.dump(indent) + "\n";
  } catch (const nlohmann::json::type_error& e) {
    HONE_THROW(InputError, Hint{"tokenizer.json holds text; HF tokenizers cannot load byte strings"},
               "{}: the vocabulary cannot be written as JSON: {}", spec.source, e.what());
  }
}

}  // namespace

std::size_t hf_exported_size(const VocabSpec& spec) {
  std::size_t n = spec.tokens.size();
  while (n > 0 && spec.types[n - 1] == TokenType::kUnused && spec.tokens[n - 1] == "[PAD" + std::to_string(n - 1) + "]")
    --n;
  return n;
}

std::optional<std::string> hf_token_text(const VocabSpec& spec, const std::optional<std::int32_t>& id) {
  if (!id || *id < 0 || *id >= static_cast<std::int32_t>(spec.tokens.size())) return std::nullopt;
  return spec.tokens[*id];
}

ordered_json hf_vocab(const VocabSpec& spec, std::size_t n) {
  std::unordered_map<std::string_view, std::size_t> seen;
  seen.reserve(n);
  ordered_json vocab = ordered_json::object();
  vocab.get_ref<ordered_json::object_t&>().reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto [it, fresh] = seen.emplace(spec.tokens[i], i);
    HONE_CHECK(fresh, InputError, "{}: token {} '{}' appears twice in the vocabulary (also token {})", spec.source, i,
               spec.tokens[i], it->second);
    append_entry(vocab, spec.tokens[i], i);
  }
  return vocab;
}

ordered_json hf_added_tokens(const VocabSpec& spec, std::size_t n, bool sentencepiece) {
  ordered_json added = ordered_json::array();
  for (std::size_t i = 0; i < n; ++i) {
    const TokenType t = spec.types[i];
    const bool special = t == TokenType::kControl || (sentencepiece && t == TokenType::kUnknown);
    if (!special && t != TokenType::kUserDefined) continue;
    added.push_back(added_token(i, spec.tokens[i], /*normalized=*/!sentencepiece && !special, special));
  }
  return added;
}

ordered_json hf_template_processing(const VocabSpec& spec) {
  const auto bos = hf_token_text(spec, spec.bos), eos = hf_token_text(spec, spec.eos);
  const bool with_bos = spec.add_bos && bos, with_eos = spec.add_eos && eos;
  if (!with_bos && !with_eos) return nullptr;
  ordered_json single = ordered_json::array(), pair, specials = ordered_json::object();
  auto special = [&](const std::string& text, std::int32_t id, int type_id) {
    specials[text] = {{"id", text}, {"ids", {id}}, {"tokens", {text}}};
    return ordered_json{{"SpecialToken", {{"id", text}, {"type_id", type_id}}}};
  };
  if (with_bos) single.push_back(special(*bos, *spec.bos, 0));
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  if (with_eos) single.push_back(special(*eos, *spec.eos, 0));
  pair = single;
  if (with_bos) pair.push_back(special(*bos, *spec.bos, 1));
  pair.push_back({{"Sequence", {{"id", "B"}, {"type_id", 1}}}});
  if (with_eos) pair.push_back(special(*eos, *spec.eos, 1));
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
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
  const std::size_t n = hf_exported_size(spec);
  const bool bpe = spec.kind == TokenizerKind::kByteLevelBPE;
  const ordered_json tok = bpe ? bpe_tokenizer_json(spec, n) : spm_tokenizer_json(spec, n);
  // Everything is built before the first file is written.
  const std::string tok_text = dump_json(tok, 1, spec);
  const std::string cfg_text = dump_json(tokenizer_config(spec, tok["added_tokens"], model_max_length), 2, spec);
  const std::string stm_text = dump_json(special_tokens_map(spec), 2, spec);
  for (const auto& [name, text] : {std::pair<const char*, const std::string&>{"tokenizer.json", tok_text},
                                   {"tokenizer_config.json", cfg_text},
                                   {"special_tokens_map.json", stm_text}}) {
    write_file_atomic(dir / name, text);
    written.push_back(dir / name);
  }
  return written;
}

}  // namespace hone

namespace hone {

void write_hf_chat_template(const fs::path& dir, const std::string& jinja) {
  const fs::path cfg_path = dir / "tokenizer_config.json";
  ordered_json cfg = ordered_json::object();
  if (fs::exists(cfg_path)) {
    cfg = ordered_json::parse(read_file(cfg_path), nullptr, /*allow_exceptions=*/false);
    HONE_CHECK(cfg.is_object(), InputError, "{}: not a JSON object", cfg_path.string());
  }
  cfg["chat_template"] = jinja;
  write_file_atomic(cfg_path, cfg.dump(2, ' ', /*ensure_ascii=*/false) + "\n");
  write_file_atomic(dir / "chat_template.jinja", jinja);
}

}  // namespace hone
