// The renderer's statements (interpreter.h): output, if, for (with jinja2's loop variable), set,
// macros, scoped blocks, and the bounds of Limits.
#include "text/jinja/interpreter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <limits>

#include "core/error.h"

namespace hone::jinja {

namespace {

// The stack a render may use for its recursion (nested expressions, statements and macro calls).
// Threads get 8 MiB by default; this leaves room for whatever runs below the render.
constexpr std::uintptr_t kMaxStackBytes = 2u << 20;

std::uintptr_t frame_address() {
  return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}

// jinja2's LoopContext: the `loop` variable of a for loop.
class LoopObject : public Object {
 public:
  explicit LoopObject(std::vector<Value> items) : items_(std::move(items)) {}
  std::string type_name() const override { return "LoopContext"; }
  std::string repr() const override { return fmt::format("<LoopContext {}/{}>", index_ + 1, items_.size()); }
  void set_index(std::size_t i) { index_ = i; }

  Value getattr(const std::string& name) const override {
    const auto n = static_cast<std::int64_t>(items_.size());
    const auto i = static_cast<std::int64_t>(index_);
    if (name == "index") return Value::integer(i + 1);
    if (name == "index0") return Value::integer(i);
    if (name == "revindex") return Value::integer(n - i);
    if (name == "revindex0") return Value::integer(n - i - 1);
    if (name == "first") return Value::boolean(i == 0);
    if (name == "last") return Value::boolean(i == n - 1);
    if (name == "length") return Value::integer(n);
    if (name == "depth") return Value::integer(1);
    if (name == "depth0") return Value::integer(0);
    if (name == "previtem") return i > 0 ? items_[index_ - 1] : Value::undefined("there is no previous item");
    if (name == "nextitem") return i + 1 < n ? items_[index_ + 1] : Value::undefined("there is no next item");
    if (name == "cycle" || name == "changed")
      return Value::object(std::make_shared<LoopMethod>(const_cast<LoopObject*>(this), name == "cycle"));
    return Object::getattr(name);
  }

 private:
  // loop.cycle(a, b, ...) and loop.changed(x).
  class LoopMethod : public Object {
   public:
    LoopMethod(LoopObject* loop, bool cycle) : loop_(loop), cycle_(cycle) {}
    std::string type_name() const override { return "method"; }
    std::string repr() const override {
      return cycle_ ? "<bound method LoopContext.cycle>" : "<bound method LoopContext.changed>";
    }
    bool callable() const override { return true; }
    Value call(Renderer&, Args& args) const override {
      if (cycle_) {
        if (args.positional.empty()) throw EvalError("no items for cycling given");
        return args.positional[loop_->index_ % args.positional.size()];
      }
      const Value now = Value::tuple(args.positional);
      if (loop_->has_last_changed_ && equals(loop_->last_changed_, now)) return Value::boolean(false);
      loop_->last_changed_ = now;
      loop_->has_last_changed_ = true;
      return Value::boolean(true);
    }

   private:
    LoopObject* loop_;
    bool cycle_;
  };

  std::vector<Value> items_;
  std::size_t index_ = 0;
  Value last_changed_;
  bool has_last_changed_ = false;
};

// A macro: its definition and the scope it was defined in (weakly held: the scope holds the macro).
class MacroObject : public Object {
 public:
  MacroObject(const Stmt& def, std::weak_ptr<Scope> closure) : def_(def), closure_(std::move(closure)) {}
  std::string type_name() const override { return "Macro"; }
  std::string repr() const override { return fmt::format("<Macro '{}'>", def_.name); }
  bool callable() const override { return true; }
  Value call(Renderer& r, Args& args) const override { return r.call_macro(def_, closure_, args); }

