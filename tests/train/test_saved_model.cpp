// The model a run saves when it trains every weight (out/model: lora-train --full, distill):
// --save-dtype (bf16 by default for distill, f32 for lora-train --full; config.json's torch_dtype
// says which), a float16 overflow refused with the tensor's name, and the chat template training
// used written with the tokenizer files, so that the directory and its exports serve prompts as
// they were trained.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/gguf.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "helpers.h"
#include "model/decoder.h"
#include "model/model_fixtures.h"
#include "report/eval_schema.h"
#include "text/tokenizer.h"
#include "train/lora.h"
#include "train/train_fixtures.h"

namespace hone::test {
namespace {

using nlohmann::json;

// The dtype of every tensor of a safetensors file (fails the test when they differ).
DType stored_dtype(const fs::path& file) {
  const SafetensorsFile st = SafetensorsFile::open(file);
  const DType first = st.tensors().at(0).dtype;
  for (const TensorView& t : st.tensors()) EXPECT_EQ(t.dtype, first) << t.name;
  return first;
}

std::string torch_dtype(const fs::path& model_dir) {
  return json::parse(read_bytes(model_dir / "config.json"))["torch_dtype"].get<std::string>();
}

class SavedModel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_model()) GTEST_SKIP() << "needs the model (for its tokenizer)";
    teacher_ = write_tiny_gguf(tmp_.path(), /*seed=*/3);
    store_ = make_store(tmp_.path(), teacher_, 32, 8, /*packed=*/false);
  }
  // A 4-step distill run of a layers:1 student.
  std::vector<std::string> distill(const fs::path& out) const {
    return {"distill", "--teacher", teacher_.string(), "--student", "layers:1", "--data", store_.string(), "-o",
            out.string(), "--max-steps", "4", "-b", "4", "--lr", "3e-3", "--threads", "1", "--progress", "none", "-q"};
  }
  TempDir tmp_;
  fs::path teacher_, store_;
};

