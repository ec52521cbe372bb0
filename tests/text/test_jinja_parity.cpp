// hone's jinja interpreter against transformers: every chat template below, rendered for every
// conversation, must equal transformers' render_jinja_template (tests/python/jinja_peer.py) byte for
// byte, and a template that raises there must raise here.
//
// Templates: the SmolLM2 GGUF's (and the Gemma 3 GGUF's when present), those written for these
// tests in tests/data/chat_templates/ (Gemma 3, Qwen3, Phi-3, Mistral v3 and v7, Llama 3.1, and
// one that uses every supported construct), and every chat template shipped in the installed
// llama_cpp package, which the peer reads from its sources.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/gguf.h"
#include "helpers.h"
#include "text/jinja/jinja.h"
#include "text_cases.h"

namespace hone {
namespace {

using nlohmann::ordered_json;
namespace fs = std::filesystem;

// 2024-07-26 00:00:00 UTC: the time strftime_now() sees on both sides.
constexpr std::int64_t kNow = 1721952000;

const char* const kConversations = R"JSON([
  {"messages": [{"role": "user", "content": "Hello!"}], "add_generation_prompt": true},
  {"messages": [{"role": "system", "content": "You are a pirate."},
                {"role": "user", "content": "Where is the treasure?"}], "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "  Hi there  "},
                {"role": "assistant", "content": " \nHello, how can I help?\n\n"},
                {"role": "user", "content": "Tell me a joke.\t"}], "add_generation_prompt": false},
  {"messages": [{"role": "system", "content": "Be brief.\n"}, {"role": "user", "content": "What is 2+2?"},
                {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"},
                {"role": "assistant", "content": "6 "}], "add_generation_prompt": false},
  {"messages": [{"role": "user", "content": "你好，世界 😀 café naïve Ünïcödé"},
                {"role": "assistant", "content": "こんにちは 👋🏽 — ça va? ΣΑΣ"},
                {"role": "user", "content": "Ελληνικά 🧪 {{ not jinja }} {% raw %} 'q' \"dq\" \\"}],
   "add_generation_prompt": true},
  {"messages": [{"role": "system", "content": "You can call tools."},
                {"role": "user", "content": "What's the weather in Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "call12345", "type": "function",
                  "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]},
                {"role": "tool", "name": "get_weather", "tool_call_id": "call12345", "content": "{\"temperature\": 22.5}"}],
   "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather in a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
              "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}],
   "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "Think first: 2+2?"},
                {"role": "assistant", "content": "The answer is 4.", "reasoning_content": "2+2 is 4.\n"},
                {"role": "user", "content": "And then?"}],
   "add_generation_prompt": true, "kwargs": {"enable_thinking": false}},
  {"messages": [{"role": "user", "content": "q"},
                {"role": "assistant", "content": "<think>\nreasoning here\n</think>\n\nfinal answer"}],
   "add_generation_prompt": false, "kwargs": {"enable_thinking": true}},
  {"messages": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}], "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": [{"type": "text", "text": "What is in this image?"}, {"type": "image"}]}],
   "add_generation_prompt": true},
  {"messages": [{"role": "system", "content": "Only a system message."}], "add_generation_prompt": false},
  {"messages": [{"role": "assistant", "content": "I start."}], "add_generation_prompt": false},
  {"messages": [{"role": "user", "content": "Use the tool."}],
   "tools": [{"type": "function", "function": {"name": "search", "description": "Search the web",
              "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}],
   "add_generation_prompt": true, "kwargs": {"tools_in_user_message": false, "date_string": "01 Jan 2025"}}
])JSON";

// transformers' _alias_reasoning_fields: a message with reasoning gets `thinking` (first) and
// `reasoning_content` (last) copies of it, which templates read under either name.
ordered_json alias_reasoning(const ordered_json& messages) {
  ordered_json out = ordered_json::array();
  for (const auto& m : messages) {
    const ordered_json* reasoning = nullptr;
    for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
      if (m.is_object() && m.contains(key) && !m[key].is_null()) {
        reasoning = &m[key];
        break;
      }
    }
    if (!reasoning) {
      out.push_back(m);
      continue;
    }
    ordered_json a = ordered_json::object();
    a["thinking"] = *reasoning;
    for (const auto& [k, v] : m.items()) a[k] = v;
    a["reasoning_content"] = *reasoning;
    out.push_back(std::move(a));
  }
  return out;
}

// What apply_chat_template adds to every conversation's variables: the tokenizer's special tokens.
const ordered_json kSpecialTokens = {{"bos_token", "<s>"}, {"eos_token", "</s>"}};

