// The sequence filters (filters.h): first, last, join, list, items, unique, reverse, sort,
// dictsort, batch, slice, sum, min, max, map, select, reject, selectattr, rejectattr. As in
// jinja2, map/select/reject/selectattr/rejectattr/unique/batch/slice/items return generators and
// reverse an iterator; sort, dictsort and list return lists.
#include <fmt/format.h>

#include <algorithm>

#include "text/jinja/filters.h"
#include "text/jinja/unicode.h"

namespace hone::jinja::filters {

namespace {

// jinja2's _prepare_attribute_parts: "a.1.b" -> ["a", 1, "b"]; an int stays one part.
std::vector<Value> attribute_parts(const Value& attribute) {
  if (attribute.is_none() || attribute.is_undefined()) return {};
  if (!attribute.is_string()) return {attribute};
  std::vector<Value> parts;
  const std::string& s = attribute.str();
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = s.find('.', start);
    const std::string part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits =
        !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    parts.push_back(digits && part.size() < 18 ? Value::integer(std::stoll(part)) : Value::string(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

// A sequence filter's items (Renderer::iterate spends the work of copying them).
std::vector<Value> items_of(Renderer& r, const Value& v) {
  return r.iterate(v);
}

std::vector<Value> sort_keys(Renderer& r, const std::vector<Value>& items, const Value& attribute,
                             bool case_sensitive) {
  std::vector<Value> keys;
  keys.reserve(items.size());
  for (const auto& item : items) {
    Value k = get_attribute(r, item, attribute);
    keys.push_back(case_sensitive ? k : ignore_case(k));
  }
  return keys;
}

// select/reject/selectattr/rejectattr (jinja2's prepare_select_or_reject).
Value select_or_reject(Renderer& r, const Value& v, Args& a, bool keep_if, bool lookup_attr) {
  if (!truthy(v)) return make_generator({});  // jinja2: `if value:` before anything else
  std::size_t off = 0;
  Value attribute;
  if (lookup_attr) {
    if (a.positional.empty()) throw EvalError("Missing parameter for attribute name");
    attribute = a.positional[0];
    off = 1;
  }
  std::string test;
  Args test_args;
  const bool has_test = a.positional.size() > off;
  if (has_test) {
    if (!a.positional[off].is_string()) throw EvalError("a test name must be a string");
    test = a.positional[off].str();
    test_args.positional.assign(a.positional.begin() + static_cast<std::ptrdiff_t>(off + 1), a.positional.end());
    test_args.keyword = a.keyword;
  }
  std::vector<Value> out;
  for (const auto& item : items_of(r, v)) {
    const Value x = lookup_attr ? get_attribute(r, item, attribute) : item;
    bool pass;
    if (has_test) {
      Args call_args = test_args;
      pass = r.call_test(test, x, call_args);
    } else {
      pass = truthy(x);
    }
    if (pass == keep_if) out.push_back(item);
  }
  return make_generator(std::move(out));
}

Value min_or_max(Renderer& r, const Value& v, Args& a, bool want_max) {
  ArgBinder b(a, want_max ? "max" : "min", {"case_sensitive", "attribute"});
  const std::vector<Value> items = items_of(r, v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const std::vector<Value> keys = sort_keys(r, items, b.get(1, Value::none()), truthy(b.get(0, Value::boolean(false))));
  std::size_t best = 0;
  for (std::size_t i = 1; i < items.size(); ++i)
    if (compare(keys[i], keys[best], want_max ? CmpOp::kGt : CmpOp::kLt)) best = i;
  return items[best];
}

}  // namespace

Value get_attribute(Renderer& r, const Value& item, const Value& attribute, const Value& default_value) {
  Value x = item;
  for (const auto& part : attribute_parts(attribute)) {
    x = r.getitem(x, part);
    if (!default_value.is_undefined() && !default_value.is_none() && x.is_undefined()) x = default_value;
  }
  return x;
}

Value ignore_case(const Value& v) {
  return v.is_string() ? Value::string(py_lower(v.str())) : v;
}

std::vector<Value> sorted_by(std::vector<Value> items, const std::vector<Value>& keys, bool reverse) {
  std::vector<std::size_t> order(items.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    return reverse ? compare(keys[y], keys[x], CmpOp::kLt) : compare(keys[x], keys[y], CmpOp::kLt);
  });
  std::vector<Value> out;
  out.reserve(items.size());
  for (std::size_t i : order) out.push_back(std::move(items[i]));
  return out;
}

Value first(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "first", {});
  if (v.is_object())
    if (auto* g = dynamic_cast<Generator*>(v.object())) {
      if (auto x = g->next()) return *x;
      return Value::undefined("No first item, sequence was empty.");
    }
  const std::vector<Value> items = r.iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value last(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "last", {});
  if (v.is_object() && dynamic_cast<Generator*>(v.object()))
    throw EvalError(fmt::format("'{}' object is not reversible", type_name(v)));
  const std::vector<Value> items = r.iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value join(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "join", {"d", "attribute"});
  const Value sep = b.get(0, Value::string(""));
  const std::string d = to_str(sep);
  const Value attribute = b.get(1, Value::none());
  std::string out;
  bool first_item = true;
  for (const auto& item : items_of(r, v)) {
    if (!first_item) out += d;
    first_item = false;
    out += to_str(attribute.is_none() ? item : get_attribute(r, item, attribute));
    r.check_size(out.size());
  }
  r.check_string(out.size());
  return Value::string(std::move(out));
}

Value list(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "list", {});
  return Value::list(items_of(r, v));
}

Value items(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "items", {});
  if (v.is_undefined()) return make_generator({});
  if (!v.is_dict()) throw EvalError("Can only get item pairs from a mapping.");
  std::vector<Value> pairs;
  for (const auto& kv : v.dict().items) pairs.push_back(Value::tuple({kv.first, kv.second}));
  r.work(Renderer::kItemBytes * static_cast<std::int64_t>(pairs.size()));
  return make_generator(std::move(pairs));
}

Value unique(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "unique", {"case_sensitive", "attribute"});
  const std::vector<Value> all = items_of(r, v);
  const std::vector<Value> keys = sort_keys(r, all, b.get(1, Value::none()), truthy(b.get(0, Value::boolean(false))));
  std::vector<Value> out, seen;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (keys[i].is_list() || keys[i].is_dict() || keys[i].is_undefined())  // a set of keys: hashable only
      throw EvalError(fmt::format("unhashable type: '{}'", type_name(keys[i])));
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, keys[i]); })) continue;
    seen.push_back(keys[i]);
    out.push_back(all[i]);
  }
  return make_generator(std::move(out));
}

