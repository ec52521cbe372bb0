// hone export against the tools people serve with: HF PEFT loads the peft output, transformers
// the merged hf checkpoint (logits, greedy tokens, tokenizer ids), llama.cpp (llama-cpp-python)
// the gguf model and the gguf-lora adapter (greedy tokens), and q8_0 agrees with f32 on top-1.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "core/gguf.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "export/export.h"
#include "generate/text_generation.h"
#include "export/export_helpers.h"
#include "helpers.h"
#include "model/adapter.h"
#include "model/decoder.h"
#include "model/generate.h"
#include "text/tokenizer.h"

namespace hone {
namespace {

using nlohmann::json;
using test::TempDir;

#define REQUIRE_PEERS()                                                              \
  do {                                                                               \
    if (!test::have_python() || !test::have_model()) GTEST_SKIP() << "needs .venv and the model"; \
  } while (0)

const std::vector<std::string> kPrompts = {
    "The capital of France is", "I still have not received my new card, how long does delivery take?",
    "Write a haiku about the sea.", "def fibonacci(n):", "Translate to German: good morning"};

std::vector<std::vector<std::int64_t>> prompt_ids(const Tokenizer& tok) { return test::plain_prompt_ids(tok, kPrompts); }

fs::path write_ids(const fs::path& file, const std::vector<std::vector<std::int64_t>>& ids) {
  test::write_bytes(file, json(ids).dump());
  return file;
}


void expect_ok(const test::CommandResult& r, const std::string& what) {
  ASSERT_EQ(r.exit_code, 0) << what << "\nstdout: " << r.out << "\nstderr: " << r.err;
}

// One PEFT adapter made by HF PEFT for each base model, shared by the tests of this file. Gemma's
// B factors are scaled by 0.1, not 0.5: at 0.5 its continuations turn to noise whose two best
// logits differ by less than llama.cpp's float16 rounding of activations, and greedy decoding then
// compares rounding, not the files. At 0.1 the adapter still changes what the model writes.
const fs::path& peft_adapter(const std::string& model = test::model_path()) {
  static TempDir dir;
  static std::map<std::string, fs::path> made;
  auto it = made.find(model);
  if (it == made.end()) {
    const fs::path out = dir / ("adapter-" + fs::path(model).stem().string());
    const std::string b_scale = model == HONE_GEMMA_GGUF ? "0.1" : "0.5";
    auto r = test::run_python("export_peer.py", {"adapter", model, out.string(), b_scale});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    it = made.emplace(model, out).first;
  }
  return it->second;
}

Decoder tuned_model(const std::string& model = test::model_path()) {
  Decoder m = load_decoder(model);
  merge_lora_adapter(m, peft_adapter(model));
  return m;
}

// The parity tests below run on each base model: SmolLM2 (llama, byte-level BPE, ChatML) and
// Gemma 3 270M (gemma3, SentencePiece, no chat template; its norms shifted by 1 in GGUF).
class ExportPeers : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!test::have_python() || !fs::exists(GetParam())) GTEST_SKIP() << "needs .venv and " << GetParam();
  }
};

