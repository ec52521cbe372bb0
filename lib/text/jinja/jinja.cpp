// Template: parse once, render many times (jinja.h).
#include "text/jinja/jinja.h"

#include "core/error.h"
#include "text/jinja/ast.h"
#include "text/jinja/interpreter.h"
#include "text/jinja/lexer.h"

namespace hone::jinja {

Template Template::parse(const std::string& source, const std::string& name) {
  Template t;
  t.program_ = parse_program(tokenize(source, name), name, Limits{}.max_nesting);
  return t;
}

std::string Template::render(const nlohmann::ordered_json& context, const Limits& limits) const {
  HONE_CHECK(program_ != nullptr, InputError, "render() of a Template that was not parsed");
  Renderer renderer(*program_, limits, now_);
  return renderer.render(context);
}

void Template::set_now_for_tests(std::int64_t unix_seconds) {
  now_ = unix_seconds;
}

}  // namespace hone::jinja