Value reverse(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "reverse", {});
  if (v.is_string()) {
    std::u32string u = decode_utf8(v.str());
    std::reverse(u.begin(), u.end());
    return Value::string(encode_utf8(u));
  }
  const bool generator = v.is_object() && dynamic_cast<Generator*>(v.object());
  std::vector<Value> items = items_of(r, v);
  std::reverse(items.begin(), items.end());
  if (generator) return Value::list(std::move(items));  // jinja2: list(value), reversed
  return make_generator(std::move(items), v.is_dict() ? "dict_reversekeyiterator" : "list_reverseiterator");
}

Value sort(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "sort", {"reverse", "case_sensitive", "attribute"});
  std::vector<Value> all = items_of(r, v);
  const bool case_sensitive = truthy(b.get(1, Value::boolean(false)));
  const Value attribute = b.get(2, Value::none());
  std::vector<std::vector<Value>> key_columns;
  if (attribute.is_string() && attribute.str().find(',') != std::string::npos) {
    // jinja2's make_multi_attrgetter: "a,b" sorts by (a, b)
    std::string s = attribute.str();
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = s.find(',', start);
      key_columns.push_back(sort_keys(r, all, Value::string(s.substr(start, comma - start)), case_sensitive));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  std::vector<Value> keys;
  if (key_columns.empty()) {
    keys = sort_keys(r, all, attribute, case_sensitive);
  } else {
    for (std::size_t i = 0; i < all.size(); ++i) {
      std::vector<Value> k;
      for (const auto& col : key_columns) k.push_back(col[i]);
      keys.push_back(Value::list(std::move(k)));
    }
  }
  return Value::list(sorted_by(std::move(all), keys, truthy(b.get(0, Value::boolean(false)))));
}

Value dictsort(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "dictsort", {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) throw EvalError(fmt::format("'{}' object has no attribute 'items'", type_name(v)));
  const Value by = b.get(1, Value::string("key"));
  if (!by.is_string() || (by.str() != "key" && by.str() != "value"))
    throw EvalError("You can only sort by either \"key\" or \"value\"");
  const std::size_t pos = by.str() == "key" ? 0 : 1;
  const bool case_sensitive = truthy(b.get(0, Value::boolean(false)));
  std::vector<Value> pairs, keys;
  for (const auto& kv : v.dict().items) {
    pairs.push_back(Value::tuple({kv.first, kv.second}));
    const Value& k = pos == 0 ? kv.first : kv.second;
    keys.push_back(case_sensitive ? k : ignore_case(k));
  }
  r.work(Renderer::kItemBytes * static_cast<std::int64_t>(pairs.size()));
  return Value::list(sorted_by(std::move(pairs), keys, truthy(b.get(2, Value::boolean(false)))));
}

