#include "text/chat_template.h"

#include "core/error.h"
#include "text/tokenizer.h"

namespace hone {

std::string_view chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::kChatML:
      return "ChatML";
    case ChatFormat::kLlama3:
      return "Llama 3";
    case ChatFormat::kLlama2:
      return "Llama 2";
  }
  return "?";
}

namespace {

bool contains(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

std::string excerpt(const std::string& s) {
  std::string e = s.substr(0, 80);
  for (char& c : e) {
    if (c == '\n') c = ' ';
  }
  return s.size() > 80 ? e + "..." : e;
}

// Python's str.strip() with no argument, which jinja's `trim` filter and `.strip()` call: removes
// the code points for which str.isspace() is true.
bool py_isspace(std::uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string py_strip(std::string_view s) {
  auto decode_at = [&](std::size_t i, std::size_t& len) -> std::uint32_t {
    const auto c = static_cast<unsigned char>(s[i]);
    len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (i + len > s.size()) return len = 1, 0xFFFD;
    if (len == 1) return c;
    std::uint32_t cp = c & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    return cp;
  };
  std::size_t b = 0, len = 0;
  while (b < s.size() && py_isspace(decode_at(b, len))) b += len;
  std::size_t e = s.size();
  while (e > b) {
    std::size_t start = e - 1;  // back to the lead byte of the last code point
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    if (!py_isspace(decode_at(start, len))) break;
    e = start;
  }
  return std::string(s.substr(b, e - b));
}

// The jinja string-literal escapes that appear in published templates (\n, \t, \', \", \\).
std::string unescape_literal(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char n = s[++i];
      out += n == 'n' ? '\n' : n == 't' ? '\t' : n == 'r' ? '\r' : n;
    } else {
      out += s[i];
    }
  }
  return out;
}

// ChatML's default system prompt: a literal '<|im_start|>system\n...<|im_end|>' in the template
// (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"; Qwen2.5: "You are
// Qwen, created by Alibaba Cloud. You are a helpful assistant."). '<|im_start|>system\n' + messages[0]
// ['content'] is not one: the literal closes before <|im_end|>.
bool find_default_system(const std::string& jinja, std::string& system) {
  const std::string head = "<|im_start|>system";
  for (std::size_t at = jinja.find(head); at != std::string::npos; at = jinja.find(head, at + 1)) {
    if (at == 0 || (jinja[at - 1] != '\'' && jinja[at - 1] != '"')) continue;
    const char quote = jinja[at - 1];
    std::size_t p = at + head.size();
    if (jinja.compare(p, 2, "\\n") == 0) {
      p += 2;
    } else if (p < jinja.size() && jinja[p] == '\n') {
      p += 1;
    } else {
      continue;
    }
    const std::size_t end = jinja.find("<|im_end|>", p);
    if (end == std::string::npos) continue;
    const std::string_view body(jinja.data() + p, end - p);
    bool closed = false;
    for (std::size_t i = 0; i < body.size(); ++i) {
      if (body[i] == '\\') {
        ++i;
      } else if (body[i] == quote) {
        closed = true;
        break;
      }
    }
    if (closed) continue;
    system = unescape_literal(body);
    return true;
  }
  return false;
}

}  // namespace

ChatFormat detect_chat_format(const std::string& jinja) {
  const Hint hint{"hone renders ChatML (SmolLM2, Qwen2.5), Llama 3 and Llama 2 chat templates; give the model's "
                  "tokenizer_config.json chat_template of one of those families"};
  HONE_CHECK(!jinja.empty(), InputError, hint, "the model has no chat template");
  if (contains(jinja, "<|im_start|>") && contains(jinja, "<|im_end|>")) return ChatFormat::kChatML;
  if (contains(jinja, "<|start_header_id|>") && contains(jinja, "<|eot_id|>")) {
    // Llama 3.1 and later always write a system turn with "Cutting Knowledge Date" and tool
    // instructions; their output is not Llama 3's.
    HONE_CHECK(!contains(jinja, "Cutting Knowledge Date"), InputError, hint,
               "chat template '{}' is Llama 3.1+ (date header), which is not supported", excerpt(jinja));
    return ChatFormat::kLlama3;
  }
  if (contains(jinja, "[INST]") && contains(jinja, "<<SYS>>")) return ChatFormat::kLlama2;
  HONE_THROW(InputError, hint, "unknown chat template '{}'", excerpt(jinja));
}

ChatTemplateInfo ChatTemplateInfo::from_jinja(const std::string& jinja, std::string bos_token, std::string eos_token) {
  ChatTemplateInfo info;
  info.format = detect_chat_format(jinja);
  info.bos_token = std::move(bos_token);
  info.eos_token = std::move(eos_token);
  if (info.format == ChatFormat::kChatML) info.has_default_system = find_default_system(jinja, info.default_system);
  return info;
}

ChatTemplateInfo ChatTemplateInfo::from_tokenizer(const Tokenizer& tok) {
  return from_jinja(tok.chat_template(), tok.bos_id() ? tok.token_text(*tok.bos_id()) : "",
                    tok.eos_id() ? tok.token_text(*tok.eos_id()) : "");
}

std::string render_chat(const ChatTemplateInfo& info, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt) {
  std::string out;
  switch (info.format) {
    case ChatFormat::kChatML:
      // {% if loop.first and messages[0]['role'] != 'system' %}{{ default system turn }}{% endif %}
      if (info.has_default_system && !messages.empty() && messages[0].role != "system") {
        out += "<|im_start|>system\n" + info.default_system + "<|im_end|>\n";
      }
      for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    case ChatFormat::kLlama3:
      // meta-llama/Meta-Llama-3-8B-Instruct: content = header + message['content'] | trim + eot;
      // the first message is prefixed with bos_token.
      for (std::size_t i = 0; i < messages.size(); ++i) {
        if (i == 0) out += info.bos_token;
        out += "<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n" + py_strip(messages[i].content) +
               "<|eot_id|>";
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case ChatFormat::kLlama2: {
      // meta-llama/Llama-2-7b-chat-hf: an optional leading system message goes into the first
      // user turn; add_generation_prompt is not used by the template.
      const bool has_system = !messages.empty() && messages[0].role == "system";
      const std::size_t first = has_system ? 1 : 0;
      for (std::size_t i = first; i < messages.size(); ++i) {
        const auto& m = messages[i];
        const std::size_t k = i - first;
        HONE_CHECK((m.role == "user") == (k % 2 == 0), InputError,
                   Hint{"Llama 2 chat needs user and assistant turns to alternate, starting with the user"},
                   "chat message {} has role '{}': conversation roles must alternate user/assistant/user/...", i,
                   m.role);
        std::string content = m.content;
        if (k == 0 && has_system) content = "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n" + content;
        if (m.role == "user") {
          out += info.bos_token + "[INST] " + py_strip(content) + " [/INST]";
        } else if (m.role == "assistant") {
          out += " " + py_strip(content) + " " + info.eos_token;
        }
      }
      break;
    }
  }
  return out;
}

std::string plain_prompt(const std::optional<std::string>& system, const std::string& prompt) {
  return system ? *system + "\n\n" + prompt : prompt;
}

}  // namespace hone
