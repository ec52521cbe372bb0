// Texts for the tokenizer tests and the batch interface to tests/python/tokenizer_peer.py.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace hone::test {

// Every `text` of Banking77's train.csv and test.csv (RFC 4180), or empty if the data set is absent.
std::vector<std::string> banking77_texts();

// Hand-written stress texts, all valid UTF-8: whitespace runs, contractions, digits, emoji with
// ZWJ and skin tones, CJK, Arabic, Devanagari, combining marks, code, URLs, the special-token
// strings, control characters, Unicode 15 letters, long runs.
std::vector<std::string> stress_texts();

// Byte strings that are not UTF-8 (stray continuation bytes, overlong forms, surrogates,
// truncated sequences). Code points above U+10FFFF are left out: llama.cpp aborts on them.
std::vector<std::string> invalid_utf8_texts();

// `n` random texts (fixed seed) mixing ASCII, whitespace, digits, punctuation, non-ASCII letters,
// marks, emoji and special-token strings.
std::vector<std::string> fuzz_texts(std::size_t n, unsigned seed);

struct PeerCase {
  std::string text;
  bool parse_special = false;
};

// Runs `tokenizer_peer.py MODE MODEL in out` on the cases and returns one id list per case.
// Fails the test (ADD_FAILURE) and returns {} if the peer fails.
std::vector<std::vector<std::int32_t>> peer_ids(const std::string& mode, const std::string& model,
                                                const std::vector<PeerCase>& cases);

// Runs `jinja_peer.py expect` on cases ([{"template", "context"}]) and returns jinja2's outcome of
// each ({"text"} or {"error"}). Fails the test (ADD_FAILURE) and returns an empty array if the peer
// fails or answers a different number of cases.
nlohmann::ordered_json jinja2_outcomes(const nlohmann::ordered_json& cases);

// `s` with control characters and non-UTF-8 bytes escaped, for failure messages.
std::string printable(std::string_view s);

}  // namespace hone::test
