// render_chat against jinja2 rendering the published templates (tokenizer_chat_peer.py renders
// them as transformers' apply_chat_template does), for single- and multi-turn conversations with
// and without system messages and generation prompts.
#include "text/chat_template.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/gguf.h"
#include "helpers.h"
#include "text/tokenizer.h"
#include "text_cases.h"

namespace hone {
namespace {

using nlohmann::json;

// HuggingFaceTB/SmolLM2-135M-Instruct (tokenizer.chat_template of the GGUF; real newlines).
const std::string kSmolLM2 =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

// Qwen/Qwen2.5-7B-Instruct tokenizer_config.json chat_template (\n are jinja escapes).
const std::string kQwen25 = R"J({%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)J";

// teknium/OpenHermes-2.5-Mistral-7B: ChatML without a default system prompt.
const std::string kOpenHermes =
    R"J({% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})J";

// meta-llama/Meta-Llama-3-8B-Instruct.
const std::string kLlama3 =
    R"J({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %})J";

// meta-llama/Llama-2-7b-chat-hf.
const std::string kLlama2 =
    R"J({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})J";

struct Template {
  const char* name;
  const std::string* jinja;
  const char* bos;
  const char* eos;
  ChatFormat format;
};

const Template kTemplates[] = {
    {"SmolLM2", &kSmolLM2, "<|im_start|>", "<|im_end|>", ChatFormat::kChatML},
    {"Qwen2.5", &kQwen25, "", "<|im_end|>", ChatFormat::kChatML},
    {"OpenHermes", &kOpenHermes, "<s>", "</s>", ChatFormat::kChatML},
    {"Llama 3", &kLlama3, "<|begin_of_text|>", "<|eot_id|>", ChatFormat::kLlama3},
    {"Llama 2", &kLlama2, "<s>", "</s>", ChatFormat::kLlama2},
};

using Chat = std::vector<ChatMessage>;

std::vector<Chat> conversations() {
  return {
      {{"user", "Hello!"}},
      {{"system", "You are a pirate."}, {"user", "Where is the treasure?"}},
      {{"user", "  Hi there  "}, {"assistant", " \nHello, how can I help?\n\n"}, {"user", "Tell me a joke."}},
      {{"system", "Be brief.\n"}, {"user", "What is 2+2?"}, {"assistant", "4"}, {"user", "And 3+3?"},
       {"assistant", "6 "}},
      {{"user", "{{ not jinja }} {% raw %} 'quotes' \"double\" \\back"}, {"assistant", ""}, {"user", "\u3000wide\u00a0"}},
      {{"system", ""}, {"user", "\x1c\u2003em space and file separator\t"}},
      {{"user", "I lost my card 😟, can you block it?"}, {"assistant", "Sure — done."}},
  };
}

TEST(ChatTemplate, RenderingEqualsJinja) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv with jinja2";
  json cases = json::array();
  std::vector<std::string> ours;
  std::vector<std::string> labels;
  for (const auto& t : kTemplates) {
    const auto info = ChatTemplateInfo::from_jinja(*t.jinja, t.bos, t.eos);
    ASSERT_EQ(info.format, t.format) << t.name;
    int k = 0;
    for (const auto& chat : conversations()) {
      for (bool gen : {false, true}) {
        json msgs = json::array();
        for (const auto& m : chat) msgs.push_back({{"role", m.role}, {"content", m.content}});
        cases.push_back({{"template", *t.jinja}, {"messages", msgs}, {"add_generation_prompt", gen},
                         {"bos_token", t.bos}, {"eos_token", t.eos}});
        ours.push_back(render_chat(info, chat, gen));
        labels.push_back(std::string(t.name) + " conversation " + std::to_string(k) + (gen ? " +gen" : ""));
      }
      ++k;
    }
  }
  test::TempDir dir;
  test::write_bytes(dir / "in.json", cases.dump());
  const auto r = test::run_python("tokenizer_chat_peer.py", {(dir / "in.json").string(), (dir / "out.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json out = json::parse(test::read_bytes(dir / "out.json"));
  ASSERT_EQ(out.size(), ours.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    ASSERT_TRUE(out[i].contains("text")) << labels[i] << ": jinja raised " << out[i].dump();
    const std::string expected = out[i]["text"].get<std::string>();
    if (ours[i] != expected) {
      ++mismatches;
      ADD_FAILURE() << labels[i] << "\n  jinja: '" << test::printable(expected) << "'\n  hone:  '"
                    << test::printable(ours[i]) << "'";
    }
  }
  std::cout << "[ chat ] " << ours.size() << " renderings compared with jinja2: " << mismatches << " mismatches\n";
}

TEST(ChatTemplate, DefaultSystemPromptsAreExtracted) {
  auto smol = ChatTemplateInfo::from_jinja(kSmolLM2, "", "");
  EXPECT_TRUE(smol.has_default_system);
  EXPECT_EQ(smol.default_system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  auto qwen = ChatTemplateInfo::from_jinja(kQwen25, "", "");
  EXPECT_EQ(qwen.default_system, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  EXPECT_FALSE(ChatTemplateInfo::from_jinja(kOpenHermes, "", "").has_default_system);
}

TEST(ChatTemplate, SmolLM2GGUFCarriesTheTemplate) {
  if (!test::have_model()) GTEST_SKIP() << "model absent";
  const auto tok = Tokenizer::from_gguf(GGUFFile::open(test::model_path()));
  EXPECT_EQ(tok->chat_template(), kSmolLM2);
  const auto info = ChatTemplateInfo::from_tokenizer(*tok);
  EXPECT_EQ(info.format, ChatFormat::kChatML);
  const std::string prompt = render_chat(info, {{"user", "Hi"}}, true);
  EXPECT_EQ(prompt,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  // The rendered prompt tokenizes with the control tokens as single ids.
  const auto ids = tok->encode(prompt, false, true);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 2), 2);
}

TEST(ChatTemplate, UnknownTemplatesAreRejected) {
  EXPECT_HONE_ERROR(detect_chat_format(""), InputError, "the model has no chat template");
  const std::string gemma =
      "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + message['role'] + '\\n' + message['content'] "
      "| trim + '<end_of_turn>\\n' }}{% endfor %}";
  EXPECT_HONE_ERROR(detect_chat_format(gemma), InputError, "unknown chat template '{{ bos_token }}");
  try {
    detect_chat_format(gemma);
  } catch (const InputError& e) {
    EXPECT_NE(e.hint().find("ChatML"), std::string::npos) << "the hint should list the supported families";
  }
  EXPECT_HONE_ERROR(detect_chat_format("{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}Cutting Knowledge "
                                       "Date: December 2023<|eot_id|>"),
                    InputError, "is Llama 3.1+ (date header), which is not supported");
  // Mistral-7B-Instruct-v0.1 has [INST] but no <<SYS>> block and renders differently from Llama 2.
  EXPECT_HONE_ERROR(detect_chat_format("{{ bos_token }}{% for message in messages %}{{ '[INST] ' + message['content'] "
                                       "+ ' [/INST]' }}{% endfor %}"),
                    InputError, "unknown chat template");
}

TEST(ChatTemplate, Llama2RolesMustAlternate) {
  const auto info = ChatTemplateInfo::from_jinja(kLlama2, "<s>", "</s>");
  EXPECT_HONE_ERROR(render_chat(info, {{"assistant", "hi"}}, false), InputError,
                    "chat message 0 has role 'assistant': conversation roles must alternate");
  EXPECT_HONE_ERROR(render_chat(info, {{"system", "s"}, {"user", "a"}, {"user", "b"}}, false), InputError,
                    "chat message 2 has role 'user'");
}

}  // namespace
}  // namespace hone
