// The jinja lexer (lexer.h), following jinja2.lexer.Lexer.tokeniter rule by rule.
#include "text/jinja/lexer.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>

#include "core/error.h"
#include "text/jinja/unicode.h"

namespace hone::jinja {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

// The byte length of the whitespace code point (Python's \s) at s[i], or 0.
std::size_t space_at(const std::string& s, std::size_t i) {
  if (i >= s.size()) return 0;
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return py_isspace(b) ? 1 : 0;
  const std::size_t n = (b & 0xE0) == 0xC0 ? 2 : ((b & 0xF0) == 0xE0 ? 3 : 4);
  if (i + n > s.size()) return 0;
  const std::u32string u = decode_utf8(std::string_view(s).substr(i, n));
  return u.size() == 1 && py_isspace(u[0]) ? n : 0;
}

std::size_t skip_spaces(const std::string& s, std::size_t i) {
  while (std::size_t n = space_at(s, i)) i += n;
  return i;
}

// Python's str.rstrip(): the length of `text` without its trailing whitespace.
std::size_t rstrip_length(const std::string& text) {
  const std::u32string u = decode_utf8(text);
  std::size_t e = u.size();
  while (e > 0 && py_isspace(u[e - 1])) --e;
  return byte_offset(text, e);
}

// Whether text[from:] is one or more whitespace code points.
bool all_spaces(const std::string& text, std::size_t from) {
  return from < text.size() && skip_spaces(text, from) == text.size();
}

// (\d+_)*\d+ at s[i]: the end of the match, or npos.
std::size_t match_digits(const std::string& s, std::size_t i) {
  if (i >= s.size() || !is_digit(s[i])) return std::string::npos;
  while (i < s.size()) {
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i + 1 < s.size() && s[i] == '_' && is_digit(s[i + 1]))
      ++i;
    else
      break;
  }
  return i;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  Lexer(const std::string& source, const std::string& name) : name_(name) {
    s_.reserve(source.size());
    for (std::size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        s_.push_back('\n');
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        s_.push_back(source[i]);
      }
    }
    if (!s_.empty() && s_.back() == '\n') s_.pop_back();  // keep_trailing_newline=False
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < s_.size(); ++i)
      if (s_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    while (pos_ < s_.size()) root_step();
    emit(Tok::kEof, s_.size());
    return std::move(out_);
  }

 private:
  // Line and column of byte `off`. Tokens come in order, so the column is counted on from the
  // previous position when it is on the same line (long one-line templates stay linear).
  Pos pos_at(std::size_t off) const {
    std::size_t lo = 0, hi = line_starts_.size();
    while (hi - lo > 1) {
      const std::size_t mid = (lo + hi) / 2;
      (line_starts_[mid] <= off ? lo : hi) = mid;
    }
    const std::size_t start = line_starts_[lo];
    std::size_t from = start, col = 1;
    if (cursor_line_ == lo && cursor_off_ <= off && cursor_off_ >= start) {
      from = cursor_off_;
      col = cursor_col_;
    }
    col += count_code_points(std::string_view(s_).substr(from, off - from));
    cursor_line_ = lo;
    cursor_off_ = off;
    cursor_col_ = col;
    return {static_cast<int>(lo + 1), static_cast<int>(col)};
  }

  [[noreturn]] void fail(std::size_t off, const std::string& what) const {
    const Pos p = pos_at(off);
    HONE_THROW(InputError, "{}:{}:{}: {}", name_, p.line, p.col, what);
  }

  Token& emit(Tok type, std::size_t off, std::string text = {}) {
    Token t;
    t.type = type;
    t.text = std::move(text);
    t.pos = pos_at(off);
    out_.push_back(std::move(t));
    return out_.back();
  }

  // The end of `{%[-+]?\s*raw\s*(-%}\s*|%})` at q, or npos.
  std::size_t raw_begin_end(std::size_t q, char sign) const {
    std::size_t i = skip_spaces(s_, q + 2 + (sign ? 1 : 0));
    if (s_.compare(i, 3, "raw") != 0) return std::string::npos;
    i = skip_spaces(s_, i + 3);
    if (s_.compare(i, 3, "-%}") == 0) return skip_spaces(s_, i + 3);
    if (s_.compare(i, 2, "%}") == 0) return i + 2;
    return std::string::npos;
  }

  // Text before a tag, with the tag's whitespace control (`sign`) and lstrip_blocks applied.
  void emit_text(std::size_t from, std::size_t to, char sign, bool lstrip_applies) {
    std::string text = s_.substr(from, to - from);
    if (sign == '-') {
      text.resize(rstrip_length(text));
    } else if (sign != '+' && lstrip_applies) {
      const std::size_t nl = text.rfind('\n');
      const std::size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && all_spaces(text, l_pos)) text.resize(l_pos);
    }
    if (!text.empty()) emit(Tok::kText, from, std::move(text));
  }

  void root_step() {
    std::size_t q = pos_;
    while (true) {
      q = s_.find('{', q);
      if (q == std::string::npos || q + 1 >= s_.size()) {
        emit(Tok::kText, pos_, s_.substr(pos_));
        pos_ = s_.size();
        return;
      }
      const char k = s_[q + 1];
      if (k == '{' || k == '%' || k == '#') break;
      ++q;
    }
    const char kind = s_[q + 1];
    const char sign = q + 2 < s_.size() && (s_[q + 2] == '-' || s_[q + 2] == '+') ? s_[q + 2] : 0;
    const std::size_t raw_end = kind == '%' ? raw_begin_end(q, sign) : std::string::npos;
    emit_text(pos_, q, sign, kind != '{');
    if (raw_end != std::string::npos) {
      line_starting_ = s_[raw_end - 1] == '\n';
      pos_ = raw_end;
      lex_raw(q);
      return;
    }
    line_starting_ = false;
    pos_ = q + 2 + (sign ? 1 : 0);
    if (kind == '#')
      lex_comment(q);
    else
      lex_tag(q, kind == '%');
  }

  void lex_comment(std::size_t start) {
    if (pos_ >= s_.size()) return;  // jinja2 ends quietly when nothing follows the opening tag
    const std::size_t q = s_.find("#}", pos_);
    if (q == std::string::npos) fail(start, "Missing end of comment tag");
    std::size_t end = q + 2;
    if (q > pos_ && s_[q - 1] == '-') {
      end = skip_spaces(s_, end);
    } else if (!(q > pos_ && s_[q - 1] == '+')) {
      if (end < s_.size() && s_[end] == '\n') ++end;  // trim_blocks
    }
    line_starting_ = s_[end - 1] == '\n';
    pos_ = end;
  }

  // The text up to {% endraw %} (with its own whitespace control), as one text token.
  void lex_raw(std::size_t start) {
    if (pos_ >= s_.size()) return;  // as for comments: nothing after {% raw %} ends the template
    for (std::size_t q = s_.find("{%", pos_); q != std::string::npos; q = s_.find("{%", q + 1)) {
      const char sign = q + 2 < s_.size() && (s_[q + 2] == '-' || s_[q + 2] == '+') ? s_[q + 2] : 0;
      std::size_t i = skip_spaces(s_, q + 2 + (sign ? 1 : 0));
      if (s_.compare(i, 6, "endraw") != 0) continue;
      i = skip_spaces(s_, i + 6);
      std::size_t end;
      if (s_.compare(i, 3, "+%}") == 0) {
        end = i + 3;
      } else if (s_.compare(i, 3, "-%}") == 0) {
        end = skip_spaces(s_, i + 3);
      } else if (s_.compare(i, 2, "%}") == 0) {
        end = i + 2;
        if (end < s_.size() && s_[end] == '\n') ++end;
      } else {
        continue;
      }
      emit_text(pos_, q, sign, true);
      line_starting_ = s_[end - 1] == '\n';
      pos_ = end;
      return;
    }
    fail(start, "Missing end of raw directive");
  }

  // The end of the tag's closing delimiter at pos_, or npos.
  std::size_t tag_end(bool block) const {
    if (block) {
      if (s_.compare(pos_, 3, "+%}") == 0) return pos_ + 3;
      if (s_.compare(pos_, 3, "-%}") == 0) return skip_spaces(s_, pos_ + 3);
      if (s_.compare(pos_, 2, "%}") == 0) return pos_ + 2 + (pos_ + 2 < s_.size() && s_[pos_ + 2] == '\n' ? 1 : 0);
    } else {
      if (s_.compare(pos_, 3, "-}}") == 0) return skip_spaces(s_, pos_ + 3);
      if (s_.compare(pos_, 2, "}}") == 0) return pos_ + 2;
    }
    return std::string::npos;
  }

  void lex_tag(std::size_t start, bool block) {
    emit(block ? Tok::kBlockBegin : Tok::kVarBegin, start);
    std::string balance;  // closing brackets expected, innermost last
    while (true) {
      if (pos_ >= s_.size()) return;  // the parser reports the unexpected end
      if (balance.empty()) {
        const std::size_t end = tag_end(block);
        if (end != std::string::npos) {
          emit(block ? Tok::kBlockEnd : Tok::kVarEnd, pos_);
          line_starting_ = s_[end - 1] == '\n';
          pos_ = end;
          return;
        }
      }
      if (const std::size_t n = space_at(s_, pos_)) {
        pos_ = skip_spaces(s_, pos_ + n);
        continue;
      }
      if (lex_number() || lex_name() || lex_string()) continue;
      lex_operator(balance);
    }
  }

  bool lex_number() {
    const std::size_t a = match_digits(s_, pos_);
    if (a == std::string::npos) return false;
    std::size_t end = std::string::npos;
    if (pos_ == 0 || s_[pos_ - 1] != '.') {  // float_re: (?<!\.)
      const std::size_t frac = s_[a] == '.' ? match_digits(s_, a + 1) : std::string::npos;
      const std::size_t mant = frac != std::string::npos ? frac : a;
      if (mant < s_.size() && (s_[mant] == 'e' || s_[mant] == 'E')) {
        std::size_t k = mant + 1;
        if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
        end = match_digits(s_, k);
      }
      if (end == std::string::npos) end = frac;
    }
    if (end != std::string::npos) {
      std::string text;
      for (std::size_t i = pos_; i < end; ++i)
        if (s_[i] != '_') text.push_back(s_[i]);
      emit(Tok::kFloat, pos_).f = std::strtod(text.c_str(), nullptr);
      pos_ = end;
      return true;
    }
    lex_integer();
    return true;
  }

  // integer_re: 0b.., 0o.., 0x.. (with single underscores), [1-9](_?\d)*, 0(_?0)*.
  void lex_integer() {
    int base = 10;
    std::size_t i = pos_;
    auto digit_ok = [&](char c) {
      const int v = hex_value(c);
      return v >= 0 && v < base;
    };
    std::string digits;
    if (s_[i] == '0' && i + 1 < s_.size() && std::string("bBoOxX").find(s_[i + 1]) != std::string::npos) {
      const int b = (s_[i + 1] | 0x20) == 'b' ? 2 : ((s_[i + 1] | 0x20) == 'o' ? 8 : 16);
      std::size_t k = i + 2;
      base = b;
      while (k < s_.size()) {
        const std::size_t d = s_[k] == '_' ? k + 1 : k;
        if (d < s_.size() && digit_ok(s_[d])) {
          digits.push_back(s_[d]);
          k = d + 1;
        } else {
          break;
        }
      }
      if (!digits.empty()) i = k;
    }
    if (digits.empty()) {
      base = 10;
      const char first = s_[i];
      digits.push_back(first);
      ++i;
      while (i < s_.size()) {
        const std::size_t d = s_[i] == '_' ? i + 1 : i;
        if (d < s_.size() && is_digit(s_[d]) && (first != '0' || s_[d] == '0')) {
          digits.push_back(s_[d]);
          i = d + 1;
        } else {
          break;
        }
      }
    }
    errno = 0;
    const long long v = std::strtoll(digits.c_str(), nullptr, base);
    if (errno == ERANGE) fail(pos_, "integer literal does not fit in 64 bits");
    emit(Tok::kInt, pos_).i = v;
    pos_ = i;
  }

  // The byte length of a non-ASCII letter or digit at s[i] (Python identifiers may use them), or 0.
  std::size_t unicode_name_char(std::size_t i) const {
    if (static_cast<unsigned char>(s_[i]) < 0x80) return 0;
    const std::size_t n = std::max<std::size_t>(1, byte_offset(std::string_view(s_).substr(i), 1));
    const std::u32string u = decode_utf8(std::string_view(s_).substr(i, n));
    if (u.size() != 1 || !py_isalnum(u[0])) return 0;
    return n;
  }

  bool lex_name() {
    std::size_t e = pos_;
    if (is_name_start(s_[e]))
      ++e;
    else if (const std::size_t n = unicode_name_char(e))
      e += n;
    else
      return false;
    while (e < s_.size()) {
      if (is_name_char(s_[e]))
        ++e;
      else if (const std::size_t n = unicode_name_char(e))
        e += n;
      else
        break;
    }
    emit(Tok::kName, pos_, s_.substr(pos_, e - pos_));
    pos_ = e;
    return true;
  }

  bool lex_string() {
    const char quote = s_[pos_];
    if (quote != '\'' && quote != '"') return false;
    std::size_t i = pos_ + 1;
    while (i < s_.size() && s_[i] != quote) i += s_[i] == '\\' ? 2 : 1;
    if (i >= s_.size()) fail(pos_, fmt::format("unexpected char '{}' (a string that does not end)", quote));
    emit(Tok::kString, pos_, unescape(pos_ + 1, i));
    pos_ = i + 1;
    return true;
  }

  // Python's "unicode-escape" decoding of a string literal's body, as jinja2 applies it.
  std::string unescape(std::size_t from, std::size_t to) const {
    std::string out;
    for (std::size_t i = from; i < to; ++i) {
      if (s_[i] != '\\') {
        out.push_back(s_[i]);
        continue;
      }
      const std::size_t at = i;
      const char c = s_[++i];
      switch (c) {
        case '\n':
          break;  // line continuation
        case '\\':
          out.push_back('\\');
          break;
        case '\'':
          out.push_back('\'');
          break;
        case '"':
          out.push_back('"');
          break;
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'x':
        case 'u':
        case 'U': {
          const std::size_t n = c == 'x' ? 2 : (c == 'u' ? 4 : 8);
          char32_t v = 0;
          for (std::size_t k = 1; k <= n; ++k) {
            const int h = i + k < to ? hex_value(s_[i + k]) : -1;
            if (h < 0) fail(at, fmt::format("truncated \\{}{} escape", c, std::string(n, 'X')));
            v = v * 16 + static_cast<char32_t>(h);
          }
          if (v > 0x10FFFF) fail(at, "illegal Unicode character");
          append_utf8(out, v);
          i += n;
          break;
        }
        default:
          if (c >= '0' && c <= '7') {
            char32_t v = 0;
            std::size_t k = 0;
            while (k < 3 && i + k < to && s_[i + k] >= '0' && s_[i + k] <= '7') v = v * 8 + (s_[i + k++] - '0');
            append_utf8(out, v);
            i += k - 1;
          } else if (static_cast<unsigned char>(c) >= 0x80) {
            // backslashreplace turned the character into \xhh / \uhhhh first, and the backslash
            // before it escapes that one's backslash: the text is "\xhh" literally.
            std::size_t n = 1;
            while (i + n < to && (static_cast<unsigned char>(s_[i + n]) & 0xC0) == 0x80) ++n;
            const std::u32string u = decode_utf8(std::string_view(s_).substr(i, n));
            const auto cp = static_cast<unsigned>(u.empty() ? 0 : u[0]);
            out += cp <= 0xFF ? fmt::format("\\x{:02x}", cp)
                              : (cp <= 0xFFFF ? fmt::format("\\u{:04x}", cp) : fmt::format("\\U{:08x}", cp));
            i += n - 1;
          } else if (c == 'N') {
            fail(at, "\\N{...} escapes are not supported");
          } else {
            out.push_back('\\');
            out.push_back(c);
          }
      }
    }
    return out;
  }

  void lex_operator(std::string& balance) {
    static const char* const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwo) {
      if (s_.compare(pos_, 2, op) == 0) {
        emit(Tok::kOp, pos_, op);
        pos_ += 2;
        return;
      }
    }
    const char c = s_[pos_];
    if (std::string("+-/*%~[](){}><=.:|,;").find(c) == std::string::npos) {
      const std::size_t n = std::max<std::size_t>(1, byte_offset(std::string_view(s_).substr(pos_), 1));
      fail(pos_, fmt::format("unexpected char '{}'", s_.substr(pos_, n)));
    }
    if (c == '(' || c == '[' || c == '{') {
      balance.push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) fail(pos_, fmt::format("unexpected '{}'", c));
      if (balance.back() != c) fail(pos_, fmt::format("unexpected '{}', expected '{}'", c, balance.back()));
      balance.pop_back();
    }
    emit(Tok::kOp, pos_, std::string(1, c));
    ++pos_;
  }

  const std::string& name_;
  std::string s_;
  std::vector<std::size_t> line_starts_;
  std::size_t pos_ = 0;
  bool line_starting_ = true;  // the previous match ended with a newline (lstrip_blocks)
  mutable std::size_t cursor_line_ = static_cast<std::size_t>(-1), cursor_off_ = 0, cursor_col_ = 1;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source, const std::string& name) {
  return Lexer(source, name).run();
}

std::string describe(const Token& t) {
  switch (t.type) {
    case Tok::kText:
      return "template data";
    case Tok::kVarBegin:
      return "'{{'";
    case Tok::kVarEnd:
      return "end of print statement";
    case Tok::kBlockBegin:
      return "'{%'";
    case Tok::kBlockEnd:
      return "end of statement block";
    case Tok::kName:
      return fmt::format("name '{}'", t.text);
    case Tok::kString:
      return "string";
    case Tok::kInt:
      return "integer";
    case Tok::kFloat:
      return "float";
    case Tok::kOp:
      return fmt::format("'{}'", t.text);
    case Tok::kEof:
      return "end of template";
  }
  return "token";
}

}  // namespace hone::jinja
