// Log lines stay well-formed whatever the input holds: the escaping of core/log.h on its own, in
// the logger's formatters, and through the hone binary with --log-format json on bad inputs
// whose text reaches the error message (every stderr line must parse as a JSON log line).
#include "core/log.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <random>

#include "helpers.h"

namespace hone {
namespace {

using nlohmann::json;
using test::run_hone;
using test::TempDir;
using test::write_bytes;

// A quoted input with a non-UTF-8 byte, a terminal escape (clear screen) and a newline that would
// forge a second log line; as text and as the `msg` of a JSON line once escaped.
const std::string kOdd = "llama\xff" "\x1b[2J\nfake";
const std::string kOddText = "llama\\xff\\x1b[2J\\nfake";
const std::string kOddJsonMsg = "llama\\xff\x1b[2J\nfake";  // the byte as text; ESC and newline as they were

std::string json_string(std::string_view s) {
  std::string out;
  append_log_json_string(out, s);
  return out;
}

// Whether `s` is valid UTF-8 (nlohmann's dump refuses anything else).
bool valid_utf8(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

// Every line of `err` parsed as a JSON log line {"time","level","msg"}; a failure for each that
// is not one.
std::vector<json> json_log_lines(const std::string& err) {
  std::vector<json> lines;
  EXPECT_TRUE(err.empty() || err.back() == '\n') << "a partial last line:\n" << err;
  for (std::size_t start = 0; start < err.size();) {
    std::size_t end = err.find('\n', start);
    if (end == std::string::npos) end = err.size();
    const std::string line = err.substr(start, end - start);
    start = end + 1;
    try {
      json j = json::parse(line);
      EXPECT_TRUE(j.is_object() && j.size() == 3 && j["time"].is_string() && j["level"].is_string() &&
                  j["msg"].is_string())
          << line;
      lines.push_back(std::move(j));
    } catch (const json::exception& e) {
      ADD_FAILURE() << "not a JSON log line (" << e.what() << "):\n" << line;
    }
  }
  return lines;
}

// Whether a JSON log line's msg contains `text`.
bool any_msg_has(const std::vector<json>& lines, const std::string& text) {
  for (const json& j : lines)
    if (j.value("msg", "").find(text) != std::string::npos) return true;
  return false;
}

// ---------------------------------------------------------------------------- the escaping

TEST(LogEscape, ValidUtf8PassesThrough) {
  for (const std::string s : {"plain ascii, 'quoted' \\ back", "h\xc3\xa9llo", "\xe6\x97\xa5\xe6\x9c\xac",
                              "\xf0\x9f\x98\x80", "\xc2\xa0 no-break space", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_EQ(log_text(s), s);
    EXPECT_EQ(json::parse(json_string(s)).get<std::string>(), s);
    if (s.find('\\') == std::string::npos) {
      EXPECT_EQ(json_string(s), "\"" + s + "\"") << "not \\u-escaped";
    }
  }
}

TEST(LogEscape, InvalidBytesBecomeHexText) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\x80", "\\x80"},                                         // lone continuation byte
      {"a\xbf" "b", "a\\xbfb"},                                   // continuation between ASCII
      {"\xc3", "\\xc3"},                                          // 2-byte sequence cut at the end
      {"\xe2\x82" "A", "\\xe2\\x82A"},                            // 3-byte sequence cut by ASCII
      {"\xf0\x9f\x98", "\\xf0\\x9f\\x98"},                        // 4-byte sequence cut at the end
      {"\xc0\xaf", "\\xc0\\xaf"},                                 // overlong '/'
      {"\xc1\xbf", "\\xc1\\xbf"},                                 // overlong U+007F
      {"\xe0\x80\xaf", "\\xe0\\x80\\xaf"},                        // overlong, 3 bytes
      {"\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf"},               // overlong, 4 bytes
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},                        // surrogate U+D800 encoded
      {"\xed\xbf\xbf", "\\xed\\xbf\\xbf"},                        // surrogate U+DFFF encoded
      {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},               // above U+10FFFF
      {"\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80"},
      {"\xff", "\\xff"},
      {"\xfe\xfe", "\\xfe\\xfe"},
      {"\xc3\xa9\xff\xc3\xa9", "\xc3\xa9\\xff\xc3\xa9"},          // valid text around a bad byte kept
  };
  for (const auto& [in, text] : cases) {
    EXPECT_EQ(log_text(in), text);
    const std::string js = json_string(in);
    EXPECT_TRUE(valid_utf8(js)) << js;
    EXPECT_EQ(json::parse(js).get<std::string>(), text) << "the byte shown as the text \\xNN";
  }
}

TEST(LogEscape, ControlCharactersAreEscaped) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      // input, text, JSON literal
      {"a\nb", "a\\nb", R"("a\nb")"},
      {"a\r\tb", "a\\r\\tb", R"("a\r\tb")"},
      {"\x1b[31mred", "\\x1b[31mred", R"("\u001b[31mred")"},
      {std::string("a\0b", 3), "a\\x00b", R"("a\u0000b")"},
      {"\x7f", "\\x7f", R"("\u007f")"},
      {"\xc2\x9b" "2J", "\\u009b2J", R"("\u009b2J")"},  // C1 CSI: a terminal escape on some terminals
      {"\xc2\x85", "\\u0085", R"("\u0085")"},
      {"\"q\" \\", "\"q\" \\", R"("\"q\" \\")"},       // quotes and backslashes: JSON only
  };
  for (const auto& [in, text, literal] : cases) {
    EXPECT_EQ(log_text(in), text);
    EXPECT_EQ(json_string(in), literal);
    EXPECT_EQ(json::parse(literal).get<std::string>(), in) << "controls decode to themselves";
  }
}

