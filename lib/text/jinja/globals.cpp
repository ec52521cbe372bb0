// The template's global functions (interpreter.h find_global), as transformers defines them:
// jinja2's range (the sandbox's, bounded) and namespace (TemplateNamespace: no `_` names), dict
// (TemplateDict), raise_exception and strftime_now; and `self` (a TemplateReference without
// blocks). Also ArgBinder, the argument binding of every builtin.
#include <fmt/format.h>

#include <ctime>

#include "text/jinja/interpreter.h"

namespace hone::jinja {

ArgBinder::ArgBinder(Object::Args& args, const char* what, std::vector<const char*> names) : values_(names.size()) {
  if (args.positional.size() > names.size())
    throw EvalError(
        fmt::format("{}() takes at most {} argument(s) ({} given)", what, names.size(), args.positional.size()));
  for (std::size_t i = 0; i < args.positional.size(); ++i) values_[i] = args.positional[i];
  for (const auto& [key, value] : args.keyword) {
    std::size_t i = 0;
    while (i < names.size() && key != names[i]) ++i;
    if (i == names.size()) throw EvalError(fmt::format("{}() got an unexpected keyword argument '{}'", what, key));
    if (values_[i]) throw EvalError(fmt::format("{}() got multiple values for argument '{}'", what, key));
    values_[i] = value;
  }
}

Value ArgBinder::get(std::size_t i, Value fallback) const {
  if (i < values_.size() && values_[i]) return *values_[i];
  return fallback;
}

bool ArgBinder::has(std::size_t i) const {
  return i < values_.size() && values_[i].has_value();
}

namespace {

using Args = Object::Args;
using GlobalFn = Value (*)(Renderer& r, Args& a);

class Builtin : public Object {
 public:
  Builtin(const char* name, GlobalFn fn) : name_(name), fn_(fn) {}
  std::string type_name() const override { return "function"; }
  std::string repr() const override { return fmt::format("<function {}>", name_); }
  bool callable() const override { return true; }
  Value call(Renderer& r, Args& a) const override { return fn_(r, a); }

