// A jinja interpreter for Hugging Face chat templates.
//
// Renders a model's chat template byte for byte as transformers' apply_chat_template does. That
// compiles the template with jinja2's ImmutableSandboxedEnvironment(trim_blocks=True,
// lstrip_blocks=True) with the extensions AssistantTracker ({% generation %}) and
// jinja2.ext.loopcontrols ({% break %}, {% continue %}), the globals raise_exception and
// strftime_now, dict and namespace as transformers defines them, and its tojson filter
// (json.dumps with ensure_ascii=False). Values behave as the Python objects jinja2 sees: str()
// of None is "None", lists print as their repr, 1 == 1.0, `//` floors, Undefined prints empty but
// fails on attribute access.
//
// Sandboxed: a template reads only its context; it has no access to files, the environment or the
// system, and cannot mutate lists or dicts. Every render is bounded by Limits.
//
// The context is what transformers passes the template: render_jinja_template gives it messages
// (after _alias_reasoning_fields: a message with reasoning_content also gets `thinking`), tools and
// documents (null when absent), add_generation_prompt and the extra variables (the tokenizer's
// special tokens, enable_thinking, ...); apply_chat_template first drops message keys whose value
// is None. Building that context is the caller's part.
//
// Not supported (an InputError when parsing): {% call %}, {% block %}, {% extends %},
// {% include %}, {% import %}, recursive for loops, `*args`/`**kwargs` in calls, and the filters
// groupby, pprint, random, striptags, truncate, urlencode, urlize, wordwrap, xmlattr,
// filesizeformat. Integers are 64-bit (Python's are unbounded): overflow is an InputError.
// |safe and |escape return jinja2's Markup only as far as printing, repr() and escaping again go
// (its string methods return plain strings here).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace hone::jinja {

struct Program;

struct Limits {
  // Bytes of rendered output; every string the template builds (a macro's output, `~`, join, ...)
  // is held to this size too.
  std::size_t max_output_bytes = 4 << 20;
  int max_call_depth = 64;  // macro / nested call recursion
  // Loop iterations over the whole render, range() included. It also bounds the strings and lists
  // a render builds or scans: 256 bytes (a list item counts 128) per iteration allowed, in all, so
  // that no render does unbounded work or holds unbounded memory.
  std::int64_t max_loop_iterations = 1'000'000;
  std::int64_t max_range = 100'000;  // one range() length
  // Parser depth (expressions and blocks). parse() stops at the default; render() refuses a
  // template that nests deeper than the limits it is given.
  int max_nesting = 256;
};

class Template {
 public:
  // Parses `source`; a syntax error is hone::InputError "<name>:<line>:<col>: <what>" (core/error.h).
  static Template parse(const std::string& source, const std::string& name);
  // Renders with `context` as the template's variables (messages, add_generation_prompt, bos_token,
  // eos_token, tools, documents, ...). Runtime errors (undefined attribute access, a bound
  // exceeded, raise_exception(), type errors) are InputError with name:line:col too.
  std::string render(const nlohmann::ordered_json& context, const Limits& limits = {}) const;
  // strftime_now() uses this time (seconds since the epoch, local time as Python's datetime.now())
  // when set, for tests; otherwise the clock.
  void set_now_for_tests(std::int64_t unix_seconds);

 private:
  std::shared_ptr<const Program> program_;
  std::optional<std::int64_t> now_;
};

}  // namespace hone::jinja
