// Fuzz target: an HF tokenizer directory (text/vocab_hf.cpp, vocab_hf_spm.cpp, tokenizer.cpp):
// tokenizer.json (byte-level BPE, or BPE with byte fallback read as SentencePiece) with
// tokenizer_config.json, config.json and chat_template.jinja beside it. The input holds the files
// in that order, separated by a 0x1e byte (which JSON text never holds unescaped); absent parts are
// absent files. A tokenizer that loads then encodes and decodes a fixed text.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <set>

#include "core/gguf.h"
#include "fuzz_inputs.h"
#include "fuzz_target.h"
#include "text/tokenizer.h"
#include "text/tokenizer_export.h"
#include "text/tokenizer_json.h"
#include "text/vocab.h"

namespace {

namespace fs = std::filesystem;

constexpr char kSeparator[] = "\x1e";
const char* const kFiles[] = {"tokenizer.json", "tokenizer_config.json", "config.json", "chat_template.jinja"};

// Plain text, special-token texts, bytes of every UTF-8 length, spaces and digits.
constexpr char kText[] =
    "<|im_start|>user\nHello world! It's 2024, isn't it?  caf\xC3\xA9 \xE2\x98\x83 \xF0\x9F\x99\x82\t\r\n"
    "<s>[INST] 12345 </s><bos><start_of_turn>model\n\xE4\xBD\xA0\xE5\xA5\xBD<|endoftext|>";

// A directory of this process's own for the files (never shared with another target's inputs).
const fs::path& tokenizer_dir() {
  static const fs::path dir = [] {
    const fs::path d = hone::fuzz::input_file(nullptr, 0, "tokenizer.dir").parent_path() / "tokenizer";
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

}  // namespace

HONE_FUZZ_TARGET(tokenizer_json) {
  const auto parts = hone::fuzz::split_parts({reinterpret_cast<const char*>(data), size}, kSeparator);
  const fs::path& dir = tokenizer_dir();
  for (std::size_t i = 0; i < std::size(kFiles); ++i) {
    const fs::path file = dir / kFiles[i];
    if (i < parts.size()) {
      hone::write_file_atomic(file, parts[i]);
    } else {
      fs::remove(file);
    }
  }
  const auto tok = hone::Tokenizer::from_hf_dir(dir);
  for (const bool special : {false, true}) {
    const std::vector<std::int32_t> ids = tok->encode(kText, special, special);
    tok->decode(ids, special);
    for (std::int32_t id : ids) tok->token_text(id);
  }
  tok->stop_ids();
  return 0;
}

namespace {

// A small tokenizer.json cut from a real one: the first `n` ids, the merges among them, and every
// other part (normalizer, pre-tokenizer, post-processor) as it is.
std::string shrink_tokenizer_json(const fs::path& file, std::int64_t n) {
  using nlohmann::ordered_json;
  ordered_json j = ordered_json::parse(hone::read_file(file));
  ordered_json vocab = ordered_json::object();
  std::set<std::string> kept;
  for (const auto& [text, id] : j["model"]["vocab"].items()) {
    if (id.get<std::int64_t>() >= n) continue;
    vocab[text] = id;
    kept.insert(text);
  }
  ordered_json merges = ordered_json::array();
  for (const auto& m : j["model"]["merges"]) {
    std::string a, b;
    if (m.is_array()) {
      a = m[0].get<std::string>(), b = m[1].get<std::string>();
    } else {
      const std::string s = m.get<std::string>();
      a = s.substr(0, s.find(' ', 1)), b = s.substr(s.find(' ', 1) + 1);
    }
    if (kept.count(a) && kept.count(b) && kept.count(a + b)) merges.push_back(m);
  }
  ordered_json added = ordered_json::array();
  for (const auto& a : j["added_tokens"])
    if (a["id"].get<std::int64_t>() < n) added.push_back(a);
  j["model"]["vocab"] = vocab;
  j["model"]["merges"] = merges;
  j["added_tokens"] = added;
  return j.dump(1);
}

}  // namespace

// The tokenizers of the test models, cut small, with a tokenizer_config.json; and a config.json
// that pads. SmolLM2's byte-level BPE is exported by hone and cut (shrink_tokenizer_json); Gemma 3's
// SentencePiece vocabulary (262,144 pieces, slow to export whole) goes through hone's exporter for
// its first pieces only.
HONE_FUZZ_SEEDS(tokenizer_json) {
  auto add = [&](const std::string& name, const std::string& tok, const std::string& cfg, std::int64_t n) {
    const std::string seed = hone::fuzz::join_parts({tok, cfg}, kSeparator);
    // The cut tokenizer must load, or the fuzzer would start outside the reader.
    hone_fuzz_tokenizer_json(reinterpret_cast<const std::uint8_t*>(seed.data()), seed.size());
    hone::Tokenizer::from_hf_dir(tokenizer_dir());
    seeds.add(name + ".bin", seed);
    seeds.add(name + "-padded.bin", hone::fuzz::join_parts({tok, "{}", "{\"vocab_size\": " + std::to_string(n + 64) + "}",
                                                             "{{ bos_token }}{{ messages[0].content }}"},
                                                            kSeparator));
  };
  if (fs::exists(HONE_MODEL_GGUF)) {
    const fs::path dir = seeds.dir() / "tokenizer.tmp";
    fs::create_directories(dir);
    hone::write_hf_tokenizer_files(HONE_MODEL_GGUF, dir, 2048);
    nlohmann::ordered_json cfg = nlohmann::ordered_json::parse(hone::read_file(dir / "tokenizer_config.json"));
    cfg.erase("added_tokens_decoder");  // by id, for transformers; hone reads the tokens from tokenizer.json
    add(fs::path(HONE_MODEL_GGUF).stem().string(), shrink_tokenizer_json(dir / "tokenizer.json", 400), cfg.dump(1),
        400);
    fs::remove_all(dir);
  }
  if (fs::exists(HONE_GEMMA_GGUF)) {
    const hone::VocabSpec spec = hone::vocab_from_gguf(hone::GGUFFile::open(HONE_GEMMA_GGUF));
    const std::size_t n = 600;  // the specials, the 256 byte pieces and the first merged pieces
    const nlohmann::ordered_json cfg = {{"bos_token", spec.tokens.at(*spec.bos)},
                                        {"eos_token", spec.tokens.at(*spec.eos)},
                                        {"add_bos_token", spec.add_bos},
                                        {"chat_template", spec.chat_template}};
    add(fs::path(HONE_GEMMA_GGUF).stem().string(), hone::spm_tokenizer_json(spec, n).dump(1), cfg.dump(1), n);
  }
}
