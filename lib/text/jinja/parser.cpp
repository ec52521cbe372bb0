// Statement parsing (parser.h) as jinja2.parser.Parser: subparse/parse_statements and one function
// per tag; the tags of AssistantTracker (generation) and jinja2.ext.loopcontrols (break, continue).
#include "text/jinja/parser.h"

#include <fmt/format.h>

#include "core/error.h"

namespace hone::jinja {

namespace {

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += i + 1 == names.size() ? " or " : ", ";
    out += "'" + names[i] + "'";
  }
  return out;
}

std::unique_ptr<Stmt> make_stmt(StmtKind kind, const Pos& pos) {
  auto s = std::make_unique<Stmt>();
  s->kind = kind;
  s->pos = pos;
  return s;
}

}  // namespace

DepthGuard::DepthGuard(Parser& p, const Pos& pos) : p_(p) {
  if (++p_.depth_ > p_.max_nesting_) {
    --p_.depth_;
    p_.fail(pos, fmt::format("the template nests more than {} levels deep (Limits::max_nesting)", p_.max_nesting_));
  }
  p_.max_depth_ = std::max(p_.max_depth_, p_.depth_);
}

Parser::Parser(const std::vector<Token>& tokens, const std::string& name, int max_nesting)
    : tokens_(tokens), name_(name), max_nesting_(max_nesting) {}

const Token& Parser::next() {
  const Token& t = tokens_[i_];
  if (i_ + 1 < tokens_.size()) ++i_;
  return t;
}

bool Parser::is_any_name(const std::vector<std::string>& names) const {
  if (cur().type != Tok::kName) return false;
  for (const auto& n : names)
    if (cur().text == n) return true;
  return false;
}

bool Parser::skip_name(const char* n) {
  if (!is_name(n)) return false;
  next();
  return true;
}

bool Parser::skip_op(const char* op) {
  if (!is_op(op)) return false;
  next();
  return true;
}

void Parser::fail(const Pos& pos, const std::string& what) const {
  HONE_THROW(InputError, "{}:{}:{}: {}", name_, pos.line, pos.col, what);
}

const Token& Parser::expect(Tok type, const char* what) {
  if (cur().type != type) {
    if (cur().type == Tok::kEof) fail_here(fmt::format("unexpected end of template, expected {}", what));
    fail_here(fmt::format("expected token {}, got {}", what, describe(cur())));
  }
  return next();
}

const Token& Parser::expect_op(const char* op) {
  if (!is_op(op)) {
    if (cur().type == Tok::kEof) fail_here(fmt::format("unexpected end of template, expected '{}'", op));
    fail_here(fmt::format("expected token '{}', got {}", op, describe(cur())));
  }
  return next();
}

const Token& Parser::expect_name(const char* n) {
  if (!is_name(n)) fail_here(fmt::format("expected token '{}', got {}", n, describe(cur())));
  return next();
}

void Parser::fail_eof(const std::vector<std::string>& end_tokens) {
  std::string what = "Unexpected end of template.";
  if (!end_tokens.empty())
    what += fmt::format(" Jinja was looking for the following tags: {}.", quoted_list(end_tokens));
  if (!blocks_.empty()) what += fmt::format(" The innermost block that needs to be closed is '{}'.", blocks_.back());
  fail_here(what);
}

std::shared_ptr<Program> Parser::run() {
  auto program = std::make_shared<Program>();
  program->name = name_;
  program->body = subparse({});
  program->max_depth = max_depth_;
  return program;
}

Body Parser::subparse(const std::vector<std::string>& end_tokens) {
  Body body;
  while (cur().type != Tok::kEof) {
    const Token& t = cur();
    if (t.type == Tok::kText) {
      auto s = make_stmt(StmtKind::kText, t.pos);
      s->text = t.text;
      body.push_back(std::move(s));
      next();
    } else if (t.type == Tok::kVarBegin) {
      next();
      auto s = make_stmt(StmtKind::kOutput, t.pos);
      s->expr = parse_tuple(false, true);
      expect(Tok::kVarEnd, "'end of print statement'");
      body.push_back(std::move(s));
    } else if (t.type == Tok::kBlockBegin) {
      next();
      if (!end_tokens.empty() && is_any_name(end_tokens)) return body;
      parse_statement(body);
      expect(Tok::kBlockEnd, "'end of statement block'");
    } else {
      fail_here(fmt::format("unexpected {}", describe(t)));
    }
  }
  return body;
}

Body Parser::parse_statements(const std::vector<std::string>& end_tokens, bool drop_needle) {
  skip_op(":");
  expect(Tok::kBlockEnd, "'end of statement block'");
  Body body = subparse(end_tokens);
  if (cur().type == Tok::kEof) fail_eof(end_tokens);
  if (drop_needle) next();
  return body;
}

