#include "model/decoder.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <c10/core/InferenceMode.h>

#include <nlohmann/json.hpp>
#include <numeric>

#include "core/gguf.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "helpers.h"
#include "model/adapter.h"
#include "model/generate.h"
#include "text/tokenizer.h"
#include "model_fixtures.h"

namespace hone {
namespace {

using test::TempDir;

at::Tensor ids_tensor(const std::vector<std::int64_t>& ids) { return at::tensor(ids, at::kLong).unsqueeze(0); }

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// |a - b| relative to the size of the reference values (random tiny models have logits of ~10).
double rel_diff(const at::Tensor& a, const at::Tensor& ref) {
  return max_abs_diff(a, ref) / (1.0 + ref.abs().max().item<double>());
}

std::vector<std::int64_t> some_ids(std::int64_t n, std::int64_t vocab, std::int64_t salt) {
  std::vector<std::int64_t> ids;
  for (std::int64_t i = 0; i < n; ++i) ids.push_back((i * 31 + salt * 17 + 5) % vocab);
  return ids;
}

// ---------------------------------------------------------------------------- fast path vs reference

class DecoderFamilies : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderFamilies, SdpaEqualsReferenceAttention) {
  c10::InferenceMode guard;
  Decoder fast(test::random_weights(test::tiny_config(GetParam()), 1));
  Decoder ref(test::random_weights(test::tiny_config(GetParam()), 1));
  ref.set_attention_impl(AttentionImpl::kReference);
  ForwardInput in;
  in.input_ids = at::cat({ids_tensor(some_ids(12, 97, 1)), ids_tensor(some_ids(12, 97, 2))}, 0);
  EXPECT_LT(rel_diff(fast.forward(in), ref.forward(in)), 1e-5);
  // Packed documents: three documents in one row, positions restarting per document.
  in.document_ids = at::tensor(std::vector<std::int64_t>{0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2}, at::kLong).unsqueeze(0).expand({2, 12});
  in.position_ids = at::tensor(std::vector<std::int64_t>{0, 1, 2, 3, 0, 1, 2, 3, 4, 0, 1, 2}, at::kLong).unsqueeze(0).expand({2, 12});
  EXPECT_LT(rel_diff(fast.forward(in), ref.forward(in)), 1e-5);
}

TEST_P(DecoderFamilies, PackedDocumentsEqualSeparateForwards) {
  c10::InferenceMode guard;
  Decoder model(test::random_weights(test::tiny_config(GetParam()), 2));
  const auto a = some_ids(5, 97, 3), b = some_ids(7, 97, 4);
  std::vector<std::int64_t> packed = a;
  packed.insert(packed.end(), b.begin(), b.end());
  ForwardInput in;
  in.input_ids = ids_tensor(packed);
  std::vector<std::int64_t> docs, pos;
  for (std::size_t i = 0; i < packed.size(); ++i) {
    docs.push_back(i < a.size() ? 0 : 1);
    pos.push_back(static_cast<std::int64_t>(i < a.size() ? i : i - a.size()));
  }
  in.document_ids = ids_tensor(docs);
  in.position_ids = ids_tensor(pos);
  at::Tensor together = model.forward(in);
  ForwardInput ia, ib;
  ia.input_ids = ids_tensor(a);
  ib.input_ids = ids_tensor(b);
  at::Tensor separate = at::cat({model.forward(ia), model.forward(ib)}, 1);
  EXPECT_LT(rel_diff(together, separate), 1e-5);
}

TEST_P(DecoderFamilies, KVCacheStepsEqualTheFullForward) {
  c10::InferenceMode guard;
  Decoder model(test::random_weights(test::tiny_config(GetParam()), 3));
  const auto ids = some_ids(14, 97, 5);
  ForwardInput full;
  full.input_ids = ids_tensor(ids);
  at::Tensor expected = model.forward(full);
  KVCache cache(model.config(), 1, 32, model.device(), model.dtype());
  std::vector<at::Tensor> parts;
  ForwardInput step;
  step.cache = &cache;
  step.input_ids = ids_tensor({ids.begin(), ids.begin() + 5});  // prefill 5, then 2, then one at a time
  parts.push_back(model.forward(step));
  step.input_ids = ids_tensor({ids.begin() + 5, ids.begin() + 7});
  parts.push_back(model.forward(step));
  for (std::size_t i = 7; i < ids.size(); ++i) {
    step.input_ids = ids_tensor({ids[i]});
    parts.push_back(model.forward(step));
  }
  EXPECT_EQ(cache.length(), 14);
  EXPECT_LT(rel_diff(at::cat(parts, 1), expected), 1e-5);
}

// Weights packed for oneDNN (eval, generate): the same logits to float32 rounding, over a full
// forward and over KV-cached steps of a batch; biases (qwen2) included.
TEST_P(DecoderFamilies, PackedForCpuInferenceEqualsDenseWeights) {
  c10::InferenceMode guard;
  Decoder dense(test::random_weights(test::tiny_config(GetParam()), 4));
  Decoder packed(test::random_weights(test::tiny_config(GetParam()), 4));
  ASSERT_TRUE(packed.pack_for_cpu_inference()) << "this libtorch has no oneDNN linear operators";
  EXPECT_TRUE(packed.packed());
  EXPECT_FALSE(packed.layers()[0].q_proj.weight.defined());  // released: no second copy is kept
  ForwardInput in;
  in.input_ids = at::cat({ids_tensor(some_ids(12, 97, 1)), ids_tensor(some_ids(12, 97, 2))}, 0);
  const at::Tensor expected = dense.forward(in);
  EXPECT_LT(rel_diff(packed.forward(in), expected), 1e-5);
  EXPECT_GT(max_abs_diff(expected, at::zeros_like(expected)), 1.0);  // the comparison sees real logits
  KVCache cache(packed.config(), 2, 16, packed.device(), packed.dtype());
  ForwardInput step;
  step.cache = &cache;
  std::vector<at::Tensor> parts;
  step.input_ids = in.input_ids.narrow(1, 0, 9);
  parts.push_back(packed.forward(step));
  for (std::int64_t t = 9; t < 12; ++t) {
    step.input_ids = in.input_ids.narrow(1, t, 1);
    parts.push_back(packed.forward(step));
  }
  EXPECT_LT(rel_diff(at::cat(parts, 1), expected), 1e-5);
  // A pass of no rows (an eval batch whose queries have all finished) gives no logits, no error.
  EXPECT_EQ(packed.logits(at::zeros({0, 1, packed.config().hidden_size})).sizes(),
            (std::vector<std::int64_t>{0, 1, packed.config().vocab_size}));
  EXPECT_THROW(packed.named_weights(), UsageError);
}

TEST_P(DecoderFamilies, LeftPaddedBatchEqualsUnpaddedRows) {
  c10::InferenceMode guard;
  Decoder model(test::random_weights(test::tiny_config(GetParam()), 4));
  const auto a = some_ids(9, 97, 6), b = some_ids(5, 97, 7);
  std::vector<std::int64_t> b_padded(4, 0), valid(4, 0), pos_b(4, 0);
  b_padded.insert(b_padded.end(), b.begin(), b.end());
  valid.insert(valid.end(), 5, 1);
  for (std::int64_t i = 0; i < 5; ++i) pos_b.push_back(i);
  std::vector<std::int64_t> pos_a(9);
  std::iota(pos_a.begin(), pos_a.end(), 0);
  ForwardInput batch;
  batch.input_ids = at::cat({ids_tensor(a), ids_tensor(b_padded)}, 0);
  batch.position_ids = at::cat({ids_tensor(pos_a), ids_tensor(pos_b)}, 0);
  batch.key_mask = at::cat({at::ones({1, 9}, at::kBool), ids_tensor(valid).to(at::kBool)}, 0);
  at::Tensor out = model.forward(batch);
  ForwardInput ib;
  ib.input_ids = ids_tensor(b);
  EXPECT_LT(rel_diff(out[1].narrow(0, 4, 5), model.forward(ib)[0]), 1e-5);
  ForwardInput ia;
  ia.input_ids = ids_tensor(a);
  EXPECT_LT(rel_diff(out[0], model.forward(ia)[0]), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Families, DecoderFamilies, ::testing::Values("llama", "qwen2", "mistral", "qwen3", "gemma3", "phi3"));

TEST(Decoder, HfDirectoryRoundTripAndGreedyGeneration) {
  TempDir dir;
  auto w = test::random_weights(test::tiny_config("qwen2"), 5);
  test::save_hf_dir(dir.path(), w);
  Decoder a(std::move(w));
  Decoder b = load_decoder(dir.path());
  c10::InferenceMode guard;
  ForwardInput in;
  in.input_ids = ids_tensor(some_ids(10, 97, 8));
  EXPECT_EQ(max_abs_diff(a.forward(in), b.forward(in)), 0.0);
  const auto prompt = some_ids(6, 97, 9);
  auto r = generate_tokens(b, prompt, 8, {}, {});
  ASSERT_EQ(r.tokens.size(), 8u);
  // Greedy by full recompute gives the same tokens as the cached generation.
  std::vector<std::int64_t> seq = prompt;
  for (int i = 0; i < 8; ++i) {
    ForwardInput f;
    f.input_ids = ids_tensor(seq);
    seq.push_back(b.forward(f)[0][-1].argmax().item<std::int64_t>());
    EXPECT_EQ(seq.back(), r.tokens[static_cast<std::size_t>(i)]) << "step " << i;
  }
  // Stop tokens end generation; sampling is deterministic for a seed.
  auto stopped = generate_tokens(b, prompt, 8, {}, {r.tokens[2]});
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(stopped.tokens.size(), 3u);
  SamplingOptions s{/*temperature=*/0.9, /*top_k=*/20, /*top_p=*/0.9, /*seed=*/42};
  EXPECT_EQ(generate_tokens(b, prompt, 8, s, {}).tokens, generate_tokens(b, prompt, 8, s, {}).tokens);
}

// ---------------------------------------------------------------------------- malformed models

// Packing is for float32 inference only: a bf16 decoder, or one whose weights require grad,
// is left as it is and keeps its dense weights.
TEST(Decoder, PackForCpuInferenceLeavesOtherDecodersAlone) {
  Decoder bf16(test::random_weights(test::tiny_config("llama"), 1));
  for (DecoderLayer& L : bf16.layers())
    for (auto& [name, lin] : L.linears()) lin->weight = lin->weight.to(at::kBFloat16);
  EXPECT_FALSE(bf16.pack_for_cpu_inference());
  Decoder trainable(test::random_weights(test::tiny_config("llama"), 1));
  trainable.layers()[1].down_proj.weight.requires_grad_(true);
  EXPECT_FALSE(trainable.pack_for_cpu_inference());
  EXPECT_FALSE(trainable.packed());
  for (const DecoderLayer& L : trainable.layers())
    for (const auto& [name, lin] : L.linears()) EXPECT_TRUE(lin->weight.defined()) << name;
  EXPECT_NO_THROW(trainable.named_weights());
}

TEST(DecoderErrors, MissingAndMisshapenTensors) {
  TempDir dir;
  auto w = test::random_weights(test::tiny_config("llama"), 6);
  test::save_hf_dir(dir / "missing", w, /*skip=*/"model.layers.1.mlp.up_proj.weight");
  EXPECT_HONE_ERROR(load_decoder(dir / "missing"), InputError, "missing tensor 'model.layers.1.mlp.up_proj.weight'");
  test::save_hf_dir(dir / "shape", w, "", /*reshape=*/"model.layers.0.self_attn.k_proj.weight");
  EXPECT_HONE_ERROR(load_decoder(dir / "shape"), InputError,
                    "tensor 'model.layers.0.self_attn.k_proj.weight' has shape [512], expected [16, 32] from config.json");
  test::write_bytes(dir / "shape" / "config.json", R"({"model_type":"gpt2","vocab_size":97})");
  EXPECT_HONE_ERROR(load_decoder(dir / "shape"), InputError, "unsupported model_type 'gpt2'");
  EXPECT_HONE_ERROR(load_decoder(dir / "nowhere"), InputError, "no such file or directory");
}

TEST(DecoderErrors, GgufVocabularyLargerThanEmbedding) {
  TempDir dir;
  GGUFWriter g;
  g.set("general.architecture", GGUFValue::str("llama"));
  g.set("llama.embedding_length", GGUFValue::u32(32));
  g.set("llama.feed_forward_length", GGUFValue::u32(48));
  g.set("llama.block_count", GGUFValue::u32(1));
  g.set("llama.attention.head_count", GGUFValue::u32(4));
  g.set("llama.attention.layer_norm_rms_epsilon", GGUFValue::f32(1e-6f));
  std::vector<GGUFValue> tokens;
  for (int i = 0; i < 100; ++i) tokens.push_back(GGUFValue::str("t" + std::to_string(i)));
  g.set("tokenizer.ggml.tokens", GGUFValue::array(GGUFType::kString, tokens));
  std::vector<float> emb(97 * 32, 0.1f);
  g.add_tensor_f32("token_embd.weight", GGMLType::kF32, {97, 32}, emb.data());
  g.write(dir / "m.gguf");
  EXPECT_HONE_ERROR(load_decoder(dir / "m.gguf"), InputError,
                    "the tokenizer has 100 tokens but 'token_embd.weight' has only 97 rows");
  GGUFWriter h = g;
  h.set("tokenizer.ggml.tokens", GGUFValue::array(GGUFType::kString, {tokens.begin(), tokens.begin() + 97}));
  h.write(dir / "m.gguf");
  EXPECT_HONE_ERROR(load_decoder(dir / "m.gguf"), InputError, "missing tensor 'blk.0.attn_norm.weight'");
}

// ---------------------------------------------------------------------------- the real peer

struct PeerCase {
  std::string model;  // path, or "tiny:<family>" for a model the peer makes
  double tolerance;
};

void expect_logits_and_greedy_match(const std::string& model_path, const std::vector<std::vector<std::int64_t>>& prompts,
                                    double tolerance, const TempDir& dir) {
  nlohmann::json ids = prompts;
  test::write_bytes(dir / "ids.json", ids.dump());
  const int steps = 32;
  auto r = test::run_python("model_peer.py", {"logits", model_path, (dir / "ids.json").string(),
                                               (dir / "ref.safetensors").string(), std::to_string(steps)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ref = SafetensorsFile::open(dir / "ref.safetensors");
  Decoder model = load_decoder(model_path);
  c10::InferenceMode guard;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    ForwardInput in;
    in.input_ids = ids_tensor(prompts[i]);
    at::Tensor mine = model.forward(in)[0];
    at::Tensor theirs = to_tensor(ref.get("logits." + std::to_string(i)), ref.mapping());
    ASSERT_EQ(mine.sizes(), theirs.sizes());
    const double diff = max_abs_diff(mine, theirs);
    EXPECT_LT(diff, tolerance) << model_path << " prompt " << i;
    std::cout << "[parity] " << fs::path(model_path).filename().string() << " prompt " << i << " (" << prompts[i].size()
              << " tokens): max |logit - transformers| = " << diff << "\n";
    auto gen = generate_tokens(model, prompts[i], steps, {}, {});
    at::Tensor greedy = to_tensor(ref.get("greedy." + std::to_string(i)), ref.mapping());
    std::vector<std::int64_t> expected(greedy.data_ptr<std::int64_t>(), greedy.data_ptr<std::int64_t>() + steps);
    EXPECT_EQ(gen.tokens, expected) << model_path << " prompt " << i;
  }
}

TEST(DecoderPeer, SmolLM2LogitsAndGreedyTokensEqualTransformers) {
  if (!test::have_python() || !test::have_model()) GTEST_SKIP() << "no virtualenv or model";
  TempDir dir;
  // Token ids of five chat-formatted and plain prompts of different lengths.
  const std::vector<std::vector<std::int64_t>> prompts = {
      {1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712, 8182, 2, 198,
       1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198},
      {504, 3575, 282, 4649, 314},
      {19556},
      {57, 3484, 30, 45, 30, 42, 30, 17, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 354, 1040, 3122, 327, 314, 2127, 28},
      {1, 4093, 198, 57, 16, 2350, 253, 5093, 2137, 28, 1069, 416, 339, 6452, 25, 2, 198, 1, 520, 9531, 198}};
  expect_logits_and_greedy_match(test::model_path(), prompts, 1e-3, dir);
}

// Gemma 3 270M as llama.cpp quantised it (Q4_K, Q6_K, Q5_0, Q8_0): hone and transformers each
// dequantise the same GGUF. Five prompts; the last is longer than the 512-token sliding window,
// so the local layers' window is exercised.
TEST(DecoderPeer, Gemma3GgufLogitsAndGreedyTokensEqualTransformers) {
  if (!test::have_python() || !fs::exists(HONE_GEMMA_GGUF)) GTEST_SKIP() << "no virtualenv or " << HONE_GEMMA_GGUF;
  TempDir dir;
  const auto tok = Tokenizer::load(HONE_GEMMA_GGUF);
  std::string long_text;
  for (int i = 0; i < 24; ++i)
    long_text += "Paragraph " + std::to_string(i) +
                 ": the customer asked why the card payment was declined twice, and the agent explained the "
                 "limits on contactless payments abroad.\n";
  std::vector<std::vector<std::int64_t>> prompts;
  for (const std::string text : {"The capital of France is", "def fibonacci(n):", "1, 2, 3, 4,",
                                 "<start_of_turn>user\nWhy was my card declined?<end_of_turn>\n<start_of_turn>model\n"}) {
    const auto ids = tok->encode(text, /*add_special=*/true, /*parse_special=*/true);
    prompts.emplace_back(ids.begin(), ids.end());
  }
  const auto ids = tok->encode(long_text, true, true);
  prompts.emplace_back(ids.begin(), ids.end());
  ASSERT_GT(prompts.back().size(), 560u);
  expect_logits_and_greedy_match(HONE_GEMMA_GGUF, prompts, 1e-3, dir);
}

TEST(DecoderPeer, TinyFamiliesEqualTransformers) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv";
  for (const std::string family : {"qwen2", "llama3", "llama32", "mistral", "qwen3", "gemma3", "phi3"}) {
    TempDir dir;
    auto r = test::run_python("model_peer.py", {"tiny", (dir / "model").string(), family});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // 20 tokens: longer than the llama3 original context (32 -> scaled frequencies matter
    // already), than mistral's and gemma3's sliding windows of 8 and phi3's of 12, and than
    // phi3's original context of 16 (its long factors); the 3-token prompt's 32 greedy steps
    // cross that length (hone re-encodes there, as transformers).
    expect_logits_and_greedy_match((dir / "model").string(), {some_ids(20, 256, 1), some_ids(3, 256, 2)}, 1e-4, dir);
  }
}

}  // namespace
}  // namespace hone