 private:
  const Stmt& def_;
  std::weak_ptr<Scope> closure_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Scope, Namespace

const Value* Scope::find(const std::string& name) const {
  for (const auto& kv : vars)
    if (kv.first == name) return &kv.second;
  return nullptr;
}

void Scope::set(const std::string& name, Value v) {
  for (auto& kv : vars) {
    if (kv.first == name) {
      kv.second = std::move(v);
      return;
    }
  }
  vars.emplace_back(name, std::move(v));
}

std::string Namespace::repr() const {
  if (in_repr_) return "<Namespace {...}>";  // a namespace that holds itself, as Python's dict repr
  in_repr_ = true;
  try {
    std::string out = "<Namespace " + to_repr(Value::dict(attrs_)) + ">";
    in_repr_ = false;
    return out;
  } catch (...) {
    in_repr_ = false;
    throw;
  }
}

Value Namespace::getattr(const std::string& name) const {
  if (const Value* v = attrs_.find(Value::string(name))) return *v;
  return Object::getattr(name);
}

void Namespace::set(const std::string& name, Value v) {
  if (!name.empty() && name[0] == '_')
    throw EvalError(
        fmt::format("Chat templates cannot store underscore-prefixed attributes on a namespace, but got "
                    "'{}'. Please rename the attribute.",
                    name));
  attrs_.set(Value::string(name), std::move(v));
}

// ---------------------------------------------------------------------------------------------
// Renderer: set-up and bounds

struct Renderer::ScopeGuard {
  explicit ScopeGuard(Renderer& r) : r_(r), saved_(r.scope_) {
    auto s = std::make_shared<Scope>();
    s->parent = saved_;
    r_.scope_ = std::move(s);
  }
  ScopeGuard(Renderer& r, std::shared_ptr<Scope> parent) : r_(r), saved_(r.scope_) {
    auto s = std::make_shared<Scope>();
    s->parent = std::move(parent);
    r_.scope_ = std::move(s);
  }
  ~ScopeGuard() { r_.scope_ = std::move(saved_); }
  Renderer& r_;
  std::shared_ptr<Scope> saved_;
};

struct Renderer::OutputGuard {
  OutputGuard(Renderer& r, std::string* out) : r_(r), saved_(r.out_) { r_.out_ = out; }
  ~OutputGuard() { r_.out_ = saved_; }
  Renderer& r_;
  std::string* saved_;
};

Renderer::Renderer(const Program& program, const Limits& limits, std::optional<std::int64_t> now)
    : program_(program), limits_(limits), now_(now) {}

Renderer::~Renderer() {
  // Namespaces may hold each other (or themselves); emptying them all frees every cycle.
  for (auto& ns : namespaces_) ns->clear();
}

std::string Renderer::render(const nlohmann::ordered_json& context) {
  const Pos start{1, 1};
  if (program_.max_depth > limits_.max_nesting)
    fail(start, fmt::format("the template nests {} levels deep, more than Limits::max_nesting ({})", program_.max_depth,
                            limits_.max_nesting));
  if (!context.is_object()) fail(start, "the template context must be a JSON object");
  globals_ = std::make_shared<Scope>();
  for (const auto& [key, value] : context.items()) {
    try {
      globals_->vars.emplace_back(key, from_json(value));
    } catch (const EvalError& e) {
      fail(start, fmt::format("context variable '{}': {}", key, e.message()));
    }
  }
  scope_ = std::make_shared<Scope>();
  scope_->parent = globals_;
  iterations_left_ = std::max<std::int64_t>(0, limits_.max_loop_iterations);
  work_left_ = iterations_left_ > std::numeric_limits<std::int64_t>::max() / kWorkPerIteration
                   ? std::numeric_limits<std::int64_t>::max()
                   : iterations_left_ * kWorkPerIteration;
  stack_base_ = frame_address();
  std::string out;
  OutputGuard guard(*this, &out);
  exec_body(program_.body);
  return out;
}

void Renderer::fail(const Pos& pos, const std::string& what) const {
  HONE_THROW(InputError, "{}:{}:{}: {}", program_.name, pos.line, pos.col, what);
}

void Renderer::check_stack(const Pos& pos) const {
  const std::uintptr_t here = frame_address();
  const std::uintptr_t used = here < stack_base_ ? stack_base_ - here : here - stack_base_;
  if (used > kMaxStackBytes) fail(pos, "the template recurses too deeply (nested expressions, blocks and macro calls)");
}

void Renderer::spend(std::int64_t units) {
  if (units > iterations_left_)
    throw EvalError(fmt::format("the template runs more than {} loop iterations (Limits::max_loop_iterations)",
                                limits_.max_loop_iterations));
  iterations_left_ -= units;
}

void Renderer::work(std::int64_t bytes) {
  if (bytes > work_left_)
    throw EvalError(
        fmt::format("the template builds or scans more than {} bytes of strings and lists ({} per "
                    "loop iteration of Limits::max_loop_iterations)",
                    limits_.max_loop_iterations * kWorkPerIteration, kWorkPerIteration));
  work_left_ -= bytes;
}

void Renderer::check_size(std::size_t bytes) const {
  if (bytes > limits_.max_output_bytes)
    throw EvalError(
        fmt::format("a string of {} bytes exceeds Limits::max_output_bytes ({})", bytes, limits_.max_output_bytes));
}

void Renderer::check_string(std::size_t bytes) {
  check_size(bytes);
  work(static_cast<std::int64_t>(bytes));
}

std::int64_t Renderer::now() const {
  return now_ ? *now_ : static_cast<std::int64_t>(std::time(nullptr));
}

std::shared_ptr<Namespace> Renderer::make_namespace() {
  auto ns = std::make_shared<Namespace>();
  namespaces_.push_back(ns);
  return ns;
}

void Renderer::write(const std::string& s, const Pos& pos) {
  if (out_->size() + s.size() > limits_.max_output_bytes)
    fail(pos, fmt::format("the output exceeds Limits::max_output_bytes ({})", limits_.max_output_bytes));
  out_->append(s);
}

// ---------------------------------------------------------------------------------------------
// Statements

Renderer::Flow Renderer::exec_body(const Body& body) {
  for (const auto& s : body) {
    const Flow f = exec(*s);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Renderer::Flow Renderer::exec(const Stmt& s) {
  check_stack(s.pos);
  try {
    switch (s.kind) {
      case StmtKind::kText:
        write(s.text, s.pos);
        break;
      case StmtKind::kOutput: {
        const std::string text = to_str(eval(*s.expr));
        work(static_cast<std::int64_t>(text.size()));
        write(text, s.pos);
        break;
      }
      case StmtKind::kIf:
        return exec_if(s);
      case StmtKind::kFor:
        exec_for(s);
        break;
      case StmtKind::kSet:
        assign(s.target, eval(*s.expr));
        break;
      case StmtKind::kSetBlock:
      case StmtKind::kFilterBlock: {
        std::string text;
        Flow flow;
        {
          ScopeGuard scope(*this);
          OutputGuard output(*this, &text);
          flow = exec_body(s.body);
        }
        if (flow != Flow::kNormal) return flow;  // {% break %} in the body leaves the loop around it
        Value v = Value::string(std::move(text));
        for (const auto& f : s.filters) v = eval_filter(*f, v);
        if (s.kind == StmtKind::kSetBlock)
          assign(s.target, v);
        else
          write(to_str(v), s.pos);
        break;
      }
      case StmtKind::kMacro:
        scope_->set(s.name, Value::object(std::make_shared<MacroObject>(s, scope_)));
        break;
      case StmtKind::kBreak:
        return Flow::kBreak;
      case StmtKind::kContinue:
        return Flow::kContinue;
      case StmtKind::kScope:
        return exec_scope(s);
    }
  } catch (const EvalError& e) {
    fail(s.pos, e.message());
  }
  return Flow::kNormal;
}

Renderer::Flow Renderer::exec_if(const Stmt& s) {
  for (const auto& [test, body] : s.branches)
    if (truthy(eval(*test))) return exec_body(body);
  return exec_body(s.else_body);
}

void Renderer::exec_for(const Stmt& s) {
  std::vector<Value> items = iterate(eval(*s.expr));
  if (s.cond) {  // `for x in xs if cond`: the loop (and loop.length) sees only the items that pass
    std::vector<Value> kept;
    for (auto& item : items) {
      spend(1);
      ScopeGuard scope(*this);
      assign(s.target, item);
      if (truthy(eval(*s.cond))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    ScopeGuard scope(*this);
    exec_body(s.else_body);
    return;
  }
  auto loop = std::make_shared<LoopObject>(items);
  const Value loop_value = Value::object(loop);
  for (std::size_t i = 0; i < items.size(); ++i) {
    spend(1);
    ScopeGuard scope(*this);  // each iteration starts from the enclosing scope again
    assign(s.target, items[i]);
    loop->set_index(i);
    scope_->set("loop", loop_value);
    if (exec_body(s.body) == Flow::kBreak) break;
  }
}

Renderer::Flow Renderer::exec_scope(const Stmt& s) {
  std::vector<Value> values;  // {% with a = x %}: evaluated before any is bound
  for (const auto& a : s.assigns) values.push_back(eval(*a.second));
  ScopeGuard scope(*this);
  for (std::size_t i = 0; i < values.size(); ++i) assign(s.assigns[i].first, values[i]);
  return exec_body(s.body);  // {% with %} is inline code: {% break %} reaches the loop around it
}

std::string Renderer::render_body(const Body& body) {
  std::string text;
  OutputGuard guard(*this, &text);
  exec_body(body);
  return text;
}

void Renderer::assign(const Target& t, const Value& v) {
  switch (t.kind) {
    case Target::Kind::kName:
      scope_->set(t.name, v);
      return;
    case Target::Kind::kTuple: {
      const std::vector<Value> items = iterate(v);
      if (items.size() < t.items.size())
        throw EvalError(fmt::format("not enough values to unpack (expected {}, got {})", t.items.size(), items.size()));
      if (items.size() > t.items.size())
        throw EvalError(fmt::format("too many values to unpack (expected {})", t.items.size()));
      for (std::size_t i = 0; i < items.size(); ++i) assign(t.items[i], items[i]);
      return;
    }
    case Target::Kind::kNsAttr: {
      Expr name;
      name.kind = ExprKind::kName;
      name.name = t.name;
      const Value ns = eval_name(name);
      auto* obj = ns.is_object() ? dynamic_cast<Namespace*>(ns.object()) : nullptr;
      if (!obj) throw EvalError("Cannot assign attribute on non-namespace object");
      obj->set(t.attr, v);
      return;
    }
  }
}

Value Renderer::call_macro(const Stmt& m, const std::weak_ptr<Scope>& closure, Object::Args& args) {
  if (call_depth_ >= limits_.max_call_depth)
    throw EvalError(fmt::format("macro calls nest deeper than {} (Limits::max_call_depth)", limits_.max_call_depth));
  const std::size_t n = m.params.size();
  if (args.positional.size() > n && !m.uses_varargs)
    throw EvalError(fmt::format("macro '{}' takes not more than {} argument(s)", m.name, n));
  auto parent = closure.lock();
  ScopeGuard scope(*this, parent ? parent : globals_);
  auto keyword = args.keyword;
  // Parameters are the macro's locals from the start: a default that names the parameter itself
  // (or a later one) sees an undefined value, not a variable of the same name outside.
  for (const auto& p : m.params) scope_->set(p, Value::undefined(fmt::format("'{}' is undefined", p)));
  for (std::size_t i = 0; i < n; ++i) {
    if (i < args.positional.size()) {
      scope_->set(m.params[i], args.positional[i]);
      continue;
    }
    auto it = std::find_if(keyword.begin(), keyword.end(), [&](const auto& kv) { return kv.first == m.params[i]; });
    if (it != keyword.end()) {
      scope_->set(m.params[i], it->second);
      keyword.erase(it);
    } else if (m.defaults[i]) {
      scope_->set(m.params[i], eval(*m.defaults[i]));  // defaults see the parameters before them
    } else {
      scope_->set(m.params[i], Value::undefined(fmt::format("parameter '{}' was not provided", m.params[i])));
    }
  }
  if (m.uses_kwargs) {
    Dict d;
    for (auto& kv : keyword) d.set(Value::string(kv.first), kv.second);
    scope_->set("kwargs", Value::dict(std::move(d)));
  } else if (!keyword.empty()) {
    throw EvalError(fmt::format("macro '{}' takes no keyword argument '{}'", m.name, keyword.front().first));
  }
  if (m.uses_varargs) {
    std::vector<Value> extra;
    for (std::size_t i = n; i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
    scope_->set("varargs", Value::tuple(std::move(extra)));
  }
  ++call_depth_;
  std::string text;
  try {
    text = render_body(m.body);
  } catch (...) {
    --call_depth_;
    throw;
  }
  --call_depth_;
  return Value::string(std::move(text));
}

}  // namespace hone::jinja
