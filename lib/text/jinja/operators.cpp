// The template's operators with Python's semantics (interpreter.h): int/float arithmetic (`//`
// floors, `%` takes the divisor's sign, `/` is true division), str and list concatenation and
// repetition, `~`, `in`, and slicing by code point.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "text/jinja/interpreter.h"
#include "text/jinja/unicode.h"

namespace hone::jinja {

namespace {

const char* op_symbol(BinOp op) {
  switch (op) {
    case BinOp::kAdd:
      return "+";
    case BinOp::kSub:
      return "-";
    case BinOp::kMul:
      return "*";
    case BinOp::kDiv:
      return "/";
    case BinOp::kFloorDiv:
      return "//";
    case BinOp::kMod:
      return "%";
    case BinOp::kPow:
      return "** or pow()";
  }
  return "?";
}

[[noreturn]] void unsupported(BinOp op, const Value& a, const Value& b) {
  throw EvalError(
      fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op_symbol(op), type_name(a), type_name(b)));
}

[[noreturn]] void overflow() {
  throw EvalError("integer overflow: hone's jinja integers are 64-bit (Python's are unbounded)");
}

// Python's float floor division and modulo (floatobject.c float_divmod).
void float_divmod(double vx, double wx, double* floordiv, double* mod) {
  if (wx == 0) throw EvalError("float divmod()");
  double m = std::fmod(vx, wx);
  double div = (vx - m) / wx;
  if (m != 0) {
    if ((wx < 0) != (m < 0)) {
      m += wx;
      div -= 1.0;
    }
  } else {
    m = std::copysign(0.0, wx);
  }
  double fd;
  if (div != 0) {
    fd = std::floor(div);
    if (div - fd > 0.5) fd += 1.0;
  } else {
    fd = std::copysign(0.0, vx / wx);
  }
  *floordiv = fd;
  *mod = m;
}

Value int_arith(BinOp op, std::int64_t x, std::int64_t y) {
  std::int64_t r = 0;
  switch (op) {
    case BinOp::kAdd:
      if (__builtin_add_overflow(x, y, &r)) overflow();
      return Value::integer(r);
    case BinOp::kSub:
      if (__builtin_sub_overflow(x, y, &r)) overflow();
      return Value::integer(r);
    case BinOp::kMul:
      if (__builtin_mul_overflow(x, y, &r)) overflow();
      return Value::integer(r);
    case BinOp::kDiv:
      if (y == 0) throw EvalError("division by zero");
      return Value::real(static_cast<double>(x) / static_cast<double>(y));
    case BinOp::kFloorDiv:
    case BinOp::kMod: {
      if (y == 0) throw EvalError("integer division or modulo by zero");
      if (x == std::numeric_limits<std::int64_t>::min() && y == -1) {
        if (op == BinOp::kMod) return Value::integer(0);
        overflow();
      }
      std::int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        q -= 1;
        m += y;
      }
      return Value::integer(op == BinOp::kFloorDiv ? q : m);
    }
    case BinOp::kPow: {
      if (y < 0) {
        if (x == 0) throw EvalError("0.0 cannot be raised to a negative power");
        return Value::real(std::pow(static_cast<double>(x), static_cast<double>(y)));
      }
      std::int64_t result = 1, base = x;
      while (y > 0) {
        if (y & 1)
          if (__builtin_mul_overflow(result, base, &result)) overflow();
        y >>= 1;
        if (y > 0 && __builtin_mul_overflow(base, base, &base)) overflow();
      }
      return Value::integer(result);
    }
  }
  return Value();
}

Value float_arith(BinOp op, double x, double y) {
  switch (op) {
    case BinOp::kAdd:
      return Value::real(x + y);
    case BinOp::kSub:
      return Value::real(x - y);
    case BinOp::kMul:
      return Value::real(x * y);
    case BinOp::kDiv:
      if (y == 0) throw EvalError("float division by zero");
      return Value::real(x / y);
    case BinOp::kFloorDiv:
    case BinOp::kMod: {
      if (y == 0) throw EvalError(op == BinOp::kMod ? "float modulo" : "float floor division by zero");
      double fd, m;
      float_divmod(x, y, &fd, &m);
      return Value::real(op == BinOp::kFloorDiv ? fd : m);
    }
    case BinOp::kPow: {
      if (x == 0 && y < 0) throw EvalError("0.0 cannot be raised to a negative power");
      if (x < 0 && y != std::floor(y))
        throw EvalError("complex results (a negative number to a fractional power) are not supported");
      const double r = std::pow(x, y);
      if (std::isinf(r) && std::isfinite(x) && std::isfinite(y))
        throw EvalError("(34, 'Numerical result out of range')");
      return Value::real(r);
    }
  }
  return Value();
}

// seq * n for a str, list or tuple.
Value repeat(Renderer& r, const Value& seq, std::int64_t n) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const auto total = static_cast<double>(seq.str().size()) * static_cast<double>(n);
    r.check_string(total > 1e18 ? std::numeric_limits<std::size_t>::max() : static_cast<std::size_t>(total));
    std::string out;
    out.reserve(seq.str().size() * static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) out += seq.str();
    return Value::string(std::move(out));
  }
  const auto total = static_cast<double>(seq.items().size()) * static_cast<double>(n);
  r.work(total > 1e15 ? std::numeric_limits<std::int64_t>::max()
                      : Renderer::kItemBytes * static_cast<std::int64_t>(total));
  std::vector<Value> out;
  for (std::int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return seq.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

}  // namespace

