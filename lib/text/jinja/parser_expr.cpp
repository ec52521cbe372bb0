// Expression parsing (parser.h), function for function as jinja2.parser.Parser:
//
//   expression := or ('if' or ['else' expression])*      (parse_condexpr)
//   or := and ('or' and)*    and := not ('and' not)*    not := 'not' not | compare
//   compare := math1 (('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not' 'in') math1)*
//   math1 := concat (('+'|'-') concat)*    concat := math2 ('~' math2)*
//   math2 := pow (('*'|'/'|'//'|'%') pow)*   pow := unary ('**' unary)*   (left-associative)
//   unary := ('-'|'+') unary(no filters) | primary; then postfix (. [] ()), then filters / tests
#include "text/jinja/parser.h"

#include <fmt/format.h>

namespace hone::jinja {

namespace {

ExprPtr make(ExprKind kind, const Pos& pos) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->pos = pos;
  return e;
}

// Whether jinja2's optimizer folds `e` to a constant: literals and operators on them.
bool is_constant(const Expr* e) {
  if (!e) return true;
  switch (e->kind) {
    case ExprKind::kConst:
      return true;
    case ExprKind::kNeg:
    case ExprKind::kPos:
    case ExprKind::kNot:
    case ExprKind::kBinary:
    case ExprKind::kConcat:
    case ExprKind::kAnd:
    case ExprKind::kOr:
    case ExprKind::kCompare:
    case ExprKind::kList:
    case ExprKind::kTuple:
    case ExprKind::kDict:
    case ExprKind::kCond:
      for (const auto& k : e->kids)
        if (!is_constant(k.get())) return false;
      return true;
    default:
      return false;
  }
}

// A number literal that folds to a negative constant: -3, -(2.5), -(-(-1)).
bool is_negative_literal(const Expr& e) {
  int sign = 1;
  const Expr* x = &e;
  while (x->kind == ExprKind::kNeg || x->kind == ExprKind::kPos) {
    if (x->kind == ExprKind::kNeg) sign = -sign;
    x = x->kids[0].get();
  }
  if (x->kind != ExprKind::kConst || !x->value.is_number() || x->value.is_bool()) return false;
  const double v = x->value.as_float() * sign;
  return v < 0;
}

ExprPtr binary(ExprKind kind, const Pos& pos, ExprPtr a, ExprPtr b) {
  auto e = make(kind, pos);
  e->kids.push_back(std::move(a));
  e->kids.push_back(std::move(b));
  return e;
}

}  // namespace

ExprPtr Parser::sealed(ExprPtr e) {
  int h = 0;
  for (const auto& k : e->kids)
    if (k) h = std::max(h, k->height);
  for (const auto& kw : e->kwargs) h = std::max(h, kw.second->height);
  e->height = h + 1;
  if (e->height > max_nesting_)
    fail(e->pos, fmt::format("the template nests more than {} levels deep (Limits::max_nesting)", max_nesting_));
  max_depth_ = std::max(max_depth_, e->height);
  return e;
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
  return with_condexpr ? parse_condexpr() : parse_or();
}

ExprPtr Parser::parse_condexpr() {
  const Pos pos = cur().pos;
  ExprPtr expr1 = parse_or();
  while (skip_name("if")) {
    ExprPtr expr2 = parse_or();
    ExprPtr expr3;
    if (skip_name("else")) {
      DepthGuard guard(*this, pos);
      expr3 = parse_condexpr();
    }
    auto e = make(ExprKind::kCond, pos);
    e->kids.push_back(std::move(expr2));
    e->kids.push_back(std::move(expr1));
    e->kids.push_back(std::move(expr3));
    expr1 = sealed(std::move(e));
  }
  return expr1;
}

ExprPtr Parser::parse_or() {
  ExprPtr left = parse_and();
  while (cur().type == Tok::kName && cur().text == "or") {
    const Pos pos = next().pos;
    left = sealed(binary(ExprKind::kOr, pos, std::move(left), parse_and()));
  }
  return left;
}

