#include "data/tokenize.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <fstream>
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

TokenizeReport tokenize_dataset(const fs::path& dir, const fs::path& out, const fs::path& model_path,
                                const TokenizeOptions& o) {
  HONE_CHECK(fs::is_directory(dir), InputError, Hint{"pass the directory hone ingest wrote"}, "{}: not a directory",
             dir.string());
  HONE_CHECK(o.max_len > 1, UsageError, "--max-len must be at least 2, got {}", o.max_len);
  const auto tok = Tokenizer::load(model_path);
  select_chat_template(*tok, o.chat_template);
  const bool chat = o.template_mode == TemplateMode::kChat || (o.template_mode == TemplateMode::kAuto && !tok->chat_template().empty());
  HONE_CHECK(o.template_mode != TemplateMode::kChat || !tok->chat_template().empty(), InputError,
             "{}: the model has no chat template (use --template none)", model_path.string());
  TokenStoreMeta meta;
  meta.tokenizer_fingerprint = tok->fingerprint();
  meta.vocab_size = tok->vocab_size();
  meta.bos_id = tok->bos_id().value_or(-1);
  meta.eos_id = tok->eos_id().value_or(-1);
  meta.pad_id = tok->pad_id().value_or(-1);
  std::optional<ChatTemplate> chat_info;
  if (chat) chat_info = ChatTemplate::from_tokenizer(*tok);
  const ExampleFormat format{tok.get(), chat_info ? &*chat_info : nullptr, tok->stop_ids(), o.train_on_prompt};
  meta.template_name = chat_info ? "chat" : "none";
  if (chat_info) meta.chat_template = chat_info->source();
  meta.max_len = o.max_len;
  meta.packed = o.pack;
  meta.train_on_prompt = o.train_on_prompt;
  meta.model = model_path.string();
  if (fs::exists(dir / "manifest.json")) meta.manifest_sha256 = sha256_hex(read_file(dir / "manifest.json"));

  const int threads = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  TokenizeReport report;
  std::map<std::string, TokenSplit> splits;
  for (const char* split : {"train", "valid", "test"}) {
    const fs::path file = dir / (std::string(split) + ".jsonl");
    if (!fs::exists(file)) continue;
    std::vector<std::string> lines;
    {
      std::ifstream in(file);
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(std::move(line));
    }
    // Tokenize in parallel, in fixed strides: example i is done by thread i % threads, and the
    // results are put together in input order, so the store does not depend on the thread count.
    std::vector<TokenizedExample> ex(lines.size());
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(threads));
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        try {
          for (std::size_t i = static_cast<std::size_t>(t); i < lines.size(); i += static_cast<std::size_t>(threads))
            ex[i] = tokenize_example(format, lines[i], fmt::format("{}:{}", file.string(), i + 1));
        } catch (...) {
          errors[static_cast<std::size_t>(t)] = std::current_exception();
        }
      });
    for (auto& th : pool) th.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);

    TokenSplit s;
    std::int64_t seq_tokens = 0;
    for (std::size_t i = 0; i < ex.size(); ++i) {
      TokenizedExample& e = ex[i];
      const auto len = static_cast<std::int64_t>(e.ids.size());
      if (len > o.max_len) {
        HONE_CHECK(o.truncation != Truncation::kError, InputError,
                   Hint{"raise --max-len, or choose --truncation left|right"},
                   "{}:{}: example of {} tokens is longer than --max-len {}", file.string(), i + 1, len, o.max_len);
        const auto cut = len - o.max_len;
        if (o.truncation == Truncation::kRight) {
          e.ids.resize(static_cast<std::size_t>(o.max_len));
          e.loss.resize(static_cast<std::size_t>(o.max_len));
        } else {
          e.ids.erase(e.ids.begin(), e.ids.begin() + cut);
          e.loss.erase(e.loss.begin(), e.loss.begin() + cut);
        }
        report.truncated[split]++;
      }
      const auto n = static_cast<std::int64_t>(e.ids.size());
      // Packing: whole examples, in order, while they fit; a new sequence otherwise.
      if (!o.pack || (seq_tokens > 0 && seq_tokens + n > o.max_len)) {
        if (s.examples() > s.sequence_offsets.back()) s.sequence_offsets.push_back(s.examples());
        seq_tokens = 0;
      }
      s.input_ids.insert(s.input_ids.end(), e.ids.begin(), e.ids.end());
      s.loss_mask.insert(s.loss_mask.end(), e.loss.begin(), e.loss.end());
      s.example_offsets.push_back(s.tokens());
      seq_tokens += n;
      report.loss_tokens[split] += std::count(e.loss.begin(), e.loss.end(), 1);
    }
    if (s.examples() > s.sequence_offsets.back()) s.sequence_offsets.push_back(s.examples());
    report.examples[split] = s.examples();
    report.tokens[split] = s.tokens();
    report.sequences[split] = s.sequences();
    if (o.pack && std::string(split) == "train" && s.sequences() > 0)
      report.packing_efficiency = static_cast<double>(s.tokens()) / static_cast<double>(s.sequences() * o.max_len);
    spdlog::info("{}: {} examples, {} tokens ({:.1f}% with loss), {} sequences", split, s.examples(), s.tokens(),
                 100.0 * static_cast<double>(report.loss_tokens[split]) / std::max<double>(1, s.tokens()), s.sequences());
    splits[split] = std::move(s);
  }
  HONE_CHECK(!splits.empty(), InputError, Hint{"pass the directory hone ingest wrote"},
             "{}: no train.jsonl, valid.jsonl or test.jsonl", dir.string());
  write_token_store(out, meta, splits);
  return report;
}

}  // namespace hone::data
