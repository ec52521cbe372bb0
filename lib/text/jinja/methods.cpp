// Methods of str, dict, list and tuple that templates call (message.content.strip(), d.items(),
// s.split(...), ...), with Python's semantics on code points. The immutable sandbox refuses the
// mutating ones (list.append, dict.update, ...): looking them up gives jinja2's unsafe Undefined,
// calling that is an error.
#include <fmt/format.h>

#include <algorithm>

#include "text/jinja/interpreter.h"
#include "text/jinja/unicode.h"

namespace hone::jinja {

namespace {

using Args = Object::Args;
using MethodFn = Value (*)(Renderer& r, const Value& self, Args& a);

class BoundMethod : public Object {
 public:
  BoundMethod(Value self, std::string name, MethodFn fn) : self_(std::move(self)), name_(std::move(name)), fn_(fn) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  std::string repr() const override {
    return fmt::format("<built-in method {} of {} object>", name_, jinja::type_name(self_));
  }
  bool callable() const override { return true; }
  Value call(Renderer& r, Args& a) const override {
    // str methods scan their string, list and dict methods their items
    if (self_.is_string()) r.work(static_cast<std::int64_t>(self_.str().size()));
    if (self_.is_sequence()) r.work(Renderer::kItemBytes * static_cast<std::int64_t>(self_.items().size()));
    if (self_.is_dict()) r.work(Renderer::kItemBytes * static_cast<std::int64_t>(self_.dict().items.size()));
    return fn_(r, self_, a);
  }

