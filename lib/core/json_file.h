// JSON documents that users hand to hone (config.json, adapter_config.json, tokenizer files,
// reports, run directories): parsed so that a malformed file is an InputError naming the file,
// where the parser stopped, or the key with the wrong type; never nlohmann's exception escaping
// as an internal error. Header-only: it is a template over the JSON type (reports keep key order).
#pragma once

#include <nlohmann/json.hpp>

#include <limits>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "core/fs.h"

namespace hone {

// nlohmann's message without its "[json.exception.parse_error.101] " prefix.
inline std::string json_error_text(const nlohmann::json::exception& e) {
  std::string m = e.what();
  const auto end = m.find("] ");
  return m.rfind("[json.exception", 0) == 0 && end != std::string::npos ? m.substr(end + 2) : m;
}

// The JSON object in `path`. InputError naming the file when it is missing, is not valid JSON
// (with the parser's line and column) or holds something other than an object.
template <class Json = nlohmann::json>
Json read_json_object(const fs::path& path) {
  HONE_CHECK(fs::exists(path), InputError, "{}: no such file", path.string());
  Json j;
  try {
    j = Json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    HONE_THROW(InputError, "{}: not valid JSON: {}", path.string(), json_error_text(e));
  }
  HONE_CHECK(j.is_object(), InputError, "{}: expected a JSON object, got {}", path.string(), j.type_name());
  return j;
}

// The value of `key` in the object `j`, or `dflt` when absent or null; InputError naming `src`
// and the key when it has the wrong type. An integer key must hold an integer that fits (a float
// such as 1e90 converted to an integer is undefined behaviour, not a value).
template <class T, class Json>
T json_value(const Json& j, const char* key, T dflt, const std::string& src) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    bool fits = it->is_number_integer();
    if (fits && it->is_number_unsigned())
      fits = it->template get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
    else if (fits)
      fits = it->template get<std::int64_t>() >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
             (std::is_unsigned_v<T> || it->template get<std::int64_t>() <= static_cast<std::int64_t>(std::numeric_limits<T>::max()));
    HONE_CHECK(fits, InputError, "{}: '{}' has the wrong type: {} (an integer that fits {} bytes{})", src, key,
               it->dump(), sizeof(T), std::is_unsigned_v<T> ? ", not negative" : "");
  }
  try {
    return it->template get<T>();
  } catch (const nlohmann::json::exception&) {
    HONE_THROW(InputError, "{}: '{}' has the wrong type: {}", src, key, it->dump());
  }
}

}  // namespace hone
