// hone export on a tiny random model of each family, against the peers that load its outputs:
// HF PEFT loads the peft adapter, transformers the merged hf checkpoint, llama.cpp
// (llama-cpp-python) the f16 gguf model, and each gives hone's logits or greedy tokens.
//
// Per family, tests/python/family_export_peer.py `setup` builds the model with transformers' own
// classes (model_peer.py tiny, random weights, no downloads), gives it a byte-level tokenizer (the
// 256 bytes, no merges, no special tokens) and makes a PEFT adapter on all its linear modules;
// `hone export` writes the three formats; `check` runs the peers on them. The tests then compare
// the peers' logits and greedy tokens with hone's reference: the base with that adapter merged
// (load_decoder + merge_lora_adapter), float32.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "helpers.h"
#include "model/adapter.h"
#include "model/decoder.h"
#include "model/generate.h"
#include "text/tokenizer.h"

namespace hone {
namespace {

using nlohmann::json;
using test::TempDir;

// The families checked, by their `model_peer.py tiny` name: a new family is one more entry.
const std::vector<std::string> kFamilies = {"qwen2", "llama32", "mistral", "qwen3", "gemma3", "phi3"};

// The first prompt is longer than the 8-token window of mistral's and gemma3's sliding layers.
const std::vector<std::string> kPrompts = {"The capital of France is", "def fibonacci(n):", "Hi"};
constexpr int kSteps = 8;  // greedy tokens compared per prompt

// Float32 on both sides: the same model computed by two implementations (absolute, on logits of
// magnitude about 1).
constexpr double kFloat32Tolerance = 1e-4;
// Relative to the largest |logit|. llama.cpp multiplies f16 weights with activations it rounds to
// f16 (ggml's vec_dot_type) and takes GELU from an f16 table; hone computes the same file's
// weights with float32 activations.
constexpr double kLlamaCppTolerance = 2e-2;
// Relative: hone on the f16 GGUF against hone on its float32 source, the rounding of the weights.
constexpr double kF16WeightsTolerance = 2e-2;

// family_export_peer.py setup: one family's model, its adapters, its llama.cpp-expressible twin.
struct FamilySetup {
  fs::path dir;
  fs::path base;                // HF directory: config.json, model.safetensors, tokenizer files
  fs::path adapter;             // PEFT adapter on every linear module, target_modules by leaf name
  fs::path adapter_all_linear;  // the same factors made with target_modules="all-linear"
  fs::path gguf_base;           // base with config.json as llama.cpp's GGUF of its architecture holds it
  test::CommandResult result;
};

// What hone exported from a FamilySetup and what the peers made of it.
struct FamilyRun {
  std::vector<std::vector<std::int64_t>> ids;  // kPrompts through hone's tokenizer of the base
  // hone export of base + adapter: --format peft, hf (f32), and gguf (f16, from gguf_base).
  fs::path peft, hf, gguf;
  test::CommandResult peft_export, hf_export, gguf_export;
  // family_export_peer.py check: the peers' outputs on those exports.
  fs::path peft_out, hf_out, llama_out;
  test::CommandResult peers;
};

std::vector<std::vector<std::int64_t>> prompt_ids(const fs::path& model) {
  const auto tok = Tokenizer::load(model);
  std::vector<std::vector<std::int64_t>> out;
  for (const auto& p : kPrompts) {
    const auto ids = tok->encode(p, /*add_special=*/true, /*parse_special=*/false);
    out.emplace_back(ids.begin(), ids.end());
  }
  return out;
}

// Made once per family and process. Python's start-up (torch, transformers, peft) is most of
// this file's time, so each family starts it twice: setup, then every peer at once (check).
const FamilySetup& family_setup(const std::string& family) {
  static TempDir dir;
  static std::map<std::string, FamilySetup> made;
  auto it = made.find(family);
  if (it == made.end()) {
    const fs::path d = dir / family;
    FamilySetup s{d, d / "base", d / "adapter", d / "adapter-all-linear", d / "gguf-base", {}};
    s.result = test::run_python("family_export_peer.py", {"setup", family, d.string()});
    it = made.emplace(family, s).first;
  }
  return it->second;
}

FamilyRun make_family_run(const FamilySetup& s) {
  FamilyRun f;
  f.ids = prompt_ids(s.base);
  test::write_bytes(s.dir / "ids.json", json(f.ids).dump());
  f.peft = s.dir / "peft";
  f.hf = s.dir / "hf";
  f.gguf = s.dir / "tuned-f16.gguf";
  const std::string a = s.adapter.string();
  f.peft_export =
      test::run_hone({"export", "-m", s.base.string(), "--adapter", a, "--format", "peft", "-o", f.peft.string()});
  f.hf_export = test::run_hone(
      {"export", "-m", s.base.string(), "--adapter", a, "--format", "hf", "--dtype", "f32", "-o", f.hf.string()});
  f.gguf_export = test::run_hone({"export", "-m", s.gguf_base.string(), "--adapter", a, "--format", "gguf", "--dtype",
                                  "f16", "-o", f.gguf.string()});
  f.peft_out = s.dir / "peft.safetensors";
  f.hf_out = s.dir / "hf.safetensors";
  f.llama_out = s.dir / "llama.safetensors";
  f.peers = test::run_python("family_export_peer.py", {"check", s.dir.string(), std::to_string(kSteps)});
  return f;
}

const FamilyRun& family_run(const std::string& family) {
  static std::map<std::string, FamilyRun> made;
  auto it = made.find(family);
  if (it == made.end()) it = made.emplace(family, make_family_run(family_setup(family))).first;
  return it->second;
}

void expect_ok(const test::CommandResult& r, const std::string& what) {
  ASSERT_EQ(r.exit_code, 0) << what << "\nstdout: " << r.out << "\nstderr: " << r.err;
}

// Whether the peers wrote `file`; a failure with their stderr if not.
void expect_peer_output(const FamilyRun& f, const fs::path& file) {
  ASSERT_TRUE(fs::exists(file)) << "family_export_peer.py check wrote no " << file.filename().string() << " (exit "
                                << f.peers.exit_code << ")\nstderr: " << f.peers.err;
}

Decoder tuned_model(const FamilySetup& s, const fs::path& base) {
  Decoder m = load_decoder(base);
  merge_lora_adapter(m, s.adapter);
  return m;
}

// [T, vocab] logits of one prompt.
at::Tensor logits(const Decoder& model, const std::vector<std::int64_t>& ids) {
  c10::InferenceMode guard;
  ForwardInput in;
  in.input_ids = at::tensor(ids, at::kLong).unsqueeze(0);
  return model.forward(in)[0].to(at::kFloat);
}

at::Tensor peer_tensor(const SafetensorsFile& f, const std::string& name) {
  return to_tensor(f.get(name), f.mapping());
}

std::vector<std::int64_t> peer_tokens(const SafetensorsFile& f, const std::string& name) {
  const at::Tensor t = peer_tensor(f, name).to(at::kLong).contiguous();
  return {t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + t.numel()};
}

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// max |a - b| relative to max |b|.
double relative_diff(const at::Tensor& a, const at::Tensor& b) {
  return max_diff(a, b) / b.abs().max().item<double>();
}

// The smallest gap between the best and the second-best logit over the rows of [T, vocab] logits:
// how close greedy decoding came to choosing another token.
double min_top2_gap(const at::Tensor& rows) {
  const at::Tensor top = std::get<0>(rows.topk(2, -1));
  return (top.select(-1, 0) - top.select(-1, 1)).min().item<double>();
}

// 1. The peft export loads in HF PEFT, which gives hone's logits for base + adapter.
void expect_peft_matches(const std::string& family, const FamilySetup& s, const FamilyRun& f) {
  expect_ok(f.peft_export, "hone export --format peft");
  // The peer fails this step when PEFT leaves a LoRA key of the model missing or finds an unexpected one.
  expect_peer_output(f, f.peft_out);
  const SafetensorsFile ref = SafetensorsFile::open(f.peft_out);
  const Decoder tuned = tuned_model(s, s.base), base = load_decoder(s.base);
  double worst = 0, least_effect = 1e9;
  for (std::size_t i = 0; i < f.ids.size(); ++i) {
    const at::Tensor theirs = peer_tensor(ref, "logits." + std::to_string(i));
    const double diff = max_diff(logits(tuned, f.ids[i]), theirs);
    EXPECT_LT(diff, kFloat32Tolerance) << "prompt " << i;
    worst = std::max(worst, diff);
    least_effect = std::min(least_effect, max_diff(logits(base, f.ids[i]), theirs));
  }
  // The adapter took effect in PEFT: the base alone is far from it.
  EXPECT_GT(least_effect, 100 * kFloat32Tolerance);
  std::printf("%s peft: PeftModel vs hone (base + adapter) logits, worst |diff| %.3g (base alone: %.3g)\n",
              family.c_str(), worst, least_effect);
}

// 2. The merged hf export loads in transformers, which gives hone's logits and greedy tokens.
void expect_hf_matches(const std::string& family, const FamilySetup& s, const FamilyRun& f) {
  expect_ok(f.hf_export, "hone export --format hf");
  expect_peer_output(f, f.hf_out);
  const SafetensorsFile ref = SafetensorsFile::open(f.hf_out);
  const Decoder tuned = tuned_model(s, s.base);
  double worst = 0;
  for (std::size_t i = 0; i < f.ids.size(); ++i) {
    const double diff = max_diff(logits(tuned, f.ids[i]), peer_tensor(ref, "logits." + std::to_string(i)));
    EXPECT_LT(diff, kFloat32Tolerance) << "prompt " << i;
    worst = std::max(worst, diff);
    EXPECT_EQ(peer_tokens(ref, "greedy." + std::to_string(i)), generate_tokens(tuned, f.ids[i], kSteps, {}, {}).tokens)
        << "prompt " << i;
  }
  std::printf("%s hf: transformers vs hone logits, worst |diff| %.3g\n", family.c_str(), worst);
}

// 3. The f16 gguf export runs in llama.cpp with hone's logits and greedy tokens on that file, and
// holds the tuned model (hone on it against hone on its float32 source).
void expect_gguf_matches(const std::string& family, const FamilySetup& s, const FamilyRun& f) {
  expect_ok(f.gguf_export, "hone export --format gguf --dtype f16");
  EXPECT_EQ(prompt_ids(f.gguf), f.ids) << "the tokenizer as the GGUF holds it";
  expect_peer_output(f, f.llama_out);
  const SafetensorsFile ref = SafetensorsFile::open(f.llama_out);
  const Decoder mine = load_decoder(f.gguf), source = tuned_model(s, s.gguf_base);
  double worst_llama = 0, worst_f16 = 0;
  for (std::size_t i = 0; i < f.ids.size(); ++i) {
    const at::Tensor ours = logits(mine, f.ids[i]);
    const double llama = relative_diff(ours, peer_tensor(ref, "logits." + std::to_string(i)));
    const double f16 = relative_diff(ours, logits(source, f.ids[i]));
    EXPECT_LT(llama, kLlamaCppTolerance) << "prompt " << i << ": llama.cpp vs hone on the GGUF";
    EXPECT_LT(f16, kF16WeightsTolerance) << "prompt " << i << ": the GGUF vs its float32 source";
    worst_llama = std::max(worst_llama, llama);
    worst_f16 = std::max(worst_f16, f16);
    // Greedy tokens match while each step's best logit leads the next by more than the two
    // implementations differ; the smallest lead is printed with a mismatch.
    const auto greedy = generate_tokens(mine, f.ids[i], kSteps, {}, {}).tokens;
    std::vector<std::int64_t> seq = f.ids[i];
    seq.insert(seq.end(), greedy.begin(), greedy.end() - 1);
    const double gap = min_top2_gap(logits(mine, seq).slice(0, static_cast<std::int64_t>(f.ids[i].size()) - 1));
    EXPECT_EQ(peer_tokens(ref, "greedy." + std::to_string(i)), greedy)
        << "prompt " << i << ": hone's smallest top-2 logit gap along its greedy tokens " << gap;
  }
  std::printf(
      "%s gguf f16: llama.cpp vs hone logits, worst relative |diff| %.3g; the GGUF vs its float32 source %.3g\n",
      family.c_str(), worst_llama, worst_f16);
}

class TinyModels : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!test::have_python()) GTEST_SKIP() << "needs .venv";
    const test::CommandResult& r = setup().result;
    ASSERT_EQ(r.exit_code, 0) << "family_export_peer.py setup " << GetParam() << "\nstderr: " << r.err;
  }
  const FamilySetup& setup() const { return family_setup(GetParam()); }
};

