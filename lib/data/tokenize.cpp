#include "data/tokenize.h"

#include "data/corrections.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "core/error.h"
#include "text/chat_template.h"
#include "text/sha256.h"
#include "text/tokenizer.h"

namespace hone::data {

using nlohmann::json;

namespace {

// Appends `text`'s tokens with one loss flag for all of them.
void append(TokenizedExample& ex, const Tokenizer& tok, const std::string& text, bool loss) {
  const auto ids = tok.encode(text, /*add_special=*/false, /*parse_special=*/true);
  ex.ids.insert(ex.ids.end(), ids.begin(), ids.end());
  ex.loss.insert(ex.loss.end(), ids.size(), loss ? 1 : 0);
}

// An assistant turn's tokens: loss up to and including the first end-of-turn token; what the
// template writes after it (ChatML's "\n") is not something the model must produce.
void append_answer(TokenizedExample& ex, const Tokenizer& tok, const std::string& text,
                   const std::vector<std::int32_t>& stops, bool train_on_prompt) {
  const auto ids = tok.encode(text, /*add_special=*/false, /*parse_special=*/true);
  bool ended = false;
  for (auto id : ids) {
    ex.ids.push_back(id);
    ex.loss.push_back(ended && !train_on_prompt ? 0 : 1);
    if (std::find(stops.begin(), stops.end(), id) != stops.end()) ended = true;
  }
}

std::vector<ChatMessage> messages_of(const json& j, const std::string& where) {
  const std::string format = j.value("format", "");
  if (format == "chat") {
    std::vector<ChatMessage> m;
    for (const auto& t : j.at("messages")) m.push_back({t.at("role").get<std::string>(), t.at("content").get<std::string>()});
    return m;
  }
  HONE_CHECK(format == "completion", InputError, "{}: format '{}' has no turns", where, format);
  std::vector<ChatMessage> m;
  if (j.contains("system")) m.push_back({"system", j.at("system").get<std::string>()});
  m.push_back({"user", j.at("prompt").get<std::string>()});
  m.push_back({"assistant", j.at("completion").get<std::string>()});
  return m;
}

}  // namespace

TokenizedExample tokenize_example(const ExampleFormat& f, const std::string& line, const std::string& where) {
  const Tokenizer& tok = *f.tokenizer;
  const bool train_on_prompt = f.train_on_prompt;
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  HONE_CHECK(!j.is_discarded() && j.is_object() && j.contains("format"), InputError,
             Hint{"the input of hone tokenize is the directory hone ingest wrote"}, "{}: not a canonical record", where);
  TokenizedExample ex;
  try {
    const std::string format = j["format"].get<std::string>();
    if (format == "text") {
      // Plain text: the model's bos (if it adds one), the text, eos; loss everywhere.
      ex.ids = tok.encode(j.at("text").get<std::string>(), /*add_special=*/true, /*parse_special=*/false);
      HONE_CHECK(tok.eos_id().has_value(), InputError, "{}: the tokenizer has no eos token to end a text with", where);
      ex.ids.push_back(*tok.eos_id());
      ex.loss.assign(ex.ids.size(), 1);
      return ex;
    }
    const std::vector<ChatMessage> messages = messages_of(j, where);
    if (f.chat == nullptr) {
      // No template (a base model): prompt text, then the completion and eos.
      HONE_CHECK(format == "completion", InputError, "{}: chat records need a chat template (--template chat)", where);
      HONE_CHECK(tok.eos_id().has_value(), InputError, "{}: the tokenizer has no eos token", where);
      const bool sys = messages.front().role == "system";  // [system,] user, assistant
      const std::string prompt =
          plain_prompt(sys ? std::optional<std::string>(messages.front().content) : std::nullopt, messages[sys ? 1 : 0].content);
      ex.ids = tok.encode(prompt, /*add_special=*/true, /*parse_special=*/false);
      ex.loss.assign(ex.ids.size(), train_on_prompt ? 1 : 0);
      const auto c = tok.encode(messages.back().content, /*add_special=*/false, /*parse_special=*/false);
      ex.ids.insert(ex.ids.end(), c.begin(), c.end());
      ex.ids.push_back(*tok.eos_id());
      ex.loss.resize(ex.ids.size(), 1);
      return ex;
    }
    // Chat: render the conversation one message at a time (the prefix method). Each rendering
    // must extend the one before; the difference is that message's text with the template's
    // markers, tokenized with special-token parsing as transformers' apply_chat_template(tokenize=True)
    // does (and as `hone generate --chat` does). The loss mask is never guessed: a template whose
    // renderings are not prefixes of each other is refused.
    const ChatTemplate& info = *f.chat;
    const Hint not_prefix{"this template rewrites earlier turns as the conversation grows (e.g. it drops past "
                          "reasoning); give one that does not with --chat-template FILE"};
    std::string done;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      std::vector<ChatMessage> upto(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(i));
      if (messages[i].role == "assistant") {
        const std::string head = render_chat(info, upto, /*add_generation_prompt=*/true);
        HONE_CHECK(head.compare(0, done.size(), done) == 0, InputError, not_prefix,
                   "{}: the chat template's rendering up to message {} (with the generation prompt) does not "
                   "extend its rendering of the messages before it",
                   where, i);
        append(ex, tok, head.substr(done.size()), train_on_prompt);
        done = head;
      }
      upto.push_back(messages[i]);
      const std::string next = render_chat(info, upto, /*add_generation_prompt=*/false);
      HONE_CHECK(next.compare(0, done.size(), done) == 0, InputError, not_prefix,
                 "{}: the chat template's rendering up to message {} does not extend its rendering of the messages "
                 "before it",
                 where, i);
      if (messages[i].role == "assistant") append_answer(ex, tok, next.substr(done.size()), f.stop_ids, train_on_prompt);
      else append(ex, tok, next.substr(done.size()), train_on_prompt);
      done = next;
    }
  } catch (const json::exception& e) {
    HONE_THROW(InputError, "{}: malformed canonical record: {}", where, e.what());
  }
  return ex;
}