ExprPtr Parser::parse_and() {
  ExprPtr left = parse_not();
  while (cur().type == Tok::kName && cur().text == "and") {
    const Pos pos = next().pos;
    left = sealed(binary(ExprKind::kAnd, pos, std::move(left), parse_not()));
  }
  return left;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    const Pos pos = next().pos;
    DepthGuard guard(*this, pos);
    auto e = make(ExprKind::kNot, pos);
    e->kids.push_back(parse_not());
    return sealed(std::move(e));
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const Pos pos = cur().pos;
  ExprPtr first = parse_math1();
  ExprPtr cmp;
  while (true) {
    CmpKind kind;
    if (cur().type == Tok::kOp && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                   cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
      const std::string& op = cur().text;
      kind = op == "=="   ? CmpKind::kEq
             : op == "!=" ? CmpKind::kNe
             : op == "<"  ? CmpKind::kLt
             : op == "<=" ? CmpKind::kLe
             : op == ">"  ? CmpKind::kGt
                          : CmpKind::kGe;
      next();
    } else if (is_name("in")) {
      kind = CmpKind::kIn;
      next();
    } else if (is_name("not") && look().type == Tok::kName && look().text == "in") {
      kind = CmpKind::kNotIn;
      next();
      next();
    } else {
      break;
    }
    if (!cmp) {
      cmp = make(ExprKind::kCompare, pos);
      cmp->kids.push_back(std::move(first));
    }
    cmp->cmps.push_back(kind);
    cmp->kids.push_back(parse_math1());
  }
  return cmp ? sealed(std::move(cmp)) : std::move(first);
}

ExprPtr Parser::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    const Token& t = next();
    auto e = binary(ExprKind::kBinary, t.pos, std::move(left), parse_concat());
    e->op = t.text == "+" ? BinOp::kAdd : BinOp::kSub;
    left = sealed(std::move(e));
  }
  return left;
}

ExprPtr Parser::parse_concat() {
  ExprPtr left = parse_math2();
  while (is_op("~")) {
    const Pos pos = next().pos;
    left = sealed(binary(ExprKind::kConcat, pos, std::move(left), parse_math2()));
  }
  return left;
}

ExprPtr Parser::parse_math2() {
  ExprPtr left = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const Token& t = next();
    auto e = binary(ExprKind::kBinary, t.pos, std::move(left), parse_pow());
    e->op = t.text == "*" ? BinOp::kMul : t.text == "/" ? BinOp::kDiv : t.text == "//" ? BinOp::kFloorDiv : BinOp::kMod;
    left = sealed(std::move(e));
  }
  return left;
}

