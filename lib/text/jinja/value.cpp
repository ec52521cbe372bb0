// Value: construction, and Python's str(), repr(), bool(), == and ordering (value.h).
#include "text/jinja/value.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "text/jinja/unicode.h"

namespace hone::jinja {

namespace {

int max_depth(const std::vector<Value>& items) {
  int d = 0;
  for (const auto& v : items) d = std::max(d, v.depth());
  return d;
}

void check_depth(int depth) {
  if (depth > kMaxValueDepth) throw EvalError(fmt::format("value nested more than {} levels deep", kMaxValueDepth));
}

// Python compares int and float exactly; doubles are exact for the integers chat data holds.
bool numbers_equal(const Value& a, const Value& b) {
  if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
  return a.as_int() == b.as_int();
}

int sign_of(double d) {
  return d < 0 ? -1 : (d > 0 ? 1 : 0);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Dict

const Value* Dict::find(const Value& key) const {
  for (const auto& kv : items)
    if (equals(kv.first, key)) return &kv.second;
  return nullptr;
}

void Dict::set(Value key, Value value) {
  for (auto& kv : items) {
    if (equals(kv.first, key)) {
      kv.second = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

// ---------------------------------------------------------------------------------------------
// Value

Value Value::undefined(std::string hint) {
  Value v;
  v.p_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}

Value Value::unsafe(std::string message) {
  Value v = undefined(std::move(message));
  v.flag_ = true;
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}

Value Value::integer(std::int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}

Value Value::real(double f) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.f_ = f;
  return v;
}

Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.p_ = std::make_shared<const std::string>(std::move(s));
  return v;
}

Value Value::markup(std::string s) {
  Value v = string(std::move(s));
  v.flag_ = true;
  return v;
}

Value Value::list(std::vector<Value> items) {
  auto l = std::make_shared<List>();
  l->depth = 1 + max_depth(items);
  check_depth(l->depth);
  l->items = std::move(items);
  Value v;
  v.kind_ = Kind::kList;
  v.p_ = std::move(l);
  return v;
}

Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::kTuple;
  return v;
}

Value Value::dict(Dict d) {
  int depth = 0;
  for (const auto& kv : d.items) depth = std::max({depth, kv.first.depth(), kv.second.depth()});
  d.depth = 1 + depth;
  check_depth(d.depth);
  Value v;
  v.kind_ = Kind::kDict;
  v.p_ = std::make_shared<const Dict>(std::move(d));
  return v;
}

Value Value::object(std::shared_ptr<Object> o) {
  Value v;
  v.kind_ = Kind::kObject;
  v.p_ = std::move(o);
  return v;
}

double Value::as_float() const {
  if (kind_ == Kind::kFloat) return f_;
  return static_cast<double>(as_int());
}

const std::string& Value::str() const {
  static const std::string kEmpty;
  if (!p_) return kEmpty;
  return *static_cast<const std::string*>(p_.get());
}

const std::vector<Value>& Value::items() const {
  return static_cast<const List*>(p_.get())->items;
}
const Dict& Value::dict() const {
  return *static_cast<const Dict*>(p_.get());
}
Object* Value::object() const {
  return const_cast<Object*>(static_cast<const Object*>(p_.get()));
}

int Value::depth() const {
  if (kind_ == Kind::kList || kind_ == Kind::kTuple) return static_cast<const List*>(p_.get())->depth;
  if (kind_ == Kind::kDict) return dict().depth;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Object defaults

Value Object::getattr(const std::string& name) const {
  return Value::undefined(fmt::format("'{}' object has no attribute '{}'", type_name(), name));
}

Value Object::call(Renderer&, Args&) const {
  throw EvalError(fmt::format("'{}' object is not callable", type_name()));
}

// ---------------------------------------------------------------------------------------------
// str(), repr()

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return "dict";
    case Kind::kObject:
      return v.object()->type_name();
  }
  return "object";
}

std::string repr_float(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
  if (f == 0) return std::signbit(f) ? "-0.0" : "0.0";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  const std::string sci(buf, res.ptr);  // "-d.ddde+XX": the shortest digits that round-trip
  const bool negative = sci[0] == '-';
  const std::size_t e_pos = sci.find('e');
  std::string digits;
  for (std::size_t i = negative ? 1 : 0; i < e_pos; ++i)
    if (sci[i] != '.') digits.push_back(sci[i]);
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  const int decpt = exponent + 1;  // value = 0.digits * 10^decpt
  std::string out = negative ? "-" : "";
  const int n = static_cast<int>(digits.size());
  if (decpt > -4 && decpt <= 16) {  // Python's repr: fixed notation in this range
    if (decpt <= 0) {
      out += "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
    } else if (decpt >= n) {
      out += digits + std::string(static_cast<std::size_t>(decpt - n), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<std::size_t>(decpt)) + "." + digits.substr(static_cast<std::size_t>(decpt));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (n > 1) out += "." + digits.substr(1);
  out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out;
}

std::string repr_string(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t c : decode_utf8(s)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c >= 0xDC80 && c <= 0xDCFF) {
      out += fmt::format("\\udc{:02x}", static_cast<unsigned>(c - 0xDC00));
    } else if (c < 0x20 || c == 0x7F || !py_isprintable(c)) {
      if (c <= 0xFF)
        out += fmt::format("\\x{:02x}", static_cast<unsigned>(c));
      else if (c <= 0xFFFF)
        out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
      else
        out += fmt::format("\\U{:08x}", static_cast<unsigned>(c));
    } else {
      append_utf8(out, c);
    }
  }
  out.push_back(quote);
  return out;
}

namespace {

std::string repr_items(const std::vector<Value>& items, const char* open, const char* close, bool tuple) {
  std::string out = open;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += to_repr(items[i]);
  }
  if (tuple && items.size() == 1) out += ",";
  return out + close;
}

}  // namespace

namespace {

// Bounds the recursion of repr() through objects (namespaces holding namespaces), which the
// depth of lists and dicts does not count.
struct ReprDepth {
  ReprDepth() {
    if (++depth > kMaxValueDepth) {
      --depth;
      throw EvalError(fmt::format("value nested more than {} levels deep", kMaxValueDepth));
    }
  }
  ~ReprDepth() { --depth; }
  static thread_local int depth;
};
thread_local int ReprDepth::depth = 0;

}  // namespace

std::string to_repr(const Value& v) {
  ReprDepth guard;
  switch (v.kind()) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kString:
      return v.is_markup() ? "Markup(" + repr_string(v.str()) + ")" : repr_string(v.str());
    case Kind::kList:
      return repr_items(v.items(), "[", "]", false);
    case Kind::kTuple:
      return repr_items(v.items(), "(", ")", true);
    case Kind::kDict: {
      std::string out = "{";
      bool first = true;
      for (const auto& kv : v.dict().items) {
        if (!first) out += ", ";
        first = false;
        out += to_repr(kv.first) + ": " + to_repr(kv.second);
      }
      return out + "}";
    }
    default:
      return to_str(v);
  }
}

