// hone's jinja interpreter (lib/text/jinja): errors are hone::InputError "<name>:<line>:<col>:
// <what>", and every bound of Limits is an InputError too, never a crash or a hang. The templates
// listed here as errors raise in jinja2 as well (JinjaErrors.Jinja2RaisesToo checks it with
// tests/python/jinja_peer.py when the virtualenv is there).
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "helpers.h"
#include "text_cases.h"
#include "text/jinja/jinja.h"

namespace hone {
namespace {

using jinja::Limits;
using jinja::Template;
using nlohmann::ordered_json;

std::string render(const std::string& tmpl, const std::string& context = "{}", const Limits& limits = {}) {
  return Template::parse(tmpl, "t").render(ordered_json::parse(context), limits);
}

// ---------------------------------------------------------------------------------------------
// Errors: hone::InputError "<name>:<line>:<col>: <what>"

// Templates that jinja2 refuses too (ExpectationsAreJinja2s checks that it raises on each).
const char* const kSyntaxErrors[] = {
    "{% if x %}never closed",
    "line 1\n  {{ x + }}",
    "{% frobnicate %}",
    "{{ x|no_such_filter }}",
    "{% for x in y %}{{ x|no_such_filter }}{% endfor %}",
    "{# never closed",
    "{{ 'never closed }}",
    "{{ }}",
    "{% endfor %}",
    "{{ (1 }}",
    "{% macro f(a=1, b) %}{% endmacro %}",
    "{{ f(a=1, 2) }}",
    "{% set 1 = 2 %}",
};

const char* const kRuntimeErrors[] = {
    "{{ missing.attr }}",
    "{{ messages[0].missing.attr }}",
    "{{ raise_exception('Roles must alternate') }}",
    "{{ messages.append(1) }}",
    "{{ {}.update({}) }}",
    "{{ 'a' + 1 }}",
    "{{ 1 / 0 }}",
    "{{ none < 1 }}",
    "{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}",
    "{% macro f(a) %}{% endmacro %}{{ f(b=2) }}",
    "{% set x = 1 %}{% set x.attr = 2 %}",
    "{% set ns = namespace() %}{% set ns._hidden = 1 %}",
    "{% for x in 5 %}{% endfor %}",
    "{% if true %}{{ 1|no_such_filter }}{% endif %}",
    "{{ missing|tojson }}",
    "{{ [1, 2]|map('string')|length }}",
    "{% for a, b in [[1, 2, 3]] %}{% endfor %}",
    "{{ 'x' is no_such_test }}",
};

TEST(JinjaErrors, SyntaxErrorsAreInputErrorsWithPosition) {
  EXPECT_HONE_ERROR(Template::parse("{% if x %}never closed", "t.jinja"), InputError,
                    "t.jinja:1:23: Unexpected end of template. Jinja was looking for the following tags: 'elif', "
                    "'else' or 'endif'. The innermost block that needs to be closed is 'if'.");
  EXPECT_HONE_ERROR(Template::parse("line 1\n  {{ x + }}", "t"), InputError,
                    "t:2:10: unexpected end of print statement");
  EXPECT_HONE_ERROR(Template::parse("{% frobnicate %}", "t"), InputError,
                    "t:1:4: Encountered unknown tag 'frobnicate'.");
  EXPECT_HONE_ERROR(Template::parse("{{ x|no_such_filter }}", "t"), InputError,
                    "t:1:6: No filter named 'no_such_filter'.");
  EXPECT_HONE_ERROR(Template::parse("{# never closed", "t"), InputError, "t:1:1: Missing end of comment tag");
  EXPECT_HONE_ERROR(Template::parse("{{ }}", "t"), InputError, "Expected an expression, got end of print statement");
  EXPECT_HONE_ERROR(Template::parse("{% break %}", "t"), InputError, "'break' outside of a loop");
  EXPECT_HONE_ERROR(Template::parse("{% include 'x' %}", "t"), InputError, "the 'include' tag is not supported");
  for (const char* tmpl : kSyntaxErrors) EXPECT_THROW(Template::parse(tmpl, "t"), InputError) << tmpl;
}

TEST(JinjaErrors, RuntimeErrorsAreInputErrorsWithPosition) {
  const std::string msgs = R"({"messages": [{"role": "user", "content": "hi"}]})";
  EXPECT_HONE_ERROR(render("\n\n  {{ missing.attr }}", msgs), InputError, "t:3:13: 'missing' is undefined");
  EXPECT_HONE_ERROR(render("{{ messages[0].missing.attr }}", msgs), InputError,
                    "'dict object' has no attribute 'missing'");
  EXPECT_HONE_ERROR(render("{% if true %}\n{{ raise_exception('Roles must alternate') }}{% endif %}", msgs), InputError,
                    "t:2:4: Roles must alternate");
  EXPECT_HONE_ERROR(render("{{ messages.append(1) }}", msgs), InputError,
                    "access to attribute 'append' of 'list' object is unsafe.");
  EXPECT_HONE_ERROR(render("{{ 'a' + 1 }}"), InputError, "can only concatenate str (not \"int\") to str");
  EXPECT_HONE_ERROR(render("{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}"), InputError,
                    "macro 'f' takes not more than 1 argument(s)");
  EXPECT_HONE_ERROR(render("{% set x = 1 %}{% set x.attr = 2 %}"), InputError,
                    "Cannot assign attribute on non-namespace object");
  EXPECT_HONE_ERROR(render("{% if true %}{{ 1|no_such_filter }}{% endif %}"), InputError,
                    "No filter named 'no_such_filter' found.");
  // An unknown filter inside an if is an error only when it runs.
  EXPECT_EQ(render("{% if false %}{{ 1|no_such_filter }}{% endif %}ok"), "ok");
  for (const char* tmpl : kRuntimeErrors) EXPECT_THROW(render(tmpl, msgs), InputError) << tmpl;
  EXPECT_HONE_ERROR(render("{}", "[1, 2]"), InputError, "the template context must be a JSON object");
}

// ---------------------------------------------------------------------------------------------
// Limits: every bound is an InputError with a position, never a crash or a hang.

TEST(JinjaLimits, OutputBytes) {
  EXPECT_HONE_ERROR(render("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}"), InputError,
                    "t:1:29: the output exceeds Limits::max_output_bytes (4194304)");
  Limits small;
  small.max_output_bytes = 10;
  EXPECT_EQ(render("{{ 'x' * 10 }}", "{}", small), "xxxxxxxxxx");
  EXPECT_HONE_ERROR(render("{{ 'x' * 10 }}y", "{}", small), InputError, "max_output_bytes");
  EXPECT_HONE_ERROR(render("{{ ('x' * 11)|length }}", "{}", small), InputError, "a string of 11 bytes");
  EXPECT_HONE_ERROR(render("{% macro f() %}{{ 'y' * 20 }}{% endmacro %}{{ f()|length }}", "{}", small), InputError,
                    "max_output_bytes");
}

TEST(JinjaLimits, Range) {
  EXPECT_HONE_ERROR(render("{{ range(1000000000)|length }}"), InputError,
                    "t:1:4: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  Limits small;
  small.max_range = 10;
  EXPECT_EQ(render("{{ range(10)|length }}", "{}", small), "10");
  EXPECT_HONE_ERROR(render("{{ range(0, 22, 2)|length }}", "{}", small), InputError, "Range too big");
}

TEST(JinjaLimits, CallDepth) {
  EXPECT_HONE_ERROR(render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"), InputError,
                    "macro calls nest deeper than 64 (Limits::max_call_depth)");
  Limits small;
  small.max_call_depth = 3;
  const std::string countdown = "{% macro f(n) %}{{ n }}{% if n > 1 %}{{ f(n - 1) }}{% endif %}{% endmacro %}";
  EXPECT_EQ(render(countdown + "{{ f(3) }}", "{}", small), "321");
  EXPECT_HONE_ERROR(render(countdown + "{{ f(4) }}", "{}", small), InputError, "max_call_depth");
}

TEST(JinjaLimits, LoopIterations) {
  EXPECT_HONE_ERROR(render("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in [1, 2] %}{% endfor %}"
                           "{% endfor %}{% endfor %}"),
                    InputError, "the template runs more than 1000000 loop iterations (Limits::max_loop_iterations)");
  Limits small;
  small.max_loop_iterations = 10;
  EXPECT_EQ(render("{% for i in 'abcdefghij' %}{{ i }}{% endfor %}", "{}", small), "abcdefghij");
  EXPECT_HONE_ERROR(render("{% for i in 'abcdefghijk' %}{% endfor %}", "{}", small), InputError, "max_loop_iterations");
  EXPECT_HONE_ERROR(render("{% for i in range(6) %}{% endfor %}", "{}", small), InputError, "max_loop_iterations");
}

TEST(JinjaLimits, WorkOnStringsAndLists) {
  // Quadratic string building and scanning a long string over and over are bounded work too.
  EXPECT_HONE_ERROR(render("{% set ns = namespace(s='') %}{% for i in range(1000) %}{% for j in range(1000) %}"
                           "{% set ns.s = ns.s ~ 'abcd' %}{% endfor %}{% endfor %}"),
                    InputError, "bytes of strings and lists");
  EXPECT_HONE_ERROR(render("{% set s = 'x' * 4000000 %}{% for i in range(1000) %}{% for j in range(1000) %}"
                           "{% if 'y' in s %}{% endif %}{% endfor %}{% endfor %}"),
                    InputError, "bytes of strings and lists");
  EXPECT_HONE_ERROR(render("{{ ([1] * 1000000000)|length }}"), InputError, "bytes of strings and lists");
  EXPECT_HONE_ERROR(render("{{ ('x' * 1000000000)|length }}"), InputError, "exceeds Limits::max_output_bytes");
}

TEST(JinjaLimits, Nesting) {
  const std::string parens = "{{ " + std::string(10000, '(') + "1" + std::string(10000, ')') + " }}";
  EXPECT_HONE_ERROR(Template::parse(parens, "t"), InputError, "the template nests more than 256 levels deep");
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  EXPECT_HONE_ERROR(Template::parse(ifs, "t"), InputError, "the template nests more than 256 levels deep");
  EXPECT_HONE_ERROR(Template::parse("{{ " + std::string(5000, '-') + "1 }}", "t"), InputError, "nests more than");
  EXPECT_HONE_ERROR(Template::parse("{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}", "t"), InputError,
                    "nests more than");
  std::string nots = "{{ ";
  for (int i = 0; i < 5000; ++i) nots += "not ";
  EXPECT_HONE_ERROR(Template::parse(nots + "1 }}", "t"), InputError, "nests more than");
  // Chains build deep trees without recursing in the parser: they are bounded as deep trees.
  std::string chain = "{{ x";
  for (int i = 0; i < 100000; ++i) chain += ".a";
  EXPECT_HONE_ERROR(Template::parse(chain + " }}", "t"), InputError, "nests more than");
  std::string sum = "{{ 1";
  for (int i = 0; i < 100000; ++i) sum += " + 1";
  EXPECT_HONE_ERROR(Template::parse(sum + " }}", "t"), InputError, "nests more than");
  std::string conds = "{{ 1";
  for (int i = 0; i < 10000; ++i) conds += " if 1";
  EXPECT_HONE_ERROR(Template::parse(conds + " }}", "t"), InputError, "nests more than");
  std::string filters = "{{ 1";
  for (int i = 0; i < 10000; ++i) filters += "|string";
  EXPECT_HONE_ERROR(Template::parse(filters + " }}", "t"), InputError, "nests more than");
  // render() refuses a template deeper than the limits it is given.
  const std::string nested = "{% if true %}{% if true %}{% if true %}{{ ((1)) }}{% endif %}{% endif %}{% endif %}";
  EXPECT_EQ(render(nested), "1");
  Limits small;
  small.max_nesting = 3;
  EXPECT_HONE_ERROR(render(nested, "{}", small), InputError, "more than Limits::max_nesting (3)");
}

TEST(JinjaLimits, DeepValuesAndRecursion) {
  EXPECT_HONE_ERROR(render("{% set ns = namespace(x=[]) %}{% for i in range(5000) %}{% set ns.x = [ns.x] %}"
                           "{% endfor %}{{ ns.x }}"),
                    InputError, "value nested more than 1000 levels deep");
  EXPECT_HONE_ERROR(render("{% set ns = namespace(x=none) %}{% for i in range(5000) %}"
                           "{% set ns.x = namespace(y=ns.x) %}{% endfor %}{{ ns }}"),
                    InputError, "value nested more than 1000 levels deep");
  // Macro recursion through deeply nested blocks runs out of its stack share, not the stack.
  std::string deep = "{% macro f(n) %}";
  for (int i = 0; i < 200; ++i) deep += "{% if true %}";
  deep += "{{ f(n + 1) }}";
  for (int i = 0; i < 200; ++i) deep += "{% endif %}";
  EXPECT_THROW(render(deep + "{% endmacro %}{{ f(0) }}"), InputError);
  std::string data = "{\"v\": ";
  for (int i = 0; i < 2000; ++i) data += "[";
  for (int i = 0; i < 2000; ++i) data += "]";
  EXPECT_HONE_ERROR(render("{{ v|length }}", data + "}"), InputError, "nested more than 1000 levels deep");
}

TEST(JinjaErrors, Jinja2RaisesToo) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv with transformers";
  const ordered_json msgs = ordered_json::parse(R"({"messages": [{"role": "user", "content": "hi"}]})");
  ordered_json cases = ordered_json::array();
  for (const char* tmpl : kSyntaxErrors) cases.push_back({{"template", tmpl}, {"context", msgs}});
  for (const char* tmpl : kRuntimeErrors) cases.push_back({{"template", tmpl}, {"context", msgs}});
  const ordered_json out = test::jinja2_outcomes(cases);
  ASSERT_EQ(out.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i)
    EXPECT_TRUE(out[i].contains("error")) << cases[i]["template"] << " renders in jinja2: " << out[i].dump();
}

}  // namespace
}  // namespace hone