TEST(LogEscape, AnyBytesGiveOneValidLine) {
  std::mt19937 rng(7);
  for (int n = 0; n < 3000; ++n) {
    std::string s(rng() % 24, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? 0x80 + rng() % 0x80 : rng() % 256);
    const std::string text = log_text(s);
    EXPECT_TRUE(valid_utf8(text)) << text;
    for (const char c : text) ASSERT_TRUE(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) << text;
    const std::string js = json_string(s);
    ASSERT_TRUE(json::accept(js)) << js;
  }
}

// The formatters escape, so no call site can forget: one line per message in either format.
TEST(LogLine, FormattersEscapeTheMessage) {
  for (const LogFormat format : {LogFormat::kText, LogFormat::kJson}) {
    testing::internal::CaptureStderr();
    init_logging({0, format});
    spdlog::error("unsupported general.architecture '{}'", kOdd);
    spdlog::info("plain {}", "h\xc3\xa9llo");
    const std::string err = testing::internal::GetCapturedStderr();
    init_logging({-1, LogFormat::kText});  // as test_main sets it
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << err;
    if (format == LogFormat::kText) {
      EXPECT_NE(err.find("error] unsupported general.architecture '" + kOddText + "'\n"), std::string::npos) << err;
      EXPECT_NE(err.find("info] plain h\xc3\xa9llo\n"), std::string::npos) << err;
    } else {
      const auto lines = json_log_lines(err);
      ASSERT_EQ(lines.size(), 2u);
      EXPECT_EQ(lines[0]["msg"], "unsupported general.architecture '" + kOddJsonMsg + "'");
      EXPECT_EQ(lines[1]["msg"], "plain h\xc3\xa9llo");
    }
  }
}

// ---------------------------------------------------------------------------- through the CLI

