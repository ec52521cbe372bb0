#include "model/config.h"

#include <nlohmann/json.hpp>

#include <tuple>

#include "core/gguf.h"
#include "helpers.h"
#include "model/adapter.h"

namespace hone {
namespace {

using nlohmann::json;
using test::TempDir;

json base_config() {
  return {{"model_type", "llama"},      {"vocab_size", 1000},         {"hidden_size", 64},
          {"intermediate_size", 160},   {"num_hidden_layers", 2},     {"num_attention_heads", 4},
          {"num_key_value_heads", 2},   {"rms_norm_eps", 1e-5},       {"rope_theta", 10000.0},
          {"eos_token_id", {2, 3}},     {"tie_word_embeddings", true}};
}

ModelConfig load(const TempDir& dir, const json& j) {
  test::write_bytes(dir / "config.json", j.dump());
  return load_hf_config(dir / "config.json");
}

TEST(ModelConfig, ReadsLegacyLlamaConfig) {
  TempDir dir;
  auto c = load(dir, base_config());
  EXPECT_EQ(c.family, ModelFamily::kLlama);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.eos_token_ids, (std::vector<std::int64_t>{2, 3}));
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  // embedding 64000 + 2 layers * (q 4096 + k,v 2*2048 + o 4096 + mlp 3*10240 + norms 128) + final norm 64
  EXPECT_EQ(c.parameter_count(), 64000 + 2 * (4096 + 4096 + 4096 + 30720 + 128) + 64);
}

TEST(ModelConfig, Errors) {
  TempDir dir;
  auto j = base_config();
  j["model_type"] = "gpt_neox";
  EXPECT_HONE_ERROR(load(dir, j), InputError, "config.json: unsupported model_type 'gpt_neox'");
  j = base_config();
  j.erase("hidden_size");
  EXPECT_HONE_ERROR(load(dir, j), InputError, "config.json: missing key 'hidden_size'");
  j = base_config();
  j["num_key_value_heads"] = 3;
  EXPECT_HONE_ERROR(load(dir, j), InputError, "num_attention_heads 4 is not a multiple of num_key_value_heads 3");
  j = base_config();
  j["hidden_size"] = "64";
  EXPECT_HONE_ERROR(load(dir, j), InputError, "'hidden_size' should be an integer, got \"64\"");
  j = base_config();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_HONE_ERROR(load(dir, j), InputError, "unsupported rope_scaling type 'yarn'");
  test::write_bytes(dir / "config.json", "{not json");
  EXPECT_HONE_ERROR(load_hf_config(dir / "config.json"), InputError,
                    "config.json: not valid JSON: parse error at line 1, column 3");
  test::write_bytes(dir / "config.json", "[1, 2]");
  EXPECT_HONE_ERROR(load_hf_config(dir / "config.json"), InputError, "config.json: expected a JSON object, got array");
}

// adapter_config.json as PEFT writes it, with one key changed; every wrong type is an InputError
// that names the file and the key (it once escaped as nlohmann's exception: "internal error").
TEST(LoraConfig, WrongTypesNameTheFileAndTheKey) {
  TempDir dir;
  const json good = {{"peft_type", "LORA"},
                     {"r", 8},
                     {"lora_alpha", 16.0},
                     {"lora_dropout", 0.05},
                     {"use_dora", false},
                     {"use_rslora", false},
                     {"target_modules", {"q_proj", "v_proj"}},
                     {"layers_to_transform", nullptr},
                     {"modules_to_save", nullptr},
                     {"base_model_name_or_path", "base.gguf"}};
  auto load = [&](const json& j) {
    test::write_bytes(dir / "adapter_config.json", j.dump());
    return load_lora_config(dir.path());
  };
  const LoraAdapterConfig c = load(good);
  EXPECT_EQ(c.r, 8);
  EXPECT_DOUBLE_EQ(c.scale(), 2.0);
  EXPECT_EQ(c.target_modules, (std::vector<std::string>{"q_proj", "v_proj"}));
  for (const auto& [key, value, message] : std::vector<std::tuple<std::string, json, std::string>>{
           {"peft_type", 7, "'peft_type' has the wrong type: 7"},
           {"peft_type", "LOHA", "peft_type is 'LOHA', hone applies LORA adapters"},
           {"r", "8", "'r' must be a positive integer, got \"8\""},
           {"r", 0, "'r' must be a positive integer, got 0"},
           {"lora_alpha", nullptr, "'lora_alpha' must be a number, got null"},
           {"lora_dropout", "0.1", "'lora_dropout' has the wrong type: \"0.1\""},
           {"use_dora", "yes", "'use_dora' has the wrong type: \"yes\""},
           {"use_rslora", 1, "'use_rslora' has the wrong type: 1"},
           {"target_modules", {1, 2}, "'target_modules' has the wrong type: [1,2]"},
           {"layers_to_transform", {1, json(18446744073709551615ULL)},
            "'layers_to_transform' must be a layer index or a list of them, got [1,18446744073709551615]"}}) {
    json j = good;
    j[key] = value;
    EXPECT_HONE_ERROR(load(j), InputError, "adapter_config.json: " + message);
  }
  // null is PEFT's "not set"; a pattern (PEFT's regular-expression form) leaves the names to the tensors.
  json j = good;
  j["use_dora"] = nullptr;
  j["target_modules"] = ".*(q|v)_proj";
  EXPECT_TRUE(load(j).target_modules.empty());
  test::write_bytes(dir / "adapter_config.json", R"({"peft_type": "LORA", "r": )");
  EXPECT_HONE_ERROR(load_lora_config(dir.path()), InputError,
                    "adapter_config.json: not valid JSON: parse error at line 1");
}

TEST(ModelConfig, HfJsonRoundTrips) {
  TempDir dir;
  auto j = base_config();
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}};
  auto c = load(dir, j);
  test::write_bytes(dir / "config.json", c.to_hf_json());
  auto d = load_hf_config(dir / "config.json");
  EXPECT_EQ(d.to_hf_json(), c.to_hf_json());
  EXPECT_EQ(d.rope_scaling.type, "llama3");
  EXPECT_EQ(d.rope_scaling.original_max_position_embeddings, 64);
}

