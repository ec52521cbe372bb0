// ChatTemplate (hone's Jinja interpreter) against jinja2 rendering published templates
// (tokenizer_chat_peer.py renders them as transformers' apply_chat_template does), for single- and
// multi-turn conversations with and without system messages and generation prompts; and what a
// template that cannot be rendered gives.
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

// google/gemma-3-270m-it: the system message folded into the first user turn, 'model' for the
// assistant, raise_exception on other role orders.
const std::string kGemma3 = R"J({{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {{ message['content'] | trim }}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
)J";

// A Qwen3-style ChatML template: the generation prompt opens an empty <think></think> block (what
// enable_thinking=False gives), which a detector of "ChatML" would silently drop.
const std::string kQwen3NoThink = R"J({%- for message in messages %}
    {{- '<|im_start|>' + message.role + '\n' + message.content | trim + '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n<think>\n\n</think>\n\n' }}
{%- endif %})J";

// microsoft/Phi-3-mini-4k-instruct.
const std::string kPhi3 = R"J({% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'user' %}{{'<|user|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>
' + message['content'] + '<|end|>
'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>
' }}{% else %}{{ eos_token }}{% endif %})J";

struct Template {
  const char* name;
  const std::string* jinja;
  const char* bos;
  const char* eos;
};

const Template kTemplates[] = {
    {"SmolLM2", &kSmolLM2, "<|im_start|>", "<|im_end|>"},
    {"Qwen2.5", &kQwen25, "", "<|im_end|>"},
    {"OpenHermes", &kOpenHermes, "<s>", "</s>"},
    {"Llama 3", &kLlama3, "<|begin_of_text|>", "<|eot_id|>"},
    {"Llama 2", &kLlama2, "<s>", "</s>"},
    {"Gemma 3", &kGemma3, "<bos>", "<eos>"},
    {"Qwen3 (no thinking)", &kQwen3NoThink, "", "<|im_end|>"},
    {"Phi-3", &kPhi3, "<s>", "<|endoftext|>"},
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
    const ChatTemplate info(*t.jinja, t.name, t.bos, t.eos);
    int k = 0;
    for (const auto& chat : conversations()) {
      for (bool gen : {false, true}) {
        json msgs = json::array();
        for (const auto& m : chat) msgs.push_back({{"role", m.role}, {"content", m.content}});
        cases.push_back({{"template", *t.jinja}, {"messages", msgs}, {"add_generation_prompt", gen},
                         {"bos_token", t.bos}, {"eos_token", t.eos}});
        try {
          ours.push_back(render_chat(info, chat, gen));
        } catch (const InputError& e) {  // compared with what jinja raised
          ours.push_back("raised: " + e.message());
        }
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
    if (!out[i].contains("text")) {  // jinja raised: hone must raise the same message
      const std::string raised = out[i].value("error", "");
      EXPECT_TRUE(ours[i].rfind("raised: ", 0) == 0 && ours[i].find(raised) != std::string::npos)
          << labels[i] << ": jinja raised '" << raised << "', hone gave '" << test::printable(ours[i]) << "'";
      continue;
    }
    const std::string expected = out[i]["text"].get<std::string>();
    if (ours[i] != expected) {
      ++mismatches;
      ADD_FAILURE() << labels[i] << "\n  jinja: '" << test::printable(expected) << "'\n  hone:  '"
                    << test::printable(ours[i]) << "'";
    }
  }
  std::cout << "[ chat ] " << ours.size() << " renderings compared with jinja2: " << mismatches << " mismatches\n";
}

TEST(ChatTemplate, SmolLM2GGUFCarriesTheTemplate) {
  if (!test::have_model()) GTEST_SKIP() << "model absent";
  const auto tok = Tokenizer::from_gguf(GGUFFile::open(test::model_path()));
  EXPECT_EQ(tok->chat_template(), kSmolLM2);
  const auto info = ChatTemplate::from_tokenizer(*tok);
  const std::string prompt = render_chat(info, {{"user", "Hi"}}, true);
  EXPECT_EQ(prompt,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  // The rendered prompt tokenizes with the control tokens as single ids.
  const auto ids = tok->encode(prompt, false, true);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 2), 2);
}

// What cannot be rendered is an InputError naming the template's origin and the place: an empty
// template, a syntax error, and what the template itself raises.
TEST(ChatTemplate, ErrorsNameTheTemplateAndThePlace) {
  EXPECT_HONE_ERROR(ChatTemplate("", "model.gguf"), InputError, "model.gguf: the model has no chat template");
  EXPECT_HONE_ERROR(ChatTemplate("{% for m in messages %}\n{{ m.content }}", "my.jinja"), InputError, "my.jinja");
  try {
    ChatTemplate("line one\n{{ messages[0] | no_such_filter }}", "my.jinja").render({{"user", "x"}}, false);
    ADD_FAILURE() << "an unknown filter must be an error";
  } catch (const InputError& e) {
    EXPECT_NE(e.message().find(":2:"), std::string::npos) << e.message();
  }
  const ChatTemplate llama2(kLlama2, "llama2.jinja", "<s>", "</s>");
  EXPECT_HONE_ERROR(render_chat(llama2, {{"assistant", "hi"}}, false), InputError,
                    "Conversation roles must alternate user/assistant/user/assistant/...");
}

}  // namespace
}  // namespace hone
