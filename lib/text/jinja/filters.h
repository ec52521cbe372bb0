// The builtin filters, shared between filters.cpp (strings, numbers, the registry) and
// filters_seq.cpp (sequences). Each is the jinja2 filter of the same name (jinja2/filters.py),
// with transformers' tojson.
#pragma once

#include <string>
#include <vector>

#include "text/jinja/interpreter.h"

namespace hone::jinja::filters {

using Args = Object::Args;

// jinja2's make_attrgetter: "a.b.0" looked up part by part with getitem (digits as ints);
// `default_value` replaces an Undefined part when it is not Undefined itself.
Value get_attribute(Renderer& r, const Value& item, const Value& attribute, const Value& default_value = Value());
// ignore_case: str.lower() of strings, anything else unchanged.
Value ignore_case(const Value& v);
// Python's sorted(items, key=keys, reverse=reverse), stable.
std::vector<Value> sorted_by(std::vector<Value> items, const std::vector<Value>& keys, bool reverse);

Value first(Renderer& r, const Value& v, Args& a);
Value last(Renderer& r, const Value& v, Args& a);
Value join(Renderer& r, const Value& v, Args& a);
Value list(Renderer& r, const Value& v, Args& a);
Value items(Renderer& r, const Value& v, Args& a);
Value unique(Renderer& r, const Value& v, Args& a);
Value reverse(Renderer& r, const Value& v, Args& a);
Value sort(Renderer& r, const Value& v, Args& a);
Value dictsort(Renderer& r, const Value& v, Args& a);
Value batch(Renderer& r, const Value& v, Args& a);
Value slice(Renderer& r, const Value& v, Args& a);
Value sum(Renderer& r, const Value& v, Args& a);
Value min(Renderer& r, const Value& v, Args& a);
Value max(Renderer& r, const Value& v, Args& a);
Value map(Renderer& r, const Value& v, Args& a);
Value select(Renderer& r, const Value& v, Args& a);
Value reject(Renderer& r, const Value& v, Args& a);
Value selectattr(Renderer& r, const Value& v, Args& a);
Value rejectattr(Renderer& r, const Value& v, Args& a);
Value length(Renderer& r, const Value& v, Args& a);

}  // namespace hone::jinja::filters