// Config files written by transformers itself (v5 nests rope_theta under rope_parameters), and
// transformers reading hone's rendering of them back to the same numbers.
TEST(ModelConfigPeer, ReadsConfigsWrittenByTransformers) {
  if (!test::have_python()) GTEST_SKIP() << "no virtualenv";
  TempDir dir;
  auto r = test::run_python("hf_config_peer.py", {"write", dir.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> families = {"llama", "llama3", "qwen2", "mistral", "qwen3", "gemma3", "phi3",
                                             "phi3-legacy"};
  std::vector<std::string> check_args = {"check"};
  for (const auto& family : families) {
    const ModelConfig c = load_hf_config(dir / family / "config.json");
    fs::create_directories(dir / ("hone-" + family));
    test::write_bytes(dir / ("hone-" + family) / "config.json", c.to_hf_json());
    check_args.push_back((dir / family).string());
    check_args.push_back((dir / ("hone-" + family)).string());
  }
  auto check = test::run_python("hf_config_peer.py", check_args);
  ASSERT_EQ(check.exit_code, 0) << check.err;
  const json all = json::parse(check.out);
  for (const auto& family : families) {
    const json& ref = all[(dir / family).string()];
    const ModelConfig c = load_hf_config(dir / family / "config.json");
    EXPECT_EQ(family_name(c.family), ref["model_type"]) << family;
    EXPECT_EQ(c.max_position_embeddings, ref["max_position_embeddings"]) << family;
    EXPECT_EQ(c.hidden_size, ref["hidden_size"]) << family;
    EXPECT_EQ(c.num_key_value_heads, ref["num_key_value_heads"]) << family;
    EXPECT_EQ(c.head_dim, ref["head_dim"]) << family;
    EXPECT_DOUBLE_EQ(c.rope_theta, ref["rope_theta"].get<double>()) << family;
    EXPECT_EQ(c.tie_word_embeddings, ref["tie_word_embeddings"]) << family;
    if (family == "gemma3") {
      EXPECT_EQ(c.sliding_layers, (std::vector<bool>{true, false, true}));
      EXPECT_EQ(c.sliding_window, ref["sliding_window"].get<std::int64_t>());
      EXPECT_DOUBLE_EQ(c.rope_local_theta, ref["rope_local_theta"].get<double>());
      EXPECT_DOUBLE_EQ(c.query_pre_attn_scalar, ref["query_pre_attn_scalar"].get<double>());
    }
    EXPECT_EQ(c.attention_bias, family == "qwen2") << family;
    if (family == "llama3") {
      EXPECT_EQ(c.rope_scaling.type, "llama3");
      EXPECT_DOUBLE_EQ(c.rope_scaling.factor, ref["factor"].get<double>());
    } else if (family.rfind("phi3", 0) == 0) {
      EXPECT_EQ(c.rope_scaling.type, "longrope") << family;
      EXPECT_DOUBLE_EQ(c.partial_rotary_factor, ref["partial_rotary_factor"].get<double>()) << family;
      EXPECT_EQ(c.rotary_dim(), 12) << family;
      EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, ref["original_max_position_embeddings"]) << family;
      EXPECT_EQ(c.rope_scaling.short_factor, ref["short_factor"].get<std::vector<double>>()) << family;
      EXPECT_EQ(c.rope_scaling.long_factor, ref["long_factor"].get<std::vector<double>>()) << family;
      EXPECT_EQ(c.sliding_window.value_or(0), ref["phi3_sliding_window"].is_null() ? 0 : ref["phi3_sliding_window"].get<std::int64_t>()) << family;
    } else {
      EXPECT_TRUE(c.rope_scaling.type.empty()) << family;
    }
    EXPECT_EQ(all[(dir / ("hone-" + family)).string()], ref) << family << ": transformers reads hone's config.json";
  }
}

TEST(ModelConfigGGUF, SmolLM2) {
  if (!test::have_model()) GTEST_SKIP() << "no model (run scripts/setup.sh)";
  auto g = GGUFFile::open(test::model_path());
  auto c = load_gguf_config(g);
  EXPECT_EQ(c.family, ModelFamily::kLlama);
  EXPECT_EQ(c.num_hidden_layers, 30);
  EXPECT_EQ(c.hidden_size, 576);
  EXPECT_EQ(c.intermediate_size, 1536);
  EXPECT_EQ(c.num_attention_heads, 9);
  EXPECT_EQ(c.num_key_value_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_DOUBLE_EQ(c.rope_theta, 100000.0);
  EXPECT_TRUE(c.tie_word_embeddings);
  std::int64_t stored = 0;
  for (const auto& t : g.tensors()) stored += t.numel();
  EXPECT_EQ(c.parameter_count(), stored) << "config-derived count equals the tensors' element count";
}

// Gemma 3 configs as the hub ships them (transformers 4: rope_theta, rope_local_base_freq and the
// sliding_window_pattern at the top level), and what hone refuses rather than compute otherwise.
TEST(ModelConfig, Gemma3LegacyKeysAndRefusals) {
  TempDir dir;
  json j = base_config();
  j["model_type"] = "gemma3_text";
  j["num_hidden_layers"] = 7;
  j["head_dim"] = 32;
  j["rope_theta"] = 1000000.0;
  j["rope_local_base_freq"] = 10000.0;
  j["sliding_window"] = 512;
  j["sliding_window_pattern"] = 3;
  j["query_pre_attn_scalar"] = 32;
  j["final_logit_softcapping"] = nullptr;
  auto c = load(dir, j);
  EXPECT_EQ(c.family, ModelFamily::kGemma3);
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>{true, true, false, true, true, false, true}));
  EXPECT_TRUE(c.layer_slides(0));
  EXPECT_FALSE(c.layer_slides(2));
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(c.rope_local_theta, 1e4);
  // 4 hidden norms and 2 head_dim norms per layer
  EXPECT_EQ(c.parameter_count(), 64000 + 7 * (64 * 128 * 2 + 2 * 64 * 64 + 30720 + 4 * 64 + 2 * 32) + 64);
  test::write_bytes(dir / "config.json", c.to_hf_json());
  EXPECT_EQ(load_hf_config(dir / "config.json").to_hf_json(), c.to_hf_json());
  j["final_logit_softcapping"] = 30.0;
  EXPECT_HONE_ERROR(load(dir, j), InputError, "'final_logit_softcapping' is not supported (got 30.0)");
  j["final_logit_softcapping"] = nullptr;
  j["layer_types"] = {"sliding_attention", "full_attention"};
  EXPECT_HONE_ERROR(load(dir, j), InputError, "layer_types has 2 entries, expected num_hidden_layers = 7");
  j["layer_types"] = std::vector<std::string>(7, "chunked_attention");
  EXPECT_HONE_ERROR(load(dir, j), InputError, "layer_types holds 'chunked_attention'");
}

