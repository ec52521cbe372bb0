// The renderer: runs a Program on a context, with jinja2's scoping and the bounds of Limits.
//
// Scopes follow jinja2's frames: a for loop runs each iteration in a fresh scope below the
// enclosing one (so `set` inside a loop does not outlive the iteration, the reason templates use
// namespace()), `if` opens none; a for's else, macros, set and filter blocks, {% generation %} and
// {% with %} run in their own. Lookups go up the scopes, then the context (the render's
// variables), then the globals.
//
// Statements are in interpreter.cpp, expressions in expressions.cpp, operators in operators.cpp,
// filters in filters.cpp / filters_seq.cpp, tests in tests.cpp, methods in methods.cpp, string
// formatting in format.cpp, tojson in json_dump.cpp and the global functions in globals.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "text/jinja/ast.h"
#include "text/jinja/jinja.h"

namespace hone::jinja {

struct Scope {
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;
  const Value* find(const std::string& name) const;  // this scope only
  void set(const std::string& name, Value v);
};

// namespace(): the one mutable object ({% set ns.attr = ... %}).
class Namespace : public Object {
 public:
  std::string type_name() const override { return "Namespace"; }
  std::string repr() const override;
  Value getattr(const std::string& name) const override;
  void set(const std::string& name, Value v);
  void clear() { attrs_.items.clear(); }
  const Dict& attrs() const { return attrs_; }

 private:
  Dict attrs_;
  mutable bool in_repr_ = false;
};

// What map, select, reject, selectattr, rejectattr, unique, batch, slice, items and reverse return
// in jinja2: a generator (or iterator), true even when empty, without len(), used up by iterating.
class Generator : public Object {
 public:
  Generator(std::vector<Value> items, std::string type) : items_(std::move(items)), type_(std::move(type)) {}
  std::string type_name() const override { return type_; }
  std::string repr() const override { return "<" + type_ + " object>"; }
  std::optional<std::vector<Value>> iterate() const override {
    std::vector<Value> rest(items_.begin() + static_cast<std::ptrdiff_t>(pos_), items_.end());
    pos_ = items_.size();
    return rest;
  }
  // next(): the next item, or nullopt when used up.
  std::optional<Value> next() const {
    if (pos_ >= items_.size()) return std::nullopt;
    return items_[pos_++];
  }

 private:
  std::vector<Value> items_;
  std::string type_;
  mutable std::size_t pos_ = 0;
};
Value make_generator(std::vector<Value> items, const char* type = "generator");

// dict.keys(), dict.values(), dict.items(): a view with len() that iterates any number of times.
class DictView : public Object {
 public:
  DictView(std::vector<Value> items, std::string type) : items_(std::move(items)), type_(std::move(type)) {}
  std::string type_name() const override { return type_; }
  std::string repr() const override { return type_ + "(" + to_repr(Value::list(items_)) + ")"; }
  bool truthy() const override { return !items_.empty(); }
  std::optional<std::vector<Value>> iterate() const override { return items_; }
  std::optional<std::int64_t> length() const override { return static_cast<std::int64_t>(items_.size()); }

 private:
  std::vector<Value> items_;
  std::string type_;
};

// range(): a sequence of ints (materialised: Limits::max_range bounds it) that prints as
// range(start, stop[, step]).
class RangeObject : public Object {
 public:
  RangeObject(std::vector<Value> items, std::string repr) : items_(std::move(items)), repr_(std::move(repr)) {}
  std::string type_name() const override { return "range"; }
  std::string repr() const override { return repr_; }
  bool truthy() const override { return !items_.empty(); }
  std::optional<std::vector<Value>> iterate() const override { return items_; }
  std::optional<std::int64_t> length() const override { return static_cast<std::int64_t>(items_.size()); }
  const std::vector<Value>& items() const { return items_; }

 private:
  std::vector<Value> items_;
  std::string repr_;
};

class Renderer {
 public:
  Renderer(const Program& program, const Limits& limits, std::optional<std::int64_t> now);
  ~Renderer();
  std::string render(const nlohmann::ordered_json& context);

