#include "text_cases.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <random>
#include <sstream>

#include "helpers.h"

namespace hone::test {

namespace {

// Minimal RFC 4180 reader: fields separated by commas, optionally quoted, "" inside quotes is a
// quote, and quoted fields may span lines. Returns the records (header included).
std::vector<std::vector<std::string>> read_csv(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string s = ss.str();
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '"' && i + 1 < s.size() && s[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
      continue;
    }
    if (c == '"') {
      quoted = any = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      if (any || !field.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
      }
      row.clear();
      field.clear();
      any = false;
    } else {
      field += c;
      any = true;
    }
  }
  if (any || !field.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string hex(std::string_view s) {
  static const char* k = "0123456789abcdef";
  std::string h;
  for (unsigned char c : s) {
    h += k[c >> 4];
    h += k[c & 15];
  }
  return h;
}

}  // namespace

std::vector<std::string> banking77_texts() {
  std::vector<std::string> texts;
  for (const char* name : {"train.csv", "test.csv"}) {
    const fs::path p = fs::path(HONE_BANKING77_DIR) / name;
    if (!fs::exists(p)) return {};
    const auto rows = read_csv(p);
    if (rows.empty() || rows[0].empty() || rows[0][0] != "text") {
      ADD_FAILURE() << p << ": expected a header 'text,category'";
      return {};
    }
    for (std::size_t i = 1; i < rows.size(); ++i) texts.push_back(rows[i][0]);
  }
  return texts;
}

std::vector<std::string> stress_texts() {
  std::vector<std::string> t = {
      "",
      " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t\tx", "a  b", "a   b", "a \t b", "trailing   ",
      "   leading", "tabs\tand\ttabs", "line1\nline2\r\nline3\r", "mixed \t \n whitespace \n\n\n end",
      "x\n \n y", "  \n\t  \n", "word\u00a0nbsp\u00a0 x", "ideographic\u3000space", "line\u2028sep",
      "next\u0085line", "mongolian\u180evowel", "punct!\u180e?mark", "zero\u200bwidth\u200djoiner", "en\u2002em\u2003spaces",
      "I'm, you're, we've, they'll, she'd, it's, don't", "I'M YOU'RE WE'VE THEY'LL SHE'D IT'S", "'s'",
      "rock 'n' roll", "''quoted''", "it’s curly", "don't  'll", " 've",
      "1234567890", "3.14159", "1,000,000.00", "phone: +1 (555) 123-4567", "٣٤٥ Arabic-Indic digits",
      "१२३ Devanagari digits", "Ⅻ roman and ⅻ", "½ ¾ ² ³ ₁", "version 2.0.1-rc3", "0x1F600 0b1010",
      "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
      "👋 hello", "👨‍👩‍👧‍👦 family", "👍🏽 thumbs", "👩🏿‍💻 coder", "🏳️‍🌈 flag", "🇺🇸🇫🇷🇯🇵 flags", "❤️ heart",
      "🫨 shaking face", "🩷 pink heart", "🫸🏻 push", "😀😃😄😁", "a😀b", " 😀 ", "☃︎ ☃️",
      "你好，世界！", "日本語のテキスト、カタカナとひらがな。", "한국어 텍스트입니다", "𠀀𠀁 extension B",
      "𱍐𱍑 extension H", "𮯰 extension I", "中文English混合123",
      "مرحبا بالعالم", "السَّلَامُ عَلَيْكُمْ", "نص عربي، مع علامات؟",
      "नमस्ते दुनिया", "क्षत्रिय संस्कृत", "สวัสดีครับ", "שָׁלוֹם עוֹלָם", "Ελληνικά γράμματα", "Привет, мир!",
      "café naïve résumé Ångström", "cafe\u0301 decomposed", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚ͤo", "ﬁ ligature ﬂ", "ǅ titlecase",
      "ß ẞ straße", "ﾊﾝｶｸ halfwidth", "Ｆｕｌｌｗｉｄｔｈ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛", "Kawi 𑼄𑼅 and 𑽐𑽑",
      "def f(x):\n    return x**2  # square\n", "int main() { return 0; }\n",
      "if (a && b || !c) { x += 1; }", "<div class=\"x\">&amp; &lt;</div>", "SELECT * FROM t WHERE id=1;",
      "{\"key\": [1, 2, {\"nested\": null}]}", "path/to/file.txt", "C:\\Windows\\System32\\", "    indented\n\tcode",
      "https://example.com/path?q=1&r=2#frag", "user.name+tag@example.co.uk", "ftp://a.b/c_d-e~f",
      "<|im_start|>user\nHi there<|im_end|>\n", "<|endoftext|>", "<|im_start|><|im_end|>", "text<|im_end|>text",
      "<|im_start", "<|im_start|", "<<|im_start|>>", "<|IM_START|>", "<repo_name>x<filename>y",
      "<jupyter_start><jupyter_code>print(1)<jupyter_output>", "<empty_output>", " <|im_end|> ",
      "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
      "!!!???...", "—–-", "«quotes» „German“ ‘single’", "…", "@#$%^&*()_+-=[]{}|;':\",./<>?`~", "ab!!cd",
      "\x01\x02\x7f", "bell\a", "\x1b[31mred\x1b[0m", "nul\x01x", "\ue000 private use", "\ufdd0 noncharacter",
      "\uffff", "\u0378 unassigned", "\U0010fffd plane 16", "\ufeffBOM",
  };
  t.push_back(std::string(300, ' ') + "after spaces");
  t.push_back(std::string(3000, 'a'));
  std::string ab;
  for (int i = 0; i < 1000; ++i) ab += "ab";
  t.push_back(ab);
  std::string digits;
  for (int i = 0; i < 500; ++i) digits += static_cast<char>('0' + (i * 7) % 10);
  t.push_back(digits);
  std::string prose;
  for (int i = 0; i < 60; ++i) {
    prose += "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs! ";
    if (i % 7 == 0) prose += "\n\n";
  }
  t.push_back(prose);
  return t;
}

std::vector<std::string> invalid_utf8_texts() {
  return {"\xff", "a\xff" "b", "\xc0\x80", "x\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80", "\xed\xbf\xbf" "x",
          "\xe2\x82", "\x80 stray", "\xf0\x9f\x98", "abc\xc3", "\xf8\x88\x80\x80\x80", "\xfe\xff",
          "ok \xe9t\xe9 latin1", "\xf0\x80\x80\x80", "mix \xe2\x82\xac \xe2\x82 \xe2\x82\xac"};
}

std::vector<std::string> fuzz_texts(std::size_t n, unsigned seed) {
  static const std::vector<std::string> pool = {
      " ", " ", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2009", "a", "e", "z", "Q", "'", "'s", "'ll",
      "'T", "0", "7", "42", "1984", ".", ",", "!", "?", "-", "_", "(", ")", "\"", "#", "$", "€", "£", "%", "&", "*",
      "/", "\\", "<", ">", "|", "~", "`", "^", "é", "ü", "ñ", "ç", "ø", "\u0301", "\u0308", "\u200d", "\ufe0f",
      "中", "文", "字", "日", "本", "한", "글", "ا", "ل", "ع", "ب", "ि", "न", "म", "्", "ก", "α", "β", "ж", "ы",
      "😀", "👍", "🏽", "👨", "👩", "🚀", "🫨", "🇩", "🇪", "٣", "१", "½", "Ⅻ", "𝟙", "𝔘", "𱍐", "\x01", "\x7f",
      "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im", "|>", "<repo_name>", "hello", "world", "the", "ing",
      "http://", "www.", ".com", "    ", "\n\n", "...", "--",
  };
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1), len(1, 40);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string s;
    for (std::size_t k = len(rng); k > 0; --k) s += pool[pick(rng)];
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::vector<std::int32_t>> peer_ids(const std::string& mode, const std::string& model,
                                                const std::vector<PeerCase>& cases) {
  TempDir dir;
  {
    std::ofstream f(dir / "in.jsonl", std::ios::binary);
    for (const auto& c : cases) {
      f << nlohmann::json{{"hex", hex(c.text)}, {"special", c.parse_special}}.dump() << "\n";
    }
  }
  const auto r = run_python("tokenizer_peer.py", {mode, model, (dir / "in.jsonl").string(), (dir / "out.jsonl").string()});
  if (r.exit_code != 0) {
    ADD_FAILURE() << "tokenizer_peer.py " << mode << " failed (" << r.exit_code << "):\n" << r.err;
    return {};
  }
  std::vector<std::vector<std::int32_t>> ids;
  std::ifstream f(dir / "out.jsonl", std::ios::binary);
  for (std::string line; std::getline(f, line);) {
    if (!line.empty()) ids.push_back(nlohmann::json::parse(line)["ids"].get<std::vector<std::int32_t>>());
  }
  if (ids.size() != cases.size()) {
    ADD_FAILURE() << "tokenizer_peer.py returned " << ids.size() << " results for " << cases.size() << " texts";
    return {};
  }
  return ids;
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (out.size() > 300) out = out.substr(0, 300) + "...";
  return out;
}

nlohmann::ordered_json jinja2_outcomes(const nlohmann::ordered_json& cases) {
  TempDir dir;
  write_bytes(dir / "in.json", cases.dump());
  const auto r = run_python("jinja_peer.py", {"expect", (dir / "in.json").string(), (dir / "out.json").string()});
  if (r.exit_code != 0) {
    ADD_FAILURE() << "jinja_peer.py failed: " << r.err;
    return nlohmann::ordered_json::array();
  }
  auto out = nlohmann::ordered_json::parse(read_bytes(dir / "out.json"));
  if (out.size() != cases.size()) {
    ADD_FAILURE() << "jinja_peer.py answered " << out.size() << " of " << cases.size() << " cases";
    return nlohmann::ordered_json::array();
  }
  return out;
}

}  // namespace hone::test