// Phi-4-mini's layout: top-level original_max_position_embeddings and partial_rotary_factor,
// rope_scaling {type: longrope, short/long factors}; what hone cannot compute is refused by name.
TEST(ModelConfig, Phi3LongRopeAndRefusals) {
  TempDir dir;
  json j = base_config();
  j["model_type"] = "phi3";
  j["max_position_embeddings"] = 131072;
  j["original_max_position_embeddings"] = 4096;
  j["partial_rotary_factor"] = 0.75;
  j["rope_scaling"] = {{"type", "longrope"}, {"short_factor", {1.0, 1.0, 1.5, 2.0, 3.0, 4.0}},
                       {"long_factor", {1.0, 2.0, 4.0, 8.0, 16.0, 32.0}}};
  auto c = load(dir, j);
  EXPECT_EQ(c.family, ModelFamily::kPhi3);
  EXPECT_EQ(c.rotary_dim(), 12);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 4096);
  // sqrt(1 + ln(131072 / 4096) / ln(4096)), as transformers and llama.cpp's converter derive it.
  EXPECT_NEAR(c.rope_attention_factor(), std::sqrt(1 + std::log(32.0) / std::log(4096.0)), 1e-12);
  EXPECT_EQ(c.parameter_count(), load(dir, base_config()).parameter_count());  // fused: the same weights
  test::write_bytes(dir / "config.json", c.to_hf_json());
  EXPECT_EQ(load_hf_config(dir / "config.json").to_hf_json(), c.to_hf_json());
  j["rope_scaling"]["short_factor"] = {1.0, 2.0};
  EXPECT_HONE_ERROR(load(dir, j), InputError, "rope_scaling.short_factor has 2 values, expected rotary_dim / 2 = 6");
  j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  EXPECT_HONE_ERROR(load(dir, j), InputError, "rope scaling 'dynamic' is not supported for phi3");
  j["rope_scaling"] = nullptr;
  j["partial_rotary_factor"] = 0.7;  // 11.2 -> 11 channels: not even
  EXPECT_HONE_ERROR(load(dir, j), InputError, "partial_rotary_factor 0.7 gives 11 rotary channels of head_dim 16");
  j["partial_rotary_factor"] = 1.0;
  j["hidden_act"] = "gelu";
  EXPECT_HONE_ERROR(load(dir, j), InputError, "hidden_act 'gelu' is not supported (phi3 uses silu)");
}

