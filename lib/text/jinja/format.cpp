// Python string formatting for templates: str.format() ("{}", "{0}", "{name}", with !r/!s) and
// printf-style `fmt % args` (also the format filter).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "text/jinja/interpreter.h"
#include "text/jinja/unicode.h"

namespace hone::jinja {

namespace {

// Thousands separators in the integer part of a formatted number.
std::string group_digits(const std::string& num, char sep) {
  std::size_t start = num[0] == '-' || num[0] == '+' || num[0] == ' ' ? 1 : 0;
  std::size_t end = start;
  while (end < num.size() && num[end] >= '0' && num[end] <= '9') ++end;
  std::string digits = num.substr(start, end - start), grouped;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) grouped.push_back(sep);
    grouped.push_back(digits[i]);
  }
  return num.substr(0, start) + grouped + num.substr(end);
}

// format(value, spec): Python's format-spec mini-language,
// [[fill]align][sign][#][0][width][,|_][.precision][type], for str, int, bool and float.
std::string format_spec(const Value& v, const std::string& spec) {
  if (spec.empty()) return to_str(v);
  const std::u32string u = decode_utf8(spec);
  std::size_t i = 0;
  char32_t fill = ' ';
  char align = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '=' || c == '^'; };
  if (u.size() >= 2 && is_align(u[1])) {
    fill = u[0];
    align = static_cast<char>(u[1]);
    i = 2;
  } else if (is_align(u[0])) {
    align = static_cast<char>(u[0]);
    i = 1;
  }
  char sign = '-';
  if (i < u.size() && (u[i] == '+' || u[i] == '-' || u[i] == ' ')) sign = static_cast<char>(u[i++]);
  if (i < u.size() && u[i] == '#') ++i;
  if (i < u.size() && u[i] == '0') {
    if (!align) {
      fill = '0';
      align = '=';
    }
    ++i;
  }
  std::size_t width = 0;
  while (i < u.size() && u[i] >= '0' && u[i] <= '9') width = std::min<std::size_t>(width * 10 + (u[i++] - '0'), 100000);
  char grouping = 0;
  if (i < u.size() && (u[i] == ',' || u[i] == '_')) grouping = static_cast<char>(u[i++]);
  int precision = -1;
  if (i < u.size() && u[i] == '.') {
    precision = 0;
    ++i;
    while (i < u.size() && u[i] >= '0' && u[i] <= '9')
      precision = std::min(precision * 10 + static_cast<int>(u[i++] - '0'), 1000);
  }
  char type = i < u.size() ? static_cast<char>(u[i++]) : 0;
  if (i != u.size()) throw EvalError("Invalid format specifier");
  std::string body;
  if (v.is_string()) {
    if (type && type != 's') throw EvalError(fmt::format("Unknown format code '{}' for object of type 'str'", type));
    body = precision >= 0 ? v.str().substr(0, byte_offset(v.str(), static_cast<std::size_t>(precision))) : v.str();
    if (!align) align = '<';
  } else if (v.is_number()) {
    char buf[1200];
    const bool integral =
        !v.is_float() && (type == 0 || type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'n');
    if (integral) {
      if (precision >= 0) throw EvalError("Precision not allowed in integer format specifier");
      const char conv = type == 'x' || type == 'X' || type == 'o' ? type : 'd';
      std::snprintf(buf, sizeof(buf), conv == 'd' ? "%lld" : (conv == 'o' ? "%llo" : (conv == 'x' ? "%llx" : "%llX")),
                    static_cast<long long>(std::llabs(v.as_int())));
      body = (v.as_int() < 0 ? "-" : "") + std::string(buf);
    } else if (type == 0 && precision < 0) {
      body = v.is_float() ? repr_float(v.as_float()) : std::to_string(v.as_int());
    } else {
      const double d = v.as_float() * (type == '%' ? 100.0 : 1.0);
      const char conv = type == 0 ? 'g' : (type == '%' ? 'f' : type);
      if (std::string("fFeEgG").find(conv) == std::string::npos)
        throw EvalError(fmt::format("Unknown format code '{}' for object of type '{}'", type, type_name(v)));
      std::snprintf(buf, sizeof(buf), (std::string("%.*") + conv).c_str(), precision < 0 ? 6 : precision, d);
      body = buf;
      if (type == '%') body += "%";
      // no type: 'g', but fixed-point results keep one digit after the point
      if (type == 0 && v.is_float() && body.find_first_of(".en") == std::string::npos) body += ".0";
    }
    if (grouping) body = group_digits(body, grouping);
    if (body[0] != '-' && sign != '-') body = std::string(1, sign) + body;
    if (!align) align = '>';
  } else {
    throw EvalError(fmt::format("unsupported format string passed to {}.__format__", type_name(v)));
  }
  const std::size_t n = count_code_points(body);
  if (width <= n) return body;
  std::string pad_char;
  append_utf8(pad_char, fill);
  auto repeat = [&](std::size_t k) {
    std::string s;
    for (std::size_t j = 0; j < k; ++j) s += pad_char;
    return s;
  };
  const std::size_t pad = width - n;
  switch (align) {
    case '<':
      return body + repeat(pad);
    case '^':
      return repeat(pad / 2) + body + repeat(pad - pad / 2);
    case '=': {
      const std::size_t s = body[0] == '-' || body[0] == '+' || body[0] == ' ' ? 1 : 0;
      return body.substr(0, s) + repeat(pad) + body.substr(s);
    }
    default:
      return repeat(pad) + body;
  }
}

}  // namespace