 private:
  Value self_;
  std::string name_;
  MethodFn fn_;
};

const std::string& str_arg(const Value& v, const char* what) {
  if (!v.is_string()) throw EvalError(fmt::format("{} must be str, not {}", what, type_name(v)));
  return v.str();
}

// Methods without parameters still refuse arguments, as Python does.
void no_args(Args& a, const char* what) {
  ArgBinder b(a, what, {});
}

std::int64_t int_arg(const Value& v) {
  if (!v.is_int() && !v.is_bool())
    throw EvalError(fmt::format("'{}' object cannot be interpreted as an integer", type_name(v)));
  return v.as_int();
}

// The code points s[start:end] of optional start/end arguments, as str.find and startswith take.
std::string sub_range(Renderer& r, const std::string& s, const ArgBinder& b, std::size_t start_index) {
  if (!b.has(start_index) && !b.has(start_index + 1)) return s;
  const Value sliced = slice_value(r, Value::string(s), b.get(start_index, Value::none()),
                                   b.get(start_index + 1, Value::none()), Value::none());
  return sliced.str();
}

Value strip_impl(const Value& self, Args& a, const char* name, bool left, bool right) {
  ArgBinder b(a, name, {"chars"});
  const Value chars = b.get(0, Value::none());
  if (chars.is_none()) return Value::string(py_strip(self.str(), nullptr, left, right));
  return Value::string(py_strip(self.str(), &str_arg(chars, "strip arg"), left, right));
}

Value m_strip(Renderer&, const Value& s, Args& a) {
  return strip_impl(s, a, "strip", true, true);
}
Value m_lstrip(Renderer&, const Value& s, Args& a) {
  return strip_impl(s, a, "lstrip", true, false);
}
Value m_rstrip(Renderer&, const Value& s, Args& a) {
  return strip_impl(s, a, "rstrip", false, true);
}

Value string_list(Renderer& r, std::vector<std::string> parts) {
  r.work(Renderer::kItemBytes * static_cast<std::int64_t>(parts.size()));
  std::vector<Value> out;
  out.reserve(parts.size());
  for (auto& p : parts) out.push_back(Value::string(std::move(p)));
  return Value::list(std::move(out));
}

Value split_impl(Renderer& r, const Value& self, Args& a, bool from_right) {
  ArgBinder b(a, from_right ? "rsplit" : "split", {"sep", "maxsplit"});
  const Value sep = b.get(0, Value::none());
  const std::int64_t maxsplit = int_arg(b.get(1, Value::integer(-1)));
  const std::string& s = self.str();
  if (sep.is_none())
    return string_list(r, from_right ? py_rsplit_whitespace(s, maxsplit) : py_split_whitespace(s, maxsplit));
  const std::string& d = str_arg(sep, "separator");
  if (d.empty()) throw EvalError("empty separator");
  std::vector<std::string> parts;
  if (!from_right) {
    std::size_t pos = 0;
    while (maxsplit < 0 || static_cast<std::int64_t>(parts.size()) < maxsplit) {
      const std::size_t hit = s.find(d, pos);
      if (hit == std::string::npos) break;
      parts.push_back(s.substr(pos, hit - pos));
      pos = hit + d.size();
    }
    parts.push_back(s.substr(pos));
  } else {
    std::size_t end = s.size();
    while (maxsplit < 0 || static_cast<std::int64_t>(parts.size()) < maxsplit) {
      if (end < d.size()) break;
      const std::size_t hit = s.rfind(d, end - d.size());
      if (hit == std::string::npos) break;
      parts.push_back(s.substr(hit + d.size(), end - hit - d.size()));
      end = hit;
    }
    parts.push_back(s.substr(0, end));
    std::reverse(parts.begin(), parts.end());
  }
  return string_list(r, std::move(parts));
}

Value m_split(Renderer& r, const Value& s, Args& a) {
  return split_impl(r, s, a, false);
}
Value m_rsplit(Renderer& r, const Value& s, Args& a) {
  return split_impl(r, s, a, true);
}

Value m_splitlines(Renderer& r, const Value& s, Args& a) {
  ArgBinder b(a, "splitlines", {"keepends"});
  return string_list(r, py_splitlines(s.str(), truthy(b.get(0, Value::boolean(false)))));
}

Value affix_impl(Renderer& r, const Value& self, Args& a, bool prefix) {
  ArgBinder b(a, prefix ? "startswith" : "endswith", {"prefix", "start", "end"});
  const std::string s = sub_range(r, self.str(), b, 1);
  const Value what = b.get(0);
  std::vector<Value> options = what.is_tuple() ? what.items() : std::vector<Value>{what};
  for (const auto& o : options) {
    if (!o.is_string())
      throw EvalError(fmt::format("{} first arg must be str or a tuple of str, not {}",
                                  prefix ? "startswith" : "endswith", type_name(o)));
    const std::string& x = o.str();
    if (x.size() > s.size()) continue;
    if (prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0)
      return Value::boolean(true);
  }
  return Value::boolean(false);
}

Value m_startswith(Renderer& r, const Value& s, Args& a) {
  return affix_impl(r, s, a, true);
}
Value m_endswith(Renderer& r, const Value& s, Args& a) {
  return affix_impl(r, s, a, false);
}

Value m_upper(Renderer&, const Value& s, Args& a) {
  no_args(a, "upper");
  return Value::string(py_upper(s.str()));
}
Value m_lower(Renderer&, const Value& s, Args& a) {
  no_args(a, "lower");
  return Value::string(py_lower(s.str()));
}
Value m_title(Renderer&, const Value& s, Args& a) {
  no_args(a, "title");
  return Value::string(py_title(s.str()));
}
Value m_capitalize(Renderer&, const Value& s, Args& a) {
  no_args(a, "capitalize");
  return Value::string(py_capitalize(s.str()));
}
Value m_swapcase(Renderer&, const Value& s, Args& a) {
  no_args(a, "swapcase");
  return Value::string(py_swapcase(s.str()));
}

Value m_replace(Renderer& r, const Value& s, Args& a) {
  Args call = a;
  Value subject = s;
  return r.call_filter("replace", subject, call);  // str.replace(old, new, count) is the filter's
}

// find/rfind/index/rindex: the code point index of `sub` in s[start:end], or -1.
Value find_impl(Renderer& r, const Value& self, Args& a, bool from_right, bool raise) {
  ArgBinder b(a, "find", {"sub", "start", "end"});
  const std::string& sub = str_arg(b.get(0), "find() argument");
  std::int64_t offset = 0;
  if (b.has(1) && !b.get(1).is_none()) {
    std::int64_t start = int_arg(b.get(1));
    const auto n = static_cast<std::int64_t>(count_code_points(self.str()));
    if (start < 0) start = std::max<std::int64_t>(0, start + n);
    offset = std::min(start, n);
  }
  const std::string s = sub_range(r, self.str(), b, 1);
  const std::size_t hit = from_right ? s.rfind(sub) : s.find(sub);
  if (hit == std::string::npos) {
    if (raise) throw EvalError("substring not found");
    return Value::integer(-1);
  }
  return Value::integer(offset + static_cast<std::int64_t>(count_code_points(std::string_view(s).substr(0, hit))));
}

Value m_find(Renderer& r, const Value& s, Args& a) {
  return find_impl(r, s, a, false, false);
}
Value m_rfind(Renderer& r, const Value& s, Args& a) {
  return find_impl(r, s, a, true, false);
}
Value m_index(Renderer& r, const Value& s, Args& a) {
  return find_impl(r, s, a, false, true);
}
Value m_rindex(Renderer& r, const Value& s, Args& a) {
  return find_impl(r, s, a, true, true);
}

Value m_str_count(Renderer& r, const Value& self, Args& a) {
  ArgBinder b(a, "count", {"sub", "start", "end"});
  const std::string& sub = str_arg(b.get(0), "count() argument");
  const std::string s = sub_range(r, self.str(), b, 1);
  if (sub.empty()) return Value::integer(static_cast<std::int64_t>(count_code_points(s)) + 1);
  std::int64_t n = 0;
  for (std::size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
  return Value::integer(n);
}

Value m_join(Renderer& r, const Value& self, Args& a) {
  ArgBinder b(a, "join", {"iterable"});
  std::string out;
  std::size_t i = 0;
  for (const auto& item : r.iterate(b.get(0))) {
    if (!item.is_string())
      throw EvalError(fmt::format("sequence item {}: expected str instance, {} found", i, type_name(item)));
    if (i++) out += self.str();
    out += item.str();
    r.check_size(out.size());
  }
  r.check_string(out.size());
  return Value::string(std::move(out));
}

Value m_format(Renderer& r, const Value& self, Args& a) {
  return Value::string(py_format(r, self.str(), a));
}

template <bool (*Pred)(char32_t)>
Value char_class(Renderer&, const Value& self, Args& a) {
  ArgBinder b(a, "is...", {});
  const std::u32string u = decode_utf8(self.str());
  return Value::boolean(!u.empty() && std::all_of(u.begin(), u.end(), Pred));
}

bool is_digit_cp(char32_t c) {
  return c >= '0' && c <= '9';
}
bool is_alpha_cp(char32_t c) {
  return py_isalnum(c) && !is_digit_cp(c);
}

Value case_check(const Value& self, bool want_upper) {
  bool any = false;
  for (char32_t c : decode_utf8(self.str())) {
    if (py_isupper_cp(c)) {
      if (!want_upper) return Value::boolean(false);
      any = true;
    } else if (py_islower_cp(c)) {
      if (want_upper) return Value::boolean(false);
      any = true;
    }
  }
  return Value::boolean(any);
}

Value m_isupper(Renderer&, const Value& s, Args& a) {
  no_args(a, "isupper");
  return case_check(s, true);
}
Value m_islower(Renderer&, const Value& s, Args& a) {
  no_args(a, "islower");
  return case_check(s, false);
}

Value pad_impl(Renderer& r, const Value& self, Args& a, int where) {  // -1 ljust, 0 center, 1 rjust
  ArgBinder b(a, "ljust", {"width", "fillchar"});
  const std::int64_t width = int_arg(b.get(0));
  const std::string fill = b.has(1) ? str_arg(b.get(1), "fillchar") : " ";
  if (count_code_points(fill) != 1) throw EvalError("The fill character must be exactly one character long");
  const auto n = static_cast<std::int64_t>(count_code_points(self.str()));
  if (width <= n) return self;
  r.check_string(static_cast<std::size_t>(width) * fill.size());
  const std::int64_t marg = width - n;
  const std::int64_t left = where < 0 ? 0 : (where > 0 ? marg : marg / 2 + (marg & width & 1));
  std::string out;
  for (std::int64_t i = 0; i < left; ++i) out += fill;
  out += self.str();
  for (std::int64_t i = left; i < marg; ++i) out += fill;
  return Value::string(std::move(out));
}

Value m_ljust(Renderer& r, const Value& s, Args& a) {
  return pad_impl(r, s, a, -1);
}
Value m_center(Renderer& r, const Value& s, Args& a) {
  return pad_impl(r, s, a, 0);
}
Value m_rjust(Renderer& r, const Value& s, Args& a) {
  return pad_impl(r, s, a, 1);
}

Value partition_impl(const Value& self, Args& a, bool from_right) {
  ArgBinder b(a, "partition", {"sep"});
  const std::string& sep = str_arg(b.get(0), "separator");
  if (sep.empty()) throw EvalError("empty separator");
  const std::string& s = self.str();
  const std::size_t hit = from_right ? s.rfind(sep) : s.find(sep);
  if (hit == std::string::npos)
    return from_right ? Value::tuple({Value::string(""), Value::string(""), self})
                      : Value::tuple({self, Value::string(""), Value::string("")});
  return Value::tuple({Value::string(s.substr(0, hit)), Value::string(sep), Value::string(s.substr(hit + sep.size()))});
}

Value m_partition(Renderer&, const Value& s, Args& a) {
  return partition_impl(s, a, false);
}
Value m_rpartition(Renderer&, const Value& s, Args& a) {
  return partition_impl(s, a, true);
}

Value m_removeprefix(Renderer&, const Value& self, Args& a) {
  ArgBinder b(a, "removeprefix", {"prefix"});
  const std::string& p = str_arg(b.get(0), "removeprefix() argument");
  const std::string& s = self.str();
  return s.compare(0, p.size(), p) == 0 ? Value::string(s.substr(p.size())) : self;
}

Value m_removesuffix(Renderer&, const Value& self, Args& a) {
  ArgBinder b(a, "removesuffix", {"suffix"});
  const std::string& p = str_arg(b.get(0), "removesuffix() argument");
  const std::string& s = self.str();
  if (!p.empty() && s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0)
    return Value::string(s.substr(0, s.size() - p.size()));
  return self;
}

// dict methods
Value m_get(Renderer&, const Value& self, Args& a) {
  ArgBinder b(a, "get", {"key", "default"});
  if (const Value* v = self.dict().find(b.get(0))) return *v;
  return b.get(1, Value::none());
}

Value m_items(Renderer&, const Value& self, Args& a) {
  ArgBinder b(a, "items", {});
  std::vector<Value> pairs;
  for (const auto& kv : self.dict().items) pairs.push_back(Value::tuple({kv.first, kv.second}));
  return Value::object(std::make_shared<DictView>(std::move(pairs), "dict_items"));
}

Value m_keys(Renderer&, const Value& self, Args& a) {
  ArgBinder b(a, "keys", {});
  std::vector<Value> keys;
  for (const auto& kv : self.dict().items) keys.push_back(kv.first);
  return Value::object(std::make_shared<DictView>(std::move(keys), "dict_keys"));
}

Value m_values(Renderer&, const Value& self, Args& a) {
  ArgBinder b(a, "values", {});
  std::vector<Value> values;
  for (const auto& kv : self.dict().items) values.push_back(kv.second);
  return Value::object(std::make_shared<DictView>(std::move(values), "dict_values"));
}

Value m_copy(Renderer&, const Value& self, Args& a) {
  no_args(a, "copy");
  return self;
}

// list / tuple methods
Value m_list_index(Renderer&, const Value& self, Args& a) {
  ArgBinder b(a, "index", {"value"});
  const auto& items = self.items();
  for (std::size_t i = 0; i < items.size(); ++i)
    if (equals(items[i], b.get(0))) return Value::integer(static_cast<std::int64_t>(i));
  throw EvalError(fmt::format("{} is not in {}", to_repr(b.get(0)), type_name(self)));
}

Value m_list_count(Renderer&, const Value& self, Args& a) {
  ArgBinder b(a, "count", {"value"});
  const Value x = b.get(0);
  return Value::integer(
      std::count_if(self.items().begin(), self.items().end(), [&](const Value& v) { return equals(v, x); }));
}

struct MethodEntry {
  const char* name;
  MethodFn fn;
};

const MethodEntry kStrMethods[] = {
    {"capitalize", m_capitalize},
    {"casefold", m_lower},
    {"center", m_center},
    {"count", m_str_count},
    {"endswith", m_endswith},
    {"find", m_find},
    {"format", m_format},
    {"index", m_index},
    {"isalnum", char_class<py_isalnum>},
    {"isalpha", char_class<is_alpha_cp>},
    {"isdecimal", char_class<is_digit_cp>},
    {"isdigit", char_class<is_digit_cp>},
    {"islower", m_islower},
    {"isnumeric", char_class<is_digit_cp>},
    {"isspace", char_class<py_isspace>},
    {"isupper", m_isupper},
    {"join", m_join},
    {"ljust", m_ljust},
    {"lower", m_lower},
    {"lstrip", m_lstrip},
    {"partition", m_partition},
    {"removeprefix", m_removeprefix},
    {"removesuffix", m_removesuffix},
    {"replace", m_replace},
    {"rfind", m_rfind},
    {"rindex", m_rindex},
    {"rjust", m_rjust},
    {"rpartition", m_rpartition},
    {"rsplit", m_rsplit},
    {"rstrip", m_rstrip},
    {"split", m_split},
    {"splitlines", m_splitlines},
    {"startswith", m_startswith},
    {"strip", m_strip},
    {"swapcase", m_swapcase},
    {"title", m_title},
    {"upper", m_upper},
};

const MethodEntry kDictMethods[] = {
    {"copy", m_copy}, {"get", m_get}, {"items", m_items}, {"keys", m_keys}, {"values", m_values},
};

const MethodEntry kListMethods[] = {{"copy", m_copy}, {"count", m_list_count}, {"index", m_list_index}};
const MethodEntry kTupleMethods[] = {{"count", m_list_count}, {"index", m_list_index}};

// The methods that modify a list or dict: the ImmutableSandboxedEnvironment refuses them.
const char* const kListMutators[] = {"append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"};
const char* const kDictMutators[] = {"clear", "pop", "popitem", "setdefault", "update"};

template <std::size_t N>
MethodFn lookup(const MethodEntry (&table)[N], const std::string& name) {
  for (const auto& m : table)
    if (name == m.name) return m.fn;
  return nullptr;
}

template <std::size_t N>
bool listed(const char* const (&table)[N], const std::string& name) {
  return std::any_of(std::begin(table), std::end(table), [&](const char* n) { return name == n; });
}

}  // namespace

Value find_method(const Value& obj, const std::string& name) {
  MethodFn fn = nullptr;
  switch (obj.kind()) {
    case Kind::kString:
      fn = lookup(kStrMethods, name);
      break;
    case Kind::kDict:
      if (listed(kDictMutators, name))
        return Value::unsafe(fmt::format("access to attribute '{}' of 'dict' object is unsafe.", name));
      fn = lookup(kDictMethods, name);
      break;
    case Kind::kList:
      if (listed(kListMutators, name))
        return Value::unsafe(fmt::format("access to attribute '{}' of 'list' object is unsafe.", name));
      fn = lookup(kListMethods, name);
      break;
    case Kind::kTuple:
      fn = lookup(kTupleMethods, name);
      break;
    case Kind::kObject:  // range(): count and index, as a tuple of its items
      if (const auto* range = dynamic_cast<const RangeObject*>(obj.object())) {
        if (MethodFn f = lookup(kTupleMethods, name))
          return Value::object(std::make_shared<BoundMethod>(Value::tuple(range->items()), name, f));
      }
      break;
    default:
      break;
  }
  if (!fn) return Value();
  return Value::object(std::make_shared<BoundMethod>(obj, name, fn));
}

}  // namespace hone::jinja