namespace hone {
namespace {

// ---------------------------------------------------------------------------- PEFT adapters

TEST(AdapterPeer, MergedLoraEqualsPeftModel) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv";
  TempDir dir;
  auto r = test::run_python("model_peer.py", {"tiny", (dir / "base").string(), "qwen2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::vector<std::int64_t>> prompts = {some_ids(12, 256, 3), some_ids(4, 256, 4)};
  test::write_bytes(dir / "ids.json", nlohmann::json(prompts).dump());
  for (const std::string rslora : {"0", "1"}) {
    const std::string adapter = (dir / ("adapter" + rslora)).string();
    auto a = test::run_python("model_peer.py", {"adapter", (dir / "base").string(), adapter, (dir / "ids.json").string(),
                                                (dir / "ref.safetensors").string(), rslora});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    EXPECT_DOUBLE_EQ(load_lora_config(adapter).scale(), rslora == "1" ? 4.0 : 2.0);
    Decoder model = load_decoder(dir / "base");
    merge_lora_adapter(model, adapter);
    auto ref = SafetensorsFile::open(dir / "ref.safetensors");
    c10::InferenceMode guard;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      ForwardInput in;
      in.input_ids = ids_tensor(prompts[i]);
      at::Tensor theirs = to_tensor(ref.get("logits." + std::to_string(i)), ref.mapping());
      EXPECT_LT(max_abs_diff(model.forward(in)[0], theirs), 1e-4) << "rslora=" << rslora << " prompt " << i;
    }
  }
}

TEST(AdapterErrors, WrongBaseMissingFactorAndUnsupportedKinds) {
  TempDir dir;
  Decoder model(test::random_weights(test::tiny_config("llama"), 9));
  fs::create_directories(dir / "a");
  auto write_config = [&](const std::string& extra) {
    test::write_bytes(dir / "a" / "adapter_config.json",
                      R"({"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["q_proj"])" + extra + "}");
  };
  write_config("");
  const std::vector<float> a(2 * 32, 0.1f), b(32 * 2, 0.1f), wrong(2 * 48, 0.1f);
  const std::string q = "base_model.model.model.layers.0.self_attn.q_proj";
  write_safetensors(dir / "a" / "adapter_model.safetensors",
                    {{q + ".lora_A.weight", DType::kF32, {2, 48}, wrong.data(), wrong.size() * 4},
                     {q + ".lora_B.weight", DType::kF32, {32, 2}, b.data(), b.size() * 4}});
  EXPECT_HONE_ERROR(merge_lora_adapter(model, dir / "a"), InputError,
                    "has shape [2, 48], expected [2, 32] (r=2 and the base model's layer) — adapter for another base?");
  write_safetensors(dir / "a" / "adapter_model.safetensors", {{q + ".lora_A.weight", DType::kF32, {2, 32}, a.data(), a.size() * 4}});
  EXPECT_HONE_ERROR(merge_lora_adapter(model, dir / "a"), InputError, "has lora_A but not lora_B");
  write_safetensors(dir / "a" / "adapter_model.safetensors",
                    {{"base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight", DType::kF32, {2, 32}, a.data(), a.size() * 4}});
  EXPECT_HONE_ERROR(merge_lora_adapter(model, dir / "a"), InputError, "names no linear layer of this 2-layer model");
  // layers_to_transform: a factor outside the listed layers, and a malformed list.
  write_safetensors(dir / "a" / "adapter_model.safetensors",
                    {{q + ".lora_A.weight", DType::kF32, {2, 32}, a.data(), a.size() * 4},
                     {q + ".lora_B.weight", DType::kF32, {32, 2}, b.data(), b.size() * 4}});
  write_config(R"(,"layers_to_transform":[0])");
  EXPECT_EQ(read_lora_adapter(dir / "a", model.config(), "base").factors.size(), 1u);
  write_config(R"(,"layers_to_transform":1)");
  EXPECT_HONE_ERROR(merge_lora_adapter(model, dir / "a"), InputError,
                    "adapts layer 0, which adapter_config.json's layers_to_transform [1] does not list");
  write_config(R"(,"layers_to_transform":["0"])");
  EXPECT_HONE_ERROR(merge_lora_adapter(model, dir / "a"), InputError,
                    "'layers_to_transform' must be a layer index or a list of them, got [\"0\"]");
  write_config(R"(,"use_dora":true)");
  EXPECT_HONE_ERROR(merge_lora_adapter(model, dir / "a"), InputError, "DoRA adapters (use_dora) are not supported yet");
  write_config(R"(,"modules_to_save":["lm_head"])");
  EXPECT_HONE_ERROR(merge_lora_adapter(model, dir / "a"), InputError, "modules_to_save [\"lm_head\"] cannot be merged");
  EXPECT_HONE_ERROR(merge_lora_adapter(model, dir / "missing"), InputError, "no adapter_config.json");
}

}  // namespace
}  // namespace hone