namespace {

// The tokenizer and chat template of one run, and the store attributes they give.
struct StoreSetup {
  std::unique_ptr<Tokenizer> tok;
  std::optional<ChatTemplate> chat;  // none: plain text (--template none, or a model without one)
  TokenStoreMeta meta;
  ExampleFormat format(bool train_on_prompt) const {
    return {tok.get(), chat ? &*chat : nullptr, tok->stop_ids(), train_on_prompt};
  }
};

StoreSetup load_setup(const fs::path& dir, const fs::path& model_path, const TokenizeOptions& o) {
  StoreSetup st;
  st.tok = Tokenizer::load(model_path);
  const Tokenizer& tok = *st.tok;
  select_chat_template(*st.tok, o.chat_template);
  const bool chat = o.template_mode == TemplateMode::kChat || (o.template_mode == TemplateMode::kAuto && !tok.chat_template().empty());
  HONE_CHECK(o.template_mode != TemplateMode::kChat || !tok.chat_template().empty(), InputError,
             "{}: the model has no chat template (use --template none)", model_path.string());
  if (chat) st.chat = ChatTemplate::from_tokenizer(tok);
  TokenStoreMeta& meta = st.meta;
  meta.tokenizer_fingerprint = tok.fingerprint();
  meta.vocab_size = tok.vocab_size();
  meta.bos_id = tok.bos_id().value_or(-1);
  meta.eos_id = tok.eos_id().value_or(-1);
  meta.pad_id = tok.pad_id().value_or(-1);
  meta.template_name = st.chat ? "chat" : "none";
  if (st.chat) meta.chat_template = st.chat->source();
  meta.max_len = o.max_len;
  meta.packed = o.pack;
  meta.train_on_prompt = o.train_on_prompt;
  meta.preference = o.pairs;
  meta.model = model_path.string();
  if (fs::exists(dir / "manifest.json")) meta.manifest_sha256 = sha256_hex(read_file(dir / "manifest.json"));
  return st;
}

// The non-empty lines of a JSON-lines file, with their 1-based line numbers (for messages).
std::vector<std::pair<std::size_t, std::string>> read_lines(const fs::path& file) {
  std::vector<std::pair<std::size_t, std::string>> lines;
  std::ifstream in(file);
  HONE_CHECK(in.good(), InputError, "{}: cannot open", file.string());
  std::size_t number = 0;
  for (std::string line; std::getline(in, line);)
    if (++number, !line.empty()) lines.emplace_back(number, std::move(line));
  return lines;
}

// Tokenizes every record on `threads` threads, in fixed strides: record i is done by thread
// i % threads and the results keep the input order, so the store does not depend on the thread
// count. `where(i)` names record i in errors.
std::vector<TokenizedExample> tokenize_all(const ExampleFormat& format, const std::vector<std::string>& records,
                                           const std::function<std::string(std::size_t)>& where, int threads) {
  std::vector<TokenizedExample> ex(records.size());
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        for (std::size_t i = static_cast<std::size_t>(t); i < records.size(); i += static_cast<std::size_t>(threads))
          ex[i] = tokenize_example(format, records[i], where(i));
      } catch (...) {
        errors[static_cast<std::size_t>(t)] = std::current_exception();
      }
    });
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return ex;
}