TEST_P(ExportPeers, PeftAdapterLoadsInPeftWithTheSameLogits) {
  const std::string m = GetParam();
  TempDir dir;
  expect_ok(test::run_hone({"export", "-m", m, "--adapter", peft_adapter(m).string(), "--format", "peft",
                            "-o", (dir / "peft").string()}),
            "export peft");
  for (const auto& e : dir.entries()) EXPECT_EQ(e.find(".tmp"), std::string::npos) << e;  // atomic: no leftovers
  const auto tok = Tokenizer::load(m);
  const auto ids = prompt_ids(*tok);
  // PEFT exits non-zero when a LoRA key is missing or unexpected.
  auto r = test::run_python("export_peer.py", {"peft-logits", m, (dir / "peft").string(),
                                               write_ids(dir / "ids.json", ids).string(), (dir / "peft.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Decoder model = load_decoder(m);
  merge_lora_adapter(model, dir / "peft");
  Decoder base = load_decoder(m);
  const SafetensorsFile ref = SafetensorsFile::open(dir / "peft.safetensors");
  c10::InferenceMode guard;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    ForwardInput in;
    in.input_ids = at::tensor(ids[i], at::kLong).unsqueeze(0);
    at::Tensor theirs = to_tensor(ref.get("logits." + std::to_string(i)), ref.mapping());
    const double diff = (model.forward(in)[0] - theirs).abs().max().item<double>();
    EXPECT_LT(diff, 1e-4) << "prompt " << i;
    // The adapter matters: without it the logits are far off.
    EXPECT_GT((base.forward(in)[0] - theirs).abs().max().item<double>(), 0.5) << "prompt " << i;
  }
}

TEST_P(ExportPeers, MergedHfCheckpointLoadsInTransformers) {
  const std::string m = GetParam();
  TempDir dir;
  const fs::path out = dir / "hf";
  expect_ok(test::run_hone({"export", "-m", m, "--adapter", peft_adapter(m).string(), "--format", "hf",
                            "--dtype", "f32", "-o", out.string()}),
            "export hf");
  for (const char* f : {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                        "tokenizer_config.json", "special_tokens_map.json"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const auto tok = Tokenizer::load(m);
  const auto ids = prompt_ids(*tok);
  // transformers recomputes the whole sequence per greedy step: with Gemma's 262,144-row head that
  // is most of this test's time, and DecoderPeer.Gemma3Gguf... already compares 32 steps.
  const int kSteps = m == HONE_GEMMA_GGUF ? 8 : 32;
  auto r = test::run_python("model_peer.py", {"logits", out.string(), write_ids(dir / "ids.json", ids).string(),
                                              (dir / "hf.safetensors").string(), std::to_string(kSteps)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Decoder model = tuned_model(m);
  const auto mine = test::greedy_tokens(model, ids, kSteps);
  const SafetensorsFile ref = SafetensorsFile::open(dir / "hf.safetensors");
  c10::InferenceMode guard;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    ForwardInput in;
    in.input_ids = at::tensor(ids[i], at::kLong).unsqueeze(0);
    at::Tensor theirs = to_tensor(ref.get("logits." + std::to_string(i)), ref.mapping());
    EXPECT_LT((model.forward(in)[0] - theirs).abs().max().item<double>(), 1e-4) << "prompt " << i;
    at::Tensor g = to_tensor(ref.get("greedy." + std::to_string(i)), ref.mapping());
    EXPECT_EQ(std::vector<std::int64_t>(g.data_ptr<std::int64_t>(), g.data_ptr<std::int64_t>() + g.numel()), mine[i])
        << "prompt " << i;
  }
  // Its tokenizer (tokenizer.json written from the GGUF vocabulary) gives hone's ids, chat template included.
  std::vector<std::string> texts = kPrompts;
  texts.push_back("  spaces\t\ttabs\n\nnewlines, digits 1234567 and ünïcödé 日本語 🙂 <|im_end|> it's");
  test::write_bytes(dir / "texts.json", json(texts).dump());
  r = test::run_python("export_peer.py", {"tokenize", out.string(), (dir / "texts.json").string(), (dir / "tok.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json got = json::parse(test::read_bytes(dir / "tok.json"));
  for (std::size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(got["text." + std::to_string(i)].get<std::vector<std::int32_t>>(), tok->encode(texts[i], true, true)) << texts[i];
    if (!tok->chat_template().empty()) {
      EXPECT_EQ(got["chat." + std::to_string(i)].get<std::vector<std::int32_t>>(), prompt_tokens(*tok, texts[i], true))
          << texts[i];
    }
  }
}

TEST_P(ExportPeers, GgufModelAndGgufLoraRunInLlamaCpp) {
  TempDir dir;
  const std::string m = GetParam(), a = peft_adapter(m).string();
  expect_ok(test::run_hone({"export", "-m", m, "--adapter", a, "--format", "gguf", "--dtype", "f16", "-o", (dir / "tuned-f16.gguf").string()}), "gguf");
  expect_ok(test::run_hone({"export", "-m", m, "--format", "gguf", "--dtype", "f16", "-o", (dir / "base-f16.gguf").string()}), "base");
  expect_ok(test::run_hone({"export", "-m", m, "--adapter", a, "--format", "gguf-lora", "-o", (dir / "lora.gguf").string()}), "lora");
  const auto tok = Tokenizer::load(m);
  const fs::path ids = write_ids(dir / "ids.json", prompt_ids(*tok));
  constexpr int kSteps = 24;
  auto r = test::run_python("export_peer.py", {"llama-greedy", (dir / "tuned-f16.gguf").string(), "-", ids.string(),
                                               std::to_string(kSteps), (dir / "merged.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_python("export_peer.py", {"llama-greedy", (dir / "base-f16.gguf").string(), (dir / "lora.gguf").string(),
                                          ids.string(), std::to_string(kSteps), (dir / "lora.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // hone on the same files: the f16 GGUF it wrote, and that base with the adapter merged.
  const auto prompts = prompt_ids(*tok);
  const auto merged = test::greedy_tokens(load_decoder(dir / "tuned-f16.gguf"), prompts, kSteps);
  Decoder base16 = load_decoder(dir / "base-f16.gguf");
  merge_lora_adapter(base16, peft_adapter(m));
  const auto with_lora = test::greedy_tokens(base16, prompts, kSteps);
  EXPECT_EQ(json::parse(test::read_bytes(dir / "merged.json")).get<std::vector<std::vector<std::int64_t>>>(), merged);
  EXPECT_EQ(json::parse(test::read_bytes(dir / "lora.json")).get<std::vector<std::vector<std::int64_t>>>(), with_lora);
  // The adapter changes what the model writes.
  EXPECT_NE(test::greedy_tokens(load_decoder(dir / "base-f16.gguf"), prompts, kSteps), with_lora);
}

INSTANTIATE_TEST_SUITE_P(Models, ExportPeers, ::testing::Values(HONE_MODEL_GGUF, HONE_GEMMA_GGUF),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           return p.param == HONE_MODEL_GGUF ? std::string("SmolLM2") : std::string("Gemma3");
                         });

// q8_0: hone's quantised tensors are byte for byte those of llama.cpp's own quantiser
// (llama_model_quantize on the f32 export), and the q8_0 model agrees with the f32 one on the
// top-1 token. Computed with f32 activations (hone dequantises), agreement is >= 98%; llama.cpp
// also quantises the activations to 8 bits in its q8_0 kernels, which costs a few more points on
// a 135M model (its own quantiser's file gives the identical figure), so its bound is looser.
// llama.cpp runs its plain CPU kernels ("plain" in export_peer.py): on a CPU with AMX, the AMX
// kernels of the llama-cpp-python build crash on quantised models.
TEST(ExportParity, Q8_0MatchesLlamaCppQuantiserAndAgreesWithF32) {
  REQUIRE_PEERS();
  TempDir dir;
  const std::string m = test::model_path(), a = peft_adapter().string();
  for (const char* t : {"f32", "q8_0"})
    expect_ok(test::run_hone({"export", "-m", m, "--adapter", a, "--format", "gguf", "--dtype", t, "-o",
                              (dir / (std::string(t) + ".gguf")).string()}), t);
  auto r = test::run_python("export_peer.py", {"llama-quantize", (dir / "f32.gguf").string(), (dir / "llama-q8_0.gguf").string(),
                                               (dir / "q8_0.gguf").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("identical tensors: 272/272"), std::string::npos) << r.out;
  EXPECT_LT(fs::file_size(dir / "q8_0.gguf") * 3, fs::file_size(dir / "f32.gguf"));

  const auto tok = Tokenizer::load(m);
  // The 184-token English story of data/texts/lighthouse.txt (also read by scripts/bench/q8_top1.py).
  std::string text = test::read_bytes(fs::path(HONE_DATA_DIR) / "texts" / "lighthouse.txt");
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const auto ids = tok->encode(text, true, false);
  test::write_bytes(dir / "ids.json", json(ids).dump());
  c10::InferenceMode guard;
  ForwardInput in;
  in.input_ids = at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0);
  const at::Tensor top32 = load_decoder(dir / "f32.gguf").forward(in)[0].argmax(-1);
  const at::Tensor top8 = load_decoder(dir / "q8_0.gguf").forward(in)[0].argmax(-1);
  const double hone_agree = top32.eq(top8).to(at::kDouble).mean().item<double>();
  r = test::run_python("export_peer.py", {"llama-top1", (dir / "f32.gguf").string(), (dir / "q8_0.gguf").string(),
                                          (dir / "ids.json").string(), (dir / "top1.json").string(), "plain"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const double llama_agree = json::parse(test::read_bytes(dir / "top1.json"))["agreement"].get<double>();
  std::printf("q8_0 vs f32 top-1 agreement over %zu positions: %.4f (f32 activations), %.4f (llama.cpp)\n", ids.size(),
              hone_agree, llama_agree);
  EXPECT_GE(hone_agree, 0.98);
  EXPECT_GE(llama_agree, 0.90);
}

TEST(ExportErrors, MismatchesAndUnsupportedAdaptersFailBeforeWriting) {
  if (!test::have_model()) GTEST_SKIP() << "needs the model";
  TempDir dir;
  const std::string m = test::model_path();
  auto fails = [&](std::vector<std::string> args, int code, const std::string& msg) {
    std::vector<std::string> full = {"export", "-m", m};
    full.insert(full.end(), args.begin(), args.end());
    auto r = test::run_hone(full);
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_NE(r.err.find(msg), std::string::npos) << "stderr: " << r.err << "\nexpected: " << msg;
    EXPECT_FALSE(fs::exists(dir / "out")) << "nothing may be written";
  };
  const std::string out = (dir / "out").string();
  // An adapter for another base: r=2 factors of a hidden-32 model.
  fs::create_directories(dir / "other");
  test::write_bytes(dir / "other" / "adapter_config.json", R"({"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["q_proj"]})");
  const std::vector<float> a(2 * 32, 0.1f), b(32 * 2, 0.1f);
  const std::string q = "base_model.model.model.layers.0.self_attn.q_proj";
  write_safetensors(dir / "other" / "adapter_model.safetensors",
                    {{q + ".lora_A.weight", DType::kF32, {2, 32}, a.data(), a.size() * 4},
                     {q + ".lora_B.weight", DType::kF32, {32, 2}, b.data(), b.size() * 4}});
  for (const char* f : {"peft", "hf", "gguf", "gguf-lora"})
    fails({"--adapter", (dir / "other").string(), "--format", f, "-o", out}, 3, "expected [2, 576] (r=2 and the base model's layer)");
  // Missing files.
  fails({"--adapter", (dir / "missing").string(), "--format", "peft", "-o", out}, 3, "no adapter_config.json");
  fs::create_directories(dir / "nofactors");
  test::write_bytes(dir / "nofactors" / "adapter_config.json", R"({"peft_type":"LORA","r":2,"lora_alpha":4})");
  fails({"--adapter", (dir / "nofactors").string(), "--format", "gguf-lora", "-o", out}, 3, "no adapter_model.safetensors");
  {
    auto r = test::run_hone({"export", "-m", (dir / "nomodel.gguf").string(), "--format", "gguf", "-o", out});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("nomodel.gguf: no such file"), std::string::npos) << r.err;
  }
  // Unknown format, q8_0 where the format cannot hold it, an adapter-only format without one.
  fails({"--format", "onnx", "-o", out}, 2, "onnx");
  fails({"--format", "hf", "--dtype", "q8_0", "-o", out}, 2, "holds f32, f16 or bf16 weights, not q8_0");
  fails({"--format", "gguf-lora", "-o", out}, 2, "--format gguf-lora needs --adapter");
  // What no format can hold: DoRA, modules_to_save.
  test::write_bytes(dir / "other" / "adapter_config.json", R"({"peft_type":"LORA","r":2,"lora_alpha":4,"use_dora":true})");
  for (const char* f : {"peft", "gguf-lora"})
    fails({"--adapter", (dir / "other").string(), "--format", f, "-o", out}, 3, "DoRA adapters (use_dora) are not supported");
  test::write_bytes(dir / "other" / "adapter_config.json",
                    R"({"peft_type":"LORA","r":2,"lora_alpha":4,"modules_to_save":["lm_head"]})");
  fails({"--adapter", (dir / "other").string(), "--format", "gguf-lora", "-o", out}, 3, "modules_to_save [\"lm_head\"]");
  // An adapter trained with another tokenizer (hone records the fingerprint in the safetensors metadata).
  fs::create_directories(dir / "tok");
  test::write_bytes(dir / "tok" / "adapter_config.json", R"({"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["q_proj"]})");
  const std::vector<float> a2(2 * 576, 0.1f), b2(576 * 2, 0.1f);
  write_safetensors(dir / "tok" / "adapter_model.safetensors",
                    {{q + ".lora_A.weight", DType::kF32, {2, 576}, a2.data(), a2.size() * 4},
                     {q + ".lora_B.weight", DType::kF32, {576, 2}, b2.data(), b2.size() * 4}},
                    {{"format", "pt"}, {kAdapterTokenizerKey, std::string(64, 'a')}});
  fails({"--adapter", (dir / "tok").string(), "--format", "gguf", "-o", out}, 3, "the adapter was trained with tokenizer aaaaaaaaaaaaaaaa");
  {  // hone generate checks it too
    const auto g = test::run_hone({"generate", "-m", m, "--adapter", (dir / "tok").string(), "-p", "hi", "-n", "1"});
    EXPECT_EQ(g.exit_code, 3) << g.err;
    EXPECT_NE(g.err.find("the adapter was trained with tokenizer aaaaaaaaaaaaaaaa"), std::string::npos) << g.err;
  }
  // A factor for a module that target_modules does not list.
  test::write_bytes(dir / "tok" / "adapter_config.json", R"({"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["v_proj"]})");
  write_safetensors(dir / "tok" / "adapter_model.safetensors",
                    {{q + ".lora_A.weight", DType::kF32, {2, 576}, a2.data(), a2.size() * 4},
                     {q + ".lora_B.weight", DType::kF32, {576, 2}, b2.data(), b2.size() * 4}});
  fails({"--adapter", (dir / "tok").string(), "--format", "peft", "-o", out}, 3, "which adapter_config.json's target_modules [v_proj] does not list");
  // An existing output is kept unless --overwrite.
  fs::create_directories(dir / "exists");
  auto r = test::run_hone({"export", "-m", m, "--adapter", (dir / "tok").string(), "--format", "gguf", "-o", (dir / "exists").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;
}

// The chat template training used travels into every output: --chat-template (here at export)
// is recorded in the PEFT adapter, a later export of that adapter writes it into the GGUF and the
// HF directory without being told, and transformers renders it there as hone does.
TEST(ExportChatTemplate, TheTrainingTemplateGoesIntoEveryOutput) {
  if (!test::have_python() || !test::have_model()) GTEST_SKIP() << "needs .venv and the model";
  TempDir dir;
  const std::string m = test::model_path();
  const std::string jinja =
      "{% for m in messages %}{{ '<|im_start|>' + ('bot' if m.role == 'assistant' else m.role) + '\n' + "
      "m.content | trim + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>bot\n' }}"
      "{% endif %}";
  test::write_bytes(dir / "t.jinja", jinja);
  expect_ok(test::run_hone({"export", "-m", m, "--adapter", peft_adapter(m).string(), "--format", "peft",
                            "--chat-template", (dir / "t.jinja").string(), "-o", (dir / "peft").string()}),
            "export peft");
  EXPECT_EQ(test::read_bytes(dir / "peft" / "chat_template.jinja"), jinja);
  EXPECT_EQ(read_lora_adapter(dir / "peft", load_decoder(m).config(), m).chat_template, jinja);
  const std::string a = (dir / "peft").string();
  expect_ok(test::run_hone({"export", "-m", m, "--adapter", a, "--format", "gguf", "-o", (dir / "t.gguf").string()}),
            "export gguf");
  EXPECT_EQ(GGUFFile::open(dir / "t.gguf").get_string("tokenizer.chat_template"), jinja);
  expect_ok(test::run_hone({"export", "-m", m, "--adapter", a, "--format", "hf", "--dtype", "f16", "-o",
                            (dir / "hf").string()}),
            "export hf");
  EXPECT_EQ(test::read_bytes(dir / "hf" / "chat_template.jinja"), jinja);
  EXPECT_EQ(json::parse(test::read_bytes(dir / "hf" / "tokenizer_config.json"))["chat_template"], jinja);
  const std::vector<std::string> texts = {"Where is my card?", "  two\nlines  "};
  test::write_bytes(dir / "texts.json", json(texts).dump());
  auto r = test::run_python("export_peer.py", {"tokenize", (dir / "hf").string(), (dir / "texts.json").string(),
                                               (dir / "tok.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json got = json::parse(test::read_bytes(dir / "tok.json"));
  const auto tok = Tokenizer::load(dir / "hf");
  EXPECT_EQ(tok->chat_template(), jinja);
  for (std::size_t i = 0; i < texts.size(); ++i)
    EXPECT_EQ(got["chat." + std::to_string(i)].get<std::vector<std::int32_t>>(), prompt_tokens(*tok, texts[i], true))
        << texts[i];
}

}  // namespace
}  // namespace hone