void Parser::parse_statement(Body& body) {
  const Token& t = cur();
  if (t.type != Tok::kName) fail_here("tag name expected");
  DepthGuard guard(*this, t.pos);
  const std::string& tag = t.text;
  if (tag == "for") {
    body.push_back(parse_for());
  } else if (tag == "if") {
    body.push_back(parse_if());
  } else if (tag == "set") {
    body.push_back(parse_set());
  } else if (tag == "macro") {
    body.push_back(parse_macro());
  } else if (tag == "with") {
    body.push_back(parse_with());
  } else if (tag == "generation") {
    body.push_back(parse_scope_block("endgeneration"));
  } else if (tag == "filter") {
    body.push_back(parse_filter_block());
  } else if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) fail_here(fmt::format("'{}' outside of a loop", tag));
    body.push_back(make_stmt(tag == "break" ? StmtKind::kBreak : StmtKind::kContinue, next().pos));
  } else if (tag == "print") {
    next();
    bool first = true;
    while (cur().type != Tok::kBlockEnd) {
      if (!first) expect_op(",");
      first = false;
      auto s = make_stmt(StmtKind::kOutput, cur().pos);
      s->expr = parse_expression();
      body.push_back(std::move(s));
    }
  } else if (tag == "block" || tag == "extends" || tag == "include" || tag == "import" || tag == "from" ||
             tag == "call" || tag == "autoescape") {
    fail_here(fmt::format("the '{}' tag is not supported in chat templates", tag));
  } else {
    fail_here(fmt::format("Encountered unknown tag '{}'.", tag));
  }
}

std::unique_ptr<Stmt> Parser::parse_for() {
  auto s = make_stmt(StmtKind::kFor, next().pos);
  s->target = parse_assign_target(true, false, {"in"}, false);
  expect_name("in");
  s->expr = parse_tuple(false, false, {"recursive"});
  if (skip_name("if")) s->cond = parse_expression();
  if (is_name("recursive")) fail_here("recursive loops are not supported");
  blocks_.push_back("for");
  ++loop_depth_;
  s->body = parse_statements({"endfor", "else"}, false);
  --loop_depth_;
  if (next().text == "else") s->else_body = parse_statements({"endfor"}, true);
  blocks_.pop_back();
  return s;
}

std::unique_ptr<Stmt> Parser::parse_if() {
  auto s = make_stmt(StmtKind::kIf, next().pos);
  blocks_.push_back("if");
  while (true) {
    ExprPtr test = parse_tuple(false, false);
    Body body = parse_statements({"elif", "else", "endif"}, false);
    s->branches.emplace_back(std::move(test), std::move(body));
    const std::string tag = next().text;
    if (tag == "elif") continue;
    if (tag == "else") s->else_body = parse_statements({"endif"}, true);
    break;
  }
  blocks_.pop_back();
  return s;
}

std::unique_ptr<Stmt> Parser::parse_set() {
  const Pos pos = next().pos;
  Target target = parse_assign_target(true, false, {}, true);
  if (skip_op("=")) {
    auto s = make_stmt(StmtKind::kSet, pos);
    s->target = std::move(target);
    s->expr = parse_tuple();
    return s;
  }
  auto s = make_stmt(StmtKind::kSetBlock, pos);
  s->target = std::move(target);
  for (ExprPtr f = parse_filter(nullptr); f;) {  // the chain, outermost first; unwound innermost first
    ExprPtr inner = std::move(f->kids[0]);
    s->filters.insert(s->filters.begin(), std::move(f));
    f = std::move(inner);
  }
  blocks_.push_back("set");
  s->body = parse_statements({"endset"}, true);
  blocks_.pop_back();
  return s;
}

std::unique_ptr<Stmt> Parser::parse_macro() {
  auto s = make_stmt(StmtKind::kMacro, next().pos);
  s->name = expect(Tok::kName, "macro name").text;
  expect_op("(");
  while (!is_op(")")) {
    if (!s->params.empty()) expect_op(",");
    s->params.push_back(expect(Tok::kName, "parameter name").text);
    if (skip_op("=")) {
      s->defaults.push_back(parse_expression());
    } else {
      if (s->params.size() > 1 && s->defaults.back()) fail_here("non-default argument follows default argument");
      s->defaults.push_back(nullptr);
    }
  }
  expect_op(")");
  blocks_.push_back("macro");
  macros_.push_back(s.get());
  const int loops = loop_depth_;
  loop_depth_ = 0;  // a macro is a function of its own: break/continue do not reach outer loops
  s->body = parse_statements({"endmacro"}, true);
  loop_depth_ = loops;
  macros_.pop_back();
  blocks_.pop_back();
  return s;
}

std::unique_ptr<Stmt> Parser::parse_with() {
  auto s = make_stmt(StmtKind::kScope, next().pos);
  while (cur().type != Tok::kBlockEnd) {
    if (!s->assigns.empty()) expect_op(",");
    Target target = parse_assign_target(true, false, {}, false);
    expect_op("=");
    s->assigns.emplace_back(std::move(target), parse_expression());
  }
  blocks_.push_back("with");
  s->body = parse_statements({"endwith"}, true);
  blocks_.pop_back();
  return s;
}

