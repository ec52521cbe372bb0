// Expression evaluation (interpreter.h): names, literals, attribute and item access as jinja2's
// sandbox does them, calls, filters, tests and comparisons.
#include "text/jinja/interpreter.h"

#include <fmt/format.h>

#include "text/jinja/unicode.h"

namespace hone::jinja {

namespace {

// jinja2.utils.object_type_repr: how an Undefined's message names the object it came from.
std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return type_name(v) + " object";
}

Value missing_attribute(const Value& obj, const std::string& name) {
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_type_repr(obj), name));
}

// The work of scanning a value: a string's bytes, a list's or dict's items.
std::int64_t scan_cost(const Value& v) {
  if (v.is_string()) return static_cast<std::int64_t>(v.str().size());
  if (v.is_sequence()) return Renderer::kItemBytes * static_cast<std::int64_t>(v.items().size());
  if (v.is_dict()) return Renderer::kItemBytes * static_cast<std::int64_t>(v.dict().items.size());
  return 0;
}

Value missing_item(const Value& obj, const Value& key) {
  if (key.is_string()) return missing_attribute(obj, key.str());
  return Value::undefined(fmt::format("{} has no element {}", object_type_repr(obj), to_repr(key)));
}

}  // namespace

Value make_generator(std::vector<Value> items, const char* type) {
  return Value::object(std::make_shared<Generator>(std::move(items), type));
}

void fail_undefined(const Value& v) {
  if (v.is_unsafe()) throw EvalError(v.str());
  throw EvalError(v.str().empty() ? "undefined value" : v.str());
}

Value Renderer::eval(const Expr& e) {
  check_stack(e.pos);
  try {
    return eval_node(e);
  } catch (const EvalError& err) {
    fail(e.pos, err.message());
  }
}

Value Renderer::eval_node(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kConst:
      return e.value;
    case ExprKind::kName:
      return eval_name(e);
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      items.reserve(e.kids.size());
      for (const auto& k : e.kids) items.push_back(eval(*k));
      return e.kind == ExprKind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::kDict: {
      Dict d;
      for (std::size_t i = 0; i + 1 < e.kids.size(); i += 2) {
        Value key = eval(*e.kids[i]);
        if (key.is_list() || key.is_dict())  // Python's unhashable types
          throw EvalError(fmt::format("unhashable type: '{}'", type_name(key)));
        d.set(std::move(key), eval(*e.kids[i + 1]));
      }
      return Value::dict(std::move(d));
    }
    case ExprKind::kAttr:
      return getattr(eval(*e.kids[0]), e.name);
    case ExprKind::kItem: {
      const Value obj = eval(*e.kids[0]);
      return getitem(obj, eval(*e.kids[1]));
    }
    case ExprKind::kSlice:
      return eval_slice(e);
    case ExprKind::kCall:
      return eval_call(e);
    case ExprKind::kFilter:
      return eval_filter(e, eval(*e.kids[0]));
    case ExprKind::kTest:
      return Value::boolean(eval_test(e));
    case ExprKind::kNeg:
      return negate(eval(*e.kids[0]));
    case ExprKind::kPos: {
      const Value v = eval(*e.kids[0]);
      if (v.is_undefined()) fail_undefined(v);
      if (!v.is_number()) throw EvalError(fmt::format("bad operand type for unary +: '{}'", type_name(v)));
      return v.is_bool() ? Value::integer(v.as_int()) : v;
    }
    case ExprKind::kNot:
      return Value::boolean(!truthy(eval(*e.kids[0])));
    case ExprKind::kBinary: {
      const Value a = eval(*e.kids[0]);
      if (e.negative_literal_base) return negate(binary_op(*this, e.op, negate(a), eval(*e.kids[1])));
      return binary_op(*this, e.op, a, eval(*e.kids[1]));
    }
    case ExprKind::kConcat: {
      const Value a = eval(*e.kids[0]);
      return concat_str(*this, a, eval(*e.kids[1]));
    }
    case ExprKind::kAnd: {
      Value a = eval(*e.kids[0]);
      return truthy(a) ? eval(*e.kids[1]) : a;
    }
    case ExprKind::kOr: {
      Value a = eval(*e.kids[0]);
      return truthy(a) ? a : eval(*e.kids[1]);
    }
    case ExprKind::kCompare:
      return eval_compare(e);
    case ExprKind::kCond:
      if (truthy(eval(*e.kids[0]))) return eval(*e.kids[1]);
      if (e.kids[2]) return eval(*e.kids[2]);
      return Value::undefined(
          fmt::format("the inline if-expression on line {} evaluated to false and no else section "
                      "was defined.",
                      e.pos.line));
  }
  return Value();
}

