// libFuzzer target for hone's Jinja interpreter (lib/text/jinja/): the input is a template, parsed
// and rendered with a chat context and small limits. Anything but a rendering or an InputError is a
// finding; AddressSanitizer and UndefinedBehaviorSanitizer (and LeakSanitizer at exit) watch the
// rest. Built and run by scripts/fuzz/jinja.sh.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "text/jinja/jinja.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nlohmann::ordered_json context = {
      {"messages",
       {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi ☃"}},
        {{"role", "assistant"}, {"content", " Hello\n"}}}},
      {"add_generation_prompt", true},
      {"bos_token", "<s>"},
      {"eos_token", "</s>"},
      {"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {{"x", 1.5}}}}}}}}};
  hone::jinja::Limits limits;
  limits.max_output_bytes = 1 << 16;
  limits.max_loop_iterations = 100000;
  limits.max_range = 10000;
  try {
    const auto t = hone::jinja::Template::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz.jinja");
    t.render(context, limits);
  } catch (const hone::InputError&) {
  }
  return 0;
}
