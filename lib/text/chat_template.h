// Chat templates: the three prompt formats hone fine-tunes, rendered in C++ exactly as
// transformers renders the models' jinja templates (apply_chat_template with
// ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)). There is no jinja
// interpreter here: detect_chat_format() recognises the family of a template and render_chat()
// writes that family's format.
//
//   ChatML (SmolLM2, Qwen2.5):  <|im_start|>{role}\n{content}<|im_end|>\n ... [<|im_start|>assistant\n]
//     with the template's default system prompt when the first message is not a system one.
//   Llama 3:  {bos}<|start_header_id|>{role}<|end_header_id|>\n\n{content|trim}<|eot_id|> ...
//     [<|start_header_id|>assistant<|end_header_id|>\n\n]
//   Llama 2:  {bos}[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user|strip} [/INST] {assistant|strip} {eos}...
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hone {

class Tokenizer;

enum class ChatFormat { kChatML, kLlama3, kLlama2 };
std::string_view chat_format_name(ChatFormat f);

struct ChatMessage {
  std::string role;     // "system", "user" or "assistant"
  std::string content;
};

struct ChatTemplateInfo {
  ChatFormat format = ChatFormat::kChatML;
  std::string bos_token;            // text of the bos token, for templates that write {{ bos_token }}
  std::string eos_token;            // text of the eos token (Llama 2 ends assistant turns with it)
  bool has_default_system = false;  // ChatML: the template inserts a system turn when there is none
  std::string default_system;       // its content

  // Detects the format of `jinja` and extracts its default system prompt.
  static ChatTemplateInfo from_jinja(const std::string& jinja, std::string bos_token, std::string eos_token);
  // The tokenizer's chat_template() with its bos/eos token texts.
  static ChatTemplateInfo from_tokenizer(const Tokenizer& tokenizer);
};

// InputError (with a hint) for an empty template or one of no known family.
ChatFormat detect_chat_format(const std::string& jinja);

// The prompt text for `messages`. Llama 2 requires user/assistant turns to alternate after an
// optional system message (the template raises otherwise): InputError naming the message.
std::string render_chat(const ChatTemplateInfo& info, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt);

// The prompt text without a chat template: a system message (ingest --system), if any, leads the
// prompt, followed by a blank line. tokenize, eval and generate all render plain prompts so.
std::string plain_prompt(const std::optional<std::string>& system, const std::string& prompt);

}  // namespace hone