Value Renderer::eval_name(const Expr& e) {
  for (const Scope* s = scope_.get(); s; s = s->parent.get())
    if (const Value* v = s->find(e.name)) return *v;
  Value g = find_global(e.name);
  if (!g.is_undefined()) return g;
  return Value::undefined(fmt::format("'{}' is undefined", e.name));
}

Object::Args Renderer::eval_args(const Expr& e, std::size_t first_positional) {
  Object::Args args;
  for (std::size_t i = first_positional; i < e.kids.size(); ++i) args.positional.push_back(eval(*e.kids[i]));
  for (const auto& kw : e.kwargs) args.keyword.emplace_back(kw.first, eval(*kw.second));
  return args;
}

Value Renderer::eval_call(const Expr& e) {
  const Value callee = eval(*e.kids[0]);
  Object::Args args = eval_args(e, 1);
  return call(callee, args);
}

Value Renderer::call(const Value& callee, Object::Args& args) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (!callee.is_object() || !callee.object()->callable())
    throw EvalError(fmt::format("'{}' object is not callable", type_name(callee)));
  return callee.object()->call(*this, args);
}

Value Renderer::eval_filter(const Expr& e, const Value& subject) {
  if (!e.filter) throw EvalError(fmt::format("No filter named '{}' found.", e.name));
  Object::Args args = eval_args(e, 1);
  if (subject.is_string()) work(scan_cost(subject));
  return e.filter(*this, subject, args);
}

bool Renderer::eval_test(const Expr& e) {
  const Value subject = eval(*e.kids[0]);
  if (!e.test) throw EvalError(fmt::format("No test named '{}' found.", e.name));
  Object::Args args = eval_args(e, 1);
  if (subject.is_string()) work(scan_cost(subject));
  return e.test(*this, subject, args);
}

Value Renderer::call_filter(const std::string& name, const Value& v, Object::Args& args) {
  const FilterFn f = find_filter(name);
  if (!f) throw EvalError(fmt::format("No filter named '{}'.", name));
  if (v.is_string()) work(scan_cost(v));
  return f(*this, v, args);
}

bool Renderer::call_test(const std::string& name, const Value& v, Object::Args& args) {
  const TestFn t = find_test(name);
  if (!t) throw EvalError(fmt::format("No test named '{}'.", name));
  if (v.is_string()) work(scan_cost(v));
  return t(*this, v, args);
}

