// The values of hone's jinja interpreter, with the Python semantics that jinja2 gives them.
//
// jinja2 runs templates on Python objects, so what a template prints and decides depends on
// Python: str() of None is "None", of True "True", of 1.0 "1.0", of a list its repr; empty
// strings, lists and dicts are false; 1 == 1.0 == True; strings compare by code point. Value
// models the objects a chat template meets (JSON data, literals, the results of filters) and this
// header gives their str(), repr(), truthiness, equality and ordering.
//
// Undefined is jinja2's default Undefined: it prints as "", iterates as empty and is false, but an
// attribute, item, call or arithmetic on it is an error (its hint says what was undefined).
// Strings, lists and dicts are immutable (the template sandbox forbids mutation) and shared; a
// Namespace is the one mutable object.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hone::jinja {

// A Python-level failure (TypeError, UndefinedError, a bound exceeded, raise_exception) raised
// where no template position is known; the interpreter adds name:line:col of the node it was
// evaluating and throws hone::InputError.
class EvalError : public std::exception {
 public:
  explicit EvalError(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

// Values nest at most this deep (lists in lists, ...). Python's own recursion limit is 1000, so
// jinja2 fails on deeper data too; the bound keeps printing, comparing and freeing values off the
// stack limit.
constexpr int kMaxValueDepth = 1000;

class Value;
class Object;
class Renderer;

struct List {
  std::vector<Value> items;
  int depth = 1;  // 1 + the deepest element's depth
};

// An insertion-ordered dict (Python dicts keep insertion order). Keys are hashable values:
// strings, numbers, booleans, None, tuples; 1, 1.0 and True are the same key, as in Python.
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  int depth = 1;
  const Value* find(const Value& key) const;
  void set(Value key, Value value);  // replaces an existing key's value in place
};

enum class Kind : std::uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kTuple, kDict, kObject };

class Value {
 public:
  Value() = default;  // Undefined without a hint
  static Value undefined(std::string hint);
  // An attribute the sandbox refuses (list.append, dict.update, ...): Undefined whose call fails
  // with jinja2's SecurityError message.
  static Value unsafe(std::string message);
  static Value none();
  static Value boolean(bool b);
  static Value integer(std::int64_t i);
  static Value real(double f);
  static Value string(std::string s);
  // A string marked safe (jinja2's Markup: what |safe and |escape return).
  static Value markup(std::string s);
  static Value list(std::vector<Value> items);   // throws EvalError past kMaxValueDepth
  static Value tuple(std::vector<Value> items);  // as list
  static Value dict(Dict d);                     // as list
  static Value object(std::shared_ptr<Object> o);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }  // not bool (Python's bool is an int subclass)
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kBool || kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kTuple; }
  bool is_sequence() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }  // list or tuple
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_unsafe() const { return kind_ == Kind::kUndefined && flag_; }
  bool is_markup() const { return kind_ == Kind::kString && flag_; }

  bool as_bool() const { return b_; }
  // int() of a bool or int.
  std::int64_t as_int() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }
  // float() of a bool, int or float.
  double as_float() const;
  const std::string& str() const;           // kString, or an Undefined's hint
  const std::vector<Value>& items() const;  // kList / kTuple
  const Dict& dict() const;
  Object* object() const;
  int depth() const;  // nesting depth of lists, tuples and dicts (scalars: 0)

 private:
  Kind kind_ = Kind::kUndefined;
  bool flag_ = false;  // Undefined: the sandbox refused it; string: Markup
  union {
    bool b_;
    std::int64_t i_ = 0;
    double f_;
  };
  std::shared_ptr<const void> p_;  // std::string, List, Dict or Object by kind
};

// Objects that are not data: namespace(), macros, builtin functions, bound methods, the loop
// variable. Subclasses are in interpreter.h, globals.cpp and methods.cpp.
class Object {
 public:
  virtual ~Object() = default;
  virtual std::string type_name() const = 0;             // Python's type(x).__name__, for error messages
  virtual std::string repr() const = 0;                  // str() and repr()
  virtual Value getattr(const std::string& name) const;  // default: Undefined
  virtual bool callable() const { return false; }
  struct Args {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;
  };
  virtual Value call(Renderer& r, Args& args) const;  // default: EvalError "not callable"
  virtual bool truthy() const { return true; }
  // Iteration (for loops, filters): nullopt when the object is not iterable. Generators are used
  // up by it, as in Python.
  virtual std::optional<std::vector<Value>> iterate() const { return std::nullopt; }
  // len(): nullopt when the object has none.
  virtual std::optional<std::int64_t> length() const { return std::nullopt; }
};

// Python's type(x).__name__.
std::string type_name(const Value& v);
// str(x): what {{ x }} prints.
std::string to_str(const Value& v);
// repr(x): how x prints inside a list or dict.
std::string to_repr(const Value& v);
// repr() of a str: quotes and escapes as Python.
std::string repr_string(const std::string& s);
// repr() of a float: the shortest digits that round-trip, in Python's fixed/exponent choice.
std::string repr_float(double f);
// bool(x).
bool truthy(const Value& v);
// x == y.
bool equals(const Value& a, const Value& b);
enum class CmpOp { kLt, kLe, kGt, kGe };
const char* cmp_op_name(CmpOp op);  // "<", "<=", ">", ">="
// x < y, x <= y, ...: numbers, strings (by code point), lists and tuples (lexicographic); other
// types throw EvalError "'<' not supported between instances of 'X' and 'Y'", as Python.
bool compare(const Value& a, const Value& b, CmpOp op);
// A value from JSON (objects keep their key order). Integers beyond int64 are an EvalError.
Value from_json(const nlohmann::ordered_json& j);

}  // namespace hone::jinja
