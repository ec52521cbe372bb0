// An HF model directory -> VocabSpec.
//
// tokenizer.json (HF tokenizers' serialisation): model {type "BPE", vocab {token: id}, merges
// ["a b"] or [["a","b"]], ignore_merges}, added_tokens [{id, content, special}], pre_tokenizer,
// post_processor. tokenizer_config.json (transformers): bos/eos/pad/unk_token, add_bos_token,
// add_eos_token, chat_template (or chat_template.jinja beside it). tokenizer.model: a
// SentencePiece ModelProto. A BPE tokenizer.json with byte_fallback and no tokenizer.model beside
// it (a SentencePiece vocabulary converted as transformers converts Gemma's or Llama 2's, and as
// hone exports a GGUF's) is tokenized with llama.cpp's SentencePiece algorithm (vocab_hf_spm.cpp).
//
// Token types follow llama.cpp's convert_hf_to_gguf.py (get_vocab_base) so that a converted GGUF
// and its source directory give the same fingerprint: added special tokens and added tokens that
// look special are control, other added tokens user-defined, holes "[PAD<id>]" unused.
#include <nlohmann/json.hpp>

#include <map>

#include "core/error.h"
#include "core/json_file.h"
#include "text/pre_tokenizer.h"
#include "text/vocab.h"

