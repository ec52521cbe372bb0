// The jinja lexer: template source -> tokens, as jinja2's Lexer with trim_blocks=True and
// lstrip_blocks=True (the environment transformers renders chat templates in).
//
// Whitespace control happens here, exactly as in jinja2:
//   - newlines (\r\n, \r) become \n and one trailing newline of the template is dropped;
//   - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`, `-#}` all after it;
//   - trim_blocks: a block or comment tag (`%}`, `#}`) eats the one newline that follows it;
//   - lstrip_blocks: spaces/tabs (any whitespace but newlines) between a line start and a block
//     or comment tag are dropped; `{%+` keeps them, `+%}` keeps the newline;
//   - {% raw %}...{% endraw %} is one text token.
// Comments produce no tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hone::jinja {

enum class Tok : std::uint8_t {
  kText,        // template data (text)
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,        // identifier or keyword (text)
  kString,      // string literal, unescaped (text)
  kInt,         // integer literal (i)
  kFloat,       // float literal (f)
  kOp,          // operator (text): + - * / // % ** ~ ( ) [ ] { } == != < <= > >= = . : | ,
  kEof,
};

struct Pos {
  int line = 0;
  int col = 0;  // 1-based, in code points
};

struct Token {
  Tok type = Tok::kEof;
  std::string text;
  std::int64_t i = 0;
  double f = 0;
  Pos pos;
};

// Tokenizes `source`; a lexical error is hone::InputError "<name>:<line>:<col>: <what>".
std::vector<Token> tokenize(const std::string& source, const std::string& name);

// Human-readable token description for syntax errors ("name 'endif'", "'}}'", "end of template").
std::string describe(const Token& t);

}  // namespace hone::jinja
