// The builtin tests (`x is name(args)`), as jinja2/tests.py defines them on Python objects, and
// the test registry (ast.h find_test).
#include <fmt/format.h>

#include "text/jinja/interpreter.h"
#include "text/jinja/unicode.h"

namespace hone::jinja {

namespace {

using Args = Object::Args;

Value one_arg(Args& a, const char* what) {
  ArgBinder b(a, what, {"other"});
  if (!b.has(0)) throw EvalError(fmt::format("{}() missing 1 required positional argument", what));
  return b.get(0);
}

void no_args(Args& a, const char* what) {
  ArgBinder b(a, what, {});
}

bool t_defined(Renderer&, const Value& v, Args& a) {
  no_args(a, "defined");
  return !v.is_undefined();
}
bool t_undefined(Renderer&, const Value& v, Args& a) {
  no_args(a, "undefined");
  return v.is_undefined();
}
bool t_none(Renderer&, const Value& v, Args& a) {
  no_args(a, "none");
  return v.is_none();
}
bool t_boolean(Renderer&, const Value& v, Args& a) {
  no_args(a, "boolean");
  return v.is_bool();
}
bool t_true(Renderer&, const Value& v, Args& a) {
  no_args(a, "true");
  return v.is_bool() && v.as_bool();
}
bool t_false(Renderer&, const Value& v, Args& a) {
  no_args(a, "false");
  return v.is_bool() && !v.as_bool();
}
bool t_integer(Renderer&, const Value& v, Args& a) {
  no_args(a, "integer");
  return v.is_int();
}
bool t_float(Renderer&, const Value& v, Args& a) {
  no_args(a, "float");
  return v.is_float();
}
bool t_number(Renderer&, const Value& v, Args& a) {
  no_args(a, "number");
  return v.is_number();
}
bool t_string(Renderer&, const Value& v, Args& a) {
  no_args(a, "string");
  return v.is_string();
}
bool t_mapping(Renderer&, const Value& v, Args& a) {
  no_args(a, "mapping");
  return v.is_dict();
}
bool t_escaped(Renderer&, const Value&, Args& a) {
  no_args(a, "escaped");
  return false;
}

// iter(x) succeeds: str, list, tuple, dict, generators and views, and jinja2's Undefined.
bool t_iterable(Renderer&, const Value& v, Args& a) {
  no_args(a, "iterable");
  if (v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict()) return true;
  return v.is_object() && (dynamic_cast<Generator*>(v.object()) || dynamic_cast<DictView*>(v.object()) ||
                           dynamic_cast<RangeObject*>(v.object()));
}

// len(x) and x.__getitem__ exist: str, list, tuple, dict, and Undefined (which defines both).
bool t_sequence(Renderer&, const Value& v, Args& a) {
  no_args(a, "sequence");
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict() ||
         (v.is_object() && dynamic_cast<RangeObject*>(v.object()));
}

// callable(x): macros, functions and methods, and Undefined (it defines __call__ to fail).
bool t_callable(Renderer&, const Value& v, Args& a) {
  no_args(a, "callable");
  return v.is_undefined() || (v.is_object() && v.object()->callable());
}

bool t_odd(Renderer& r, const Value& v, Args& a) {
  no_args(a, "odd");
  return equals(binary_op(r, BinOp::kMod, v, Value::integer(2)), Value::integer(1));
}

bool t_even(Renderer& r, const Value& v, Args& a) {
  no_args(a, "even");
  return equals(binary_op(r, BinOp::kMod, v, Value::integer(2)), Value::integer(0));
}

bool t_divisibleby(Renderer& r, const Value& v, Args& a) {
  return equals(binary_op(r, BinOp::kMod, v, one_arg(a, "divisibleby")), Value::integer(0));
}

bool t_eq(Renderer&, const Value& v, Args& a) {
  return equals(v, one_arg(a, "eq"));
}
bool t_ne(Renderer&, const Value& v, Args& a) {
  return !equals(v, one_arg(a, "ne"));
}
bool t_lt(Renderer&, const Value& v, Args& a) {
  return compare(v, one_arg(a, "lt"), CmpOp::kLt);
}
bool t_le(Renderer&, const Value& v, Args& a) {
  return compare(v, one_arg(a, "le"), CmpOp::kLe);
}
bool t_gt(Renderer&, const Value& v, Args& a) {
  return compare(v, one_arg(a, "gt"), CmpOp::kGt);
}
bool t_ge(Renderer&, const Value& v, Args& a) {
  return compare(v, one_arg(a, "ge"), CmpOp::kGe);
}
bool t_in(Renderer& r, const Value& v, Args& a) {
  return contains(r, one_arg(a, "in"), v);
}

// `x is sameas y`: Python identity, for the values where it is defined by value (None, True,
// False, small ints); other values are only the same object as themselves.
bool t_sameas(Renderer&, const Value& v, Args& a) {
  const Value o = one_arg(a, "sameas");
  if (v.kind() != o.kind()) return false;
  switch (v.kind()) {
    case Kind::kNone:
      return true;
    case Kind::kBool:
      return v.as_bool() == o.as_bool();
    case Kind::kInt:
      return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case Kind::kObject:
      return v.object() == o.object();
    default:
      return false;
  }
}

// str(x).islower() / isupper(): at least one cased character and none of the other case.
bool case_test(const Value& v, bool want_upper) {
  bool any = false;
  for (char32_t c : decode_utf8(to_str(v))) {
    if (py_isupper_cp(c)) {
      if (!want_upper) return false;
      any = true;
    } else if (py_islower_cp(c)) {
      if (want_upper) return false;
      any = true;
    }
  }
  return any;
}

bool t_lower(Renderer&, const Value& v, Args& a) {
  no_args(a, "lower");
  return case_test(v, false);
}
bool t_upper(Renderer&, const Value& v, Args& a) {
  no_args(a, "upper");
  return case_test(v, true);
}

bool t_filter(Renderer&, const Value& v, Args& a) {
  no_args(a, "filter");
  return v.is_string() && find_filter(v.str()) != nullptr;
}

bool t_test(Renderer&, const Value& v, Args& a) {
  no_args(a, "test");
  return v.is_string() && find_test(v.str()) != nullptr;
}

struct TestEntry {
  const char* name;
  TestFn fn;
};

const TestEntry kTests[] = {
    {"!=", t_ne},
    {"<", t_lt},
    {"<=", t_le},
    {"==", t_eq},
    {">", t_gt},
    {">=", t_ge},
    {"boolean", t_boolean},
    {"callable", t_callable},
    {"defined", t_defined},
    {"divisibleby", t_divisibleby},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"escaped", t_escaped},
    {"even", t_even},
    {"false", t_false},
    {"filter", t_filter},
    {"float", t_float},
    {"ge", t_ge},
    {"greaterthan", t_gt},
    {"gt", t_gt},
    {"in", t_in},
    {"integer", t_integer},
    {"iterable", t_iterable},
    {"le", t_le},
    {"lessthan", t_lt},
    {"lower", t_lower},
    {"lt", t_lt},
    {"mapping", t_mapping},
    {"ne", t_ne},
    {"none", t_none},
    {"number", t_number},
    {"odd", t_odd},
    {"sameas", t_sameas},
    {"sequence", t_sequence},
    {"string", t_string},
    {"test", t_test},
    {"true", t_true},
    {"undefined", t_undefined},
    {"upper", t_upper},
};

}  // namespace

TestFn find_test(const std::string& name) {
  for (const auto& t : kTests)
    if (name == t.name) return t.fn;
  return nullptr;
}

}  // namespace hone::jinja
