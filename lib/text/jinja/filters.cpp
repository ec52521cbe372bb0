// The string and number filters, and the filter registry (ast.h find_filter). Each follows the
// jinja2 filter of the same name; tojson is transformers' (json.dumps, ensure_ascii=False).
#include "text/jinja/filters.h"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>

#include "text/jinja/unicode.h"

namespace hone::jinja {

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

namespace filters {

namespace {

const std::string& string_arg(const Value& v, const char* what) {
  if (!v.is_string()) throw EvalError(fmt::format("{} must be str, not {}", what, type_name(v)));
  return v.str();
}

std::int64_t int_arg(const Value& v, const char* what) {
  if (!v.is_int() && !v.is_bool())
    throw EvalError(fmt::format("'{}' object cannot be interpreted as an integer ({})", type_name(v), what));
  return v.as_int();
}

// Python's str.replace(old, new, count).
std::string py_replace(Renderer& r, const std::string& s, const std::string& old, const std::string& repl,
                       std::int64_t count) {
  std::string out;
  if (old.empty()) {  // inserts `repl` before every character and at the end
    const std::u32string u = decode_utf8(s);
    std::int64_t n = 0;
    for (char32_t c : u) {
      if (count < 0 || n < count) {
        out += repl;
        ++n;
      }
      append_utf8(out, c);
      r.check_size(out.size());
    }
    if (count < 0 || n < count) out += repl;
    r.check_string(out.size());
    return out;
  }
  std::size_t pos = 0;
  std::int64_t n = 0;
  while (count < 0 || n < count) {
    const std::size_t hit = s.find(old, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += repl;
    r.check_size(out.size());
    pos = hit + old.size();
    ++n;
  }
  out.append(s, pos, std::string::npos);
  r.check_string(out.size());
  return out;
}

// The digits of a Python numeric literal with single underscores between digits removed, or
// false when an underscore is misplaced.
bool strip_underscores(const std::string& s, std::string* out, bool hex = false) {
  auto is_d = [hex](char c) { return (c >= '0' && c <= '9') || (hex && std::isxdigit(static_cast<unsigned char>(c))); };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 >= s.size() || !is_d(s[i - 1]) || !is_d(s[i + 1])) return false;
      continue;
    }
    out->push_back(s[i]);
  }
  return true;
}

// Python's int(s, base) for base 10 (and 2, 8, 16): nullopt where Python raises ValueError.
std::optional<std::int64_t> parse_py_int(const std::string& text, std::int64_t base) {
  std::string s = py_strip(text, nullptr, true, true);
  std::string sign;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    sign = s.substr(0, 1);
    s = s.substr(1);
  }
  if (base == 16 && s.size() > 2 && s[0] == '0' && (s[1] | 0x20) == 'x') s = s.substr(2);
  std::string digits;
  if (s.empty() || !strip_underscores(s, &digits, base == 16)) return std::nullopt;
  for (char c : digits) {
    const int v = std::isdigit(static_cast<unsigned char>(c))
                      ? c - '0'
                      : (std::isalpha(static_cast<unsigned char>(c)) ? (c | 0x20) - 'a' + 10 : 99);
    if (v >= base) return std::nullopt;
  }
  errno = 0;
  const long long v = std::strtoll((sign + digits).c_str(), nullptr, static_cast<int>(base));
  if (errno == ERANGE) throw EvalError("integer overflow: hone's jinja integers are 64-bit (Python's are unbounded)");
  return v;
}

