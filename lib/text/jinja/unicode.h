// UTF-8 and the Unicode behaviour of Python's str methods, for hone's jinja interpreter.
//
// Python strings are sequences of code points: len(), indexing, slicing, find() and the case
// mappings count and map code points, and "whitespace" is str.isspace(). Template strings are
// UTF-8 here; these helpers decode them where Python's answer depends on code points. Bytes that
// are not UTF-8 decode to U+DC80..U+DCFF (Python's surrogateescape) and encode back unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hone::jinja {

namespace unicode_tables {
struct CaseRun {  // first..last (every `stride`-th code point) map to cp + delta
  char32_t first, last;
  std::int32_t delta;
  std::uint8_t stride;
};
struct Range {
  char32_t first, last;
};
struct Special {  // a mapping to up to three code points (0 = unused)
  char32_t cp;
  char32_t map[3];
};
extern const CaseRun kUpperRuns[];
extern const CaseRun kLowerRuns[];
extern const Special kUpperSpecial[];
extern const Special kLowerSpecial[];
extern const Special kTitleSpecial[];
extern const Range kCased[];
extern const Range kAlnum[];
extern const Range kNotPrintable[];
extern const std::size_t kUpperRunsSize, kLowerRunsSize, kUpperSpecialSize, kLowerSpecialSize, kTitleSpecialSize,
    kCasedSize, kAlnumSize, kNotPrintableSize;
}  // namespace unicode_tables

std::u32string decode_utf8(std::string_view s);
std::string encode_utf8(std::u32string_view s);
void append_utf8(std::string& out, char32_t c);
// Python's len() of the string.
std::size_t count_code_points(std::string_view s);
// The byte offset of code point `index` (index <= count_code_points(s)).
std::size_t byte_offset(std::string_view s, std::size_t index);

bool py_isspace(char32_t c);      // str.isspace(), also what split(), strip() and re's \s use
bool py_isalnum(char32_t c);      // str.isalnum()
bool py_iscased(char32_t c);      // Unicode Cased: what str.title() and isupper()/islower() look at
bool py_isprintable(char32_t c);  // str.isprintable(): repr() escapes the others
bool py_isupper_cp(char32_t c);   // a cased code point that maps to itself in upper()
bool py_islower_cp(char32_t c);

std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_title(std::string_view s);       // str.title()
std::string py_capitalize(std::string_view s);  // str.capitalize(): title-case the first, lower the rest
std::string py_swapcase(std::string_view s);

// str.strip/lstrip/rstrip: `chars` null strips whitespace, else the code points it holds.
std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right);
// str.splitlines(keepends): splits at \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029.
std::vector<std::string> py_splitlines(std::string_view s, bool keepends);
// str.split() without a separator: runs of whitespace, at most `maxsplit` splits (-1: no limit).
std::vector<std::string> py_split_whitespace(std::string_view s, std::int64_t maxsplit);
// str.rsplit() without a separator.
std::vector<std::string> py_rsplit_whitespace(std::string_view s, std::int64_t maxsplit);

}  // namespace hone::jinja
