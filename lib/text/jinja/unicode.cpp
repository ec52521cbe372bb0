// UTF-8 coding and Python's str case mappings and character classes (unicode.h).
#include "text/jinja/unicode.h"

#include <algorithm>

namespace hone::jinja {

namespace ut = unicode_tables;

namespace {

// The length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  std::size_t n;
  char32_t c;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2;
    c = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3;
    c = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4;
    c = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    c = (c << 6) | (b & 0x3F);
  }
  static const char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < kMin[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  *cp = c;
  return n;
}

bool in_ranges(const ut::Range* r, std::size_t n, char32_t c) {
  const auto* end = r + n;
  const auto* it = std::upper_bound(r, end, c, [](char32_t v, const ut::Range& x) { return v < x.first; });
  return it != r && c <= (it - 1)->last;
}

char32_t simple_map(const ut::CaseRun* runs, std::size_t n, char32_t c) {
  const auto* end = runs + n;
  const auto* it = std::upper_bound(runs, end, c, [](char32_t v, const ut::CaseRun& x) { return v < x.first; });
  if (it == runs) return c;
  --it;
  if (c > it->last || (c - it->first) % it->stride != 0) return c;
  return static_cast<char32_t>(static_cast<std::int64_t>(c) + it->delta);
}

const ut::Special* find_special(const ut::Special* sp, std::size_t n, char32_t c) {
  const auto* end = sp + n;
  const auto* it = std::lower_bound(sp, end, c, [](const ut::Special& x, char32_t v) { return x.cp < v; });
  return it != end && it->cp == c ? it : nullptr;
}

void append_special(std::u32string& out, const ut::Special& s) {
  for (char32_t m : s.map)
    if (m != 0) out.push_back(m);
}

void upper_full(std::u32string& out, char32_t c) {
  if (const auto* s = find_special(ut::kUpperSpecial, ut::kUpperSpecialSize, c)) return append_special(out, *s);
  out.push_back(simple_map(ut::kUpperRuns, ut::kUpperRunsSize, c));
}

void title_full(std::u32string& out, char32_t c) {
  if (const auto* s = find_special(ut::kTitleSpecial, ut::kTitleSpecialSize, c)) return append_special(out, *s);
  upper_full(out, c);
}

// Characters that Python skips when it decides whether a capital sigma ends a word (an
// approximation of Unicode's Case_Ignorable: apostrophes, periods, combining marks).
bool case_ignorable(char32_t c) {
  return c == '\'' || c == '.' || c == ':' || c == '^' || c == '`' || c == 0xB7 || c == 0x2019 ||
         (c >= 0x300 && c <= 0x36F);
}

// lower() of s[i], with Python's final-sigma rule for U+03A3.
void lower_full(std::u32string& out, const std::u32string& s, std::size_t i) {
  const char32_t c = s[i];
  if (c == 0x3A3) {
    std::size_t j = i;
    bool before = false, after = false;
    while (j > 0 && case_ignorable(s[j - 1])) --j;
    before = j > 0 && py_iscased(s[j - 1]);
    j = i + 1;
    while (j < s.size() && case_ignorable(s[j])) ++j;
    after = j < s.size() && py_iscased(s[j]);
    out.push_back(before && !after ? 0x3C2 : 0x3C3);
    return;
  }
  if (const auto* sp = find_special(ut::kLowerSpecial, ut::kLowerSpecialSize, c)) return append_special(out, *sp);
  out.push_back(simple_map(ut::kLowerRuns, ut::kLowerRunsSize, c));
}

bool ascii_only(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x80; });
}

}  // namespace

std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    char32_t c;
    const std::size_t n = utf8_sequence(s, i, &c);
    if (n == 0) {
      out.push_back(0xDC00 + static_cast<unsigned char>(s[i]));
      ++i;
    } else {
      out.push_back(c);
      i += n;
    }
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c >= 0xDC80 && c <= 0xDCFF) {
    out.push_back(static_cast<char>(c - 0xDC00));  // an undecodable byte, restored
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

std::size_t count_code_points(std::string_view s) {
  if (ascii_only(s)) return s.size();
  return decode_utf8(s).size();
}

std::size_t byte_offset(std::string_view s, std::size_t index) {
  std::size_t i = 0;
  for (std::size_t k = 0; k < index && i < s.size(); ++k) {
    char32_t c;
    const std::size_t n = utf8_sequence(s, i, &c);
    i += n == 0 ? 1 : n;
  }
  return i;
}

bool py_isspace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool py_isalnum(char32_t c) {
  return in_ranges(ut::kAlnum, ut::kAlnumSize, c);
}
bool py_iscased(char32_t c) {
  return in_ranges(ut::kCased, ut::kCasedSize, c);
}
bool py_isprintable(char32_t c) {
  return !in_ranges(ut::kNotPrintable, ut::kNotPrintableSize, c);
}

bool py_isupper_cp(char32_t c) {
  return py_iscased(c) && simple_map(ut::kLowerRuns, ut::kLowerRunsSize, c) != c &&
         !find_special(ut::kTitleSpecial, ut::kTitleSpecialSize, c);
}

bool py_islower_cp(char32_t c) {
  return py_iscased(c) && !py_isupper_cp(c) && simple_map(ut::kLowerRuns, ut::kLowerRunsSize, c) == c;
}

std::string py_upper(std::string_view s) {
  if (ascii_only(s)) {
    std::string out(s);
    for (char& ch : out)
      if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 32);
    return out;
  }
  std::u32string out;
  for (char32_t c : decode_utf8(s)) upper_full(out, c);
  return encode_utf8(out);
}