TEST(ModelConfigGGUF, Gemma3270M) {
  if (!fs::exists(HONE_GEMMA_GGUF)) GTEST_SKIP() << "no " << HONE_GEMMA_GGUF << " (run scripts/setup.sh)";
  auto g = GGUFFile::open(HONE_GEMMA_GGUF);
  auto c = load_gguf_config(g);
  EXPECT_EQ(c.family, ModelFamily::kGemma3);
  EXPECT_EQ(c.num_hidden_layers, 18);
  EXPECT_EQ(c.hidden_size, 640);
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_EQ(c.num_key_value_heads, 1);
  EXPECT_EQ(c.vocab_size, 262144);
  EXPECT_EQ(c.sliding_window, 512);
  EXPECT_TRUE(c.layer_slides(4));
  EXPECT_FALSE(c.layer_slides(5));  // every 6th layer is global
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(c.rope_local_theta, 1e4);
  EXPECT_TRUE(c.tie_word_embeddings);
  std::int64_t stored = 0;
  for (const auto& t : g.tensors()) stored += t.numel();
  EXPECT_EQ(c.parameter_count(), stored) << "config-derived count equals the tensors' element count";
}

// Sizes are bounded as soon as they are read, before a family sizes per-layer lists by them; an
// integer key holding a float is refused, not truncated (or, out of range, undefined).
TEST(ModelConfig, SizesAboveTheLimitsAndFloatIntegersAreRejected) {
  TempDir dir;
  auto j = base_config();
  j["model_type"] = "gemma3_text";
  j["num_hidden_layers"] = 1LL << 40;
  EXPECT_HONE_ERROR(load(dir, j), InputError,
                    "config.json: 'num_hidden_layers' must be a positive integer up to 4096, got 1099511627776");
  j = base_config();
  j["vocab_size"] = 1LL << 30;
  EXPECT_HONE_ERROR(load(dir, j), InputError, "'vocab_size' must be a positive integer up to 16777216");
  j = base_config();
  j["max_position_embeddings"] = 1.5e90;
  EXPECT_HONE_ERROR(load(dir, j), InputError, "'max_position_embeddings' should be an integer, got 1.5e+90");
  j = base_config();
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"original_max_position_embeddings", 8192.5}};
  EXPECT_HONE_ERROR(load(dir, j), InputError, "'original_max_position_embeddings' should be an integer, got 8192.5");
  j = base_config();
  j["eos_token_id"] = {2, 3.5};
  EXPECT_HONE_ERROR(load(dir, j), InputError, "'eos_token_id' should be an integer, got [2,3.5]");
}