// A conversation with the special tokens among its extra variables (its own kwargs win).
ordered_json with_special_tokens(const ordered_json& conversation) {
  ordered_json c = conversation;
  ordered_json kwargs = kSpecialTokens;
  if (conversation.contains("kwargs"))
    for (const auto& [k, v] : conversation["kwargs"].items()) kwargs[k] = v;
  c["kwargs"] = kwargs;
  return c;
}

// The variables render_jinja_template gives the template.
ordered_json context_of(const ordered_json& conversation) {
  ordered_json ctx = ordered_json::object();
  ctx["messages"] = alias_reasoning(conversation["messages"]);
  ctx["tools"] = conversation.contains("tools") ? conversation["tools"] : ordered_json();
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = conversation["add_generation_prompt"];
  if (conversation.contains("kwargs"))
    for (const auto& [k, v] : conversation["kwargs"].items()) ctx[k] = v;
  return ctx;
}

struct Outcome {
  bool ok = false;
  std::string text;  // the rendering, or the error message
};

Outcome render_with_hone(const std::string& name, const std::string& source, const ordered_json& ctx) {
  try {
    auto t = jinja::Template::parse(source, name);
    t.set_now_for_tests(kNow);
    return {true, t.render(ctx)};
  } catch (const InputError& e) {
    return {false, e.message()};
  }
}

ordered_json local_templates() {
  ordered_json templates = ordered_json::array();
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(HONE_TEST_SCRIPTS) / ".." / "data" / "chat_templates"))
    if (entry.path().extension() == ".jinja") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files)
    templates.push_back(
        {{"name", "tests/data/chat_templates/" + f.filename().string()}, {"source", test::read_bytes(f)}});
  for (const char* gguf : {HONE_MODEL_GGUF, HONE_GEMMA_GGUF}) {
    if (!fs::exists(gguf)) continue;
    const auto file = GGUFFile::open(gguf);
    if (auto tmpl = file.opt_string("tokenizer.chat_template"))
      templates.push_back({{"name", fs::path(gguf).filename().string()}, {"source", *tmpl}});
  }
  return templates;
}

TEST(JinjaParity, ChatTemplatesRenderAsTransformers) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv with transformers";
  ordered_json conversations = ordered_json::array();
  for (const auto& c : ordered_json::parse(kConversations)) conversations.push_back(with_special_tokens(c));
  const ordered_json job = {{"now", kNow}, {"templates", local_templates()}, {"conversations", conversations}};
  test::TempDir dir;
  test::write_bytes(dir / "in.json", job.dump());
  const auto r = test::run_python("jinja_peer.py", {"render", (dir / "in.json").string(), (dir / "out.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ordered_json out = ordered_json::parse(test::read_bytes(dir / "out.json"));
  const auto& templates = out["templates"];
  ASSERT_EQ(templates.size(), out["results"].size());
  ASSERT_GE(templates.size(), job["templates"].size() + 10) << "the llama_cpp package's templates were not found";

  std::size_t texts = 0, errors = 0, mismatches = 0;
  for (std::size_t t = 0; t < templates.size(); ++t) {
    const std::string name = templates[t]["name"];
    const std::string source = templates[t]["source"];
    for (std::size_t c = 0; c < conversations.size(); ++c) {
      const auto& expected = out["results"][t][c];
      const Outcome ours = render_with_hone(name, source, context_of(conversations[c]));
      const std::string label = name + " / conversation " + std::to_string(c);
      if (expected.contains("text")) {
        ++texts;
        const std::string want = expected["text"];
        if (!ours.ok || ours.text != want) {
          ++mismatches;
          ADD_FAILURE() << label << "\n  transformers: '" << test::printable(want)
                        << "'\n  hone: " << (ours.ok ? "'" + test::printable(ours.text) + "'" : "error " + ours.text);
        }
        continue;
      }
      ++errors;
      const std::string want = expected["error"];
      if (ours.ok) {
        ++mismatches;
        ADD_FAILURE() << label << ": transformers raised " << expected["type"] << " '" << want << "', hone rendered '"
                      << test::printable(ours.text) << "'";
      } else if (expected["type"] == "TemplateError" && ours.text.find(want) == std::string::npos) {
        ++mismatches;  // raise_exception(message): the same message
        ADD_FAILURE() << label << ": raise_exception('" << want << "'), hone: " << ours.text;
      }
    }
  }
  std::cout << "[ jinja ] " << templates.size() << " templates x " << conversations.size()
            << " conversations compared with transformers: " << texts << " renderings, " << errors
            << " errors on both sides, " << mismatches << " mismatches\n";
}

}  // namespace
}  // namespace hone
