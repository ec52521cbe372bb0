// Fuzz target: chat templates (text/chat_template.h and the Jinja interpreter, text/jinja/), a
// template being untrusted text inside a downloaded model. The input is the template, then
// optionally, after a 0x1e byte, an options part and the messages, each after another 0x1e:
//   options: byte 0 bit 0 add_generation_prompt, bit 1 the special-token texts in the context,
//            bit 2 the interpreter's default limits (every command's) instead of the small ones;
//   message: "role" 0x1f "content" (no 0x1f: a user message of that text).
// Without the options part, a four-turn conversation is rendered with the small limits. Every
// render must finish under libFuzzer's -timeout (10 s in scripts/fuzz.sh), the default limits too.
#include "fuzz_inputs.h"
#include "fuzz_target.h"
#include "text/chat_template.h"
#include "text/jinja/jinja.h"

namespace {

constexpr char kSeparator[] = "\x1e";

std::vector<hone::ChatMessage> default_messages() {
  return {{"system", "Be brief."}, {"user", "Hi \xE2\x98\x83"}, {"assistant", " Hello\n"}, {"user", "Bye"}};
}

// The bounds of tests/text/test_chat_template_fuzz.cpp: enough for every published template.
hone::jinja::Limits small_limits() {
  hone::jinja::Limits limits;
  limits.max_output_bytes = 1 << 16;
  limits.max_loop_iterations = 100000;
  limits.max_range = 10000;
  return limits;
}

}  // namespace

HONE_FUZZ_TARGET(chat_template) {
  const auto parts = hone::fuzz::split_parts({reinterpret_cast<const char*>(data), size}, kSeparator);
  const std::uint8_t flags = parts.size() > 1 ? (parts[1].empty() ? 0 : static_cast<std::uint8_t>(parts[1][0])) : 3;
  std::vector<hone::ChatMessage> messages;
  if (parts.size() < 2) messages = default_messages();
  for (std::size_t i = 2; i < parts.size(); ++i) {
    const std::size_t unit = parts[i].find('\x1f');
    if (unit == std::string_view::npos) {
      messages.push_back({"user", std::string(parts[i])});
    } else {
      messages.push_back({std::string(parts[i].substr(0, unit)), std::string(parts[i].substr(unit + 1))});
    }
  }
  const bool tokens = flags & 2;
  const hone::ChatTemplate t(std::string(parts[0]), "fuzz.jinja", tokens ? "<s>" : "", tokens ? "</s>" : "",
                             tokens ? "<unk>" : "", tokens ? "<pad>" : "");
  const bool generation_prompt = flags & 1;
  if (flags & 4) {
    t.render(messages, generation_prompt);
  } else {
    t.render(messages, generation_prompt, small_limits());
  }
  return 0;
}

// The published templates hone's tests render (tests/data/chat_templates/), alone and with
// options and messages.
HONE_FUZZ_SEEDS(chat_template) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(HONE_DATA_DIR) / "../tests/data/chat_templates";
  if (!fs::is_directory(dir)) return;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".jinja") continue;
    const std::string t = hone::read_file(e.path());
    seeds.add(e.path().stem().string() + ".jinja", t);
    seeds.add(e.path().stem().string() + "-messages.bin",
              hone::fuzz::join_parts({t, "\x03", "system\x1fYou are terse.", "user\x1fWhat is 2 + 2?",
                                      "assistant\x1f" "4", "Thanks"},
                                     kSeparator));
  }
}
