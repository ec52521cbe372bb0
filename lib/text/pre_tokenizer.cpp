#include "text/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>

#include "core/error.h"

namespace hone {

// ---------------------------------------------------------------------------- presets

const char* const kRegexGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char* const kRegexLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kRegexQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

namespace {

enum class PreFamily { kDefault, kGpt2, kDigitsGpt2, kLlama3, kLlama3Plain, kQwen2, kFalcon };

struct PreName {
  const char* name;
  PreFamily family;
};

// tokenizer.ggml.pre names and the llama.cpp pre type they select (llama_vocab::impl::load and
// llm_tokenizer_bpe's constructor). Types that need more than a regex list (tekken's lookaheads,
// deepseek's literal ranges, kimi-k2, gemma4's SPM-style BPE...) are not listed.
constexpr PreName kPreNames[] = {
    {"default", PreFamily::kDefault},
    // LLAMA_VOCAB_PRE_TYPE_LLAMA3 (ignore_merges, add_bos)
    {"llama3", PreFamily::kLlama3}, {"llama-v3", PreFamily::kLlama3}, {"llama-bpe", PreFamily::kLlama3},
    {"falcon3", PreFamily::kLlama3}, {"falcon-h1", PreFamily::kLlama3}, {"pixtral", PreFamily::kLlama3},
    {"midm-2.0", PreFamily::kLlama3}, {"lfm2", PreFamily::kLlama3}, {"jina-v5-nano", PreFamily::kLlama3},
    // DBRX, SMAUG, CHATGLM4 (chatglm-bpe): the Llama 3 regex without ignore_merges
    {"dbrx", PreFamily::kLlama3Plain}, {"smaug-bpe", PreFamily::kLlama3Plain},
    // GPT2, MPT, OLMO, JAIS, TRILLION, GRANITE_DOCLING
    {"gpt-2", PreFamily::kGpt2}, {"phi-2", PreFamily::kGpt2}, {"jina-es", PreFamily::kGpt2},
    {"jina-de", PreFamily::kGpt2}, {"gigachat", PreFamily::kGpt2}, {"jina-v2-es", PreFamily::kGpt2},
    {"jina-v2-de", PreFamily::kGpt2}, {"a.x-4.0", PreFamily::kGpt2}, {"mellum", PreFamily::kGpt2},
    {"modern-bert", PreFamily::kGpt2}, {"mpt", PreFamily::kGpt2}, {"olmo", PreFamily::kGpt2},
    {"jais", PreFamily::kGpt2}, {"trillion", PreFamily::kGpt2}, {"granite-docling", PreFamily::kGpt2},
    {"exaone4", PreFamily::kGpt2},
    // STARCODER, REFACT, COMMAND_R, SMOLLM, CODESHELL, EXAONE, MINERVA, MELLUM2: single digits
    {"starcoder", PreFamily::kDigitsGpt2}, {"refact", PreFamily::kDigitsGpt2},
    {"command-r", PreFamily::kDigitsGpt2}, {"smollm", PreFamily::kDigitsGpt2},
    {"codeshell", PreFamily::kDigitsGpt2}, {"exaone", PreFamily::kDigitsGpt2},
    {"minerva-7b", PreFamily::kDigitsGpt2}, {"mellum2", PreFamily::kDigitsGpt2},
    // QWEN2, STABLELM2, HUNYUAN, SOLAR_OPEN, GROK_2 (same regex)
    {"qwen2", PreFamily::kQwen2}, {"deepseek-r1-qwen", PreFamily::kQwen2}, {"kormo", PreFamily::kQwen2},
    {"f2llmv2", PreFamily::kQwen2}, {"megrez", PreFamily::kQwen2}, {"stablelm2", PreFamily::kQwen2},
    {"hunyuan", PreFamily::kQwen2}, {"solar-open", PreFamily::kQwen2}, {"grok-2", PreFamily::kQwen2},
    {"falcon", PreFamily::kFalcon},
};

PreTokenizerPreset preset_for(PreFamily f) {
  switch (f) {
    case PreFamily::kDefault:
      return {{"[\\p{P}\\$\\+<=>\\^~\\|]+", kRegexGpt2, "\\p{N}+", "[0-9][0-9][0-9]"}};
    case PreFamily::kGpt2:
      return {{kRegexGpt2}};
    case PreFamily::kDigitsGpt2:
      return {{"\\p{N}", kRegexGpt2}};
    case PreFamily::kLlama3:
      return {{kRegexLlama3}, /*ignore_merges=*/true, /*add_bos=*/true};
    case PreFamily::kLlama3Plain:
      return {{kRegexLlama3}};
    case PreFamily::kQwen2:
      return {{kRegexQwen2}};
    case PreFamily::kFalcon:
      return {{"[\\p{P}\\$\\+<=>\\^~\\|`]+", kRegexGpt2, "[0-9][0-9][0-9]"}};
  }
  return {};
}

}  // namespace

std::optional<PreTokenizerPreset> pre_tokenizer_preset(std::string_view gguf_pre) {
  if (gguf_pre.empty()) return preset_for(PreFamily::kDefault);
  for (const auto& p : kPreNames) {
    if (gguf_pre == p.name) return preset_for(p.family);
  }
  return std::nullopt;
}

std::optional<std::string> pre_tokenizer_name_for(const std::vector<std::string>& regexes, bool ignore_merges) {
  for (const auto& p : kPreNames) {
    const PreTokenizerPreset preset = preset_for(p.family);
    if (preset.regexes == regexes && preset.ignore_merges == ignore_merges) return std::string(p.name);
  }
  return std::nullopt;
}

std::string supported_pre_tokenizer_names() {
  std::string s;
  for (const auto& p : kPreNames) s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

// ---------------------------------------------------------------------------- llama.cpp's classes

namespace {

// llama.cpp's unicode_set_whitespace (src/unicode-data.cpp): \s everywhere in its tokenizer.
constexpr const char* kWhitespace =
    "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

// Code points that llama.cpp's tables (Unicode 15.1) put in a category but PCRE2 10.42 (Unicode
// 14) leaves unassigned: Unicode 15.0/15.1 additions (CJK extensions H and I, Kawi, Nag Mundari,
// Kaktovik numerals, new emoji...). Found by comparing every code point; PCRE2 assigns nothing
// that llama.cpp does not, so adding these is enough, and harmless on a newer PCRE2.
constexpr const char* kExtraLetters =
    "\\x{1123F}-\\x{11240}\\x{11F02}\\x{11F04}-\\x{11F10}\\x{11F12}-\\x{11F33}\\x{1342F}\\x{13441}-\\x{13446}"
    "\\x{1B132}\\x{1B155}\\x{1DF25}-\\x{1DF2A}\\x{1E030}-\\x{1E06D}\\x{1E4D0}-\\x{1E4EB}\\x{2B739}"
    "\\x{2EBF0}-\\x{2EE5D}\\x{31350}-\\x{323AF}";
constexpr const char* kExtraNumbers = "\\x{11F50}-\\x{11F59}\\x{1D2C0}-\\x{1D2D3}\\x{1E4F0}-\\x{1E4F9}";
constexpr const char* kExtraMarks =
    "\\x{0CF3}\\x{0ECE}\\x{10EFD}-\\x{10EFF}\\x{11241}\\x{11F00}-\\x{11F01}\\x{11F03}\\x{11F34}-\\x{11F3A}"
    "\\x{11F3E}-\\x{11F42}\\x{13440}\\x{13447}-\\x{13455}\\x{1E08F}\\x{1E4EC}-\\x{1E4EF}";
constexpr const char* kExtraPunctuation = "\\x{11B00}-\\x{11B09}\\x{11F43}-\\x{11F4F}";
constexpr const char* kExtraSymbols =
    "\\x{2FFC}-\\x{2FFF}\\x{31EF}\\x{1F6DC}\\x{1F774}-\\x{1F776}\\x{1F77B}-\\x{1F77F}\\x{1F7D9}\\x{1FA75}-"
    "\\x{1FA77}\\x{1FA87}-\\x{1FA88}\\x{1FAAD}-\\x{1FAAF}\\x{1FABB}-\\x{1FABD}\\x{1FABF}\\x{1FACE}-\\x{1FACF}"
    "\\x{1FADA}-\\x{1FADB}\\x{1FAE8}\\x{1FAF7}-\\x{1FAF8}";

// The class items (no brackets) for \p{name}. llama.cpp's regex collapsing maps the letter
// subcategories \p{Lu} ... \p{Lo} to all letters (unicode_regex_split's k_ucat_enum); so do we.
std::optional<std::string> category_items(std::string_view name) {
  if (name == "L" || name == "Lu" || name == "Ll" || name == "Lt" || name == "Lm" || name == "Lo") {
    return std::string("\\p{L}") + kExtraLetters;
  }
  if (name == "N") return std::string("\\p{N}") + kExtraNumbers;
  if (name == "M") return std::string("\\p{M}") + kExtraMarks;
  if (name == "P") return std::string("\\p{P}") + kExtraPunctuation;
  if (name == "S") return std::string("\\p{S}") + kExtraSymbols;
  return std::nullopt;
}

}  // namespace

std::string llama_regex_to_pcre2(std::string_view re) {
  std::string out;
  bool in_class = false;
  for (std::size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (c == '\\' && i + 1 < re.size()) {
      const char n = re[i + 1];
      if (n == 's' || (n == 'S' && !in_class)) {
        if (in_class) {
          out += kWhitespace;
        } else {
          out += n == 's' ? "[" : "[^";
          out += kWhitespace;
          out += "]";
        }
        ++i;
        continue;
      }
      if (n == 'p' && i + 2 < re.size() && re[i + 2] == '{') {
        const std::size_t close = re.find('}', i + 3);
        if (close != std::string_view::npos) {
          if (auto items = category_items(re.substr(i + 3, close - i - 3))) {
            out += in_class ? *items : "[" + *items + "]";
            i = close;
            continue;
          }
        }
      }
      out += c;
      out += n;
      ++i;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal, not the end of the class.
      if (i + 1 < re.size() && re[i + 1] == '^') out += re[++i];
      if (i + 1 < re.size() && re[i + 1] == ']') out += re[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

// ---------------------------------------------------------------------------- UTF-8 as llama.cpp reads it

namespace {

// Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_strict_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const unsigned char c = p[i];
    auto cont = [&](std::size_t k) { return i + k < n && (p[i + k] & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF) {
      if (!cont(1)) return false;
      i += 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      if (!cont(1) || !cont(2)) return false;
      if (c == 0xE0 && p[i + 1] < 0xA0) return false;   // overlong
      if (c == 0xED && p[i + 1] >= 0xA0) return false;  // surrogate
      i += 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      if (!cont(1) || !cont(2) || !cont(3)) return false;
      if (c == 0xF0 && p[i + 1] < 0x90) return false;  // overlong
      if (c == 0xF4 && p[i + 1] >= 0x90) return false; // above U+10FFFF
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

void append_utf8(std::string& s, std::uint32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

bool llama_utf8_sanitize(std::string_view in, std::string& text, std::string& shadow) {
  if (is_strict_utf8(in)) return false;
  text.clear();
  shadow.clear();
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t n = in.size();
  auto cont = [&](std::size_t k) { return (p[k] & 0xC0) == 0x80; };
  for (std::size_t i = 0; i < n;) {
    // unicode_cpt_from_utf8: the lead byte's high bits give the length; only the continuation
    // bytes' top bits are checked, so overlong forms and surrogates decode.
    std::uint32_t cp = 0xFFFD;
    std::size_t len = 1;
    const unsigned char c = p[i];
    if (c < 0x80) {
      cp = c;
    } else if (!(c & 0x40)) {
      // stray continuation byte
    } else if (!(c & 0x20)) {
      if (i + 1 < n && cont(i + 1)) cp = (c & 0x1Fu) << 6 | (p[i + 1] & 0x3Fu), len = 2;
    } else if (!(c & 0x10)) {
      if (i + 2 < n && cont(i + 1) && cont(i + 2)) {
        cp = (c & 0x0Fu) << 12 | (p[i + 1] & 0x3Fu) << 6 | (p[i + 2] & 0x3Fu), len = 3;
      }
    } else if (!(c & 0x08)) {
      if (i + 3 < n && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
        cp = (c & 0x07u) << 18 | (p[i + 1] & 0x3Fu) << 12 | (p[i + 2] & 0x3Fu) << 6 | (p[i + 3] & 0x3Fu);
        len = 4;
      }
    }
    // llama.cpp throws (and llama_tokenize aborts) when re-encoding a code point above U+10FFFF
    // (F4 90.. to F7 ..); hone reads such a lead byte as one invalid byte instead.
    if (cp > 0x10FFFF) cp = 0xFFFD, len = 1;
    i += len;
    const std::size_t at = text.size();
    append_utf8(text, cp);
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      shadow += "\xEF\xBF\xBD";  // PCRE2 cannot match a surrogate; U+FFFD is in the same class
    } else {
      shadow.append(text, at, std::string::npos);
    }
  }
  return true;
}

// ---------------------------------------------------------------------------- PreTokenizer

PreTokenizer::Scratch::Scratch() : match_(pcre2_match_data_create(1, nullptr)) {
  HONE_CHECK(match_ != nullptr, RuntimeError, "out of memory allocating PCRE2 match data");
}

PreTokenizer::Scratch::~Scratch() { pcre2_match_data_free(match_); }

PreTokenizer::PreTokenizer(std::vector<std::string> regexes, const std::string& source)
    : regexes_(std::move(regexes)) {
  code_.reserve(regexes_.size());
  for (const auto& re : regexes_) {
    const std::string pattern = llama_regex_to_pcre2(re);
    int err = 0;
    PCRE2_SIZE err_at = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &err, &err_at, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      // The destructor does not run for a constructor that throws: free what compiled so far.
      for (auto* c : code_) pcre2_code_free(c);
      code_.clear();
      HONE_THROW(InputError, "{}: pre-tokenizer regex '{}' does not compile: {} (at offset {} of '{}')", source,
                 re, reinterpret_cast<const char*>(msg), err_at, pattern);
    }
    // JIT makes matching several times faster; without it (unsupported CPU) the interpreter is
    // used, with identical results.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    code_.push_back(code);  // capacity reserved above: cannot throw and leak `code`
  }
}

PreTokenizer::~PreTokenizer() {
  for (auto* c : code_) pcre2_code_free(c);
}

void PreTokenizer::split(std::string_view text, std::vector<Span>& pieces, Scratch& scratch) const {
  pieces.clear();
  if (text.empty()) return;
  pieces.push_back({0, text.size()});
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  for (auto* code : code_) {
    auto& next = scratch.tmp_;
    next.clear();
    for (const Span& piece : pieces) {
      // Each piece is matched on its own, as llama.cpp's std::regex_iterator over
      // [begin + start, begin + start + offset): lookaheads do not see past its end.
      std::size_t last = 0, pos = 0;
      while (pos < piece.length) {
        const int rc = pcre2_match(code, subject + piece.offset, piece.length, pos, PCRE2_NO_UTF_CHECK,
                                   scratch.match_, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          PCRE2_UCHAR msg[256];
          pcre2_get_error_message(rc, msg, sizeof(msg));
          HONE_THROW(RuntimeError, "pre-tokenizer regex failed on a {}-byte piece: {}", piece.length,
                     reinterpret_cast<const char*>(msg));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.match_);
        const std::size_t s = ov[0], e = ov[1];
        if (e == s) {  // an empty match splits nothing; step over one code point
          pos = s + 1;
          while (pos < piece.length && (text[piece.offset + pos] & 0xC0) == 0x80) ++pos;
          continue;
        }
        if (s > last) next.push_back({piece.offset + last, s - last});
        next.push_back({piece.offset + s, e - s});
        last = pos = e;
      }
      if (last < piece.length) next.push_back({piece.offset + last, piece.length - last});
    }
    pieces.swap(next);
  }
}

}  // namespace hone
