// Unit tests of hone's jinja interpreter (lib/text/jinja), construct by construct.
//
// The tables hold templates, their variables and the text jinja2 renders for them in the
// environment transformers compiles chat templates in (produced with `tests/python/jinja_peer.py
// expect`); JinjaTables.ExpectationsAreJinja2s checks them against jinja2 again whenever the
// virtualenv is there. Errors and the bounds of Limits are in test_jinja_errors.cpp.
#include "text/jinja/jinja.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.h"
#include "text_cases.h"

namespace hone {
namespace {

using jinja::Limits;
using jinja::Template;
using nlohmann::ordered_json;

struct Case {
  const char* name;
  const char* tmpl;
  const char* context;  // JSON object
  const char* expected;
};

constexpr const char* kEmpty = "{}";

std::string render(const std::string& tmpl, const std::string& context = "{}", const Limits& limits = {}) {
  return Template::parse(tmpl, "t").render(ordered_json::parse(context), limits);
}

// ---------------------------------------------------------------------------------------------
// Tables (expected strings from jinja2)

const Case kWhitespaceControl[] = {
    {"trim_blocks eats the newline after a block tag", "{% if true %}\nyes\n{% endif %}\nend", kEmpty, "yes\nend"},
    {"lstrip_blocks strips indentation before a block tag", "a\n    {% if true %}\n    b\n    {% endif %}\nc", kEmpty,
     "a\n    b\nc"},
    {"a print tag keeps its indentation and newline", "a\n    {{ 'b' }}\nc", kEmpty, "a\n    b\nc"},
    {"minus strips all whitespace on that side", "a  \n {%- if true -%} \n b \n {%- endif -%}  \n c", kEmpty, "abc"},
    {"{{- and -}} strip around output", "x \n\t{{- 'y' -}}\n z", kEmpty, "xyz"},
    {"plus disables lstrip_blocks", "a\n  {%+ if true %}b{% endif %}", kEmpty, "a\n  b"},
    {"plus disables trim_blocks", "{% if true +%}\nb{% endif %}", kEmpty, "\nb"},
    {"comments take trim and lstrip too", "a\n  {# note #}\nb {#- tight -#}  c", kEmpty, "a\nbc"},
    {"lstrip only applies at a line start", "a {% if true %}b{% endif %}", kEmpty, "a b"},
    {"text between tags on one line stays", "{% for i in [1, 2] %} {{ i }} {% endfor %}", kEmpty, " 1  2 "},
    {"raw blocks are literal", "{% raw %}{{ x }} {% if %}{% endraw %}", kEmpty, "{{ x }} {% if %}"},
    {"raw blocks with whitespace control", "a  {%- raw -%}  {{ x }}  {%- endraw -%}  b", kEmpty, "a{{ x }}b"},
    {"one trailing newline is dropped", "x\n", kEmpty, "x"},
    {"only one trailing newline is dropped", "x\n\n", kEmpty, "x\n"},
    {"CRLF and CR become LF", "a\r\nb\rc{% if true %}\r\nd{% endif %}", kEmpty, "a\nb\ncd"},
    {"a tag at the very start is lstripped", "   {% if true %}x{% endif %}", kEmpty, "x"},
    {"an opening comment tag with nothing after it ends the template", "text {#", kEmpty, "text "},
    {"block tags in a chat-template layout",
     "{%- for m in messages %}\n    {{- '<' + m.role + '>' }}\n    {%- if m.role == 'user' %}\n        {{- m.content "
     "}}\n    {%- endif %}\n{%- endfor %}\n",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "<system><user>Hi<assistant>"},
};

const Case kLoopVariables[] = {
    {"index, index0, revindex, revindex0, first, last, length",
     "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ "
     "loop.last }}{{ loop.length }};{% endfor %}",
     kEmpty, "1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;"},
    {"previtem and nextitem", "{% for x in [1, 2, 3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}|{% endfor %}",
     kEmpty, "<1>2|1<2>3|2<3>|"},
    {"cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b', 'c') }}{% endfor %}", kEmpty, "abcab"},
    {"else runs when nothing was iterated", "{% for x in [] %}x{% else %}empty{% endfor %}", kEmpty, "empty"},
    {"an inline if filters the items, and loop counts what is left",
     "{% for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }}:{{ m.role }} {% endfor %}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "1/2:user 2/2:assistant "},
    {"tuple unpacking over items()", "{% for k, v in {'a': 1, 'b': [2]}.items() %}{{ k }}={{ v }};{% endfor %}", kEmpty,
     "a=1;b=[2];"},
    {"iterating a dict gives its keys", "{% for k in {'z': 1, 'a': 2} %}{{ k }}{% endfor %}", kEmpty, "za"},
    {"iterating a string gives its characters", "{% for c in 'hé😀' %}[{{ c }}]{% endfor %}", kEmpty, "[h][é][😀]"},
    {"filters in the iterable",
     "{% for m in messages|selectattr('role', 'equalto', 'user')|list %}{{ m.content }}{% endfor %}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "Hi"},
    {"reversed iteration", "{% for m in messages[::-1] %}{{ m.role[0] }}{% endfor %}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "aus"},
    {"break and continue",
     "{% for i in range(10) %}{% if i is odd %}{% continue %}{% endif %}{% if i > 6 %}{% break %}{% endif %}{{ i }}{% "
     "endfor %}",
     kEmpty, "0246"},
    {"nested loops each have their loop",
     "{% for a in 'xy' %}{% for b in 'uv' %}{{ loop.index }}{% endfor %}{{ loop.index }}|{% endfor %}", kEmpty,
     "121|122|"},
    {"the loop variable prints as LoopContext", "{% for x in [1, 2] %}{{ loop }}{% endfor %}", kEmpty,
     "<LoopContext 1/2><LoopContext 2/2>"},
    {"loop.changed", "{% for x in [1, 1, 2, 2, 1] %}{{ loop.changed(x) }} {% endfor %}", kEmpty,
     "True False True False True "},
    {"undefined iterates as empty", "{% for x in missing %}x{% else %}none{% endfor %}", kEmpty, "none"},
};

const Case kNamespaceAndScoping[] = {
    {"set inside a loop does not outlive the iteration",
     "{% set c = 0 %}{% for i in range(3) %}{% set c = c + 1 %}{{ c }}{% endfor %}{{ c }}", kEmpty, "1110"},
    {"a namespace carries values out of a loop",
     "{% set ns = namespace(c=0) %}{% for i in range(3) %}{% set ns.c = ns.c + 1 %}{% endfor %}{{ ns.c }}", kEmpty,
     "3"},
    {"set inside if leaks to the enclosing scope", "{% if true %}{% set x = 'in' %}{% endif %}{{ x }}", kEmpty, "in"},
    {"each iteration starts from the outer value",
     "{% set a = 'o' %}{% for i in [1, 2] %}{{ a }}{% set a = i %}{{ a }}{% endfor %}{{ a }}", kEmpty, "o1o2o"},
    {"block set captures output", "{% set body %}  {{ 1 + 1 }} items  {% endset %}[{{ body }}]", kEmpty,
     "[  2 items  ]"},
    {"block set with filters", "{% set body | trim | upper %}  x  {% endset %}[{{ body }}]", kEmpty, "[X]"},
    {"tuple assignment", "{% set a, b = 'xy' %}{{ b }}{{ a }} {% set t = 1, 2 %}{{ t }}", kEmpty, "yx (1, 2)"},
    {"namespace attributes read like dict keys",
     "{% set ns = namespace(a=1, b=[1]) %}{% set ns.b = ns.b + [2] %}{{ ns.a }}{{ ns.b }}{{ ns['a'] }}{{ ns }}", kEmpty,
     "1[1, 2]1<Namespace {'a': 1, 'b': [1, 2]}>"},
    {"a namespace from a dict",
     "{% set ns = namespace({'k': 'v'}, n=1) %}{{ ns.k }}{{ ns.n }}{{ ns.missing is defined }}", kEmpty, "v1False"},
    {"with opens a scope", "{% with a = 1, b = 2 %}{% set c = 3 %}{{ a + b + c }}{% endwith %}[{{ a }}{{ c }}]", kEmpty,
     "6[]"},
    {"generation renders its body in its own scope",
     "{% generation %}gen {{ 1 }}{% set g = 1 %}{% endgeneration %}[{{ g }}]", kEmpty, "gen 1[]"},
    {"filter blocks", "{% filter upper %}abc {{ 'def' }}{% endfilter %}", kEmpty, "ABC DEF"},
    {"context variables can be shadowed", "{% set messages = messages[1:] %}{{ messages|length }}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "2"},
    {"a namespace that holds itself prints like Python", "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}",
     kEmpty, "<Namespace {'me': <Namespace {...}>}>"},
};

const Case kMacros[] = {
    {"positional, keyword and default arguments",
     "{% macro f(a, b='B', c=none) %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ f(1) }} {{ f(1, 2, 3) }} {{ f(c='C', a='A') "
     "}}",
     kEmpty, "1BNone 123 ABC"},
    {"defaults may use earlier parameters", "{% macro f(a, b=a ~ '!') %}{{ b }}{% endmacro %}{{ f('hi') }}", kEmpty,
     "hi!"},
    {"a missing argument is undefined", "{% macro f(a, b) %}[{{ b }}]{{ b is defined }}{% endmacro %}{{ f(1) }}",
     kEmpty, "[]False"},
    {"varargs and kwargs", "{% macro f(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, 3, k='v') }}",
     kEmpty, "1(2, 3){'k': 'v'}"},
    {"macros see the variables of their template at call time",
     "{% set x = 1 %}{% macro f() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ f() }}", kEmpty, "2"},
    {"recursion", "{% macro fact(n) %}{{ 1 if n <= 1 else n * fact(n - 1)|int }}{% endmacro %}{{ fact(5) }}", kEmpty,
     "120"},
    {"a macro's output is a string", "{% macro f() %}12{% endmacro %}{{ f() ~ 3 }}{{ f()|int + 1 }}{{ f() is string }}",
     kEmpty, "12313True"},
    {"macros print as Macro", "{% macro f() %}{% endmacro %}{{ f }}", kEmpty, "<Macro 'f'>"},
    {"a macro renders a chat turn",
     "{% macro turn(role, text) %}<|{{ role }}|>{{ text | trim }}<|end|>{% endmacro %}{% for m in messages %}{{ "
     "turn(m.role, m.content) }}{% endfor %}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "<|system|>Be brief.<|end|><|user|>Hi<|end|><|assistant|>Hello!<|end|>"},
};

const Case kFilters[] = {
    {"trim, upper, lower, capitalize, title",
     "{{ '  x y  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'Ab'|upper }}{{ 'Ab'|lower }}|{{ 'hELLO wORLD'|capitalize }}|{{ "
     "'hello big-world (x'|title }}",
     kEmpty, "x y|hi|ABab|Hello world|Hello Big-World (X"},
    {"length and count count code points",
     "{{ 'héllo'|length }} {{ [1, 2]|count }} {{ {'a': 1}|length }} {{ missing|length }}", kEmpty, "5 2 1 0"},
    {"replace", "{{ 'a-b-c'|replace('-', '+') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'ab'|replace('', '.') }}", kEmpty,
     "a+b+c bba .a.b."},
    {"first, last, join",
     "{{ [3, 1, 2]|first }}{{ [3, 1, 2]|last }} {{ [1, 'a', none]|join(', ') }} {{ messages|join('/', "
     "attribute='role') }}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "32 1, a, None system/user/assistant"},
    {"default and d",
     "{{ missing|default('dflt') }} {{ none|default('dflt') }} {{ ''|default('dflt', true) }} {{ 0|d('zero', "
     "boolean=true) }} {{ 'x'|d('y') }}",
     kEmpty, "dflt None dflt zero x"},
    {"selectattr and rejectattr",
     "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ "
     "messages|rejectattr('role', 'in', ['user', 'system'])|map(attribute='role')|list }} {{ "
     "messages|selectattr('missing')|list }}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "['Hi'] ['assistant'] []"},
    {"map by attribute (with a default) and by filter",
     "{{ messages|map(attribute='role')|join(',') }} {{ [{'a': 1}, {}]|map(attribute='a', default=0)|list }} {{ ['a', "
     "'b']|map('upper')|list }} {{ [1.26, 2]|map('round', 1)|list }}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "system,user,assistant [1, 0] ['A', 'B'] [1.3, 2]"},
    {"select and reject",
     "{{ [0, 1, '', 'x', none]|select|list }} {{ [1, 2, 3, 4]|reject('even')|list }} {{ [1, 5, 9]|select('gt', 4)|list "
     "}}",
     kEmpty, "[1, 'x'] [1, 3] [5, 9]"},
    {"list and items", "{{ 'ab'|list }} {{ {'b': 1, 'a': 2}|items|list }} {{ (1, 2)|list }}", kEmpty,
     "['a', 'b'] [('b', 1), ('a', 2)] [1, 2]"},
    {"string, int, float",
     "{{ 12|string ~ 3 }} {{ '42'|int + 1 }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(-1) }} {{ 3.9|int }} {{ "
     "'2.5'|float }} {{ 'x'|float }} {{ true|int }}",
     kEmpty, "123 43 4 0 -1 3 2.5 0.0 1"},
    {"abs and round",
     "{{ -3|abs }} {{ -1.5|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 7|round }} {{ "
     "3.2|round(method='ceil') }} {{ 3.8|round(0, 'floor') }}",
     kEmpty, "3 1.5 2.0 4.0 2.67 7 4.0 3.0"},
    {"unique and sort",
     "{{ ['b', 'A', 'a', 'B']|unique|list }} {{ ['b', 'A', 'a']|sort }} {{ [2, 3, 1]|sort(reverse=true) }} {{ "
     "messages|sort(attribute='role')|map(attribute='role')|list }}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "['b', 'A'] ['A', 'a', 'b'] [3, 2, 1] ['assistant', 'system', 'user']"},
    {"dictsort",
     "{{ {'b': 1, 'a': 2, 'C': 3}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ {'b': 1, 'a': "
     "2}|dictsort(reverse=true) }}",
     kEmpty, "[('a', 2), ('b', 1), ('C', 3)] [('b', 1), ('a', 2)] [('b', 1), ('a', 2)]"},
    {"indent", "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent('>', blank=true) }}",
     kEmpty, "a\n  b\n\n  c|  a\n  b|a\n>\n>b"},
    {"safe, escape, batch, wordcount, center, reverse",
     "{{ '<b>'|safe }} {{ '<a href=\"x\">'|e }} {{ [1, 2, 3]|batch(2)|list }} {{ 'one two, three'|wordcount }} [{{ "
     "'x'|center(5) }}] {{ 'abc'|reverse }} {{ [1, 2]|reverse|list }}",
     kEmpty, "<b> &lt;a href=&#34;x&#34;&gt; [[1, 2], [3]] 3 [  x  ] cba [2, 1]"},
    {"sum, min, max",
     "{{ [1, 2, 3]|sum }} {{ [{'n': 2}, {'n': 3}]|sum(attribute='n') }} {{ ['b', 'A', 'c']|min }} {{ [3, 7, 5]|max }}",
     kEmpty, "6 5 A 7"},
    {"tojson as transformers defines it",
     "{{ {'b': [1, 2.5, none, true], 'a': 'é\"\\n'}|tojson }}|{{ messages[0]|tojson(indent=2) }}|{{ {'b': 1, 'a': "
     "2}|tojson(sort_keys=true) }}|{{ [1, {'a': 2}]|tojson(separators=(',', ':')) }}|{{ {1: 'int key', none: 0}|tojson "
     "}}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "{\"b\": [1, 2.5, null, true], \"a\": \"é\\\"\\n\"}|{\n  \"role\": \"system\",\n  \"content\": \"Be "
     "brief.\"\n}|{\"a\": 2, \"b\": 1}|[1,{\"a\":2}]|{\"1\": \"int key\", \"null\": 0}"},
    {"tojson indentation of nested and empty containers", "{{ {'a': [], 'b': {}, 'c': [1, [2]]}|tojson(indent=4) }}",
     kEmpty,
     "{\n    \"a\": [],\n    \"b\": {},\n    \"c\": [\n        1,\n        [\n            2\n        ]\n    ]\n}"},
    {"format", "{{ '%s has %d items (%.1f%%)'|format('cart', 3, 42.25) }} {{ '%(a)s'|format(a='kw') }}", kEmpty,
     "cart has 3 items (42.2%) kw"},
    {"the filters of a generator are lazy and one-shot",
     "{% set g = [1, 2, 3]|select %}{{ g|first }}{{ g|list }}{{ g|list }}", kEmpty, "1[2, 3][]"},
};

const Case kTests[] = {
    {"defined, undefined, none",
     "{{ x is defined }} {{ missing is defined }} {{ missing is undefined }} {{ none is none }} {{ x is not none }}",
     "{\"x\": 0}", "True False True True True"},
    {"types",
     "{{ 's' is string }} {{ 1 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is "
     "float }} {{ {} is mapping }} {{ [] is mapping }} {{ true is boolean }} {{ 1 is boolean }}",
     kEmpty, "True True True True False True True False True False"},
    {"iterable and sequence",
     "{{ 'x' is iterable }} {{ [] is iterable }} {{ 1 is iterable }} {{ missing is iterable }} {{ {} is sequence }} {{ "
     "'x' is sequence }} {{ 1 is sequence }}",
     kEmpty, "True True False True True True False"},
    {"numbers", "{{ 3 is odd }} {{ 3 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }}", kEmpty,
     "True False True False"},
    {"comparisons",
     "{{ 1 is eq 1 }} {{ 1 is equalto 1.0 }} {{ 1 is ne 1 }} {{ 1 is lt 2 }} {{ 2 is le 1 }} {{ 3 is gt 2 }} {{ 3 is "
     "ge 3 }} {{ 'b' is in 'abc' }} {{ 4 is in [1, 2] }}",
     kEmpty, "True True False True False True True True False"},
    {"true, false, lower, upper, callable",
     "{{ true is true }} {{ 1 is true }} {{ false is false }} {{ 'ab' is lower }} {{ 'AB1' is upper }} {{ range is "
     "callable }} {{ 'x' is callable }}",
     kEmpty, "True False True True True True False"},
};

const Case kMethods[] = {
    {"strip, lstrip, rstrip with and without chars",
     "[{{ '  a  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\\n\\na\\n'.lstrip('\\n') }}][{{ 'a  '.rstrip() }}][{{ "
     "'\\u3000a\\xa0'.strip() }}]",
     kEmpty, "[a][a][a\n][a][a]"},
    {"split and rsplit",
     "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'a "
     "b c '.split(None, 1) }}",
     kEmpty, "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b,c'] ['a,b', 'c'] ['a', 'b c ']"},
    {"startswith and endswith",
     "{{ 'abc'.startswith('ab') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.endswith('bc') }} {{ "
     "'abc'.endswith(('x', 'y')) }}",
     kEmpty, "True True True False"},
    {"case methods",
     "{{ 'abc'.upper() }} {{ 'ABC'.lower() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'ß "
     "straße'.upper() }} {{ 'ΣΑΣ ΟΔΟΣ'.lower() }}",
     kEmpty, "ABC abc Hello World Hello SS STRASSE σας οδος"},
    {"replace, find, count, join, format",
     "{{ 'a-b'.replace('-', '+') }} {{ 'héllo'.find('l') }} {{ 'abc'.find('z') }} {{ 'banana'.count('an') }} {{ ', "
     "'.join(['x', 'y']) }} {{ '{}-{:>3}-{name}'.format(1, 'b', name='n') }}",
     kEmpty, "a+b 2 -1 2 x, y 1-  b-n"},
    {"dict methods",
     "{{ {'a': 1}.items()|list }} {{ {'a': 1}.keys()|list }} {{ {'a': 1}.values()|list }} {{ {'a': 1}.get('a') }} {{ "
     "{'a': 1}.get('b', 'dflt') }} {{ {'a': 1}.get('b') }}",
     kEmpty, "[('a', 1)] ['a'] [1] 1 dflt None"},
    {"list methods", "{{ [5, 6, 5].index(6) }} {{ [5, 6, 5].count(5) }}", kEmpty, "1 2"},
    {"methods of message content, as chat templates call them",
     "{% set c = '<think>\\nplan\\n</think>\\n\\nanswer' %}[{{ "
     "c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}][{{ "
     "c.split('</think>')[-1].lstrip('\\n') }}]",
     kEmpty, "[plan][answer]"},
    {"a dict's methods come before its keys", "{{ d.items is callable }} {{ d['items'] }} {{ d.other }}",
     "{\"d\": {\"items\": \"key\", \"other\": \"o\"}}", "True key o"},
};

const Case kPythonStr[] = {
    {"None, booleans, numbers",
     "{{ none }} {{ None }} {{ true }} {{ False }} {{ 1 }} {{ -0.0 }} {{ 1.0 }} {{ 2.50 }} {{ 1e16 }} {{ 1e15 }} {{ "
     "0.0001 }} {{ 0.00001 }} {{ 0.1 + 0.2 }} {{ 1/3 }} {{ 10/2 }}",
     kEmpty,
     "None None True False 1 -0.0 1.0 2.5 1e+16 1000000000000000.0 0.0001 1e-05 0.30000000000000004 0.3333333333333333 "
     "5.0"},
    {"lists, tuples and dicts print as their repr",
     "{{ [1, 'a', none, true, 2.5] }} {{ (1,) }} {{ () }} {{ {'k': 'v', 'n': [1, {'x': none}]} }} {{ [[], {}] }}",
     kEmpty, "[1, 'a', None, True, 2.5] (1,) () {'k': 'v', 'n': [1, {'x': None}]} [[], {}]"},
    {"string repr quoting and escapes",
     "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'back\\\\slash', 'tab\\t', 'nl\\n', 'é😀', '\\x01\\x7f\\xa0'] }}",
     kEmpty, "[\"it's\", 'say \"hi\"', 'both \\' \"', 'back\\\\slash', 'tab\\t', 'nl\\n', 'é😀', '\\x01\\x7f\\xa0']"},
    {"JSON input keeps its types", "{{ v }} {{ v|tojson }}",
     "{\"v\": {\"i\": 3, \"f\": 3.0, \"b\": false, \"n\": null, \"s\": \"x\", \"l\": [1.5e300, -2]}}",
     "{'i': 3, 'f': 3.0, 'b': False, 'n': None, 's': 'x', 'l': [1.5e+300, -2]} {\"i\": 3, \"f\": 3.0, \"b\": false, "
     "\"n\": null, \"s\": \"x\", \"l\": [1.5e+300, -2]}"},
    {"string literals: escapes and concatenation",
     "{{ 'a\\tb\\x41\\u00e9\\U0001F600\\101' }}|{{ 'ab' 'cd' }}|{{ \"\\q\" }}", kEmpty, "a\tbAé😀A|abcd|\\q"},
    {"identifiers may be non-ASCII letters", "{% set café = 'ok' %}{{ café }}|{{ ünset|default('d') }}", kEmpty,
     "ok|d"},
    {"integer and float literals", "{{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1.5e3 }} {{ 1E-2 }}", kEmpty,
     "1000 31 15 5 1500.0 0.01"},
};

const Case kExpressions[] = {
    {"arithmetic like Python",
     "{{ 1 + 2 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 "
     "** -1 }} {{ 2 ** 3 ** 2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}",
     kEmpty, "7 3.5 3 -4 1 2 -2 1024 0.5 64 3.0 0.5"},
    {"unary minus and its folding into **", "{{ -3 }} {{ -(2 + 1) }} {{ -x ** 2 }} {{ -3 ** 2 }} {{ -3 ** x }}",
     "{\"x\": 2}", "-3 -3 4 9 -9"},
    {"string and list operators",
     "{{ 'a' + 'b' }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ [0] * 3 }} {{ 'a' ~ 1 ~ none ~ missing ~ 2.0 }}", kEmpty,
     "ab abab [1, 2] [0, 0, 0] a1None2.0"},
    {"comparisons chain and order strings by code point",
     "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 == true }} {{ 'B' < 'a' }} {{ 'é' > 'z' }} {{ [1, 2] < [1, 3] }} {{ "
     "(1, 2) == [1, 2] }}",
     kEmpty, "True False True True True True False"},
    {"in and not in",
     "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'x' not in 'abc' }} {{ 'role' in messages[0] }}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "True True True True True"},
    {"and, or, not return Python values",
     "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ [] and 'never' }} {{ not '' }} {{ none or [] }}", kEmpty, "x b [] True []"},
    {"conditional expressions",
     "{{ 'y' if true else 'n' }} {{ 'y' if false }}|{{ 'a' if false else 'b' if true else 'c' }}", kEmpty, "y |b"},
    {"attribute, item, negative index, slices",
     "{{ messages[0].role }} {{ messages[-1]['role'] }} {{ messages[1:]|length }} {{ 'abcdef'[1:4] }} {{ 'abcdef'[::2] "
     "}} {{ 'abcdef'[::-1] }} {{ 'héllo'[1] }} {{ [1, 2, 3][-2:] }} {{ messages[5] is defined }}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "system assistant 2 bcd ace fedcba é [2, 3] False"},
    {"truthiness of empty values",
     "{% for v in ['', 'x', 0, 1, 0.0, [], [0], {}, none, true] %}{{ 'T' if v else 'F' }}{% endfor %}", kEmpty,
     "FTFTFFTFFT"},
    {"globals: range, dict, namespace",
     "{{ range(3)|list }} {{ range(1, 10, 4)|list }} {{ range(3) }} {{ dict(a=1, b=[2]) }} {{ dict([('k', 'v')]) }} {{ "
     "namespace(a=1) }}",
     kEmpty, "[0, 1, 2] [1, 5, 9] range(0, 3) {'a': 1, 'b': [2]} {'k': 'v'} <Namespace {'a': 1}>"},
    {"undefined prints empty and is false",
     "[{{ missing }}]{{ missing is defined }}{{ not missing }}{{ missing == missing }}{{ messages[0].missing is "
     "defined }}{{ messages[9] is defined }}",
     "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
     "{\"role\": \"assistant\", \"content\": \" Hello! \"}]}",
     "[]FalseTrueTrueFalseFalse"},
    {"self is a TemplateReference without blocks", "{{ self }}|{{ self.anything }}|", kEmpty,
     "<TemplateReference None>||"},
};

struct Group {
  const char* name;
  const Case* cases;
  std::size_t size;
};

#define HONE_GROUP(g)               \
  Group {                           \
#g, g, sizeof(g) / sizeof(g[0]) \
  }
const Group kGroups[] = {
    HONE_GROUP(kWhitespaceControl),
    HONE_GROUP(kLoopVariables),
    HONE_GROUP(kNamespaceAndScoping),
    HONE_GROUP(kMacros),
    HONE_GROUP(kFilters),
    HONE_GROUP(kTests),
    HONE_GROUP(kMethods),
    HONE_GROUP(kPythonStr),
    HONE_GROUP(kExpressions),
};
#undef HONE_GROUP

void check_group(const char* group) {
  for (const auto& g : kGroups) {
    if (std::string(g.name) != group) continue;
    for (std::size_t i = 0; i < g.size; ++i) {
      const Case& c = g.cases[i];
      try {
        EXPECT_EQ(render(c.tmpl, c.context), c.expected) << c.name << "\n  template: " << c.tmpl;
      } catch (const Error& e) {
        ADD_FAILURE() << c.name << ": " << e.message() << "\n  template: " << c.tmpl;
      }
    }
    return;
  }
  FAIL() << "no group " << group;
}

TEST(Jinja, WhitespaceControl) {
  check_group("kWhitespaceControl");
}
TEST(Jinja, LoopVariables) {
  check_group("kLoopVariables");
}
TEST(Jinja, NamespaceAndScoping) {
  check_group("kNamespaceAndScoping");
}
TEST(Jinja, Macros) {
  check_group("kMacros");
}
TEST(Jinja, Filters) {
  check_group("kFilters");
}
TEST(Jinja, Tests) {
  check_group("kTests");
}
TEST(Jinja, Methods) {
  check_group("kMethods");
}
TEST(Jinja, PythonStrOfValues) {
  check_group("kPythonStr");
}
TEST(Jinja, Expressions) {
  check_group("kExpressions");
}

// ---------------------------------------------------------------------------------------------
// The API

TEST(Jinja, StrftimeNowUsesTheTestClock) {
  auto t = Template::parse("{{ strftime_now('%Y-%m') }}|{{ strftime_now('%b %Y') }}|{{ strftime_now('%z%Z') }}", "t");
  t.set_now_for_tests(1721995200);  // 2024-07-26 12:00 UTC: 26 July in every time zone but UTC+12..14
  EXPECT_EQ(t.render(ordered_json::object()), "2024-07|Jul 2024|");
}

TEST(Jinja, ATemplateRendersManyTimes) {
  const auto t = Template::parse("{% for m in messages %}{{ m.content }}{% endfor %}", "t");
  const Template copy = t;
  EXPECT_EQ(t.render(ordered_json::parse(R"({"messages": [{"content": "a"}]})")), "a");
  EXPECT_EQ(copy.render(ordered_json::parse(R"({"messages": [{"content": "b"}, {"content": "c"}]})")), "bc");
  EXPECT_EQ(t.render(ordered_json::object()), "");
}

// The tables against jinja2 itself.
TEST(JinjaTables, ExpectationsAreJinja2s) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv with transformers";
  ordered_json cases = ordered_json::array();
  std::vector<const Case*> table;
  for (const auto& g : kGroups) {
    for (std::size_t i = 0; i < g.size; ++i) {
      cases.push_back({{"template", g.cases[i].tmpl}, {"context", ordered_json::parse(g.cases[i].context)}});
      table.push_back(&g.cases[i]);
    }
  }
  const ordered_json out = test::jinja2_outcomes(cases);
  ASSERT_EQ(out.size(), cases.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    ASSERT_TRUE(out[i].contains("text")) << table[i]->name << ": jinja2 raised " << out[i].dump();
    EXPECT_EQ(out[i]["text"].get<std::string>(), table[i]->expected) << table[i]->name;
  }
}

}  // namespace
}  // namespace hone