Value binary_op(Renderer& r, BinOp op, const Value& a, const Value& b) {
  if (op == BinOp::kMod && a.is_string()) return Value::string(py_percent_format(r, a.str(), b));
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return float_arith(op, a.as_float(), b.as_float());
    return int_arith(op, a.as_int(), b.as_int());
  }
  switch (op) {
    case BinOp::kAdd:
      if (a.is_string() && b.is_string()) {
        if (a.is_markup() || b.is_markup()) {  // Markup + str escapes the str
          const std::string x = a.is_markup() ? a.str() : html_escape(a.str());
          const std::string y = b.is_markup() ? b.str() : html_escape(b.str());
          r.check_string(x.size() + y.size());
          return Value::markup(x + y);
        }
        r.check_string(a.str().size() + b.str().size());
        return Value::string(a.str() + b.str());
      }
      if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
        r.work(Renderer::kItemBytes * static_cast<std::int64_t>(a.items().size() + b.items().size()));
        std::vector<Value> out = a.items();
        out.insert(out.end(), b.items().begin(), b.items().end());
        return a.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
      }
      if (a.is_string() || a.is_sequence())
        throw EvalError(
            fmt::format("can only concatenate {} (not \"{}\") to {}", type_name(a), type_name(b), type_name(a)));
      unsupported(op, a, b);
    case BinOp::kMul:
      if ((a.is_string() || a.is_sequence()) && (b.is_int() || b.is_bool())) return repeat(r, a, b.as_int());
      if ((b.is_string() || b.is_sequence()) && (a.is_int() || a.is_bool())) return repeat(r, b, a.as_int());
      unsupported(op, a, b);
    default:
      unsupported(op, a, b);
  }
}

Value negate(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_float()) return Value::real(-v.as_float());
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == std::numeric_limits<std::int64_t>::min()) overflow();
    return Value::integer(-v.as_int());
  }
  throw EvalError(fmt::format("bad operand type for unary -: '{}'", type_name(v)));
}

Value concat_str(Renderer& r, const Value& a, const Value& b) {
  std::string s = to_str(a);
  std::string t = to_str(b);
  r.check_string(s.size() + t.size());
  return Value::string(s + t);
}

bool contains(Renderer& r, const Value& container, const Value& item) {
  if (container.is_string()) r.work(static_cast<std::int64_t>(container.str().size()));
  if (container.is_sequence()) r.work(Renderer::kItemBytes * static_cast<std::int64_t>(container.items().size()));
  if (container.is_dict()) r.work(Renderer::kItemBytes * static_cast<std::int64_t>(container.dict().items.size()));
  switch (container.kind()) {
    case Kind::kUndefined:
      return false;  // iterates as empty
    case Kind::kString:
      if (!item.is_string())
        throw EvalError(fmt::format("'in <string>' requires string as left operand, not {}", type_name(item)));
      return container.str().find(item.str()) != std::string::npos;
    case Kind::kList:
    case Kind::kTuple:
      for (const auto& x : container.items())
        if (equals(x, item)) return true;
      return false;
    case Kind::kDict:
      if (item.is_list() || item.is_dict()) throw EvalError(fmt::format("unhashable type: '{}'", type_name(item)));
      return container.dict().find(item) != nullptr;
    case Kind::kObject:
      if (auto items = container.object()->iterate()) {
        for (const auto& x : *items)
          if (equals(x, item)) return true;
        return false;
      }
      break;
    default:
      break;
  }
  throw EvalError(fmt::format("argument of type '{}' is not iterable", type_name(container)));
}

namespace {

// Python's slice.indices(): start, stop, step clamped for a sequence of length n.
void slice_indices(std::int64_t n, const Value& start, const Value& stop, const Value& step, std::int64_t* b,
                   std::int64_t* e, std::int64_t* s) {
  auto as_index = [](const Value& v) {
    if (!v.is_int() && !v.is_bool())
      throw EvalError("slice indices must be integers or None or have an __index__ method");
    return v.as_int();
  };
  *s = step.is_none() ? 1 : as_index(step);
  if (*s == 0) throw EvalError("slice step cannot be zero");
  auto clamp = [&](const Value& v, std::int64_t dflt) {
    if (v.is_none()) return dflt;
    std::int64_t i = as_index(v);
    if (i < 0) {
      i += n;
      if (i < 0) i = *s < 0 ? -1 : 0;
    } else if (i >= n) {
      i = *s < 0 ? n - 1 : n;
    }
    return i;
  };
  *b = clamp(start, *s < 0 ? n - 1 : 0);
  *e = clamp(stop, *s < 0 ? -1 : n);
}

}  // namespace

Value slice_value(Renderer& r, const Value& v, const Value& start, const Value& stop, const Value& step) {
  std::int64_t b, e, s;
  if (v.is_string()) {
    r.work(static_cast<std::int64_t>(v.str().size()));
    const std::u32string u = decode_utf8(v.str());
    slice_indices(static_cast<std::int64_t>(u.size()), start, stop, step, &b, &e, &s);
    std::u32string out;
    for (std::int64_t i = b; s > 0 ? i < e : i > e; i += s) out.push_back(u[static_cast<std::size_t>(i)]);
    return Value::string(encode_utf8(out));
  }
  if (v.is_sequence()) {
    const auto& items = v.items();
    slice_indices(static_cast<std::int64_t>(items.size()), start, stop, step, &b, &e, &s);
    std::vector<Value> out;
    for (std::int64_t i = b; s > 0 ? i < e : i > e; i += s) out.push_back(items[static_cast<std::size_t>(i)]);
    r.work(Renderer::kItemBytes * static_cast<std::int64_t>(out.size()));
    return v.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
  }
  throw EvalError(fmt::format("'{}' object is not subscriptable", type_name(v)));
}

}  // namespace hone::jinja
