// Python's json.dumps(x, ensure_ascii=False, indent=..., separators=..., sort_keys=...), which
// transformers' tojson filter calls (interpreter.h json_dumps).
//
// As Python: separators default to (", ", ": ") without indent and (",", ": ") with it; an int
// indent is that many spaces (0 or less: newlines only), a str indent is used as is; empty lists and
// dicts print as [] and {}; floats print as repr() (NaN, Infinity, -Infinity for the others); dict
// keys that are numbers, booleans or None become strings; strings escape only '"', '\\' and
// control characters.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "text/jinja/interpreter.h"

namespace hone::jinja {

namespace {

struct JsonWriter {
  explicit JsonWriter(Renderer& renderer) : r(renderer) {}
  Renderer& r;
  bool pretty = false;
  std::string indent;
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
  std::string out;

  void check() { r.check_size(out.size()); }

  void newline(int level) {
    out.push_back('\n');
    for (int i = 0; i < level; ++i) out += indent;
  }

  void string(const std::string& s) {
    out.push_back('"');
    for (char c : s) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20)
            out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
          else
            out.push_back(c);
      }
    }
    out.push_back('"');
  }

  std::string number(const Value& v) {
    if (v.is_bool()) return v.as_bool() ? "true" : "false";
    if (v.is_int()) return std::to_string(v.as_int());
    const double d = v.as_float();
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
    return repr_float(d);
  }

  // A dict key as json.dumps converts it.
  std::string key(const Value& k) {
    if (k.is_string()) return k.str();
    if (k.is_number()) return number(k);
    if (k.is_none()) return "null";
    throw EvalError(fmt::format("keys must be str, int, float, bool or None, not {}", type_name(k)));
  }

  void value(const Value& v, int level) {
    switch (v.kind()) {
      case Kind::kNone:
        out += "null";
        break;
      case Kind::kBool:
      case Kind::kInt:
      case Kind::kFloat:
        out += number(v);
        break;
      case Kind::kString:
        string(v.str());
        break;
      case Kind::kList:
      case Kind::kTuple:
        sequence(v.items(), level);
        break;
      case Kind::kDict:
        mapping(v.dict(), level);
        break;
      default:
        throw EvalError(fmt::format("Object of type {} is not JSON serializable", type_name(v)));
    }
    check();
  }

  void sequence(const std::vector<Value>& items, int level) {
    if (items.empty()) {
      out += "[]";
      return;
    }
    out.push_back('[');
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) out += item_sep;
      if (pretty) newline(level + 1);
      value(items[i], level + 1);
    }
    if (pretty) newline(level);
    out.push_back(']');
  }

  void mapping(const Dict& d, int level) {
    if (d.items.empty()) {
      out += "{}";
      return;
    }
    std::vector<const std::pair<Value, Value>*> entries;
    for (const auto& kv : d.items) entries.push_back(&kv);
    if (sort_keys)  // sorted(d.items()): by key, with Python's ordering (mixed types are a TypeError)
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto* a, const auto* b) { return compare(a->first, b->first, CmpOp::kLt); });
    out.push_back('{');
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (i) out += item_sep;
      if (pretty) newline(level + 1);
      string(key(entries[i]->first));
      out += key_sep;
      value(entries[i]->second, level + 1);
    }
    if (pretty) newline(level);
    out.push_back('}');
  }
};

}  // namespace

std::string json_dumps(Renderer& r, const Value& v, const Value& indent, const Value& separators, bool sort_keys) {
  JsonWriter w(r);
  w.sort_keys = sort_keys;
  if (!indent.is_none() && !indent.is_undefined()) {
    w.pretty = true;
    w.item_sep = ",";
    if (indent.is_string()) {
      w.indent = indent.str();
    } else if (indent.is_int() || indent.is_bool()) {
      r.check_size(static_cast<std::size_t>(std::max<std::int64_t>(0, indent.as_int())));
      w.indent = std::string(static_cast<std::size_t>(std::max<std::int64_t>(0, indent.as_int())), ' ');
    } else {
      throw EvalError(fmt::format("indent must be None, an int or a str, not {}", type_name(indent)));
    }
  }
  if (!separators.is_none() && !separators.is_undefined()) {
    if (!separators.is_sequence() || separators.items().size() != 2 || !separators.items()[0].is_string() ||
        !separators.items()[1].is_string())
      throw EvalError("separators must be a (item_separator, key_separator) pair of strings");
    w.item_sep = separators.items()[0].str();
    w.key_sep = separators.items()[1].str();
  }
  w.value(v, 0);
  r.check_string(w.out.size());
  return std::move(w.out);
}

}  // namespace hone::jinja