namespace hone {

void fill_spm_vocab(VocabSpec& spec);  // spm.cpp
void spm_from_bpe_json(const nlohmann::json& j, VocabSpec& spec);  // vocab_hf_spm.cpp

namespace {

using nlohmann::json;

// j[key], or null when absent (a reference that outlives the expression, unlike a temporary).
const json& field(const json& j, const char* key) {
  static const json kNull;
  return j.is_object() && j.contains(key) ? j[key] : kNull;
}

json read_json(const fs::path& path) {
  return read_json_object(path);
}

// convert_hf_to_gguf.py, TextModel.does_token_look_special.
bool looks_special(const std::string& t) {
  auto wraps = [&](std::string_view open, std::string_view close) {
    return t.size() >= open.size() + close.size() && t.compare(0, open.size(), open) == 0 &&
           t.compare(t.size() - close.size(), close.size(), close) == 0;
  };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || wraps("<|", "|>") ||
         wraps("<\xef\xbd\x9c", "\xef\xbd\x9c>") || wraps("<unused", ">");
}

// A special token named in tokenizer_config.json: "text", {"content": "text"} or null.
std::optional<std::string> config_token(const json& cfg, const char* key, const std::string& src) {
  if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  HONE_THROW(InputError, "{}: '{}' should be a token string or {{\"content\": ...}}, got {}", src, key, v.dump());
}

std::optional<bool> config_bool(const json& cfg, const char* key, const std::string& src) {
  if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
  HONE_CHECK(cfg[key].is_boolean(), InputError, "{}: '{}' should be true or false, got {}", src, key,
             cfg[key].dump());
  return cfg[key].get<bool>();
}

std::string str_field(const json& j, const char* key, const std::string& where) {
  HONE_CHECK(j.contains(key) && j[key].is_string(), InputError, "{}: '{}' should be a string", where, key);
  return j[key].get<std::string>();
}

// Maps an HF pre_tokenizer to llama.cpp's regex list. Returns whether a ByteLevel step is present.
bool append_pre_tokenizer(const json& pt, std::vector<std::string>& out, const std::string& src) {
  if (pt.is_null()) return false;
  const std::string type = str_field(pt, "type", src + ": tokenizer.json: pre_tokenizer");
  if (type == "Sequence") {
    bool byte_level = false;
    for (const auto& p : pt.value("pretokenizers", json::array())) byte_level |= append_pre_tokenizer(p, out, src);
    return byte_level;
  }
  if (type == "Split") {
    HONE_CHECK(pt.value("behavior", "") == "Isolated" && !pt.value("invert", false), InputError,
               "{}: tokenizer.json: Split pre-tokenizer with behavior '{}' (invert {}); hone supports 'Isolated'",
               src, pt.value("behavior", ""), pt.value("invert", false));
    const json& pat = field(pt, "pattern");
    std::string re;
    if (pat.contains("Regex") && pat["Regex"].is_string()) {
      re = pat["Regex"].get<std::string>();
    } else if (pat.contains("String") && pat["String"].is_string()) {
      re = "\\Q" + pat["String"].get<std::string>() + "\\E";
    } else {
      HONE_THROW(InputError, "{}: tokenizer.json: Split pre-tokenizer without pattern.Regex or pattern.String",
                 src);
    }
    // llama.cpp rewrites the case-insensitive group the same way (llm_tokenizer_bpe, "adapted").
    const std::string ci = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
    if (auto at = re.find(ci); at != std::string::npos) {
      re.replace(at, ci.size(), "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])");
    }
    out.push_back(re);
    return false;
  }
  if (type == "Digits") {
    out.push_back(pt.value("individual_digits", false) ? "\\p{N}" : "\\p{N}+");
    return false;
  }
  if (type == "ByteLevel") {
    HONE_CHECK(!pt.value("add_prefix_space", false), InputError,
               "{}: tokenizer.json: ByteLevel pre-tokenizer with add_prefix_space is not supported", src);
    if (pt.value("use_regex", true)) out.push_back(kRegexGpt2);
    return true;
  }
  HONE_THROW(InputError, Hint{"hone maps Sequence, Split (Isolated), Digits and ByteLevel to llama.cpp's regexes"},
             "{}: tokenizer.json: pre_tokenizer type '{}' is not supported", src, type);
}

// The TemplateProcessing step of the post-processor, if any (possibly inside a Sequence).
const json* find_template_processing(const json& pp) {
  if (!pp.is_object()) return nullptr;
  const std::string type = pp.value("type", "");
  if (type == "TemplateProcessing") return &pp;
  if (type == "Sequence") {
    for (const auto& p : pp.value("processors", json::array())) {
      if (const json* t = find_template_processing(p)) return t;
    }
  }
  return nullptr;
}

std::optional<std::string> template_special(const json& item) {
  if (item.contains("SpecialToken") && item["SpecialToken"].contains("id")) {
    return item["SpecialToken"]["id"].get<std::string>();
  }
  return std::nullopt;
}

void read_byte_level_steps(const json& j, VocabSpec& spec, const std::string& src);

// tokenizer.json's vocabulary, added tokens, merges and post-processor; then the byte-level steps,
// or, for spec.kind == kSentencePiece (BPE with byte fallback), what spm_from_bpe_json derives.
void read_bpe_json(const fs::path& path, const json& j, VocabSpec& spec, std::optional<std::string>& post_bos,
                   std::optional<std::string>& post_eos) {
  const std::string src = path.string();
  const json& model = field(j, "model");
  HONE_CHECK(model.is_object(), InputError, "{}: tokenizer.json: 'model' is missing", src);
  HONE_CHECK(model.contains("vocab") && model["vocab"].is_object(), InputError,
             "{}: tokenizer.json: model.vocab is missing (expected an object of token -> id)", src);
  std::map<std::int64_t, std::pair<std::string, TokenType>> by_id;
  for (const auto& [tok, id] : model["vocab"].items()) {
    HONE_CHECK(id.is_number_integer() && id.get<std::int64_t>() >= 0, InputError,
               "{}: tokenizer.json: model.vocab['{}'] should be a non-negative id, got {}", src, tok, id.dump());
    by_id[id.get<std::int64_t>()] = {tok, TokenType::kNormal};
  }
  for (const auto& a : j.value("added_tokens", json::array())) {
    HONE_CHECK(a.is_object() && a.contains("id") && a["id"].is_number_integer() && a.contains("content") &&
                   a["content"].is_string(),
               InputError,
               "{}: tokenizer.json: added_tokens entry without id and content: {}", src, a.dump());
    const std::int64_t id = a["id"].get<std::int64_t>();
    const std::string content = a["content"].get<std::string>();
    HONE_CHECK(id >= 0, InputError, "{}: tokenizer.json: added_tokens entry '{}' should have a non-negative id, got {}",
               src, content, id);
    const bool special = a.value("special", false) || looks_special(content);
    by_id[id] = {content, special ? TokenType::kControl : TokenType::kUserDefined};
  }
  HONE_CHECK(!by_id.empty(), InputError, "{}: tokenizer.json: model.vocab is empty", src);
  const std::int64_t n = by_id.rbegin()->first + 1;
  HONE_CHECK(n <= kMaxVocabSize, InputError,
             "{}: tokenizer.json: token id {} is too large (hone reads vocabularies of up to {} tokens)", src, n - 1,
             kMaxVocabSize);
  spec.tokens.resize(n);
  spec.types.assign(n, TokenType::kUnused);
  for (std::int64_t i = 0; i < n; ++i) spec.tokens[i] = "[PAD" + std::to_string(i) + "]";
  for (auto& [id, tt] : by_id) {
    spec.tokens[id] = std::move(tt.first);
    spec.types[id] = tt.second;
  }

  const json merges = model.value("merges", json::array());
  spec.merges.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const std::size_t sp = s.size() > 1 ? s.find(' ', 1) : std::string::npos;
      HONE_CHECK(sp != std::string::npos, InputError, "{}: tokenizer.json: model.merges[{}] = '{}' is not 'a b'",
                 src, i, s);
      spec.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      HONE_THROW(InputError, "{}: tokenizer.json: model.merges[{}] should be 'a b' or [a, b], got {}", src, i,
                 m.dump());
    }
  }
  spec.ignore_merges = model.value("ignore_merges", false);
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const std::string unk = model["unk_token"].get<std::string>();
    for (std::size_t i = 0; i < spec.tokens.size(); ++i) {
      if (spec.tokens[i] == unk) spec.unk = static_cast<std::int32_t>(i);
    }
  }

  if (spec.kind == TokenizerKind::kSentencePiece) {
    spm_from_bpe_json(j, spec);  // vocab_hf_spm.cpp: normalizer, scores and piece types
  } else {
    read_byte_level_steps(j, spec, src);
  }
  if (const json* tp = find_template_processing(field(j, "post_processor"))) {
    const json single = tp->value("single", json::array());
    if (!single.empty()) {
      post_bos = template_special(single.front());
      post_eos = single.size() > 1 ? template_special(single.back()) : std::nullopt;
    }
  }
}