// {% generation %}: AssistantTracker's CallBlock renders its body as a macro (its own scope).
std::unique_ptr<Stmt> Parser::parse_scope_block(const char* end_tag) {
  auto s = make_stmt(StmtKind::kScope, next().pos);
  blocks_.push_back("generation");
  const int loops = loop_depth_;
  loop_depth_ = 0;
  s->body = parse_statements({end_tag}, true);
  loop_depth_ = loops;
  blocks_.pop_back();
  return s;
}

std::unique_ptr<Stmt> Parser::parse_filter_block() {
  auto s = make_stmt(StmtKind::kFilterBlock, next().pos);
  for (ExprPtr f = parse_filter(nullptr, true); f;) {
    ExprPtr inner = std::move(f->kids[0]);
    s->filters.insert(s->filters.begin(), std::move(f));
    f = std::move(inner);
  }
  blocks_.push_back("filter");
  s->body = parse_statements({"endfilter"}, true);
  blocks_.pop_back();
  return s;
}

Target Parser::to_target(const Expr& e) {
  Target t;
  t.pos = e.pos;
  if (e.kind == ExprKind::kName) {
    t.kind = Target::Kind::kName;
    t.name = e.name;
    return t;
  }
  if (e.kind == ExprKind::kTuple) {
    t.kind = Target::Kind::kTuple;
    for (const auto& k : e.kids) t.items.push_back(to_target(*k));
    return t;
  }
  fail(e.pos, e.kind == ExprKind::kConst ? "can't assign to 'const'" : "can't assign to this expression");
}

Target Parser::parse_assign_target(bool with_tuple, bool name_only, const std::vector<std::string>& extra_end,
                                   bool with_namespace) {
  if (name_only || (with_namespace && look().type == Tok::kOp && look().text == ".")) {
    Target t;
    const Token& name = expect(Tok::kName, "name");
    t.pos = name.pos;
    t.name = name.text;
    if (!name_only) {
      next();  // '.'
      t.kind = Target::Kind::kNsAttr;
      t.attr = expect(Tok::kName, "attribute name").text;
    }
    return t;
  }
  ExprPtr e = with_tuple ? parse_tuple(true, true, extra_end) : parse_primary();
  return to_target(*e);
}

// ---------------------------------------------------------------------------------------------
// Unknown filters and tests: jinja2's CodeGenerator fails on them unless the frame is "soft"
// (inside an if statement or a conditional expression, where a missing filter fails only when
// the expression runs). Loop bodies, macros, set blocks and call blocks start hard frames again.

namespace {

struct NameChecker {
  const std::string& name;

  [[noreturn]] void fail(const Expr& e, const char* what) const {
    HONE_THROW(InputError, "{}:{}:{}: No {} named '{}'.", name, e.pos.line, e.pos.col, what, e.name);
  }

  void expr(const Expr* e, bool soft) const {
    if (!e) return;
    if (e->kind == ExprKind::kCond) soft = true;
    if (!soft && e->kind == ExprKind::kFilter && !e->filter) fail(*e, "filter");
    if (!soft && e->kind == ExprKind::kTest && !e->test) fail(*e, "test");
    for (const auto& k : e->kids) expr(k.get(), soft);
    for (const auto& kw : e->kwargs) expr(kw.second.get(), soft);
  }

  void body(const Body& b, bool soft) const {
    for (const auto& s : b) stmt(*s, soft);
  }

  void stmt(const Stmt& s, bool soft) const {
    switch (s.kind) {
      case StmtKind::kIf:
        for (const auto& br : s.branches) {
          expr(br.first.get(), true);
          body(br.second, true);
        }
        body(s.else_body, true);
        break;
      case StmtKind::kFor:
        expr(s.expr.get(), soft);
        expr(s.cond.get(), false);
        body(s.body, false);
        body(s.else_body, false);
        break;
      case StmtKind::kMacro:
        for (const auto& d : s.defaults) expr(d.get(), false);
        body(s.body, false);
        break;
      case StmtKind::kScope:
        for (const auto& a : s.assigns) expr(a.second.get(), soft);
        body(s.body, false);
        break;
      case StmtKind::kSetBlock:
      case StmtKind::kFilterBlock:
        body(s.body, false);
        for (const auto& f : s.filters) expr(f.get(), false);
        break;
      default:
        expr(s.expr.get(), soft);
        break;
    }
  }
};

}  // namespace

void check_names(const Program& program) {
  NameChecker{program.name}.body(program.body, false);
}

std::shared_ptr<const Program> parse_program(const std::vector<Token>& tokens, const std::string& name,
                                             int max_nesting) {
  auto program = Parser(tokens, name, max_nesting).run();
  check_names(*program);
  return program;
}

}  // namespace hone::jinja