// Python's float(s): nullopt where Python raises ValueError.
std::optional<double> parse_py_float(const std::string& text) {
  const std::string s = py_strip(text, nullptr, true, true);
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  const std::string word = py_lower(s.substr(i));
  if (word == "inf" || word == "infinity" || word == "nan") return std::strtod(s.c_str(), nullptr);
  std::string clean;
  if (!strip_underscores(s, &clean)) return std::nullopt;
  std::size_t k = clean[0] == '+' || clean[0] == '-' ? 1 : 0;
  std::size_t mantissa_digits = 0;
  while (k < clean.size() && std::isdigit(static_cast<unsigned char>(clean[k]))) ++k, ++mantissa_digits;
  if (k < clean.size() && clean[k] == '.') {
    ++k;
    while (k < clean.size() && std::isdigit(static_cast<unsigned char>(clean[k]))) ++k, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return std::nullopt;
  if (k < clean.size() && (clean[k] == 'e' || clean[k] == 'E')) {
    ++k;
    if (k < clean.size() && (clean[k] == '+' || clean[k] == '-')) ++k;
    std::size_t exp_digits = 0;
    while (k < clean.size() && std::isdigit(static_cast<unsigned char>(clean[k]))) ++k, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (k != clean.size()) return std::nullopt;
  return std::strtod(clean.c_str(), nullptr);
}

// int(float): truncation; Python raises for infinities and NaN.
std::int64_t float_to_int(double d) {
  if (std::isnan(d)) throw EvalError("cannot convert float NaN to integer");
  if (std::isinf(d)) throw EvalError("cannot convert float infinity to integer");
  if (d >= 9.2233720368547758e18 || d < -9.2233720368547758e18)
    throw EvalError("integer overflow: hone's jinja integers are 64-bit (Python's are unbounded)");
  return static_cast<std::int64_t>(d);
}

Value f_int(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "int", {"default", "base"});
  const Value dflt = b.get(0, Value::integer(0));
  if (v.is_undefined()) fail_undefined(v);  // Undefined.__int__ fails
  if (v.is_string()) {
    if (auto i = parse_py_int(v.str(), int_arg(b.get(1, Value::integer(10)), "base"))) return Value::integer(*i);
    if (auto f = parse_py_float(v.str())) {
      if (std::isnan(*f)) return dflt;
      return Value::integer(float_to_int(*f));
    }
    return dflt;
  }
  if (v.is_float()) {
    if (std::isnan(v.as_float())) return dflt;
    return Value::integer(float_to_int(v.as_float()));
  }
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  return dflt;
}

Value f_float(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "float", {"default"});
  if (v.is_undefined()) fail_undefined(v);  // Undefined.__float__ fails
  if (v.is_number()) return Value::real(v.as_float());
  if (v.is_string())
    if (auto f = parse_py_float(v.str())) return Value::real(*f);
  return b.get(0, Value::real(0.0));
}

Value f_abs(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "abs", {});
  if (v.is_float()) return Value::real(std::fabs(v.as_float()));
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == std::numeric_limits<std::int64_t>::min())
      throw EvalError("integer overflow: hone's jinja integers are 64-bit (Python's are unbounded)");
    return Value::integer(std::llabs(v.as_int()));
  }
  throw EvalError(fmt::format("bad operand type for abs(): '{}'", type_name(v)));
}

// Python's round(x, n) for a float: correctly rounded (ties to even on the exact binary value),
// which is what printf's %.nf computes.
double py_round(double x, std::int64_t n) {
  if (!std::isfinite(x)) return x;
  if (n == 0) return std::nearbyint(x);
  if (n > 0) {
    if (n > 300) return x;
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(n), x);
    return std::strtod(buf, nullptr);
  }
  const double p = std::pow(10.0, static_cast<double>(-n));
  return std::nearbyint(x / p) * p;
}

Value f_round(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "round", {"precision", "method"});
  const std::int64_t precision = int_arg(b.get(0, Value::integer(0)), "precision");
  const std::string method = b.has(1) ? string_arg(b.get(1), "method") : "common";
  if (method != "common" && method != "ceil" && method != "floor")
    throw EvalError("method must be common, ceil or floor");
  if (!v.is_number()) throw EvalError(fmt::format("type {} doesn't define __round__ method", type_name(v)));
  if (method == "common") {
    if (!v.is_float()) {
      if (precision >= 0) return Value::integer(v.as_int());
      const double p = std::pow(10.0, static_cast<double>(-precision));
      return Value::integer(static_cast<std::int64_t>(std::nearbyint(static_cast<double>(v.as_int()) / p) * p));
    }
    return Value::real(py_round(v.as_float(), precision));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double scaled = v.as_float() * scale;
  const double r = method == "ceil" ? std::ceil(scaled) : std::floor(scaled);
  return Value::real(static_cast<double>(float_to_int(r)) / scale);
}

Value f_default(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "default", {"default_value", "boolean"});
  const bool boolean = truthy(b.get(1, Value::boolean(false)));
  if (v.is_undefined() || (boolean && !truthy(v))) return b.get(0, Value::string(""));
  return v;
}

Value f_trim(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "trim", {"chars"});
  const Value chars = b.get(0, Value::none());
  if (chars.is_none()) return Value::string(py_strip(to_str(v), nullptr, true, true));
  return Value::string(py_strip(to_str(v), &string_arg(chars, "strip arg"), true, true));
}