ExprPtr Parser::parse_pow() {
  ExprPtr left = parse_unary();
  while (is_op("**")) {
    const Pos pos = next().pos;
    auto e = binary(ExprKind::kBinary, pos, std::move(left), parse_unary());
    e->op = BinOp::kPow;
    e->negative_literal_base = is_negative_literal(*e->kids[0]) && !is_constant(e->kids[1].get());
    left = sealed(std::move(e));
  }
  return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  DepthGuard guard(*this, cur().pos);
  ExprPtr node;
  if (is_op("-") || is_op("+")) {
    const Token& t = next();
    node = make(t.text == "-" ? ExprKind::kNeg : ExprKind::kPos, t.pos);
    node->kids.push_back(parse_unary(false));
    node = sealed(std::move(node));
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr Parser::parse_primary() {
  const Token& t = cur();
  ExprPtr node;
  switch (t.type) {
    case Tok::kName:
      node = make(ExprKind::kConst, t.pos);
      if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
        node->value = Value::boolean(t.text == "true" || t.text == "True");
      } else if (t.text == "none" || t.text == "None") {
        node->value = Value::none();
      } else {
        node->kind = ExprKind::kName;
        node->name = t.text;
        if (!macros_.empty() && t.text == "varargs") macros_.back()->uses_varargs = true;
        if (!macros_.empty() && t.text == "kwargs") macros_.back()->uses_kwargs = true;
      }
      next();
      return node;
    case Tok::kString: {
      node = make(ExprKind::kConst, t.pos);
      std::string s;
      while (cur().type == Tok::kString) s += next().text;  // adjacent literals concatenate
      node->value = Value::string(std::move(s));
      return node;
    }
    case Tok::kInt:
      node = make(ExprKind::kConst, t.pos);
      node->value = Value::integer(next().i);
      return node;
    case Tok::kFloat:
      node = make(ExprKind::kConst, t.pos);
      node->value = Value::real(next().f);
      return node;
    case Tok::kOp:
      if (t.text == "(") {
        DepthGuard guard(*this, t.pos);
        next();
        node = parse_tuple(false, true, {}, true);
        expect_op(")");
        return node;
      }
      if (t.text == "[") return parse_list();
      if (t.text == "{") return parse_dict();
      break;
    default:
      break;
  }
  fail(t.pos, fmt::format("unexpected {}", describe(t)));
}

bool Parser::is_tuple_end(const std::vector<std::string>& extra_end) const {
  if (cur().type == Tok::kVarEnd || cur().type == Tok::kBlockEnd || is_op(")")) return true;
  return is_any_name(extra_end);
}

ExprPtr Parser::parse_tuple(bool simplified, bool with_condexpr, const std::vector<std::string>& extra_end,
                            bool explicit_parentheses) {
  const Pos pos = cur().pos;
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    args.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
    if (is_op(","))
      is_tuple = true;
    else
      break;
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parentheses) fail_here(fmt::format("Expected an expression, got {}", describe(cur())));
  }
  auto e = make(ExprKind::kTuple, pos);
  e->kids = std::move(args);
  return sealed(std::move(e));
}

ExprPtr Parser::parse_list() {
  auto e = make(ExprKind::kList, expect_op("[").pos);
  while (!is_op("]")) {
    if (!e->kids.empty()) expect_op(",");
    if (is_op("]")) break;
    e->kids.push_back(parse_expression());
  }
  expect_op("]");
  return sealed(std::move(e));
}

ExprPtr Parser::parse_dict() {
  auto e = make(ExprKind::kDict, expect_op("{").pos);
  while (!is_op("}")) {
    if (!e->kids.empty()) expect_op(",");
    if (is_op("}")) break;
    e->kids.push_back(parse_expression());
    expect_op(":");
    e->kids.push_back(parse_expression());
  }
  expect_op("}");
  return sealed(std::move(e));
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_op(".") || is_op("["))
      node = parse_subscript(std::move(node));
    else if (is_op("("))
      node = parse_call(std::move(node));
    else
      return node;
  }
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (is_op("|"))
      node = parse_filter(std::move(node));
    else if (is_name("is"))
      node = parse_test(std::move(node));
    else if (is_op("("))
      node = parse_call(std::move(node));
    else
      return node;
  }
}