TEST(ModelConfigGGUF, HugeBlockCountIsRejectedBeforeTheLayerPattern) {
  TempDir dir;
  GGUFWriter w;
  w.set("general.architecture", GGUFValue::str("gemma3"));
  w.set("gemma3.embedding_length", GGUFValue::u32(64));
  w.set("gemma3.feed_forward_length", GGUFValue::u32(128));
  w.set("gemma3.block_count", GGUFValue::u64(1ULL << 40));
  w.set("gemma3.attention.head_count", GGUFValue::u32(4));
  w.set("gemma3.attention.layer_norm_rms_epsilon", GGUFValue::f32(1e-6f));
  w.set("gemma3.attention.sliding_window", GGUFValue::u32(512));
  std::vector<float> emb(64 * 8);
  w.add_tensor_f32("token_embd.weight", GGMLType::kF32, {8, 64}, emb.data());
  w.write(dir / "g.gguf");
  EXPECT_HONE_ERROR(load_gguf_config(GGUFFile::open(dir / "g.gguf")), InputError,
                    "'num_hidden_layers' must be a positive integer up to 4096, got 1099511627776");
}

TEST(ModelConfigGGUF, UnknownArchitecture) {
  TempDir dir;
  GGUFWriter w;
  w.set("general.architecture", GGUFValue::str("mamba"));
  w.write(dir / "m.gguf");
  EXPECT_HONE_ERROR(load_gguf_config(GGUFFile::open(dir / "m.gguf")), InputError,
                    "unsupported general.architecture 'mamba'");
}

}  // namespace
}  // namespace hone