  // For filters, tests, methods and globals.
  const Limits& limits() const { return limits_; }
  // Spends `units` loop iterations (Limits::max_loop_iterations): for loops and range().
  void spend(std::int64_t units);
  // Spends the work of building or scanning `bytes` of strings and lists (an item counts as
  // kItemBytes). A render may do kWorkPerIteration per allowed loop iteration in all, which bounds
  // both its time and its memory.
  void work(std::int64_t bytes);
  // An item costs far more than a byte (an allocation and a Value: sorting, mapping or splitting
  // into items is what makes a render slow), so that a render within the default limits finishes in
  // about a second, and within 10 s under AddressSanitizer (the fuzz target's timeout).
  static constexpr std::int64_t kItemBytes = 128;
  static constexpr std::int64_t kWorkPerIteration = 256;
  // Throws when a string of `bytes` would exceed Limits::max_output_bytes.
  void check_size(std::size_t bytes) const;
  // check_size and work: a string of `bytes` built in one go.
  void check_string(std::size_t bytes);
  std::int64_t now() const;
  // Python iteration: list/tuple items, dict keys, a string's characters; Undefined is empty.
  std::vector<Value> iterate(const Value& v);
  // jinja2's sandboxed getattr (x.name) and getitem (x[key]).
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  Value call(const Value& callee, Object::Args& args);
  Value call_filter(const std::string& name, const Value& v, Object::Args& args);
  bool call_test(const std::string& name, const Value& v, Object::Args& args);
  Value call_macro(const Stmt& macro, const std::weak_ptr<Scope>& closure, Object::Args& args);
  std::shared_ptr<Namespace> make_namespace();

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  struct ScopeGuard;
  struct OutputGuard;

  // Statements (interpreter.cpp).
  Flow exec_body(const Body& body);
  Flow exec(const Stmt& s);
  Flow exec_if(const Stmt& s);
  void exec_for(const Stmt& s);
  Flow exec_scope(const Stmt& s);
  std::string render_body(const Body& body);
  void assign(const Target& t, const Value& v);
  void write(const std::string& s, const Pos& pos);
  [[noreturn]] void fail(const Pos& pos, const std::string& what) const;
  // InputError when the render's recursion has used more than its share of the stack.
  void check_stack(const Pos& pos) const;

  // Expressions (expressions.cpp).
 public:
  Value eval(const Expr& e);

 private:
  Value eval_node(const Expr& e);
  Value eval_name(const Expr& e);
  Value eval_call(const Expr& e);
  Value eval_filter(const Expr& e, const Value& subject);
  bool eval_test(const Expr& e);
  Value eval_compare(const Expr& e);
  Value eval_slice(const Expr& e);
  Object::Args eval_args(const Expr& e, std::size_t first_positional);

  const Program& program_;
  Limits limits_;
  std::optional<std::int64_t> now_;
  std::shared_ptr<Scope> globals_;  // the context's variables (the root scope's parent)
  std::shared_ptr<Scope> scope_;
  std::string* out_ = nullptr;
  std::int64_t iterations_left_ = 0;
  std::int64_t work_left_ = 0;
  int call_depth_ = 0;
  std::uintptr_t stack_base_ = 0;                       // the frame address where render() started
  std::vector<std::shared_ptr<Namespace>> namespaces_;  // cleared after the render (cycles)
};

// Operators (operators.cpp): Python's semantics for the template's operators.
Value binary_op(Renderer& r, BinOp op, const Value& a, const Value& b);
Value negate(const Value& v);
Value concat_str(Renderer& r, const Value& a, const Value& b);          // a ~ b
bool contains(Renderer& r, const Value& container, const Value& item);  // item in container
Value slice_value(Renderer& r, const Value& v, const Value& start, const Value& stop, const Value& step);
// markupsafe's escape(): & < > " ' as HTML entities.
std::string html_escape(const std::string& s);
// An Undefined operand: throws its hint as an EvalError (jinja2's UndefinedError).
[[noreturn]] void fail_undefined(const Value& v);

// The global functions (globals.cpp): range, dict, namespace, raise_exception, strftime_now.
Value find_global(const std::string& name);

// Methods (methods.cpp): the bound method `obj.name`, Undefined if there is none, or the sandbox's
// unsafe Undefined for the mutating methods of lists and dicts.
Value find_method(const Value& obj, const std::string& name);
// str.format(*args, **kwargs) for `{}`, `{0}`, `{name}` fields without format specs.
std::string py_format(Renderer& r, const std::string& fmt, Object::Args& args);
// str % args (printf-style), for the `%` operator and the format filter.
std::string py_percent_format(Renderer& r, const std::string& fmt, const Value& args);

// Python's json.dumps(x, ensure_ascii=False, indent, separators, sort_keys) (json_dump.cpp):
// transformers' tojson filter. `indent` is None, an int or a str.
std::string json_dumps(Renderer& r, const Value& v, const Value& indent, const Value& separators, bool sort_keys);

// Argument binding for builtin callables: positional, then keyword, with defaults.
class ArgBinder {
 public:
  // `names`: parameter names in order; `what`: the callable's name for messages.
  ArgBinder(Object::Args& args, const char* what, std::vector<const char*> names);
  // The argument for parameter `i`, or `fallback` when it was not given.
  Value get(std::size_t i, Value fallback = Value()) const;
  bool has(std::size_t i) const;

 private:
  std::vector<std::optional<Value>> values_;
};

}  // namespace hone::jinja