// Cuts an example longer than --max-len as --truncation says (an InputError naming `where` with
// --truncation error); true when it was cut.
bool fit_max_len(TokenizedExample& e, const TokenizeOptions& o, const std::string& where) {
  const auto len = static_cast<std::int64_t>(e.ids.size());
  if (len <= o.max_len) return false;
  HONE_CHECK(o.truncation != Truncation::kError, InputError, Hint{"raise --max-len, or choose --truncation left|right"},
             "{}: example of {} tokens is longer than --max-len {}", where, len, o.max_len);
  const auto cut = len - o.max_len;
  if (o.truncation == Truncation::kRight) {
    e.ids.resize(static_cast<std::size_t>(o.max_len));
    e.loss.resize(static_cast<std::size_t>(o.max_len));
  } else {
    e.ids.erase(e.ids.begin(), e.ids.begin() + cut);
    e.loss.erase(e.loss.begin(), e.loss.begin() + cut);
  }
  return true;
}

std::int64_t loss_count(const TokenizedExample& e) { return std::count(e.loss.begin(), e.loss.end(), 1); }

// A split built one example at a time. Unpacked, each example is a sequence; packed, whole
// examples fill a sequence, in order, while they fit in max_len tokens, and a new one starts
// when the next does not.
class SplitBuilder {
 public:
  void add(const TokenizedExample& e, bool pack, std::int64_t max_len) {
    const auto n = static_cast<std::int64_t>(e.ids.size());
    if (!pack || (seq_tokens_ > 0 && seq_tokens_ + n > max_len)) {
      close_sequence();
      seq_tokens_ = 0;
    }
    s_.input_ids.insert(s_.input_ids.end(), e.ids.begin(), e.ids.end());
    s_.loss_mask.insert(s_.loss_mask.end(), e.loss.begin(), e.loss.end());
    s_.example_offsets.push_back(s_.tokens());
    seq_tokens_ += n;
    loss_tokens_ += loss_count(e);
  }
  std::int64_t loss_tokens() const { return loss_tokens_; }
  TokenSplit finish() {
    close_sequence();
    return std::move(s_);
  }

 private:
  void close_sequence() {
    if (s_.examples() > s_.sequence_offsets.back()) s_.sequence_offsets.push_back(s_.examples());
  }
  TokenSplit s_;
  std::int64_t seq_tokens_ = 0;   // tokens in the open sequence
  std::int64_t loss_tokens_ = 0;  // loss-mask ones in the split
};

// Records a finished split's counts in the report and logs them.
void report_split(TokenizeReport& r, const std::string& split, const TokenSplit& s, std::int64_t loss_tokens) {
  r.examples[split] = s.examples();
  r.tokens[split] = s.tokens();
  r.sequences[split] = s.sequences();
  r.loss_tokens[split] = loss_tokens;
  spdlog::info("{}: {} examples, {} tokens ({:.1f}% with loss), {} sequences", split, s.examples(), s.tokens(),
               100.0 * static_cast<double>(loss_tokens) / std::max<double>(1, s.tokens()), s.sequences());
}

// The splits' .jsonl files, one example per record.
std::map<std::string, TokenSplit> tokenize_splits(const fs::path& dir, const ExampleFormat& format,
                                                  const TokenizeOptions& o, int threads, TokenizeReport& report) {
  std::map<std::string, TokenSplit> splits;
  for (const char* split : {"train", "valid", "test"}) {
    const fs::path file = dir / (std::string(split) + ".jsonl");
    if (!fs::exists(file)) continue;
    const auto lines = read_lines(file);
    std::vector<std::string> records;
    for (const auto& [number, line] : lines) records.push_back(line);
    auto where = [&](std::size_t i) { return fmt::format("{}:{}", file.string(), lines[i].first); };
    std::vector<TokenizedExample> ex = tokenize_all(format, records, where, threads);
    SplitBuilder b;
    for (std::size_t i = 0; i < ex.size(); ++i) {
      if (fit_max_len(ex[i], o, where(i))) report.truncated[split]++;
      b.add(ex[i], o.pack, o.max_len);
    }
    TokenSplit s = b.finish();
    if (o.pack && std::string(split) == "train" && s.sequences() > 0)
      report.packing_efficiency = static_cast<double>(s.tokens()) / static_cast<double>(s.sequences() * o.max_len);
    report_split(report, split, s, b.loss_tokens());
    splits[split] = std::move(s);
  }
  HONE_CHECK(!splits.empty(), InputError, Hint{"pass the directory hone ingest wrote"},
             "{}: no train.jsonl, valid.jsonl or test.jsonl", dir.string());
  return splits;
}

// One line of pairs.jsonl: its split, and its chosen and rejected answers as the canonical
// completion records ingest would write for them, so that tokenize_example renders each exactly
// as it renders an SFT example.
struct PairRecords {
  std::string split;
  std::string chosen, rejected;
};