std::string to_str(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return "";
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return v.as_bool() ? "True" : "False";
    case Kind::kInt:
      return std::to_string(v.as_int());
    case Kind::kFloat:
      return repr_float(v.as_float());
    case Kind::kString:
      return v.str();
    case Kind::kObject:
      return v.object()->repr();
    default:
      return to_repr(v);
  }
}

// ---------------------------------------------------------------------------------------------
// bool(), ==, ordering

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return v.as_bool();
    case Kind::kInt:
      return v.as_int() != 0;
    case Kind::kFloat:
      return v.as_float() != 0;
    case Kind::kString:
      return !v.str().empty();
    case Kind::kList:
    case Kind::kTuple:
      return !v.items().empty();
    case Kind::kDict:
      return !v.dict().items.empty();
    case Kind::kObject:
      return v.object()->truthy();
  }
  return false;
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return numbers_equal(a, b);
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.str() == b.str();
    case Kind::kList:
    case Kind::kTuple: {
      const auto& x = a.items();
      const auto& y = b.items();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i)
        if (!equals(x[i], y[i])) return false;
      return true;
    }
    case Kind::kDict: {
      const auto& x = a.dict().items;
      if (x.size() != b.dict().items.size()) return false;
      for (const auto& kv : x) {
        const Value* other = b.dict().find(kv.first);
        if (!other || !equals(kv.second, *other)) return false;
      }
      return true;
    }
    case Kind::kObject:
      return a.object() == b.object();
    default:
      return false;
  }
}

const char* cmp_op_name(CmpOp op) {
  switch (op) {
    case CmpOp::kLt:
      return "<";
    case CmpOp::kLe:
      return "<=";
    case CmpOp::kGt:
      return ">";
    case CmpOp::kGe:
      return ">=";
  }
  return "?";
}

namespace {

bool apply_order(int order, CmpOp op) {
  switch (op) {
    case CmpOp::kLt:
      return order < 0;
    case CmpOp::kLe:
      return order <= 0;
    case CmpOp::kGt:
      return order > 0;
    case CmpOp::kGe:
      return order >= 0;
  }
  return false;
}

}  // namespace

bool compare(const Value& a, const Value& b, CmpOp op) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.as_float(), y = b.as_float();
      if (std::isnan(x) || std::isnan(y)) return false;
      return apply_order(sign_of(x - y), op);
    }
    const auto x = a.as_int(), y = b.as_int();
    return apply_order(x < y ? -1 : (x > y ? 1 : 0), op);
  }
  if (a.is_string() && b.is_string()) return apply_order(a.str().compare(b.str()), op);  // UTF-8: code point order
  if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!equals(x[i], y[i])) return compare(x[i], y[i], op);
    return apply_order(x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0), op);
  }
  if (a.is_undefined() || b.is_undefined()) {
    const Value& u = a.is_undefined() ? a : b;
    throw EvalError(u.str().empty() ? "undefined value in a comparison" : u.str());
  }
  throw EvalError(fmt::format("'{}' not supported between instances of '{}' and '{}'", cmp_op_name(op), type_name(a),
                              type_name(b)));
}

// ---------------------------------------------------------------------------------------------
// JSON

namespace {

Value from_json_at(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxValueDepth)
    throw EvalError(fmt::format("template data nested more than {} levels deep", kMaxValueDepth));
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(j.get<std::int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw EvalError(fmt::format("integer {} in the template data does not fit in 64 bits", u));
      return Value::integer(static_cast<std::int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::real(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json_at(x, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict d;
      d.items.reserve(j.size());
      for (const auto& [k, x] : j.items()) d.items.emplace_back(Value::string(k), from_json_at(x, depth + 1));
      return Value::dict(std::move(d));
    }
    default:
      throw EvalError("binary data cannot be template data");
  }
}

}  // namespace

Value from_json(const nlohmann::ordered_json& j) {
  return from_json_at(j, 1);
}

}  // namespace hone::jinja