Value batch(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "batch", {"linecount", "fill_with"});
  const Value count = b.get(0);
  if (!count.is_int() || count.as_int() <= 0) throw EvalError("batch() needs a positive integer line count");
  const auto n = static_cast<std::size_t>(count.as_int());
  const Value fill = b.get(1, Value::none());
  std::vector<Value> out, tmp;
  for (const auto& item : items_of(r, v)) {
    if (tmp.size() == n) {
      out.push_back(Value::list(std::move(tmp)));
      tmp.clear();
    }
    tmp.push_back(item);
  }
  if (!tmp.empty()) {
    if (!fill.is_none())
      while (tmp.size() < n) tmp.push_back(fill);
    out.push_back(Value::list(std::move(tmp)));
  }
  return make_generator(std::move(out));
}

Value slice(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "slice", {"slices", "fill_with"});
  const Value count = b.get(0);
  if (!count.is_int() || count.as_int() <= 0) throw EvalError("slice() needs a positive integer slice count");
  const std::int64_t slices = count.as_int();
  r.work(Renderer::kItemBytes * slices);
  const Value fill = b.get(1, Value::none());
  const std::vector<Value> seq = items_of(r, v);
  const auto length = static_cast<std::int64_t>(seq.size());
  const std::int64_t per = length / slices, extra = length % slices;
  std::int64_t offset = 0;
  std::vector<Value> out;
  for (std::int64_t k = 0; k < slices; ++k) {
    const std::int64_t start = offset + k * per;
    if (k < extra) ++offset;
    const std::int64_t end = offset + (k + 1) * per;
    std::vector<Value> tmp(seq.begin() + start, seq.begin() + end);
    if (!fill.is_none() && k >= extra) tmp.push_back(fill);
    out.push_back(Value::list(std::move(tmp)));
  }
  return make_generator(std::move(out));
}

Value sum(Renderer& r, const Value& v, Args& a) {
  ArgBinder b(a, "sum", {"attribute", "start"});
  const Value attribute = b.get(0, Value::none());
  Value total = b.get(1, Value::integer(0));
  for (const auto& item : items_of(r, v))
    total = binary_op(r, BinOp::kAdd, total, attribute.is_none() ? item : get_attribute(r, item, attribute));
  return total;
}

Value min(Renderer& r, const Value& v, Args& a) {
  return min_or_max(r, v, a, false);
}
Value max(Renderer& r, const Value& v, Args& a) {
  return min_or_max(r, v, a, true);
}

Value map(Renderer& r, const Value& v, Args& a) {
  if (!truthy(v)) return make_generator({});  // jinja2: `if value:` before anything else
  std::vector<Value> out;
  if (a.positional.empty()) {
    Value attribute, default_value;
    for (const auto& kw : a.keyword) {
      if (kw.first == "attribute")
        attribute = kw.second;
      else if (kw.first == "default")
        default_value = kw.second;
      else
        throw EvalError(fmt::format("Unexpected keyword argument '{}'", kw.first));
    }
    if (attribute.is_undefined()) throw EvalError("map requires a filter argument");
    for (const auto& item : items_of(r, v)) out.push_back(get_attribute(r, item, attribute, default_value));
    return make_generator(std::move(out));
  }
  if (!a.positional[0].is_string()) throw EvalError("map requires a filter name");
  const std::string name = a.positional[0].str();
  Args rest;
  rest.positional.assign(a.positional.begin() + 1, a.positional.end());
  rest.keyword = a.keyword;
  for (const auto& item : items_of(r, v)) {
    Args call_args = rest;
    out.push_back(r.call_filter(name, item, call_args));
  }
  return make_generator(std::move(out));
}

Value select(Renderer& r, const Value& v, Args& a) {
  return select_or_reject(r, v, a, true, false);
}
Value reject(Renderer& r, const Value& v, Args& a) {
  return select_or_reject(r, v, a, false, false);
}
Value selectattr(Renderer& r, const Value& v, Args& a) {
  return select_or_reject(r, v, a, true, true);
}
Value rejectattr(Renderer& r, const Value& v, Args& a) {
  return select_or_reject(r, v, a, false, true);
}

}  // namespace hone::jinja::filters