// A byte-level BPE's normalizer (none, or NFC) and pre-tokenizer regexes.
void read_byte_level_steps(const json& j, VocabSpec& spec, const std::string& src) {
  const json& norm = field(j, "normalizer");
  // llama.cpp applies no normalizer to BPE vocabularies (Qwen2's NFC included); so neither do we.
  const std::string norm_type = norm.is_object() ? norm.value("type", "") : norm.dump();
  HONE_CHECK(norm.is_null() || norm_type == "NFC", InputError,
             "{}: tokenizer.json: normalizer '{}' is not supported for byte-level BPE", src, norm_type);

  const bool byte_level = append_pre_tokenizer(field(j, "pre_tokenizer"), spec.pre_regexes, src);
  HONE_CHECK(byte_level, InputError,
             Hint{"a BPE tokenizer.json without ByteLevel is SentencePiece-style; hone reads tokenizer.model for it"},
             "{}: tokenizer.json: pre_tokenizer has no ByteLevel step, expected byte-level BPE", src);
  spec.pre_name = "tokenizer.json";
}

std::optional<std::int32_t> id_of(const VocabSpec& spec, const std::optional<std::string>& text, const char* key,
                                  const std::string& src) {
  if (!text) return std::nullopt;
  for (std::size_t i = spec.tokens.size(); i-- > 0;) {
    if (spec.tokens[i] == *text) return static_cast<std::int32_t>(i);
  }
  HONE_THROW(InputError, "{}: {} '{}' is not in the vocabulary", src, key, *text);
}

std::string read_chat_template(const fs::path& dir, const json& cfg, const std::string& src) {
  if (cfg.contains("chat_template")) {
    const json& ct = cfg["chat_template"];
    if (ct.is_string()) return ct.get<std::string>();
    if (ct.is_array()) {  // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
      for (const auto& t : ct) {
        if (t.is_object() && t.value("name", "") == "default" && t.contains("template")) {
          return t["template"].get<std::string>();
        }
      }
      HONE_THROW(InputError, "{}: chat_template is a list without a 'default' entry", src);
    }
  }
  if (fs::exists(dir / "chat_template.jinja")) return read_file(dir / "chat_template.jinja");
  return "";
}