ExprPtr Parser::parse_subscript(ExprPtr node) {
  const Token& t = next();
  if (t.text == ".") {
    const Token& attr = next();
    if (attr.type == Tok::kName) {
      auto e = make(ExprKind::kAttr, t.pos);
      e->name = attr.text;
      e->kids.push_back(std::move(node));
      return sealed(std::move(e));
    }
    if (attr.type != Tok::kInt) fail(attr.pos, "expected name or number");
    auto index = make(ExprKind::kConst, attr.pos);
    index->value = Value::integer(attr.i);
    return sealed(binary(ExprKind::kItem, t.pos, std::move(node), std::move(index)));
  }
  // '[' subscribed (',' subscribed)* ']' where subscribed is an expression or a slice a:b:c.
  std::vector<ExprPtr> args;
  std::vector<ExprPtr> slice;  // start, stop, step of a single slice
  bool is_slice = false;
  while (!is_op("]")) {
    if (!args.empty() || is_slice) expect_op(",");
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression();
      if (!is_op(":")) {
        args.push_back(std::move(start));
        continue;
      }
    }
    if (is_slice || !args.empty()) fail_here("a slice inside a tuple index is not supported");
    next();  // ':'
    is_slice = true;
    slice.push_back(std::move(start));
    slice.push_back(is_op(":") || is_op("]") || is_op(",") ? nullptr : parse_expression());
    if (skip_op(":"))
      slice.push_back(is_op("]") || is_op(",") ? nullptr : parse_expression());
    else
      slice.push_back(nullptr);
    if (is_op(",")) fail_here("a slice inside a tuple index is not supported");
  }
  expect_op("]");
  if (is_slice) {
    auto e = make(ExprKind::kSlice, t.pos);
    e->kids.push_back(std::move(node));
    for (auto& s : slice) e->kids.push_back(std::move(s));
    return sealed(std::move(e));
  }
  ExprPtr index;  // x[] indexes with the empty tuple, as jinja2 parses it
  if (args.size() == 1) {
    index = std::move(args[0]);
  } else {
    index = make(ExprKind::kTuple, t.pos);
    index->kids = std::move(args);
    index = sealed(std::move(index));
  }
  return sealed(binary(ExprKind::kItem, t.pos, std::move(node), std::move(index)));
}

ExprPtr Parser::parse_call(ExprPtr node) {
  auto e = make(ExprKind::kCall, node->pos);  // errors of a call point at what is called
  e->kids.push_back(std::move(node));
  parse_call_args(*e);
  return sealed(std::move(e));
}

void Parser::parse_call_args(Expr& call) {
  const Pos pos = expect_op("(").pos;
  bool require_comma = false;
  while (!is_op(")")) {
    if (require_comma) {
      expect_op(",");
      if (is_op(")")) break;
    }
    if (is_op("*") || is_op("**")) fail_here("unpacking arguments with * or ** is not supported");
    if (cur().type == Tok::kName && look().type == Tok::kOp && look().text == "=") {
      std::string key = next().text;
      next();
      call.kwargs.emplace_back(std::move(key), parse_expression());
    } else {
      if (!call.kwargs.empty()) fail(pos, "invalid syntax for function call expression");
      call.kids.push_back(parse_expression());
    }
    require_comma = true;
  }
  expect_op(")");
}

ExprPtr Parser::parse_filter(ExprPtr node, bool start_inline) {
  while (is_op("|") || start_inline) {
    if (!start_inline) next();
    start_inline = false;
    const Token& t = expect(Tok::kName, "filter name");
    auto e = make(ExprKind::kFilter, t.pos);
    e->name = t.text;
    while (skip_op(".")) e->name += "." + expect(Tok::kName, "name").text;
    e->filter = find_filter(e->name);
    e->kids.push_back(std::move(node));
    if (is_op("(")) parse_call_args(*e);
    node = sealed(std::move(e));
  }
  return node;
}

ExprPtr Parser::parse_test(ExprPtr node) {
  const Pos pos = next().pos;  // 'is'
  const bool negated = skip_name("not");
  const Token& t = expect(Tok::kName, "test name");
  auto e = make(ExprKind::kTest, pos);
  e->name = t.text;
  while (skip_op(".")) e->name += "." + expect(Tok::kName, "name").text;
  e->test = find_test(e->name);
  e->kids.push_back(std::move(node));
  if (is_op("(")) {
    parse_call_args(*e);
  } else if ((cur().type == Tok::kName || cur().type == Tok::kString || cur().type == Tok::kInt ||
              cur().type == Tok::kFloat || is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) fail_here("You cannot chain multiple tests with is");
    e->kids.push_back(parse_postfix(parse_primary()));  // `x is divisibleby 3`
  }
  e = sealed(std::move(e));
  if (!negated) return e;
  auto n = make(ExprKind::kNot, pos);
  n->kids.push_back(std::move(e));
  return sealed(std::move(n));
}

}  // namespace hone::jinja