 private:
  const char* name_;
  GlobalFn fn_;
};

// `self`: jinja2's TemplateReference. Chat templates have no blocks, so every attribute is Undefined.
class TemplateReference : public Object {
 public:
  std::string type_name() const override { return "TemplateReference"; }
  std::string repr() const override { return "<TemplateReference None>"; }
};

std::int64_t range_arg(const Value& v) {
  if (!v.is_int() && !v.is_bool())
    throw EvalError(fmt::format("'{}' object cannot be interpreted as an integer", type_name(v)));
  return v.as_int();
}

// range(stop), range(start, stop[, step]) as a list; longer than Limits::max_range is an error
// (jinja2's sandbox: "Range too big").
Value g_range(Renderer& r, Args& a) {
  if (!a.keyword.empty()) throw EvalError("range() takes no keyword arguments");
  const auto& p = a.positional;
  if (p.empty() || p.size() > 3) throw EvalError(fmt::format("range expected 1 to 3 arguments, got {}", p.size()));
  std::int64_t start = 0, stop, step = 1;
  if (p.size() == 1) {
    stop = range_arg(p[0]);
  } else {
    start = range_arg(p[0]);
    stop = range_arg(p[1]);
    if (p.size() == 3) step = range_arg(p[2]);
  }
  if (step == 0) throw EvalError("range() arg 3 must not be zero");
  const long double span = step > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
  const long double count = span <= 0 ? 0 : (span + std::llabs(step) - 1) / std::llabs(step);
  if (count > r.limits().max_range)
    throw EvalError(
        fmt::format("Range too big. The sandbox blocks ranges larger than MAX_RANGE ({}).", r.limits().max_range));
  const auto n = static_cast<std::int64_t>(count);
  r.spend(n);
  std::vector<Value> items;
  items.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) items.push_back(Value::integer(start + i * step));
  const std::string repr =
      step == 1 ? fmt::format("range({}, {})", start, stop) : fmt::format("range({}, {}, {})", start, stop, step);
  return Value::object(std::make_shared<RangeObject>(std::move(items), repr));
}

// dict(mapping_or_pairs, **kwargs).
Value g_dict(Renderer& r, Args& a) {
  if (a.positional.size() > 1)
    throw EvalError(fmt::format("dict expected at most 1 argument, got {}", a.positional.size()));
  Dict d;
  if (!a.positional.empty()) {
    const Value& src = a.positional[0];
    if (src.is_dict()) {
      d = src.dict();
    } else {
      for (const auto& pair : r.iterate(src)) {
        const std::vector<Value> kv = r.iterate(pair);
        if (kv.size() != 2)
          throw EvalError(fmt::format("dictionary update sequence element has length {}; 2 is required", kv.size()));
        d.set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [key, value] : a.keyword) d.set(Value::string(key), value);
  return Value::dict(std::move(d));
}

// namespace(mapping?, **attrs): transformers' TemplateNamespace.
Value g_namespace(Renderer& r, Args& a) {
  auto ns = r.make_namespace();
  if (a.positional.size() > 1) throw EvalError("namespace() takes at most one positional argument");
  if (!a.positional.empty()) {
    Object::Args inner{{a.positional[0]}, {}};
    const Value d = g_dict(r, inner);
    for (const auto& kv : d.dict().items) ns->set(to_str(kv.first), kv.second);
  }
  for (const auto& [key, value] : a.keyword) ns->set(key, value);
  return Value::object(ns);
}

Value g_raise_exception(Renderer&, Args& a) {
  ArgBinder b(a, "raise_exception", {"message"});
  throw EvalError(to_str(b.get(0)));
}

// strftime_now(format): datetime.now().strftime(format), local time. A naive datetime has no
// zone, so %z and %Z are empty; %f is the microseconds (0: the time is whole seconds here).
Value g_strftime_now(Renderer& r, Args& a) {
  ArgBinder b(a, "strftime_now", {"format"});
  const Value f = b.get(0);
  if (!f.is_string()) throw EvalError(fmt::format("strftime() argument 1 must be str, not {}", type_name(f)));
  std::string pattern;
  for (std::size_t i = 0; i < f.str().size(); ++i) {
    const char c = f.str()[i];
    if (c == '%' && i + 1 < f.str().size()) {
      const char d = f.str()[++i];
      if (d == 'z' || d == 'Z') continue;
      if (d == 'f') {
        pattern += "000000";
        continue;
      }
      pattern += '%';
      pattern += d;
      continue;
    }
    pattern += c;
  }
  const std::time_t t = static_cast<std::time_t>(r.now());
  std::tm tm{};
  localtime_r(&t, &tm);
  if (pattern.empty()) return Value::string("");
  std::string buf(pattern.size() * 8 + 64, '\0');
  const std::size_t n = std::strftime(buf.data(), buf.size(), pattern.c_str(), &tm);
  buf.resize(n);
  return Value::string(std::move(buf));
}

}  // namespace

Value find_global(const std::string& name) {
  static const Value kRange = Value::object(std::make_shared<Builtin>("range", g_range));
  static const Value kDict = Value::object(std::make_shared<Builtin>("dict", g_dict));
  static const Value kNamespace = Value::object(std::make_shared<Builtin>("namespace", g_namespace));
  static const Value kRaise = Value::object(std::make_shared<Builtin>("raise_exception", g_raise_exception));
  static const Value kStrftime = Value::object(std::make_shared<Builtin>("strftime_now", g_strftime_now));
  static const Value kSelf = Value::object(std::make_shared<TemplateReference>());
  if (name == "range") return kRange;
  if (name == "dict") return kDict;
  if (name == "namespace") return kNamespace;
  if (name == "raise_exception") return kRaise;
  if (name == "strftime_now") return kStrftime;
  if (name == "self") return kSelf;
  return Value();
}

}  // namespace hone::jinja
