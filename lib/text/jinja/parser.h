// The jinja parser: tokens -> Program, a recursive descent that follows jinja2.parser.Parser
// function by function, so that precedence and the odd corners (tests taking one argument without
// parentheses, `-x|f` filtering the negation, left-associative `**`) come out the same.
// Statements are in parser.cpp, expressions in parser_expr.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "text/jinja/ast.h"

namespace hone::jinja {

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const std::string& name, int max_nesting);
  std::shared_ptr<Program> run();

  // Expressions (parser_expr.cpp).
  ExprPtr parse_expression(bool with_condexpr = true);
  // Comma-separated expressions: one expression, or a tuple when there is a comma.
  // `simplified` parses primaries only (assignment targets); `extra_end` names end a tuple too.
  ExprPtr parse_tuple(bool simplified = false, bool with_condexpr = true,
                      const std::vector<std::string>& extra_end = {}, bool explicit_parentheses = false);
  ExprPtr parse_primary();
  // The filters of `| f(args) | g` applied to `node` (null for {% set x | f %} and {% filter f %}).
  ExprPtr parse_filter(ExprPtr node, bool start_inline = false);

 private:
  friend struct DepthGuard;
  // Statements (parser.cpp).
  Body subparse(const std::vector<std::string>& end_tokens);
  Body parse_statements(const std::vector<std::string>& end_tokens, bool drop_needle);
  void parse_statement(Body& body);
  std::unique_ptr<Stmt> parse_for();
  std::unique_ptr<Stmt> parse_if();
  std::unique_ptr<Stmt> parse_set();
  std::unique_ptr<Stmt> parse_macro();
  std::unique_ptr<Stmt> parse_with();
  std::unique_ptr<Stmt> parse_scope_block(const char* end_tag);
  std::unique_ptr<Stmt> parse_filter_block();
  Target parse_assign_target(bool with_tuple, bool name_only, const std::vector<std::string>& extra_end,
                             bool with_namespace);
  Target to_target(const Expr& e);
  [[noreturn]] void fail_eof(const std::vector<std::string>& end_tokens);

  // Expressions (parser_expr.cpp).
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter = true);
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  ExprPtr parse_call(ExprPtr node);
  void parse_call_args(Expr& call);
  ExprPtr parse_test(ExprPtr node);
  bool is_tuple_end(const std::vector<std::string>& extra_end) const;
  // Sets e's height from its children; throws InputError past max_nesting. Operator chains
  // (a + b + ...), attribute chains and filter chains grow trees without recursing here.
  ExprPtr sealed(ExprPtr e);

  // The token stream.
  const Token& cur() const { return tokens_[i_]; }
  const Token& look() const { return tokens_[i_ + 1 < tokens_.size() ? i_ + 1 : i_]; }
  const Token& next();  // returns the current token and advances
  bool is_name(const char* n) const { return cur().type == Tok::kName && cur().text == n; }
  bool is_op(const char* op) const { return cur().type == Tok::kOp && cur().text == op; }
  bool is_any_name(const std::vector<std::string>& names) const;
  bool skip_name(const char* n);
  bool skip_op(const char* op);
  const Token& expect(Tok type, const char* what);
  const Token& expect_op(const char* op);
  const Token& expect_name(const char* n);
  [[noreturn]] void fail(const Pos& pos, const std::string& what) const;
  [[noreturn]] void fail_here(const std::string& what) const { fail(cur().pos, what); }

  const std::vector<Token>& tokens_;
  std::string name_;
  std::size_t i_ = 0;
  int max_nesting_;
  int depth_ = 0;
  int max_depth_ = 0;
  int loop_depth_ = 0;               // enclosing for loops in this function body (break/continue)
  std::vector<Stmt*> macros_;        // enclosing macros, innermost last (varargs / kwargs use)
  std::vector<std::string> blocks_;  // open block tags, innermost last, for end-of-template errors
};

// One level of parser nesting; throws InputError past the limit.
struct DepthGuard {
  DepthGuard(Parser& p, const Pos& pos);
  ~DepthGuard() { --p_.depth_; }
  Parser& p_;
};

// Fails (InputError) on the first unknown filter or test outside an `if` or conditional
// expression: jinja2 rejects those when it compiles the template.
void check_names(const Program& program);

}  // namespace hone::jinja