Value f_upper(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "upper", {});
  return Value::string(py_upper(to_str(v)));
}

Value f_lower(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "lower", {});
  return Value::string(py_lower(to_str(v)));
}

Value f_capitalize(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "capitalize", {});
  return Value::string(py_capitalize(to_str(v)));
}

// jinja2's title filter (not str.title()): words begin after runs of whitespace, '-', '(', '{',
// '[' or '<'; each word's first character is upper-cased and the rest lower-cased.
Value f_title(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "title", {});
  const std::u32string u = decode_utf8(to_str(v));
  auto is_sep = [](char32_t c) { return py_isspace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<'; };
  std::string out;
  for (std::size_t i = 0; i < u.size();) {
    std::size_t j = i;
    const bool sep = is_sep(u[i]);
    while (j < u.size() && is_sep(u[j]) == sep) ++j;
    const std::string word = encode_utf8(std::u32string_view(u).substr(i, j - i));
    if (sep) {
      out += word;
    } else {
      out += py_upper(encode_utf8(std::u32string_view(u).substr(i, 1)));
      out += py_lower(encode_utf8(std::u32string_view(u).substr(i + 1, j - i - 1)));
    }
    i = j;
  }
  return Value::string(std::move(out));
}

Value f_replace(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "replace", {"old", "new", "count"});
  const Value count = b.get(2, Value::none());
  return Value::string(py_replace(r, to_str(v), string_arg(b.get(0), "replace() argument 1"),
                                  string_arg(b.get(1), "replace() argument 2"),
                                  count.is_none() ? -1 : int_arg(count, "count")));
}

Value f_indent(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "indent", {"width", "first", "blank"});
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_string())  // jinja2 appends "\n" to the value first
    throw EvalError(fmt::format("unsupported operand type(s) for +=: '{}' and 'str'", type_name(v)));
  const Value width = b.get(0, Value::integer(4));
  const std::string indention =
      width.is_string()
          ? width.str()
          : std::string(static_cast<std::size_t>(std::max<std::int64_t>(0, int_arg(width, "width"))), ' ');
  const std::vector<std::string> lines = py_splitlines(v.str() + "\n", false);
  std::string out;
  if (truthy(b.get(2, Value::boolean(false)))) {
    for (std::size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" + indention : "") + lines[i];
  } else {
    out = lines.empty() ? "" : lines[0];
    for (std::size_t i = 1; i < lines.size(); ++i) out += "\n" + (lines[i].empty() ? "" : indention + lines[i]);
  }
  if (truthy(b.get(1, Value::boolean(false)))) out = indention + out;
  r.check_string(out.size());
  return Value::string(std::move(out));
}

Value f_center(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "center", {"width"});
  const std::string s = to_str(v);
  const std::int64_t width = int_arg(b.get(0, Value::integer(80)), "width");
  const auto n = static_cast<std::int64_t>(count_code_points(s));
  if (width <= n) return Value::string(s);
  r.check_string(static_cast<std::size_t>(width));
  const std::int64_t marg = width - n;
  const std::int64_t left = marg / 2 + (marg & width & 1);  // CPython's pad()
  return Value::string(std::string(static_cast<std::size_t>(left), ' ') + s +
                       std::string(static_cast<std::size_t>(marg - left), ' '));
}

Value f_wordcount(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "wordcount", {});
  std::int64_t n = 0;
  bool in_word = false;
  for (char32_t c : decode_utf8(to_str(v))) {
    const bool w = c == '_' || py_isalnum(c);  // re's \w
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

Value f_string(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "string", {});
  return v.is_markup() ? v : Value::string(to_str(v));
}

Value f_safe(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "safe", {});
  return Value::markup(to_str(v));
}

// HTML escaping to Markup; Markup is already escaped (escape), unless forced (forceescape).
Value escape_impl(const Value& v, bool force) {
  if (v.is_markup() && !force) return v;
  return Value::markup(html_escape(to_str(v)));
}

Value f_escape(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "escape", {});
  return escape_impl(v, false);
}

Value f_forceescape(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "forceescape", {});
  return escape_impl(v, true);
}

