#include "data/records.h"

#include <fmt/format.h>

#include "core/utf8.h"

namespace hone::data {

namespace {

const char* json_type(const nlohmann::json& v) {
  return v.is_null() ? "null" : v.is_boolean() ? "boolean" : v.is_number() ? "number" : v.is_array() ? "array"
                                                        : v.is_object()  ? "object" : "string";
}


std::string apply_template(const std::string& tmpl, const std::string& text) {
  std::string out;
  std::size_t from = 0, at;
  while ((at = tmpl.find("{text}", from)) != std::string::npos) {
    out.append(tmpl, from, at - from).append(text);
    from = at + 6;
  }
  return out.append(tmpl, from, std::string::npos);
}

// Chat turns: OpenAI {role, content}, or ShareGPT {from, value} with human/gpt/system.
std::vector<Message> read_messages(const nlohmann::json& fields, const IngestOptions& o) {
  std::string name = o.messages_field;
  if (name.empty()) name = fields.contains("messages") || !fields.contains("conversations") ? "messages" : "conversations";
  const auto it = fields.find(name);
  if (it == fields.end()) reject("missing_field", fmt::format("field '{}' is missing", name));
  if (!it->is_array()) reject("wrong_type", fmt::format("field '{}' must be an array, got {}", name, json_type(*it)));
  if (it->empty()) reject("bad_roles", fmt::format("field '{}' has no messages", name));
  std::vector<Message> messages;
  messages.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& m = (*it)[i];
    const std::size_t n = i + 1;
    if (!m.is_object()) reject("wrong_type", fmt::format("{}[{}] must be an object, got {}", name, i, json_type(m)));
    const bool sharegpt = m.contains("from") && !m.contains("role");
    const char* role_key = sharegpt ? "from" : "role";
    const char* content_key = sharegpt ? "value" : "content";
    Message msg;
    try {
      msg.role = *string_field(m, role_key);
      msg.content = *string_field(m, content_key);
    } catch (RecordError& e) {
      e.problem.message = fmt::format("message {}: {}", n, e.problem.message);
      throw;
    }
    if (msg.role == "human") msg.role = "user";
    else if (msg.role == "gpt") msg.role = "assistant";
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant")
      reject("bad_roles", fmt::format("message {}: role '{}' is not system, user or assistant{}", n,
                                      msg.role, sharegpt ? " (ShareGPT: system, human or gpt)" : ""));
    messages.push_back(std::move(msg));
  }
  // System only first, then user/assistant alternating from user, ending with assistant.
  std::size_t first = messages[0].role == "system" ? 1 : 0;
  for (std::size_t i = first; i < messages.size(); ++i) {
    const char* expected = (i - first) % 2 == 0 ? "user" : "assistant";
    if (messages[i].role != expected)
      reject("bad_roles", fmt::format("message {}: role '{}' where '{}' was expected (system only first, then "
                                      "user and assistant alternating, starting with user)",
                                      i + 1, messages[i].role, expected));
  }
  if (messages.back().role != "assistant")
    reject("bad_roles", fmt::format("the conversation ends with '{}' (it must end with an assistant message)",
                                    messages.back().role));
  return messages;
}

}  // namespace

void reject(const char* kind, std::string message) { throw RecordError{{kind, std::move(message)}}; }

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos; }

const std::string* string_field(const nlohmann::json& fields, const std::string& name, bool required) {
  const auto it = fields.find(name);
  if (it == fields.end() || (!required && it->is_null())) {
    if (required) reject("missing_field", fmt::format("field '{}' is missing", name));
    return nullptr;
  }
  if (!it->is_string())
    reject("wrong_type", fmt::format("field '{}' must be a string, got {}", name, json_type(*it)));
  const std::string& s = it->get_ref<const std::string&>();
  if (required && blank(s)) reject("empty_text", fmt::format("field '{}' is empty", name));
  return &s;
}

const char* format_name(RecordFormat format) {
  switch (format) {
    case RecordFormat::kAuto: return "auto";
    case RecordFormat::kText: return "text";
    case RecordFormat::kPromptCompletion: return "prompt-completion";
    case RecordFormat::kAlpaca: return "alpaca";
    case RecordFormat::kChat: return "chat";
    case RecordFormat::kClassification: return "classification";
    case RecordFormat::kCorrections: return "corrections";
  }
  return "?";
}

