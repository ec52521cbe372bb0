// A bounded random-mutation fuzz test of the Jinja interpreter: published chat templates, mutated
// (bytes flipped, Jinja tokens inserted, spans deleted or repeated), parsed and rendered with
// small limits. Each must render or give an InputError; anything else (another exception, a
// crash, a hang) fails. HONE_FUZZ_ITERATIONS sets the count (scripts/fuzz.sh runs libFuzzer with
// the sanitizers for longer).
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "text/jinja/jinja.h"

namespace hone {
namespace {

const std::vector<std::string>& seeds() {
  static const std::vector<std::string> s = {
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n"
      "You are a helpful AI assistant<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
      "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>"
      "assistant\\n' }}{% endif %}",
      "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first = messages[0]['content'] + '\\n\\n' -%}"
      "{%- set loop_messages = messages[1:] -%}{%- else -%}{%- set first = '' -%}{%- set loop_messages = messages -%}"
      "{%- endif -%}{%- for message in loop_messages -%}{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) "
      "-%}{{ raise_exception('roles must alternate') }}{%- endif -%}{{ '<start_of_turn>' + ('model' if "
      "message['role'] == 'assistant' else message['role']) + '\\n' + (first if loop.first else '') }}{{ "
      "message['content'] | trim }}{{ '<end_of_turn>\\n' }}{%- endfor -%}{%- if add_generation_prompt -%}"
      "{{ '<start_of_turn>model\\n' }}{%- endif -%}",
      "{%- set ns = namespace(tools=false, n=0) %}{%- for m in messages %}{%- set ns.n = ns.n + 1 %}{%- if m.role == "
      "'tool' %}{%- set ns.tools = true %}{%- endif %}{%- endfor %}{% macro turn(role, text='') -%}[{{ role | upper "
      "}}] {{ text | replace('\\n', ' ') }}{%- endmacro %}{%- for m in messages | selectattr('role', 'equalto', "
      "'user') | list %}{{ turn(m.role, m.content) }}{{ loop.index }}/{{ loop.length }}{% else %}none{% endfor %}"
      "{{ messages | map(attribute='content') | join(', ') }}{{ {'a': [1, 2.5, none, true]} | tojson }}"
      "{{ ns.n is divisibleby 2 }}{{ 'x'[::-1] ~ ('yes' if ns.tools else 'no') }}",
  };
  return s;
}

const std::vector<std::string>& tokens() {
  static const std::vector<std::string> t = {
      "{%", "%}", "{{", "}}", "{#", "#}", "{%-", "-%}", "for ", "endfor", "if ", "endif", "else", "elif ",
      "macro ", "endmacro", "set ", "in ", "|", "(", ")", "[", "]", "'", "\"", ".", ",", ":", "~", "+", "*", "**",
      "//", "%", "loop", "messages", "range(99999)", "namespace(", "raise_exception(", "not ", "is ", "defined",
      "tojson", "join", "map(", "caller", "break", "continue", "\n", " ", "-1", "1e308", "9999999999999999999999"};
  return t;
}

std::string mutate(std::string s, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const std::size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 4) {
      case 0:  // flip a byte
        if (!s.empty()) s[at % s.size()] = static_cast<char>(rng() % 256);
        break;
      case 1:  // insert a Jinja token
        s.insert(at, tokens()[rng() % tokens().size()]);
        break;
      case 2: {  // delete a span
        const std::size_t n = std::min<std::size_t>(rng() % 16, s.size() - std::min(at, s.size()));
        s.erase(std::min(at, s.size()), n);
        break;
      }
      default: {  // repeat a span
        const std::size_t n = std::min<std::size_t>(rng() % 32, s.size() - std::min(at, s.size()));
        s.insert(std::min(at, s.size()), s.substr(std::min(at, s.size()), n));
      }
    }
  }
  return s;
}

TEST(ChatTemplateFuzz, MutatedTemplatesRenderOrGiveInputErrors) {
  const char* env = std::getenv("HONE_FUZZ_ITERATIONS");
  const long iterations = env ? std::atol(env) : 20000;
  nlohmann::ordered_json context = {
      {"messages",
       {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi ☃"}},
        {{"role", "assistant"}, {"content", " Hello\n"}}, {{"role", "user"}, {"content", "Bye"}}}},
      {"add_generation_prompt", true},
      {"bos_token", "<s>"},
      {"eos_token", "</s>"}};
  jinja::Limits limits;
  limits.max_output_bytes = 1 << 16;
  limits.max_loop_iterations = 100000;
  limits.max_range = 10000;
  std::mt19937_64 rng(7);
  long rendered = 0, refused = 0;
  for (long i = 0; i < iterations; ++i) {
    const std::string source = mutate(seeds()[static_cast<std::size_t>(i) % seeds().size()], rng);
    try {
      const jinja::Template t = jinja::Template::parse(source, "fuzz.jinja");
      t.render(context, limits);
      ++rendered;
    } catch (const InputError&) {
      ++refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "iteration " << i << ": " << e.what() << "\ntemplate: " << source;
      return;
    }
  }
  std::cout << "[ fuzz ] " << iterations << " mutated templates: " << rendered << " rendered, " << refused
            << " refused\n";
  EXPECT_GT(rendered, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace hone