Value f_format(Renderer& r, const Value& v, Args& a) {
  if (!a.positional.empty() && !a.keyword.empty())
    throw EvalError("can't handle positional and keyword arguments at the same time");
  if (!a.keyword.empty()) {
    Dict d;
    for (const auto& kv : a.keyword) d.set(Value::string(kv.first), kv.second);
    return Value::string(py_percent_format(r, to_str(v), Value::dict(std::move(d))));
  }
  return Value::string(py_percent_format(r, to_str(v), Value::tuple(a.positional)));
}

// transformers' tojson: json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
// sort_keys=sort_keys).
Value f_tojson(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  std::string out =
      json_dumps(r, v, b.get(1, Value::none()), b.get(2, Value::none()), truthy(b.get(3, Value::boolean(false))));
  if (truthy(b.get(0, Value::boolean(false)))) {  // ensure_ascii: \uXXXX for every non-ASCII character
    std::string ascii;
    for (char32_t c : decode_utf8(out)) {
      if (c < 0x80) {
        ascii.push_back(static_cast<char>(c));
      } else if (c < 0x10000) {
        ascii += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
      } else {
        const char32_t x = c - 0x10000;
        ascii += fmt::format("\\u{:04x}\\u{:04x}", static_cast<unsigned>(0xD800 + (x >> 10)),
                             static_cast<unsigned>(0xDC00 + (x & 0x3FF)));
      }
    }
    out = std::move(ascii);
  }
  return Value::string(std::move(out));
}

Value f_attr(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "attr", {"name"});
  const std::string& name = string_arg(b.get(0), "attribute name");
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_object()) return v.object()->getattr(name);
  Value m = find_method(v, name);  // getattr only: dict keys are not attributes
  if (!m.is_undefined() || m.is_unsafe()) return m;
  return Value::undefined(fmt::format("'{} object' has no attribute '{}'", type_name(v), name));
}

}  // namespace

Value length(Renderer&, const Value& v, Args& a) {
  ArgBinder b(a, "length", {});
  switch (v.kind()) {
    case Kind::kUndefined:
      return Value::integer(0);
    case Kind::kString:
      return Value::integer(static_cast<std::int64_t>(count_code_points(v.str())));
    case Kind::kList:
    case Kind::kTuple:
      return Value::integer(static_cast<std::int64_t>(v.items().size()));
    case Kind::kDict:
      return Value::integer(static_cast<std::int64_t>(v.dict().items.size()));
    case Kind::kObject:
      if (auto n = v.object()->length()) return Value::integer(*n);
      break;
    default:
      break;
  }
  throw EvalError(fmt::format("object of type '{}' has no len()", type_name(v)));
}

}  // namespace filters

namespace {

struct FilterEntry {
  const char* name;
  FilterFn fn;
};

const FilterEntry kFilters[] = {
    {"abs", filters::f_abs},         {"attr", filters::f_attr},
    {"batch", filters::batch},       {"capitalize", filters::f_capitalize},
    {"center", filters::f_center},   {"count", filters::length},
    {"d", filters::f_default},       {"default", filters::f_default},
    {"dictsort", filters::dictsort}, {"e", filters::f_escape},
    {"escape", filters::f_escape},   {"first", filters::first},
    {"float", filters::f_float},     {"forceescape", filters::f_forceescape},
    {"format", filters::f_format},   {"indent", filters::f_indent},
    {"int", filters::f_int},         {"items", filters::items},
    {"join", filters::join},         {"last", filters::last},
    {"length", filters::length},     {"list", filters::list},
    {"lower", filters::f_lower},     {"map", filters::map},
    {"max", filters::max},           {"min", filters::min},
    {"reject", filters::reject},     {"rejectattr", filters::rejectattr},
    {"replace", filters::f_replace}, {"reverse", filters::reverse},
    {"round", filters::f_round},     {"safe", filters::f_safe},
    {"select", filters::select},     {"selectattr", filters::selectattr},
    {"slice", filters::slice},       {"sort", filters::sort},
    {"string", filters::f_string},   {"sum", filters::sum},
    {"title", filters::f_title},     {"tojson", filters::f_tojson},
    {"trim", filters::f_trim},       {"unique", filters::unique},
    {"upper", filters::f_upper},     {"wordcount", filters::f_wordcount},
};

}  // namespace

FilterFn find_filter(const std::string& name) {
  for (const auto& f : kFilters)
    if (name == f.name) return f.fn;
  return nullptr;
}

}  // namespace hone::jinja