VocabSpec read_hf_dir(const fs::path& dir) {
  std::error_code ec;
  HONE_CHECK(fs::is_directory(dir, ec), InputError, "{}: not a directory", dir.string());
  const fs::path tj = dir / "tokenizer.json", tm = dir / "tokenizer.model", tc = dir / "tokenizer_config.json";
  VocabSpec spec;
  std::optional<std::string> post_bos, post_eos;
  json tok_json;
  bool use_spm = false, spm_json = false;  // tokenizer.model; or a SentencePiece-style tokenizer.json
  if (fs::exists(tj)) {
    tok_json = read_json(tj);
    const json& model = field(tok_json, "model");
    HONE_CHECK(model.is_object(), InputError, "{}: tokenizer.json: 'model' is missing", tj.string());
    const std::string type = model.value("type", "");
    const bool byte_fallback = model.value("byte_fallback", false);
    // A SentencePiece model exported to tokenizer.json (Unigram, or BPE with byte_fallback) is
    // read from tokenizer.model when that is present.
    use_spm = fs::exists(tm) && (type != "BPE" || byte_fallback);
    spm_json = !use_spm && type == "BPE" && byte_fallback;
    if (!use_spm) {
      HONE_CHECK(type == "BPE", InputError, Hint{"hone reads byte-level BPE tokenizer.json or a tokenizer.model"},
                 "{}: tokenizer.json: model.type is '{}', expected 'BPE'", tj.string(), type);
    }
  } else {
    HONE_CHECK(fs::exists(tm), InputError, "{}: neither tokenizer.json nor tokenizer.model is there",
               dir.string());
    use_spm = true;
  }

  const json cfg = fs::exists(tc) ? read_json(tc) : json::object();
  const std::string csrc = tc.string();
  if (use_spm) {
    spec.kind = TokenizerKind::kSentencePiece;
    spec.source = tm.string();
    spec.spm_model = read_file(tm);
    fill_spm_vocab(spec);  // tokens, types, scores, bos/eos/pad/unk from the ModelProto
    spec.add_bos = true;   // llama.cpp's and transformers' LlamaTokenizer default for SentencePiece
  } else {
    spec.kind = spm_json ? TokenizerKind::kSentencePiece : TokenizerKind::kByteLevelBPE;
    spec.source = tj.string();
    read_bpe_json(tj, tok_json, spec, post_bos, post_eos);
    // Embedding rows beyond the tokenizer (config.json vocab_size) are "[PAD<id>]" tokens in a
    // converted GGUF; pad the same way so that the fingerprints agree.
    if (fs::exists(dir / "config.json")) {
      const json mc = read_json(dir / "config.json");
      const std::int64_t vs = json_value<std::int64_t>(mc, "vocab_size", 0, (dir / "config.json").string());
      HONE_CHECK(vs <= kMaxVocabSize, InputError,
                 "{}: vocab_size {} is too large (hone reads vocabularies of up to {} tokens)",
                 (dir / "config.json").string(), vs, kMaxVocabSize);
      for (auto i = static_cast<std::int64_t>(spec.tokens.size()); i < vs; ++i) {
        spec.tokens.push_back("[PAD" + std::to_string(i) + "]");
        spec.types.push_back(TokenType::kUnused);
      }
    }
    spec.add_bos = post_bos.has_value();
    spec.add_eos = post_eos.has_value();
  }

  if (auto t = config_token(cfg, "bos_token", csrc)) spec.bos = id_of(spec, t, "bos_token", csrc);
  if (auto t = config_token(cfg, "eos_token", csrc)) spec.eos = id_of(spec, t, "eos_token", csrc);
  if (auto t = config_token(cfg, "pad_token", csrc)) spec.pad = id_of(spec, t, "pad_token", csrc);
  if (auto t = config_token(cfg, "unk_token", csrc)) spec.unk = id_of(spec, t, "unk_token", csrc);
  if (!spec.bos && post_bos) spec.bos = id_of(spec, post_bos, "post_processor bos", spec.source);
  if (!spec.eos && post_eos) spec.eos = id_of(spec, post_eos, "post_processor eos", spec.source);
  if (auto b = config_bool(cfg, "add_bos_token", csrc)) spec.add_bos = *b;
  if (auto b = config_bool(cfg, "add_eos_token", csrc)) spec.add_eos = *b;
  spec.chat_template = read_chat_template(dir, cfg, csrc);
  return spec;
}

}  // namespace

VocabSpec vocab_from_hf_dir(const fs::path& dir) {
  try {
    return read_hf_dir(dir);
  } catch (const nlohmann::json::exception& e) {
    // A field of an unexpected JSON type that no check above names: still a bad input file.
    throw InputError(HONE_HERE, fmt::format("{}: unexpected tokenizer JSON: {}", dir.string(), json_error_text(e)));
  }
}

}  // namespace hone