// distill saves bf16 unless told otherwise: the same trained weights as an f32 save, rounded,
// in half the bytes; hone generate and hone eval load the directory.
TEST_F(SavedModel, DistillSavesTheStudentInBf16ByDefault) {
  CommandResult r = run_hone(distill(tmp_ / "bf16"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_hone(distill(tmp_ / "f32") + std::vector<std::string>{"--save-dtype", "f32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path bf16 = tmp_ / "bf16/model", f32 = tmp_ / "f32/model";
  EXPECT_EQ(stored_dtype(bf16 / "model.safetensors"), DType::kBF16);
  EXPECT_EQ(stored_dtype(f32 / "model.safetensors"), DType::kF32);
  EXPECT_EQ(torch_dtype(bf16), "bfloat16");
  EXPECT_EQ(torch_dtype(f32), "float32");
  const double ratio = static_cast<double>(fs::file_size(bf16 / "model.safetensors")) /
                       static_cast<double>(fs::file_size(f32 / "model.safetensors"));
  EXPECT_NEAR(ratio, 0.5, 0.01);
  std::printf("student model.safetensors: %ju bytes in f32, %ju in bf16\n",
              static_cast<std::uintmax_t>(fs::file_size(f32 / "model.safetensors")),
              static_cast<std::uintmax_t>(fs::file_size(bf16 / "model.safetensors")));
  // Training is float32 either way (bitwise the same run on one thread); only the save rounds.
  const SafetensorsFile a = SafetensorsFile::open(bf16 / "model.safetensors");
  const SafetensorsFile b = SafetensorsFile::open(f32 / "model.safetensors");
  for (const TensorView& t : b.tensors())
    EXPECT_TRUE(at::equal(to_tensor(a.get(t.name), a.mapping()), to_tensor(t, b.mapping()).to(at::kBFloat16)))
        << t.name;
  const double rounding = max_abs_diff(bf16 / "model.safetensors", f32 / "model.safetensors");  // as float32
  EXPECT_GT(rounding, 0.0);
  EXPECT_LT(rounding, 1e-2);

  r = run_hone({"generate", "-m", bf16.string(), "--max-new-tokens", "4", "--prompt", "hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Perplexity of the valid split: the bf16 directory scores as the f32 one, within bf16 rounding.
  auto loss = [&](const fs::path& model, const std::string& name) {
    const fs::path report = tmp_ / (name + ".json");
    const CommandResult e = run_hone({"eval", "-m", model.string(), "--data", store_.string(), "--split", "valid",
                                      "--threads", "1", "--report", report.string()});
    EXPECT_EQ(e.exit_code, 0) << e.err;
    return json::parse(read_bytes(report))[eval_report::kModels][0][eval_report::kMeanLoss].get<double>();
  };
  EXPECT_NEAR(loss(bf16, "bf16"), loss(f32, "f32"), 1e-2);
}

TEST_F(SavedModel, LoraTrainFullSavesF32ByDefaultAndF16OnRequest) {
  const std::vector<std::string> args = {"lora-train", "-m", teacher_.string(), "--data", store_.string(), "--full",
                                         "--max-steps", "1", "-b", "4", "--threads", "1", "--progress", "none", "-q"};
  CommandResult r = run_hone(args + std::vector<std::string>{"-o", (tmp_ / "f32").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_hone(args + std::vector<std::string>{"-o", (tmp_ / "f16").string(), "--save-dtype", "f16"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(stored_dtype(tmp_ / "f32/model/model.safetensors"), DType::kF32);
  EXPECT_EQ(torch_dtype(tmp_ / "f32/model"), "float32");
  EXPECT_EQ(stored_dtype(tmp_ / "f16/model/model.safetensors"), DType::kF16);
  EXPECT_EQ(torch_dtype(tmp_ / "f16/model"), "float16");
  // Quantised types are export's (hone export --format gguf --dtype q8_0), not a saved model's.
  r = run_hone(args + std::vector<std::string>{"-o", (tmp_ / "q8").string(), "--save-dtype", "q8_0"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_FALSE(fs::exists(tmp_ / "q8"));
}

// A store rendered with another template than the model's: the student directory carries that
// template (tokenizer_config.json and chat_template.jinja), and so does its GGUF export.
TEST_F(SavedModel, TheTrainingChatTemplateGoesWithTheStudent) {
  const std::string jinja =
      "{% for m in messages %}{{ '<|im_start|>' + ('bot' if m.role == 'assistant' else m.role) + '\n' + "
      "m.content | trim + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>bot\n' }}"
      "{% endif %}";
  write_bytes(tmp_ / "t.jinja", jinja);
  const fs::path store = tmp_ / "templated.h5";
  CommandResult r = run_hone({"tokenize", (tmp_ / "data").string(), "-o", store.string(), "-m", teacher_.string(),
                              "--max-len", "96", "--chat-template", (tmp_ / "t.jinja").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> args = distill(tmp_ / "s");
  args[6] = store.string();  // --data
  r = run_hone(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path dir = tmp_ / "s/model";
  EXPECT_EQ(read_bytes(dir / "chat_template.jinja"), jinja);
  EXPECT_EQ(json::parse(read_bytes(dir / "tokenizer_config.json"))["chat_template"], jinja);
  EXPECT_EQ(Tokenizer::load(dir)->chat_template(), jinja);
  r = run_hone({"export", "-m", dir.string(), "--format", "gguf", "-o", (tmp_ / "s.gguf").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(GGUFFile::open(tmp_ / "s.gguf").get_string("tokenizer.chat_template"), jinja);
}

// f16 holds up to 65504: a larger weight is an error naming it, and nothing is written; bf16
// keeps it (float32's range).
TEST(SavedModelUnits, F16OverflowNamesTheTensorAndWritesNothing) {
  TempDir tmp;
  ModelWeights w = random_weights(tiny_config("llama"), 1);
  w.tensors.at("model.layers.1.mlp.down_proj.weight")[0][0].fill_(1e6);
  const Decoder model(std::move(w));
  EXPECT_HONE_ERROR(write_full_model(tmp / "f16", model, {}, 0, at::kHalf), UsageError,
                    "tensor model.layers.1.mlp.down_proj.weight has values beyond float16's range");
  EXPECT_TRUE(tmp.entries().empty()) << "nothing may be written";
  write_full_model(tmp / "bf16", model, {}, 0, at::kBFloat16);
  const SafetensorsFile st = SafetensorsFile::open(tmp / "bf16/model.safetensors");
  const at::Tensor down = to_tensor(st.get("model.layers.1.mlp.down_proj.weight"), st.mapping());
  EXPECT_EQ(down.scalar_type(), at::kBFloat16);
  EXPECT_EQ(down[0][0].item<float>(), 999424.0f);  // 1e6 in bf16's 8 significant bits
}

}  // namespace
}  // namespace hone::test