std::string py_lower(std::string_view s) {
  if (ascii_only(s)) {
    std::string out(s);
    for (char& ch : out)
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + 32);
    return out;
  }
  const std::u32string u = decode_utf8(s);
  std::u32string out;
  for (std::size_t i = 0; i < u.size(); ++i) lower_full(out, u, i);
  return encode_utf8(out);
}

std::string py_title(std::string_view s) {
  const std::u32string u = decode_utf8(s);
  std::u32string out;
  bool previous_cased = false;
  for (std::size_t i = 0; i < u.size(); ++i) {
    if (previous_cased)
      lower_full(out, u, i);
    else
      title_full(out, u[i]);
    previous_cased = py_iscased(u[i]);
  }
  return encode_utf8(out);
}

std::string py_capitalize(std::string_view s) {
  const std::u32string u = decode_utf8(s);
  std::u32string out;
  for (std::size_t i = 0; i < u.size(); ++i) {
    if (i == 0)
      title_full(out, u[0]);
    else
      lower_full(out, u, i);
  }
  return encode_utf8(out);
}

std::string py_swapcase(std::string_view s) {
  const std::u32string u = decode_utf8(s);
  std::u32string out;
  for (std::size_t i = 0; i < u.size(); ++i) {
    if (py_isupper_cp(u[i]))
      lower_full(out, u, i);
    else if (py_islower_cp(u[i]))
      upper_full(out, u[i]);
    else
      out.push_back(u[i]);
  }
  return encode_utf8(out);
}

std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right) {
  const std::u32string u = decode_utf8(s);
  const std::u32string set = chars ? decode_utf8(*chars) : std::u32string();
  auto strip_it = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : py_isspace(c); };
  std::size_t b = 0, e = u.size();
  if (left)
    while (b < e && strip_it(u[b])) ++b;
  if (right)
    while (e > b && strip_it(u[e - 1])) --e;
  return encode_utf8(std::u32string_view(u).substr(b, e - b));
}

std::vector<std::string> py_splitlines(std::string_view s, bool keepends) {
  const std::u32string u = decode_utf8(s);
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < u.size(); ++i) {
    const char32_t c = u[i];
    const bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
                     c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    std::size_t end = i + 1;
    if (c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') end = i + 2;
    out.push_back(encode_utf8(std::u32string_view(u).substr(start, (keepends ? end : i) - start)));
    start = end;
    i = end - 1;
  }
  if (start < u.size()) out.push_back(encode_utf8(std::u32string_view(u).substr(start)));
  return out;
}

std::vector<std::string> py_split_whitespace(std::string_view s, std::int64_t maxsplit) {
  const std::u32string u = decode_utf8(s);
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < u.size()) {
    while (i < u.size() && py_isspace(u[i])) ++i;
    if (i == u.size()) break;
    if (maxsplit >= 0 && static_cast<std::int64_t>(out.size()) == maxsplit) {
      out.push_back(encode_utf8(std::u32string_view(u).substr(i)));  // the rest, trailing spaces included
      break;
    }
    std::size_t j = i;
    while (j < u.size() && !py_isspace(u[j])) ++j;
    out.push_back(encode_utf8(std::u32string_view(u).substr(i, j - i)));
    i = j;
  }
  return out;
}

std::vector<std::string> py_rsplit_whitespace(std::string_view s, std::int64_t maxsplit) {
  const std::u32string u = decode_utf8(s);
  std::vector<std::string> out;
  std::size_t i = u.size();
  while (i > 0) {
    while (i > 0 && py_isspace(u[i - 1])) --i;
    if (i == 0) break;
    if (maxsplit >= 0 && static_cast<std::int64_t>(out.size()) == maxsplit) {
      out.push_back(encode_utf8(std::u32string_view(u).substr(0, i)));  // the rest, leading spaces included
      break;
    }
    std::size_t j = i;
    while (j > 0 && !py_isspace(u[j - 1])) --j;
    out.push_back(encode_utf8(std::u32string_view(u).substr(j, i - j)));
    i = j;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace hone::jinja