// Little-endian GGUF v3 bytes, metadata only.
struct GgufBytes {
  std::string s = std::string("GGUF\x03\0\0\0", 8);
  template <class T>
  GgufBytes& put(T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  GgufBytes& str(const std::string& x) {
    put<std::uint64_t>(x.size());
    s += x;
    return *this;
  }
  GgufBytes& kv(const std::string& key, const std::string& value) { return str(key).put<std::uint32_t>(8).str(value); }
  GgufBytes& kv(const std::string& key, const std::vector<std::string>& values) {
    str(key).put<std::uint32_t>(9).put<std::uint32_t>(8).put<std::uint64_t>(values.size());
    for (const std::string& v : values) str(v);
    return *this;
  }
};

// No tensors; general.architecture `arch` and a 4-token byte-level BPE tokenizer, so that
// generate and tokenize get as far as the architecture or the chat template.
std::string gguf_with_arch(const std::string& arch) {
  GgufBytes b;
  b.put<std::uint64_t>(0).put<std::uint64_t>(4);
  b.kv("general.architecture", arch).kv("tokenizer.ggml.model", std::string("gpt2"));
  b.kv("tokenizer.ggml.tokens", std::vector<std::string>{"a", "b", "h", "i"}).kv("tokenizer.ggml.merges", std::vector<std::string>{});
  return b.s;
}

// One tensor named `name` with 0 dimensions, which the reader refuses naming it.
std::string gguf_with_tensor(const std::string& name) {
  GgufBytes b;
  b.put<std::uint64_t>(1).put<std::uint64_t>(0).str(name).put<std::uint32_t>(0);
  return b.s + std::string(64, '\0');  // room for the tensor count to be plausible
}

TEST(LogJsonCli, GgufArchitectureWithOddBytes) {
  TempDir dir;
  const std::string model = (dir / "odd.gguf").string();
  write_bytes(model, gguf_with_arch(kOdd));
  auto r = run_hone({"--log-format", "json", "generate", "-m", model, "-p", "hi"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  auto lines = json_log_lines(r.err);
  EXPECT_TRUE(any_msg_has(lines, "unsupported general.architecture '" + kOddJsonMsg + "'")) << r.err;
  EXPECT_EQ(r.err.find(kOdd), std::string::npos) << "raw bytes in the log";

  r = run_hone({"generate", "-m", model, "-p", "hi"});  // text: one line each, the bytes shown as escapes
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("unsupported general.architecture '" + kOddText + "'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 2) << "the error and its hint:\n" << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;

  r = run_hone({"--log-format", "json", "info", model});  // describes it; stdout is the result
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json_log_lines(r.err);
  // stdout quotes the file too, escaped the same way: no raw byte, no terminal escape.
  EXPECT_NE(r.out.find("architecture:   " + kOddText + "\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(kOdd), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  write_bytes(dir / "tensor.gguf", gguf_with_tensor("w\xfe" "\x1b[31m\nx"));
  r = run_hone({"info", (dir / "tensor.gguf").string(), "--log-format", "json"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(any_msg_has(json_log_lines(r.err), "tensor 'w\\xfe\x1b[31m\nx' has 0 dimensions")) << r.err;
}

TEST(LogJsonCli, DataAndConfigTextWithOddBytes) {
  TempDir dir;
  write_bytes(dir / "a.jsonl", "{\"text\":\"ok\"}\n");
  auto r = run_hone({"--log-format", "json", "ingest", (dir / "a.jsonl").string(), "--format", "text",
                     "--text-field", kOdd, "-o", (dir / "o1").string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(any_msg_has(json_log_lines(r.err), "field '" + kOddJsonMsg + "' is missing")) << r.err;

  // A role read from the file, with an ESC and a newline (JSON escapes in the record).
  write_bytes(dir / "c.jsonl", R"({"messages":[{"role":"us\u001b[2Jer\nfake","content":"a"}]})" "\n");
  r = run_hone({"--log-format", "json", "ingest", (dir / "c.jsonl").string(), "--format", "chat", "-o",
                (dir / "o2").string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(any_msg_has(json_log_lines(r.err), "role 'us\x1b[2Jer\nfake' is not system")) << r.err;

  // A CSV with a non-UTF-8 byte and an ESC in the header.
  write_bytes(dir / "b.csv", "te\xff" "\x1b" "xt,label\nhi,1\n");
  r = run_hone({"--log-format", "json", "ingest", (dir / "b.csv").string(), "--format", "text", "-o",
                (dir / "o3").string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  json_log_lines(r.err);

  // A config file whose name and key hold odd bytes (usage errors, found while parsing).
  const std::string config = (dir / ("c\xff" "\x1b.toml")).string();
  write_bytes(config, "mo\xff" "\x1b" "del = 1\n");
  r = run_hone({"info", "--config", config, "x", "--log-format=json"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(any_msg_has(json_log_lines(r.err), "c\\xff\x1b.toml: key 'mo\\xff\x1b")) << r.err;
  r = run_hone({"info", "--config", config, "x"});  // text
  EXPECT_NE(r.err.find("hone: usage error: " + (dir / "c\\xff\\x1b.toml").string() + ": key 'mo\\xff\\x1bdel'"),
            std::string::npos)
      << r.err;
  r = run_hone({"--log-format", "json", "info", "--config", (dir / "none\xff.toml").string(), "x"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(any_msg_has(json_log_lines(r.err), "none\\xff.toml")) << r.err;
}

// The bad inputs of the error suites (test_cli, test_gguf, test_safetensors, test_ingest_errors,
// test_report, test_tokenize) once more, through the binary with --log-format json: every stderr
// line is a JSON log line and the exit code is the documented one (2 usage, 3 bad input).
TEST(LogJsonCli, BadInputSweepLogsOnlyJsonLines) {
  TempDir d;
  const auto p = [&](const std::string& name) { return (d / name).string(); };
  const auto safetensors = [](const std::string& header) {
    std::string s(8, '\0');
    const std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
    return s + header;
  };
  write_bytes(d / "truncated.gguf", std::string("GGUF\x03\0\0\0", 8));
  write_bytes(d / "arch.gguf", gguf_with_arch(kOdd));
  write_bytes(d / "tensor.gguf", gguf_with_tensor("w\xfe" "\x1b[31m\nx"));
  write_bytes(d / "past.safetensors", safetensors("{\"a\xff\x1b\":[1,2").substr(0, 20));
  write_bytes(d / "offsets.safetensors", safetensors(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,99]}})"));
  std::filesystem::create_directories(d / "hf");
  write_bytes(d / "hf/config.json", "{\"model_type\":\"qw\xff" "\x1b");
  std::filesystem::create_directories(d / "adapter");
  write_bytes(d / "adapter/adapter_config.json", "[2, 4]");
  write_bytes(d / "adapter/adapter_model.safetensors", "x");
  write_bytes(d / "store.h5", std::string("\x89HDF\r\n\x1a\n", 8) + "garbage\xff");
  write_bytes(d / "not.json", "[1, 2]");
  write_bytes(d / "bad.jinja", "{% for m in messages %}{{ m.content \x1b\xff }");
  write_bytes(d / "syntax.toml", "[section\nx = \x1b\n");
  write_bytes(d / "key.toml", "mo\xff" "del = 1\n");
  write_bytes(d / "notes.txt", "hello");
  write_bytes(d / "pc.jsonl", "{\"prompt\":\"p\",\"completion\":\"c\"}\n");
  write_bytes(d / "json.jsonl", "{\"text\":\"a\"}\n{\"text\": \n");
  write_bytes(d / "quote.csv", "text,label\n\"hi,1\n");
  write_bytes(d / "roles.jsonl", R"({"conversations":[{"from":"b\u001bot","value":"a"}]})" "\n");

  struct Case {
    std::vector<std::string> args;
    int exit_code;
  };
  const std::vector<Case> cases = {
      {{"ingest", p("pc.jsonl"), "--format", "prompt-completion", "--split-ratios", "1,0,0", "-o", p("data")}, 0},
      {{"frobnicate\x1b"}, 2},                                          // unknown command
      {{"info", "--bogus\xff", "x"}, 2},                                // unknown option
      {{"lora-train", "--data", "x.h5", "-o", "out"}, 2},               // missing required option
      {{"info", "x", "--tensors", "a\xff"}, 2},                         // option value of the wrong type
      {{"ingest", p("pc.jsonl"), "--format", "te\xffxt", "-o", p("o")}, 2},  // not one of the choices
      {{"info", "--config", p("syntax.toml"), "x"}, 2},                 // bad TOML config
      {{"info", "--config", p("key.toml"), "x"}, 2},                    // unknown config key
      {{"info", p("truncated.gguf")}, 3},
      {{"info", p("tensor.gguf")}, 3},
      {{"generate", "-m", p("arch.gguf"), "-p", "hi"}, 3},
      {{"info", p("past.safetensors")}, 3},
      {{"info", p("offsets.safetensors")}, 3},
      {{"info", p("hf")}, 3},                                           // bad config.json
      {{"info", p("adapter")}, 3},                                      // bad adapter_config.json
      {{"lora-train", "-m", p("arch.gguf"), "--data", p("store.h5"), "-o", p("run")}, 3},  // bad token store
      {{"tokenize", "-m", p("arch.gguf"), p("data"), "--chat-template", p("bad.jinja"), "-o", p("t.h5")}, 3},
      {{"report", "--eval", p("not.json"), "-o", p("report")}, 3},
      {{"info", p("notes.txt")}, 3},                                    // unrecognised file type
      {{"ingest", p("json.jsonl"), "--format", "text", "-o", p("o1")}, 3},
      {{"ingest", p("quote.csv"), "--format", "text", "-o", p("o3")}, 3},
      {{"ingest", p("roles.jsonl"), "--format", "chat", "-o", p("o5")}, 3},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"--log-format", "json"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = run_hone(args);
    SCOPED_TRACE(json(c.args).dump(-1, ' ', false, json::error_handler_t::replace));
    EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
    const auto lines = json_log_lines(r.err);
    if (c.exit_code != 0) {
      ASSERT_FALSE(lines.empty());
      EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const json& j) { return j["level"] == "error"; }))
          << r.err;
    }
  }
}

}  // namespace
}  // namespace hone