RecordFormat detect_format(const nlohmann::json& f, const IngestOptions& o) {
  if (o.messages_field.empty() ? f.contains("messages") || f.contains("conversations") : f.contains(o.messages_field))
    return RecordFormat::kChat;
  if (f.contains("instruction") && f.contains("output")) return RecordFormat::kAlpaca;
  if (f.contains(o.prompt_field) && f.contains(o.completion_field)) return RecordFormat::kPromptCompletion;
  if (f.contains(o.text_field) && f.contains(o.label_field)) return RecordFormat::kClassification;
  if (f.contains(o.text_field)) return RecordFormat::kText;
  std::string keys;
  for (const auto& [k, v] : f.items()) keys += (keys.empty() ? "" : ", ") + k;
  reject("unknown_format", fmt::format("cannot tell the record format from its fields ({}); pass --format "
                                       "and the field flags (--text-field, --label-field, ...)", keys));
}

Example normalise(const nlohmann::json& f, RecordFormat format, const IngestOptions& o) {
  Example ex;
  switch (format) {
    case RecordFormat::kText:
      ex.kind = "text";
      ex.text = *string_field(f, o.text_field);
      break;
    case RecordFormat::kPromptCompletion:
      ex.kind = "completion";
      ex.prompt = *string_field(f, o.prompt_field);
      ex.completion = *string_field(f, o.completion_field);
      break;
    case RecordFormat::kAlpaca: {
      // Alpaca (Taori et al. 2023): the optional input follows the instruction after a blank line.
      ex.kind = "completion";
      ex.prompt = *string_field(f, "instruction");
      const std::string* input = string_field(f, "input", /*required=*/false);
      if (input != nullptr && !blank(*input)) ex.prompt += "\n\n" + *input;
      ex.completion = *string_field(f, "output");
      break;
    }
    case RecordFormat::kClassification:
      ex.kind = "completion";
      ex.prompt = apply_template(o.prompt_template, *string_field(f, o.text_field));
      ex.label = *string_field(f, o.label_field);
      ex.completion = ex.label;
      ex.has_label = true;
      break;
    case RecordFormat::kChat:
      ex.kind = "chat";
      ex.messages = read_messages(f, o);
      break;
    case RecordFormat::kCorrections:  // read_correction (corrections.h): a row gives more than an example
    case RecordFormat::kAuto:
      reject("unknown_format", "record format not chosen");
  }
  return ex;
}

void add_system(Example& ex, const std::string& system) {
  if (ex.kind == "completion") {
    ex.system = system;
    ex.has_system = true;
  } else if (ex.kind == "chat" && ex.messages.front().role != "system") {
    ex.messages.insert(ex.messages.begin(), Message{"system", system});
  }
}

std::string canonical_json(const Example& ex) {
  std::string out = "{\"format\":";
  append_json_string(out, ex.kind);
  if (ex.kind == "text") {
    out += ",\"text\":";
    append_json_string(out, ex.text);
  } else if (ex.kind == "completion") {
    if (ex.has_system) {
      out += ",\"system\":";
      append_json_string(out, ex.system);
    }
    out += ",\"prompt\":";
    append_json_string(out, ex.prompt);
    out += ",\"completion\":";
    append_json_string(out, ex.completion);
    if (ex.has_label) {
      out += ",\"label\":";
      append_json_string(out, ex.label);
    }
  } else {
    out += ",\"messages\":[";
    for (std::size_t i = 0; i < ex.messages.size(); ++i) {
      out += i ? ",{\"role\":" : "{\"role\":";
      append_json_string(out, ex.messages[i].role);
      out += ",\"content\":";
      append_json_string(out, ex.messages[i].content);
      out += '}';
    }
    out += ']';
  }
  out += '}';
  return out;
}


std::size_t find_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = utf8_length(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string::npos;
}

std::string sanitize_utf8(std::string_view s, std::size_t max_bytes) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_length(s, i);
    const std::size_t add = n == 0 ? 3 : n;
    if (out.size() + add > max_bytes) break;
    if (n == 0) out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
    else out.append(s, i, n);
    i += n == 0 ? 1 : n;
  }
  return out;
}

}  // namespace hone::data