PairRecords pair_records(const std::string& line, const std::string& where) {
  const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  HONE_CHECK(!j.is_discarded() && j.is_object(), InputError,
             Hint{"each line is {\"split\":..,\"system\":..,\"prompt\":..,\"chosen\":..,\"rejected\":..}"},
             "{}: not a JSON object", where);
  auto text = [&](const char* key) {
    HONE_CHECK(j.contains(key), InputError, "{}: the pair has no \"{}\"", where, key);
    HONE_CHECK(j[key].is_string(), InputError, "{}: \"{}\" is not a string", where, key);
    return j[key].get<std::string>();
  };
  namespace k = pairs_schema;
  PairRecords r;
  r.split = text(k::kSplit);
  HONE_CHECK(r.split == "train" || r.split == "valid" || r.split == "test", InputError,
             "{}: unknown split '{}' (train, valid or test)", where, r.split);
  nlohmann::ordered_json c{{"format", "completion"}};  // the key order ingest writes
  if (j.contains(k::kSystem)) c["system"] = text(k::kSystem);
  c["prompt"] = text(k::kPrompt);
  c["completion"] = text(k::kChosen);
  r.chosen = c.dump();
  c["completion"] = text(k::kRejected);
  r.rejected = c.dump();
  return r;
}

// pairs.jsonl, two sequences per pair: 2i its chosen answer, 2i + 1 its rejected one, never packed.
std::map<std::string, TokenSplit> tokenize_pairs(const fs::path& dir, const ExampleFormat& format,
                                                 const TokenizeOptions& o, int threads, TokenizeReport& report) {
  const fs::path file = dir / pairs_schema::kFile;
  const auto lines = read_lines(file);
  HONE_CHECK(!lines.empty(), InputError, "{}: no preference pairs", file.string());
  std::vector<std::string> split_of, records;  // records: chosen, rejected of each pair in turn
  for (const auto& [number, line] : lines) {
    PairRecords r = pair_records(line, fmt::format("{}:{}", file.string(), number));
    split_of.push_back(std::move(r.split));
    records.push_back(std::move(r.chosen));
    records.push_back(std::move(r.rejected));
  }
  auto where = [&](std::size_t i) {
    return fmt::format("{}:{} ({})", file.string(), lines[i / 2].first, i % 2 == 0 ? "chosen" : "rejected");
  };
  std::vector<TokenizedExample> ex = tokenize_all(format, records, where, threads);
  std::map<std::string, SplitBuilder> builders;
  for (const char* split : {"train", "valid", "test"}) builders[split];
  for (std::size_t k = 0; k < split_of.size(); ++k) {
    bool cut = false;
    for (std::size_t i : {2 * k, 2 * k + 1}) {
      cut = fit_max_len(ex[i], o, where(i)) || cut;
      // Both answers or neither: a pair with an answer cut away has nothing to compare.
      HONE_CHECK(loss_count(ex[i]) > 0, InputError,
                 Hint{"raise --max-len, or use --truncation left, which keeps the answers"},
                 "{}: no loss token is left after truncation to --max-len {}", where(i), o.max_len);
    }
    if (cut) report.truncated[split_of[k]]++;
    builders[split_of[k]].add(ex[2 * k], /*pack=*/false, o.max_len);
    builders[split_of[k]].add(ex[2 * k + 1], /*pack=*/false, o.max_len);
  }
  std::map<std::string, TokenSplit> splits;
  for (auto& [split, b] : builders) {
    TokenSplit s = b.finish();
    report.pairs[split] = s.sequences() / 2;
    report_split(report, split, s, b.loss_tokens());
    splits[split] = std::move(s);
  }
  return splits;
}

}  // namespace

TokenizeReport tokenize_dataset(const fs::path& dir, const fs::path& out, const fs::path& model_path,
                                const TokenizeOptions& o) {
  HONE_CHECK(fs::is_directory(dir), InputError, Hint{"pass the directory hone ingest wrote"}, "{}: not a directory",
             dir.string());
  HONE_CHECK(o.max_len > 1, UsageError, "--max-len must be at least 2, got {}", o.max_len);
  HONE_CHECK(!(o.pairs && o.pack), UsageError,
             "--pairs cannot be combined with --pack: each answer of a pair is a sequence of its own");
  HONE_CHECK(!o.pairs || fs::exists(dir / pairs_schema::kFile), InputError,
             Hint{"--pairs reads the preference pairs of an ingested directory"}, "{}: no such file",
             (dir / pairs_schema::kFile).string());
  const StoreSetup setup = load_setup(dir, model_path, o);
  const ExampleFormat format = setup.format(o.train_on_prompt);
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  TokenizeReport report;
  const auto splits = o.pairs ? tokenize_pairs(dir, format, o, threads, report)
                              : tokenize_splits(dir, format, o, threads, report);
  write_token_store(out, setup.meta, splits);
  return report;
}

}  // namespace hone::data