std::string py_format(Renderer& r, const std::string& f, Object::Args& args) {
  std::string out;
  int auto_index = 0;
  bool manual = false, automatic = false;
  for (std::size_t i = 0; i < f.size(); ++i) {
    const char c = f[i];
    if (c == '}') {
      if (i + 1 < f.size() && f[i + 1] == '}') {
        out.push_back('}');
        ++i;
        continue;
      }
      throw EvalError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < f.size() && f[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const std::size_t close = f.find('}', i);
    if (close == std::string::npos) throw EvalError("expected '}' before end of string");
    std::string field = f.substr(i + 1, close - i - 1);
    i = close;
    char conversion = 0;
    std::string spec;
    if (const std::size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    if (const std::size_t bang = field.find('!'); bang != std::string::npos) {
      if (bang + 2 != field.size() || (field[bang + 1] != 'r' && field[bang + 1] != 's'))
        throw EvalError("Unknown conversion specifier in format string");
      conversion = field[bang + 1];
      field.resize(bang);
    }
    Value v;
    if (field.empty() || std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      std::size_t index;
      if (field.empty()) {
        if (manual) throw EvalError("cannot switch from manual field specification to automatic field numbering");
        automatic = true;
        index = static_cast<std::size_t>(auto_index++);
      } else {
        if (automatic) throw EvalError("cannot switch from automatic field numbering to manual field specification");
        manual = true;
        index = std::stoul(field);
      }
      if (index >= args.positional.size())
        throw EvalError(fmt::format("Replacement index {} out of range for positional args tuple", index));
      v = args.positional[index];
    } else {
      auto it =
          std::find_if(args.keyword.begin(), args.keyword.end(), [&](const auto& kv) { return kv.first == field; });
      if (it == args.keyword.end()) throw EvalError(fmt::format("'{}'", field));
      v = it->second;
    }
    if (conversion) v = Value::string(conversion == 'r' ? to_repr(v) : to_str(v));
    out += format_spec(v, spec);
    r.check_size(out.size());
  }
  r.check_string(out.size());
  return out;
}

namespace {

struct Spec {
  std::string flags;
  int width = -1;
  int precision = -1;
  char conv = 's';
};

std::string pad(const std::string& s, const Spec& spec) {
  const auto n = static_cast<int>(count_code_points(s));
  if (spec.width <= n) return s;
  const std::string fill(static_cast<std::size_t>(spec.width - n), ' ');
  return spec.flags.find('-') != std::string::npos ? s + fill : fill + s;
}

std::string format_one(const Spec& spec, const Value& v) {
  if (v.is_undefined() && spec.conv != 's' && spec.conv != 'r' && spec.conv != 'a') fail_undefined(v);
  const std::string flags = spec.flags;
  std::string head = "%" + flags;
  if (spec.width >= 0) head += std::to_string(spec.width);
  if (spec.precision >= 0) head += "." + std::to_string(spec.precision);
  char buf[512];
  switch (spec.conv) {
    case 's':
    case 'r':
    case 'a': {
      std::string s = spec.conv == 's' ? to_str(v) : to_repr(v);
      if (spec.precision >= 0) s = s.substr(0, byte_offset(s, static_cast<std::size_t>(spec.precision)));
      return pad(s, spec);
    }
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
      if (!v.is_number())
        throw EvalError(fmt::format("%{} format: a real number is required, not {}", spec.conv, type_name(v)));
      const long long i = v.is_float() ? static_cast<long long>(v.as_float()) : v.as_int();
      const char conv = spec.conv == 'i' || spec.conv == 'u' ? 'd' : spec.conv;
      std::snprintf(buf, sizeof(buf), (head + "ll" + conv).c_str(), i);
      return buf;
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G': {
      if (!v.is_number()) throw EvalError(fmt::format("must be real number, not {}", type_name(v)));
      std::snprintf(buf, sizeof(buf), (head + spec.conv).c_str(), v.as_float());
      return buf;
    }
    case 'c': {
      if (v.is_string() && count_code_points(v.str()) == 1) return pad(v.str(), spec);
      if (v.is_int()) {
        std::string s;
        append_utf8(s, static_cast<char32_t>(v.as_int()));
        return pad(s, spec);
      }
      throw EvalError("%c requires int or char");
    }
    default:
      throw EvalError(fmt::format("unsupported format character '{}'", spec.conv));
  }
}

}  // namespace

std::string py_percent_format(Renderer& r, const std::string& f, const Value& args) {
  const std::vector<Value> positional = args.is_tuple() ? args.items() : std::vector<Value>{args};
  std::size_t next = 0;
  bool used_mapping = false;
  std::string out;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out.push_back(f[i]);
      continue;
    }
    if (++i >= f.size()) throw EvalError("incomplete format");
    if (f[i] == '%') {
      out.push_back('%');
      continue;
    }
    Spec spec;
    Value v;
    bool have = false;
    if (f[i] == '(') {
      const std::size_t close = f.find(')', i);
      if (close == std::string::npos) throw EvalError("incomplete format key");
      if (!args.is_dict()) throw EvalError("format requires a mapping");
      const Value* found = args.dict().find(Value::string(f.substr(i + 1, close - i - 1)));
      if (!found) throw EvalError(fmt::format("'{}'", f.substr(i + 1, close - i - 1)));
      v = *found;
      have = used_mapping = true;
      i = close + 1;
    }
    while (i < f.size() && std::string("-+ #0").find(f[i]) != std::string::npos) spec.flags.push_back(f[i++]);
    // Digits saturate just past the largest width or precision accepted below (no int overflow).
    while (i < f.size() && f[i] >= '0' && f[i] <= '9')
      spec.width = std::min(std::max(spec.width, 0) * 10 + (f[i++] - '0'), 100001);
    if (i < f.size() && f[i] == '.') {
      spec.precision = 0;
      ++i;
      while (i < f.size() && f[i] >= '0' && f[i] <= '9')
        spec.precision = std::min(spec.precision * 10 + (f[i++] - '0'), 100001);
    }
    if (i >= f.size()) throw EvalError("incomplete format");
    if (spec.width > 10000 || spec.precision > 10000) throw EvalError("format width or precision too large");
    spec.conv = f[i];
    if (!have) {
      if (next >= positional.size()) throw EvalError("not enough arguments for format string");
      v = positional[next++];
    }
    out += format_one(spec, v);
    r.check_size(out.size());
  }
  r.check_string(out.size());
  // Python treats a non-tuple argument with __getitem__ (list, dict) as a mapping: no leftover check
  const bool mapping_like = args.is_dict() || args.is_list() || args.is_undefined() || args.is_object();
  if (!used_mapping && !mapping_like && next < positional.size())
    throw EvalError("not all arguments converted during string formatting");
  return out;
}

}  // namespace hone::jinja