// One test for the three formats: ctest runs each test in a process of its own, and the family's
// exports and peers are made once per process.
TEST_P(TinyModels, PeftHfAndGgufExportsLoadInPeers) {
  const FamilyRun& f = family_run(GetParam());
  {
    SCOPED_TRACE("peft");
    expect_peft_matches(GetParam(), setup(), f);
  }
  {
    SCOPED_TRACE("hf");
    expect_hf_matches(GetParam(), setup(), f);
  }
  {
    SCOPED_TRACE("gguf");
    expect_gguf_matches(GetParam(), setup(), f);
  }
}

// PEFT saves target_modules="all-linear" as the full paths of the modules it adapted
// ("model.layers.0.self_attn.q_proj"), and matches a module to an entry by equality or by a
// "." + entry suffix. The factors are those of the leaf-name adapter, so the merged models agree.
TEST_P(TinyModels, AllLinearAdapterMergesLikeItsLeafNameTwin) {
  const FamilySetup& s = setup();
  Decoder all_linear = load_decoder(s.base);
  merge_lora_adapter(all_linear, s.adapter_all_linear);
  const Decoder leaf = tuned_model(s, s.base);
  for (const auto& ids : prompt_ids(s.base)) EXPECT_LT(max_diff(logits(all_linear, ids), logits(leaf, ids)), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(ExportFamilies, TinyModels, ::testing::ValuesIn(kFamilies),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace hone
