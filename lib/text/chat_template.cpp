#include "text/chat_template.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "text/jinja/jinja.h"
#include "text/tokenizer.h"

namespace hone {

namespace {

std::string token_text_or_empty(const Tokenizer& tok, const std::optional<std::int32_t>& id) {
  return id ? tok.token_text(*id) : "";
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& jinja, std::string origin, std::string bos_token, std::string eos_token,
                           std::string unk_token, std::string pad_token)
    : source_(jinja),
      origin_(std::move(origin)),
      bos_(std::move(bos_token)),
      eos_(std::move(eos_token)),
      unk_(std::move(unk_token)),
      pad_(std::move(pad_token)) {
  HONE_CHECK(!jinja.empty(), InputError,
             Hint{"give a Jinja template with --chat-template FILE, or tokenize with --template none"},
             "{}: the model has no chat template", origin_);
  compiled_ = std::make_shared<const jinja::Template>(jinja::Template::parse(jinja, origin_ + " (chat template)"));
}

ChatTemplate ChatTemplate::from_tokenizer(const Tokenizer& tok) {
  return ChatTemplate(tok.chat_template(), tok.chat_template_origin(), token_text_or_empty(tok, tok.bos_id()),
                      token_text_or_empty(tok, tok.eos_id()), token_text_or_empty(tok, tok.unk_id()),
                      token_text_or_empty(tok, tok.pad_id()));
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  return render(messages, add_generation_prompt, jinja::Limits{});
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                 const jinja::Limits& limits) const {
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const ChatMessage& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  context["messages"] = std::move(list);
  context["add_generation_prompt"] = add_generation_prompt;
  // transformers passes the tokenizer's special_tokens_map: only the tokens it has.
  for (const auto& [key, text] : {std::pair<const char*, const std::string&>{"bos_token", bos_},
                                  {"eos_token", eos_},
                                  {"unk_token", unk_},
                                  {"pad_token", pad_}})
    if (!text.empty()) context[key] = text;
  return compiled_->render(context, limits);
}

std::string render_chat(const ChatTemplate& chat_template, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt) {
  return chat_template.render(messages, add_generation_prompt);
}

std::string read_chat_template_file(const fs::path& file) {
  HONE_CHECK(fs::is_regular_file(file), InputError, "{}: no such chat template file", file.string());
  std::string text = read_file(file);
  HONE_CHECK(!text.empty(), InputError, "{}: the chat template file is empty", file.string());
  return text;
}

void select_chat_template(Tokenizer& tokenizer, const fs::path& file, const std::string& recorded) {
  if (!file.empty()) {
    tokenizer.set_chat_template(read_chat_template_file(file), file.string());
  } else if (!recorded.empty()) {
    tokenizer.set_chat_template(recorded, tokenizer.source() + " (the adapter's chat template)");
  }
}

std::string plain_prompt(const std::optional<std::string>& system, const std::string& prompt) {
  return system ? *system + "\n\n" + prompt : prompt;
}

}  // namespace hone
