// Malformed and hostile chat templates (a template is untrusted input inside a downloaded model):
// each gives an InputError naming the template and the line and column, never a crash, a hang or
// an unbounded allocation. The Limits are the defaults every command uses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "core/error.h"
#include "text/jinja/jinja.h"

namespace hone {
namespace {

struct Hostile {
  const char* what;
  std::string source;
  const char* expect;  // a part of the message
};

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

std::vector<Hostile> hostile_templates() {
  return {
      {"unclosed if", "{% if messages %}\nyes", "if"},
      {"unclosed for", "line 1\n  {% for m in messages %}{{ m }}", "for"},
      {"unclosed expression", "{{ messages[0]", ""},
      {"unterminated string", "{{ 'abc }}", ""},
      {"stray end tag", "{% endfor %}", "endfor"},
      {"unsupported tag", "{% call f() %}x{% endcall %}", "call"},
      {"file access", "{% include 'secrets.txt' %}", "include"},
      {"unknown filter", "\n\n{{ messages | no_such_filter }}", "no_such_filter"},
      {"unknown test", "{% if messages is no_such_test %}{% endif %}", "no_such_test"},
      {"break outside a loop", "{% break %}", "break"},
      {"attribute of undefined", "{{ no_such_variable.attribute }}", "no_such_variable"},
      {"item of undefined", "{{ no_such_variable['key'] }}", "no_such_variable"},
      {"python internals", "{{ ''.__class__.__mro__ }}", ""},
      {"sandbox mutation", "{% set l = [1] %}{{ l.append(2) }}", "append"},
      {"division by zero", "{{ 1 // 0 }}", "zero"},
      {"infinite recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nest deeper"},
      {"mutual recursion", "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}",
       "nest deeper"},
      {"huge range", "{% for i in range(1000000000000) %}{% endfor %}", "range"},
      {"nested loops", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "loop"},
      {"10 MB output", "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", "output"},
      {"huge string", "{% set s = 'ab' * 1000000000 %}{{ s | length }}", ""},
      {"deep parentheses", "{{ " + repeat("(", 100000) + "1" + repeat(")", 100000) + " }}", "nest"},
      {"deep blocks", repeat("{% if true %}", 20000) + repeat("{% endif %}", 20000), "nest"},
      {"raise_exception", "{{ raise_exception('bad roles') }}", "bad roles"},
      {"huge format width", "{{ '%99999999999999999999d' % 1 }}", "too large"},
  };
}

TEST(ChatTemplateHostile, EveryOneIsAnInputErrorWithLineAndColumn) {
  nlohmann::ordered_json context = {{"messages", {{{"role", "user"}, {"content", "hi"}}}},
                                    {"add_generation_prompt", true}};
  const std::regex place(R"(hostile\.jinja:[0-9]+:[0-9]+: )");
  int n = 0;
  for (const Hostile& h : hostile_templates()) {
    SCOPED_TRACE(h.what);
    try {
      const jinja::Template t = jinja::Template::parse(h.source, "hostile.jinja");
      const std::string out = t.render(context);
      ADD_FAILURE() << "rendered " << out.size() << " bytes instead of an error";
    } catch (const InputError& e) {
      EXPECT_TRUE(std::regex_search(e.message(), place)) << e.message();
      EXPECT_NE(e.message().find(h.expect), std::string::npos) << e.message();
      ++n;
    }
  }
  std::cout << "[ jinja ] " << n << " hostile templates refused with line and column\n";
  EXPECT_GE(n, 20);
}

}  // namespace
}  // namespace hone
