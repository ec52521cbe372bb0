// The hone binary as users call it: subcommands, help, config files, exit codes, `hone info`.
#include <hdf5.h>

#include <nlohmann/json.hpp>

#include "core/device.h"
#include "core/safetensors.h"
#include "helpers.h"

namespace hone {
namespace {

using test::run_hone;
using test::TempDir;

TEST(Cli, HelpListsTheTenSubcommands) {
  auto r = run_hone({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* cmd : {"ingest", "tokenize", "lora-train", "distill", "cache-teacher", "eval", "export", "generate", "report", "info"})
    EXPECT_NE(r.out.find(std::string("\n  ") + cmd + " "), std::string::npos) << cmd << " missing from:\n" << r.out;
}

TEST(Cli, VersionNamesLibTorch) {
  auto r = run_hone({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("hone 0."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LibTorch 2.11.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CPU bf16 matmul " + std::string(native_bf16(c10::kCPU) ? "native" : "emulated")),
            std::string::npos) << r.out;
}

TEST(Cli, SubcommandHelpShowsDefaultsAndCommonOptions) {
  for (const char* cmd : {"ingest", "tokenize", "lora-train", "distill", "cache-teacher", "eval", "export", "generate", "report", "info"}) {
    auto r = run_hone({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find(std::string("Usage: hone ") + cmd + " [OPTIONS]"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--config"), std::string::npos) << cmd;
    EXPECT_NE(r.out.find("--print-config"), std::string::npos) << cmd;
    EXPECT_NE(r.out.find("--log-format TEXT:{text,json}=text"), std::string::npos) << cmd;
  }
  EXPECT_NE(run_hone({"lora-train", "--help"}).out.find("--epochs FLOAT=1"), std::string::npos);
  EXPECT_NE(run_hone({"export", "--help"}).out.find("--dtype TEXT:{auto,f32,f16,bf16,q8_0}=auto"), std::string::npos);
}

TEST(Cli, UsageErrorsExitWith2) {
  EXPECT_EQ(run_hone({}).exit_code, 2);
  EXPECT_EQ(run_hone({"frobnicate"}).exit_code, 2);
  auto r = run_hone({"lora-train", "--data", "x.h5", "-o", "out"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--model is required"), std::string::npos) << r.err;
  EXPECT_EQ(run_hone({"info", "x", "--log-format", "xml"}).exit_code, 2);
  EXPECT_EQ(run_hone({"export", "-m", "a", "--format", "onnx", "-o", "b"}).exit_code, 2);
}

// A misspelt command or option is named, with the nearest valid one, before anything else is
// checked (exit 2).
TEST(Cli, UnknownCommandsAndOptionsAreNamedWithTheNearestOne) {
  auto r = run_hone({"lora-trian", "-m", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command: 'lora-trian'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'lora-train'?"), std::string::npos) << r.err;
  r = run_hone({"lora-train", "--rnak", "3"});  // before "--model is required"
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown option of hone lora-train: '--rnak'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean '--rank'?"), std::string::npos) << r.err;
  r = run_hone({"export", "--dtpye=f16"});
  EXPECT_NE(r.err.find("did you mean '--dtype'?"), std::string::npos) << r.err;
  r = run_hone({"frobnicate"});
  EXPECT_NE(r.err.find("unknown command: 'frobnicate'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("did you mean"), std::string::npos) << "nothing is near: " << r.err;
}

TEST(Cli, ConfigFileSetsOptionsAndTheCommandLineOverridesIt) {
  TempDir dir;
  test::write_bytes(dir / "train.toml", "# hone lora-train --config train.toml\nmodel = \"base.gguf\"\ndata = \"d.h5\"\n"
                                        "out = \"runs/x\"\nmax-steps = 50\nepochs = 3\n");
  auto r = run_hone({"lora-train", "--config", (dir / "train.toml").string(), "--epochs", "2", "--print-config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("model=\"base.gguf\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max-steps=50"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epochs=2"), std::string::npos) << "the command line wins:\n" << r.out;
  EXPECT_NE(r.out.find("resume=false"), std::string::npos) << "defaults are printed too:\n" << r.out;

  // The printed configuration is itself a valid config file.
  test::write_bytes(dir / "effective.toml", r.out);
  auto again = run_hone({"lora-train", "--config", (dir / "effective.toml").string(), "--print-config"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, r.out);

  test::write_bytes(dir / "typo.toml", "modle = \"base.gguf\"\n");
  auto bad = run_hone({"lora-train", "--config", (dir / "typo.toml").string(), "-m", "a", "--data", "b", "-o", "c"});
  EXPECT_EQ(bad.exit_code, 2) << "an unknown key is an error";
  EXPECT_NE(bad.err.find("typo.toml: key 'modle' is not an option of hone lora-train"), std::string::npos) << bad.err;
  auto missing = run_hone({"info", "--config", (dir / "none.toml").string(), "x"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("none.toml"), std::string::npos) << missing.err;
}

TEST(Cli, DistillNeedsAStudentAndATeacher) {
  auto r = run_hone({"distill", "--teacher", "t.gguf", "--data", "d.h5", "-o", "out"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--student is required"), std::string::npos) << r.err;
  r = run_hone({"distill", "--student", "layers:4", "--data", "d.h5", "-o", "out"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--teacher is required (a layers:N student is made from it)"), std::string::npos) << r.err;
}

TEST(Cli, JsonLogFormat) {
  // Global options may come before or after the subcommand.
  auto before = run_hone({"--log-format", "json", "-v", "info", "/nonexistent/model.gguf"});
  EXPECT_EQ(before.exit_code, 3) << before.err;
  EXPECT_NE(before.err.find(R"("level":"debug","msg":"raised at lib/inspect/info.cpp:)"), std::string::npos)
      << "-v shows where the error was raised:\n" << before.err;
  auto r = run_hone({"info", "/nonexistent/model.gguf", "--log-format", "json"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find(R"({"time":")"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(R"("level":"error","msg":"bad input: /nonexistent/model.gguf: no such file or directory"})"),
            std::string::npos)
      << r.err;
}

// ---------------------------------------------------------------------------- hone info

TEST(CliInfo, SmolLM2Summary) {
  if (!test::have_model()) GTEST_SKIP() << "no model (run scripts/setup.sh)";
  auto r = run_hone({"info", test::model_path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* expected : {"layers:         30", "hidden size:    576", "vocab:          49152",
                               "parameters:     134.5M (134515008)", "Q4_1 x", "gpt2 (byte-level BPE)",
                               "48900 merges", "chat template:"})
    EXPECT_NE(r.out.find(expected), std::string::npos) << expected << " missing from:\n" << r.out;
}

TEST(CliInfo, MalformedFilesExitWith3AndNameTheFile) {
  TempDir dir;
  test::write_bytes(dir / "broken.gguf", std::string("GGUF\x03\0\0\0", 8));
  auto r = run_hone({"info", (dir / "broken.gguf").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("broken.gguf: truncated at byte 8"), std::string::npos) << r.err;
  test::write_bytes(dir / "notes.txt", "hello");
  r = run_hone({"info", (dir / "notes.txt").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("unrecognised file type"), std::string::npos) << r.err;
}

TEST(CliInfo, SafetensorsAndHfDirectory) {
  TempDir dir;
  const std::vector<float> w(64 * 16, 0.5f);
  write_safetensors(dir / "model.safetensors",
                    {{"model.embed_tokens.weight", DType::kF32, {64, 16}, w.data(), w.size() * 4}}, {{"format", "pt"}});
  test::write_bytes(dir / "config.json",
                    R"({"model_type":"qwen2","vocab_size":64,"hidden_size":16,"intermediate_size":32,)"
                    R"("num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1})");
  auto r = run_hone({"info", (dir / "model.safetensors").string(), "--tensors", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("parameters:     1.0K (1024)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model.embed_tokens.weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("format = pt"), std::string::npos) << r.out;
  r = run_hone({"info", dir.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("family:         qwen2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("qkv bias:       yes"), std::string::npos) << r.out;
}

TEST(CliInfo, AdapterDirectoryNamesItsLayersDoraAndBase) {
  TempDir dir;
  const std::vector<float> w(2 * 16, 0.5f);
  write_safetensors(dir / "adapter_model.safetensors",
                    {{"base_model.model.model.layers.15.self_attn.q_proj.lora_A.weight", DType::kF32, {2, 16}, w.data(),
                      w.size() * 4}},
                    {});
  test::write_bytes(dir / "adapter_config.json",
                    R"({"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["q_proj"],)"
                    R"("layers_to_transform":[29,15,16,17,3],"use_dora":true,"modules_to_save":["lm_head"],)"
                    R"("base_model_name_or_path":"smollm2.gguf"})");
  auto r = run_hone({"info", dir.path().string(), "--tensors", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* expected : {"adapter:        LORA r=2 alpha=4", "adapted layers: 5 of them: 3, 15-17, 29",
                               "dora:           yes", "modules saved:  [\"lm_head\"]", "base model:     smollm2.gguf",
                               "layers.15.self_attn.q_proj.lora_A.weight"})
    EXPECT_NE(r.out.find(expected), std::string::npos) << expected << " missing from:\n" << r.out;
  // Without layers_to_transform the adapter adapts every layer, and says so.
  test::write_bytes(dir / "adapter_config.json", R"({"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["q_proj"]})");
  r = run_hone({"info", dir.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("adapted layers: all"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("dora:"), std::string::npos) << r.out;
  // info describes what it is given, even fields of the wrong type (the loader refuses them)...
  test::write_bytes(dir / "adapter_config.json", R"({"peft_type":"LORA","r":"2","lora_alpha":null,"use_dora":"no"})");
  r = run_hone({"info", dir.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("adapter:        LORA r=2 alpha=null targets ?"), std::string::npos) << r.out;
  // ...but a file that is not a JSON object is a bad input (exit 3), not an internal error.
  test::write_bytes(dir / "adapter_config.json", "[2, 4]");
  r = run_hone({"info", dir.path().string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("adapter_config.json: expected a JSON object, got array"), std::string::npos) << r.err;
}

TEST(CliInfo, Hdf5File) {
  TempDir dir;
  const std::string path = (dir / "store.h5").string();
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t g = H5Gcreate2(f, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[1] = {100};
  hid_t space = H5Screate_simple(1, dims, nullptr);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hsize_t chunk[1] = {50};
  H5Pset_chunk(dcpl, 1, chunk);
  H5Pset_deflate(dcpl, 4);
  hid_t ds = H5Dcreate2(g, "input_ids", H5T_STD_I32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  std::vector<std::int32_t> ids(100, 7);
  H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids.data());
  hid_t aspace = H5Screate(H5S_SCALAR);
  hid_t attr = H5Acreate2(f, "vocab_size", H5T_STD_I64LE, aspace, H5P_DEFAULT, H5P_DEFAULT);
  std::int64_t vocab = 49152;
  H5Awrite(attr, H5T_NATIVE_INT64, &vocab);
  H5Aclose(attr);
  H5Sclose(aspace);
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Gclose(g);
  H5Fclose(f);
  auto r = run_hone({"info", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("train/input_ids"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("int32    [100], deflate"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("@vocab_size = 49152"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace hone

namespace hone {
namespace {

// ---------------------------------------------------------------------------- tokenize / generate

TEST(CliTokenize, PrintsIdsOnOneLine) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  // llama.cpp's ids for this text (SmolLM2 splits every digit; tests/text compares hone with
  // llama.cpp on all of Banking77 and a stress set).
  auto r = run_hone({"tokenize", "-m", test::model_path(), "--text", "Hello world 12345"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "19556 905 216 33 34 35 36 37\n");
  // Special-token text in user input stays text; --chat adds the template's real control tokens.
  r = run_hone({"tokenize", "-m", test::model_path(), "--text", "<|im_end|>"});
  EXPECT_EQ(r.out.find("2\n"), std::string::npos) << r.out;
  r = run_hone({"tokenize", "-m", test::model_path(), "--text", "", "--add-special"});
  EXPECT_EQ(r.out, "\n") << "SmolLM2 adds no bos";
  EXPECT_EQ(run_hone({"tokenize", "-m", test::model_path()}).exit_code, 2);
}

TEST(CliGenerate, GreedyCompletionsEqualTransformers) {
  if (!test::have_python() || !test::have_model()) GTEST_SKIP() << "no virtualenv or model";
  const std::vector<std::string> prompts = {"What is the capital of France?", "I lost my card, what should I do?",
                                            "Write a haiku about the sea."};
  std::vector<std::string> args = {"generate", test::model_path(), "48"};
  args.insert(args.end(), prompts.begin(), prompts.end());
  auto ref = test::run_python("generate_peer.py", args);
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  const auto expected = nlohmann::json::parse(ref.out);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    auto ids = run_hone({"tokenize", "-m", test::model_path(), "--text", prompts[i], "--chat"});
    std::string ref_ids;
    for (const auto& id : expected[i]["ids"]) ref_ids += (ref_ids.empty() ? "" : " ") + std::to_string(id.get<int>());
    EXPECT_EQ(ids.out, ref_ids + "\n") << "chat prompt ids of: " << prompts[i];
    auto r = run_hone({"generate", "-m", test::model_path(), "-p", prompts[i], "--chat", "-n", "48"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::string text = expected[i]["text"].get<std::string>();
    if (text.empty() || text.back() != '\n') text += "\n";
    EXPECT_EQ(r.out, text) << prompts[i];
  }
}

// --system: the chat template's system turn (as ingest --system gives the training data) in place
// of the default one; SmolLM2's default system turn is 21 tokens, an empty one 5.
TEST(CliGenerate, SystemMessageReplacesTheDefaultSystemTurn) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  auto prompt_len = [](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"generate", "-m", test::model_path(), "-p", "Where is my card?", "--chat", "-n", "1", "-v"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_hone(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto at = r.err.find("prompt ");
    return at == std::string::npos ? -1 : std::stoi(r.err.substr(at + 7));
  };
  const int def = prompt_len({}), empty = prompt_len({"--system", ""}), task = prompt_len({"--system", "Classify the banking query."});
  EXPECT_EQ(def - empty, 16);
  EXPECT_EQ(task - empty, 6);
}

// tokenize --text --chat --system: the prompt a model tuned on `ingest --system` data sees, as
// transformers' apply_chat_template gives it with that system turn (not the template's default).
TEST(CliTokenize, ChatTextWithSystemEqualsTransformers) {
  if (!test::have_python() || !test::have_model()) GTEST_SKIP() << "no virtualenv or model";
  const std::string system = "Classify the banking query.";
  const std::vector<std::string> prompts = {"Where is my card?", "I was charged twice <|im_end|> for one coffee"};
  std::vector<std::string> args = {"chat-ids", test::model_path(), system};
  args.insert(args.end(), prompts.begin(), prompts.end());
  auto ref = test::run_python("generate_peer.py", args);
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  const auto expected = nlohmann::json::parse(ref.out);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    auto r = run_hone({"tokenize", "-m", test::model_path(), "--text", prompts[i], "--chat", "--system", system});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::string ids;
    for (const auto& id : expected[i]) ids += (ids.empty() ? "" : " ") + std::to_string(id.get<int>());
    EXPECT_EQ(r.out, ids + "\n") << prompts[i];
  }
}

TEST(CliGenerate, StopStringsAndSeededSampling) {
  if (!test::have_model()) GTEST_SKIP() << "no model";
  const std::string m = test::model_path();
  auto r = run_hone({"generate", "-m", m, "-p", "What is the capital of France?", "--chat", "--stop", "Paris"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "The capital of France is \n");
  auto a = run_hone({"generate", "-m", m, "-p", "Once upon a time", "-n", "24", "--temperature", "0.9", "--top-p", "0.95",
                     "--seed", "7"});
  auto b = run_hone({"generate", "-m", m, "-p", "Once upon a time", "-n", "24", "--temperature", "0.9", "--top-p", "0.95",
                     "--seed", "7"});
  auto c = run_hone({"generate", "-m", m, "-p", "Once upon a time", "-n", "24", "--temperature", "0.9", "--top-p", "0.95",
                     "--seed", "8"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out) << "same seed, same text";
  EXPECT_NE(a.out, c.out) << "another seed, another text";
  auto v = run_hone({"generate", "-m", m, "-p", "Hi", "-n", "4", "--ignore-eos", "-v"});
  EXPECT_NE(v.err.find("generated 4 tokens in"), std::string::npos) << v.err;
}

}  // namespace
}  // namespace hone
