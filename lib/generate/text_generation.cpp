#include "generate/text_generation.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "text/chat_template.h"

namespace hone {

LanguageModel load_language_model(const fs::path& path, const LoadOptions& options) {
  LanguageModel m;
  m.tokenizer = Tokenizer::load(path);
  m.decoder = std::make_unique<Decoder>(load_decoder(path, options));
  HONE_CHECK(m.tokenizer->vocab_size() <= m.decoder->config().vocab_size, InputError,
             "{}: the tokenizer has {} tokens but the model's embedding has {} rows (vocab/embedding mismatch)",
             path.string(), m.tokenizer->vocab_size(), m.decoder->config().vocab_size);
  return m;
}

LoraAdapter apply_adapter(LanguageModel& model, const fs::path& adapter_dir, const fs::path& chat_template,
                          const std::string& base_name) {
  LoraAdapter a;
  if (!adapter_dir.empty()) {
    a = read_lora_adapter(adapter_dir, model.decoder->config(), base_name);
    check_adapter_tokenizer(a, *model.tokenizer);
    merge_lora_adapter(*model.decoder, a);
  }
  select_chat_template(*model.tokenizer, chat_template, a.chat_template);
  return a;
}

std::vector<std::int32_t> prompt_tokens(const Tokenizer& tokenizer, const std::string& text, bool chat,
                                        const std::optional<std::string>& system) {
  if (!chat) return tokenizer.encode(plain_prompt(system, text), /*add_special=*/true, /*parse_special=*/false);
  const ChatTemplate info = ChatTemplate::from_tokenizer(tokenizer);
  std::vector<ChatMessage> messages;
  if (system) messages.push_back({"system", *system});
  messages.push_back({"user", text});
  const std::string rendered = render_chat(info, messages, /*add_generation_prompt=*/true);
  // The rendered template carries its own bos text where it writes one (Llama 3, Llama 2, Gemma),
  // as transformers' apply_chat_template(tokenize=True) does.
  return tokenizer.encode(rendered, /*add_special=*/false, /*parse_special=*/true);
}

TextGenerationResult generate_text(const LanguageModel& model, const std::vector<std::int32_t>& prompt,
                                   const TextGenerationOptions& o) {
  const Tokenizer& tok = *model.tokenizer;
  std::vector<std::int64_t> stop_ids;
  if (!o.ignore_eos)
    for (auto id : tok.stop_ids()) stop_ids.push_back(id);

  TextGenerationResult r;
  r.prompt_tokens = static_cast<std::int64_t>(prompt.size());
  std::vector<std::int32_t> generated;
  std::size_t stop_at = std::string::npos;
  auto on_token = [&](std::int64_t id) {
    generated.push_back(static_cast<std::int32_t>(id));
    if (o.stop.empty()) return true;
    // Stop strings may span tokens: look for them in the decoded completion so far.
    const std::string text = tok.decode(generated);
    for (const auto& s : o.stop)
      if (!s.empty())
        if (auto pos = text.find(s); pos != std::string::npos) stop_at = std::min(stop_at, pos);
    return stop_at == std::string::npos;
  };
  const GenerationResult g = generate_tokens(*model.decoder, {prompt.begin(), prompt.end()}, o.max_new_tokens,
                                             o.sampling, stop_ids, on_token);
  r.tokens = generated;
  r.logprobs = g.logprobs;
  r.prefill_seconds = g.prefill_seconds;
  r.decode_seconds = g.decode_seconds;
  if (stop_at != std::string::npos) {
    r.stop_reason = "stop string";
    r.text = tok.decode(generated).substr(0, stop_at);
  } else if (g.stopped) {
    r.stop_reason = "eos";
    r.text = tok.decode({generated.begin(), generated.end() - 1});
  } else {
    r.stop_reason = "length";
    r.text = tok.decode(generated);
  }
  return r;
}

double mean_logprob(const TextGenerationResult& r) {
  HONE_CHECK(r.logprobs.size() == r.tokens.size(), UsageError, "{} log-probabilities for {} generated tokens",
             r.logprobs.size(), r.tokens.size());
  std::size_t n = r.logprobs.size();
  if (r.stop_reason == "eos" && n > 0) --n;  // the end-of-turn token is no part of the answer
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  return std::accumulate(r.logprobs.begin(), r.logprobs.begin() + static_cast<std::ptrdiff_t>(n), 0.0) /
         static_cast<double>(n);
}

}  // namespace hone