Value Renderer::eval_compare(const Expr& e) {
  Value left = eval(*e.kids[0]);
  for (std::size_t i = 0; i < e.cmps.size(); ++i) {
    Value right = eval(*e.kids[i + 1]);
    if (e.cmps[i] != CmpKind::kIn && e.cmps[i] != CmpKind::kNotIn) work(std::min(scan_cost(left), scan_cost(right)));
    bool ok;
    switch (e.cmps[i]) {
      case CmpKind::kEq:
        ok = equals(left, right);
        break;
      case CmpKind::kNe:
        ok = !equals(left, right);
        break;
      case CmpKind::kLt:
        ok = compare(left, right, CmpOp::kLt);
        break;
      case CmpKind::kLe:
        ok = compare(left, right, CmpOp::kLe);
        break;
      case CmpKind::kGt:
        ok = compare(left, right, CmpOp::kGt);
        break;
      case CmpKind::kGe:
        ok = compare(left, right, CmpOp::kGe);
        break;
      case CmpKind::kIn:
        ok = contains(*this, right, left);
        break;
      case CmpKind::kNotIn:
        ok = !contains(*this, right, left);
        break;
    }
    if (!ok) return Value::boolean(false);  // Python chains: a < b < c is a < b and b < c
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Renderer::eval_slice(const Expr& e) {
  const Value obj = eval(*e.kids[0]);
  Value bounds[3];
  for (int i = 0; i < 3; ++i) bounds[i] = e.kids[i + 1] ? eval(*e.kids[i + 1]) : Value::none();
  if (obj.is_undefined()) fail_undefined(obj);
  return slice_value(*this, obj, bounds[0], bounds[1], bounds[2]);
}

// ---------------------------------------------------------------------------------------------
// jinja2.sandbox.SandboxedEnvironment.getattr / getitem

Value Renderer::getattr(const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Kind::kUndefined:
      fail_undefined(obj);
    case Kind::kObject: {
      Value m = find_method(obj, name);  // range's count/index
      if (!m.is_undefined()) return m;
      return obj.object()->getattr(name);
    }
    case Kind::kDict: {
      work(scan_cost(obj));
      Value m = find_method(obj, name);  // Python finds dict methods before keys
      if (!m.is_undefined() || m.is_unsafe()) return m;
      if (const Value* v = obj.dict().find(Value::string(name))) return *v;
      return missing_attribute(obj, name);
    }
    default: {
      Value m = find_method(obj, name);
      if (!m.is_undefined() || m.is_unsafe()) return m;
      return missing_attribute(obj, name);
    }
  }
}

Value Renderer::getitem(const Value& obj, const Value& key) {
  if (obj.is_string() || obj.is_dict()) work(scan_cost(obj));
  switch (obj.kind()) {
    case Kind::kUndefined:
      fail_undefined(obj);
    case Kind::kDict:
      if (const Value* v = obj.dict().find(key)) return *v;
      break;
    case Kind::kList:
    case Kind::kTuple:
      if (key.is_int() || key.is_bool()) {
        const auto& items = obj.items();
        std::int64_t i = key.as_int();
        if (i < 0) i += static_cast<std::int64_t>(items.size());
        if (i >= 0 && i < static_cast<std::int64_t>(items.size())) return items[static_cast<std::size_t>(i)];
        return missing_item(obj, key);
      }
      break;
    case Kind::kString:
      if (key.is_int() || key.is_bool()) {
        const std::u32string u = decode_utf8(obj.str());
        std::int64_t i = key.as_int();
        if (i < 0) i += static_cast<std::int64_t>(u.size());
        if (i >= 0 && i < static_cast<std::int64_t>(u.size())) {
          std::string out;
          append_utf8(out, u[static_cast<std::size_t>(i)]);
          return Value::string(std::move(out));
        }
        return missing_item(obj, key);
      }
      break;
    case Kind::kObject:
      if (const auto* range = dynamic_cast<const RangeObject*>(obj.object());
          range && (key.is_int() || key.is_bool())) {
        std::int64_t i = key.as_int();
        const auto n = static_cast<std::int64_t>(range->items().size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return range->items()[static_cast<std::size_t>(i)];
        return missing_item(obj, key);
      }
      if (key.is_string()) return obj.object()->getattr(key.str());  // no __getitem__: jinja2 tries getattr
      return missing_item(obj, key);
    default:
      break;
  }
  if (key.is_string()) {
    Value m = find_method(obj, key.str());
    if (!m.is_undefined() || m.is_unsafe()) return m;
  }
  return missing_item(obj, key);
}

std::vector<Value> Renderer::iterate(const Value& v) {
  work(v.is_string() ? kItemBytes * scan_cost(v) : scan_cost(v));
  switch (v.kind()) {
    case Kind::kUndefined:
      return {};
    case Kind::kList:
    case Kind::kTuple:
      return v.items();
    case Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict().items.size());
      for (const auto& kv : v.dict().items) keys.push_back(kv.first);
      return keys;
    }
    case Kind::kString: {
      std::vector<Value> chars;
      for (char32_t c : decode_utf8(v.str())) {
        std::string s;
        append_utf8(s, c);
        chars.push_back(Value::string(std::move(s)));
      }
      return chars;
    }
    case Kind::kObject:
      if (auto items = v.object()->iterate()) return std::move(*items);
      break;
    default:
      break;
  }
  throw EvalError(fmt::format("'{}' object is not iterable", type_name(v)));
}

}  // namespace hone::jinja
