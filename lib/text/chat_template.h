// Chat templates: the model's own Jinja template (GGUF tokenizer.chat_template, tokenizer_config.json
// chat_template or chat_template.jinja), or the file --chat-template names, rendered by hone's
// Jinja interpreter (text/jinja/jinja.h) exactly as transformers' apply_chat_template renders it:
// the context holds `messages`, `add_generation_prompt` and the tokenizer's special-token texts
// (`bos_token`, `eos_token`, `unk_token`, `pad_token`, where it has them).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"

namespace hone {

class Tokenizer;
namespace jinja {
class Template;
struct Limits;
}

struct ChatMessage {
  std::string role;     // "system", "user", "assistant" (or what the template accepts)
  std::string content;
};

// A compiled chat template with the token texts its context carries.
class ChatTemplate {
 public:
  // Parses `jinja`; InputError naming `origin` (the model or file it came from) and the line and
  // column of a syntax error.
  ChatTemplate(const std::string& jinja, std::string origin, std::string bos_token = "", std::string eos_token = "",
               std::string unk_token = "", std::string pad_token = "");
  // The tokenizer's chat_template() with its special-token texts; InputError when it has none.
  static ChatTemplate from_tokenizer(const Tokenizer& tokenizer);

  // The prompt text for `messages`. What the template raises (raise_exception), and every bound of
  // the interpreter, is an InputError naming the template's origin.
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  // The same within other bounds than the interpreter's defaults (the fuzz target's smaller ones).
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                     const jinja::Limits& limits) const;

  const std::string& source() const { return source_; }
  const std::string& origin() const { return origin_; }

 private:
  std::shared_ptr<const jinja::Template> compiled_;
  std::string source_, origin_;
  std::string bos_, eos_, unk_, pad_;
};

// The same as template.render(messages, add_generation_prompt).
std::string render_chat(const ChatTemplate& chat_template, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt);

// The text of a --chat-template file: InputError when it is missing or empty.
std::string read_chat_template_file(const fs::path& file);

// Chooses the template a command renders with and sets it on `tokenizer`: the text of `file`
// (--chat-template) when given, else `recorded` (the template an adapter's training data were
// rendered with) when not empty, else the tokenizer's own.
void select_chat_template(Tokenizer& tokenizer, const fs::path& file, const std::string& recorded = "");

// The prompt text without a chat template: a system message (ingest --system), if any, leads the
// prompt, followed by a blank line. tokenize, eval and generate all render plain prompts so.
std::string plain_prompt(const std::optional<std::string>& system, const std::string& prompt);

}  // namespace hone
