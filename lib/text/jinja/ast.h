// The syntax tree of a parsed jinja template: expressions and statements as jinja2.nodes builds
// them (only the nodes a chat template can use).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "text/jinja/lexer.h"
#include "text/jinja/value.h"

namespace hone::jinja {

// A filter: subject | name(args). A test: subject is name(args). Both are resolved when the
// template is parsed; jinja2 fails at compile time on an unknown name, except inside an `if` or a
// conditional expression, where the failure waits until the expression runs (fn stays null).
using FilterFn = Value (*)(Renderer& r, const Value& subject, Object::Args& args);
using TestFn = bool (*)(Renderer& r, const Value& subject, Object::Args& args);
FilterFn find_filter(const std::string& name);  // nullptr if jinja has no such filter here
TestFn find_test(const std::string& name);

enum class ExprKind {
  kConst,    // value
  kName,     // name
  kList,     // kids: items
  kTuple,    // kids: items
  kDict,     // kids: key0, value0, key1, value1, ...
  kAttr,     // kids[0].name
  kItem,     // kids[0][kids[1]]
  kSlice,    // kids[0][kids[1]:kids[2]:kids[3]], each bound may be null
  kCall,     // kids[0](kids[1..], kwargs)
  kFilter,   // kids[0] | name(kids[1..], kwargs); kids[0] is null in {% set x | f %} and {% filter f %}
  kTest,     // kids[0] is name(kids[1..], kwargs)
  kNeg,      // -kids[0]
  kPos,      // +kids[0]
  kNot,      // not kids[0]
  kBinary,   // kids[0] op kids[1]
  kConcat,   // kids[0] ~ kids[1]
  kAnd,      // kids[0] and kids[1]
  kOr,       // kids[0] or kids[1]
  kCompare,  // kids[0] cmps[0] kids[1] cmps[1] kids[2] ... (chained as in Python)
  kCond,     // kids[1] if kids[0] else kids[2] (kids[2] may be null: undefined)
};

enum class BinOp { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
enum class CmpKind { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind = ExprKind::kConst;
  Pos pos;
  Value value;
  std::string name;
  BinOp op = BinOp::kAdd;
  std::vector<ExprPtr> kids;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<CmpKind> cmps;
  FilterFn filter = nullptr;
  TestFn test = nullptr;
  // kBinary **: jinja2 folds a negative number literal to the constant -n and writes it into the
  // Python it compiles as `(-n ** y)`, which Python reads as -(n ** y) unless y is constant too.
  bool negative_literal_base = false;
  int height = 1;  // of the subtree: the parser bounds it (Limits::max_nesting), and with it all recursion on it
};

// The left side of an assignment: a name, a tuple of targets (unpacking), or ns.attr.
struct Target {
  enum class Kind { kName, kTuple, kNsAttr } kind = Kind::kName;
  std::string name;  // kName, the namespace variable of kNsAttr
  std::string attr;  // kNsAttr
  std::vector<Target> items;
  Pos pos;
};

enum class StmtKind {
  kText,      // text
  kOutput,    // {{ expr }}
  kIf,        // branches (test, body)..., else_body
  kFor,       // for target in expr [if cond]: body [else else_body]
  kSet,       // set target = expr
  kSetBlock,  // set target [| filters]: body
  kMacro,     // macro name(params = defaults): body
  kBreak,
  kContinue,
  kScope,        // a body in its own scope: {% generation %}, {% with %} (assigns: with's bindings)
  kFilterBlock,  // filter filters: body
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct Stmt {
  StmtKind kind = StmtKind::kText;
  Pos pos;
  std::string text;
  ExprPtr expr;
  ExprPtr cond;
  Target target;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<ExprPtr> filters;
  std::vector<std::pair<Target, ExprPtr>> assigns;
  // kMacro
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // one per param, null when it has none
  bool uses_varargs = false;      // the body reads `varargs`: extra positional arguments allowed
  bool uses_kwargs = false;       // the body reads `kwargs`: unknown keyword arguments allowed
};

// A parsed template.
struct Program {
  std::string name;
  Body body;
  int max_depth = 0;  // deepest parser nesting reached (statements and expressions)
};

// Parses the tokens of `name`; a syntax error is hone::InputError "<name>:<line>:<col>: <what>".
// Parsing stops at `max_nesting` levels of nesting (an InputError) so that its recursion stays
// bounded.
std::shared_ptr<const Program> parse_program(const std::vector<Token>& tokens, const std::string& name,
                                             int max_nesting);

}  // namespace hone::jinja
