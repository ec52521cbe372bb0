#include "train/train_fixtures.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "core/dtype.h"
#include "core/gguf.h"
#include "core/safetensors.h"
#include "helpers.h"
#include "model/names.h"

extern char** environ;

namespace hone::test {

fs::path write_tiny_gguf(const fs::path& dir, std::uint64_t seed, std::int64_t layers) {
  const GGUFFile src = GGUFFile::open(model_path());
  GGUFWriter w;
  for (const auto& [key, value] : src.metadata())
    if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
  w.set("general.architecture", GGUFValue::str("llama"));
  w.set("general.name", GGUFValue::str("tiny test llama"));
  const std::int64_t hidden = 64, heads = 4, kv = 2, inter = 128, vocab = 49152, hd = hidden / heads;
  w.set("llama.context_length", GGUFValue::u32(512));
  w.set("llama.embedding_length", GGUFValue::u32(hidden));
  w.set("llama.block_count", GGUFValue::u32(layers));
  w.set("llama.feed_forward_length", GGUFValue::u32(inter));
  w.set("llama.attention.head_count", GGUFValue::u32(heads));
  w.set("llama.attention.head_count_kv", GGUFValue::u32(kv));
  w.set("llama.attention.layer_norm_rms_epsilon", GGUFValue::f32(1e-5f));
  w.set("llama.rope.freq_base", GGUFValue::f32(10000.0f));
  w.set("llama.vocab_size", GGUFValue::u32(vocab));

  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<std::vector<float>> keep;  // the writer reads the data when it writes
  ModelConfig llama;  // names only: llama's GGUF names do not depend on the sizes
  llama.num_hidden_layers = layers;
  llama.attention_bias = false;
  auto add = [&](const std::string& hf, std::vector<std::int64_t> shape, bool ones) {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    std::vector<float> data(n);
    for (auto& x : data) x = ones ? 1.0f : normal(rng);
    keep.push_back(std::move(data));
    w.add_tensor_f32(*hf_to_gguf_name(llama, hf), GGMLType::kF32, shape, keep.back().data());
  };
  keep.reserve(static_cast<std::size_t>(2 + 9 * layers));  // pointers into it must stay valid
  add("model.embed_tokens.weight", {vocab, hidden}, false);
  add("model.norm.weight", {hidden}, true);
  for (std::int64_t l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {hidden}, true);
    add(p + "post_attention_layernorm.weight", {hidden}, true);
    add(p + "self_attn.q_proj.weight", {heads * hd, hidden}, false);
    add(p + "self_attn.k_proj.weight", {kv * hd, hidden}, false);
    add(p + "self_attn.v_proj.weight", {kv * hd, hidden}, false);
    add(p + "self_attn.o_proj.weight", {hidden, heads * hd}, false);
    add(p + "mlp.gate_proj.weight", {inter, hidden}, false);
    add(p + "mlp.up_proj.weight", {inter, hidden}, false);
    add(p + "mlp.down_proj.weight", {hidden, inter}, false);
  }
  const fs::path out = dir / "tiny.gguf";
  w.write(out);
  return out;
}

namespace {

std::string example(std::mt19937_64& rng, int i) {
  static const char* words[] = {"card", "transfer", "refund", "pending", "top", "up", "exchange", "rate",
                                "my", "the", "why", "is", "still", "not", "working", "account", "blocked", "fee"};
  std::uniform_int_distribution<int> len(3, 18), word(0, 17);
  std::string prompt, completion;
  for (int k = 0, n = len(rng); k < n; ++k) prompt += std::string(k ? " " : "") + words[word(rng)];
  completion = std::string(words[i % 18]) + "_" + std::to_string(i % 7);
  return "{\"prompt\": \"" + prompt + "\", \"completion\": \"" + completion + "\"}\n";
}

}  // namespace

void write_gguf_with_other_tokenizer(const fs::path& src_path, const fs::path& dst) {
  GGUFFile src = GGUFFile::open(src_path);
  GGUFWriter w;
  for (const auto& [key, value] : src.metadata()) {
    GGUFValue v = value;
    if (key == "tokenizer.ggml.eos_token_id") v = GGUFValue::u32(1);
    w.set(key, v);
  }
  for (const auto& t : src.tensors())
    w.add_tensor(t.name, t.type, t.shape(), [&t](std::byte* out) { std::memcpy(out, t.data, t.nbytes); });
  w.write(dst);
}

fs::path make_store(const fs::path& dir, const fs::path& model, int n_train, int n_valid, bool packed) {
  const fs::path raw = dir / "raw";
  fs::create_directories(raw);
  std::mt19937_64 rng(7);
  std::string train, valid;
  for (int i = 0; i < n_train; ++i) train += example(rng, i);
  for (int i = 0; i < n_valid; ++i) valid += example(rng, 1000 + i);
  write_bytes(raw / "train.jsonl", train);
  std::vector<std::string> ingest{"ingest", (raw / "train.jsonl").string()};
  if (n_valid > 0) {
    write_bytes(raw / "valid.jsonl", valid);
    ingest.push_back((raw / "valid.jsonl").string());
  }
  ingest.insert(ingest.end(), {"--format", "prompt-completion", "-o", (dir / "data").string()});
  CommandResult r = run_hone(ingest);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const fs::path store = dir / (packed ? "packed.h5" : "store.h5");
  std::vector<std::string> tok{"tokenize", (dir / "data").string(), "-o", store.string(), "-m", model.string(),
                               "--max-len", "96"};
  if (packed) tok.push_back("--pack");
  r = run_hone(tok);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return store;
}

int Child::wait(std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  int status = 0;
  pid_t r = 0;
  while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
    if (std::chrono::steady_clock::now() > end) {  // stuck: end it, reap it, and say so
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "child " << pid << " still running after " << limit.count() << " s: killed";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (r < 0) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

Child spawn_hone(const std::vector<std::string>& args, const std::vector<std::string>& env, const fs::path& log) {
  std::vector<std::string> argv{HONE_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) envs.emplace_back(*e);
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> cenv;
  for (auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string out = log.empty() ? "/dev/null" : log.string();
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  Child c;
  const int rc = posix_spawn(&c.pid, argv[0].c_str(), &actions, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) c.pid = -1;
  return c;
}

std::vector<std::pair<std::string, std::vector<float>>> read_f32_tensors(const fs::path& file) {
  const SafetensorsFile st = SafetensorsFile::open(file);
  std::vector<std::pair<std::string, std::vector<float>>> out;
  for (const TensorView& v : st.tensors()) {
    std::vector<float> data(v.numel());
    if (v.dtype == DType::kF32) {
      std::memcpy(data.data(), v.data, v.nbytes);
    } else {  // a model saved in bf16 or f16 (--save-dtype): its values, exactly, as float32
      EXPECT_TRUE(v.dtype == DType::kBF16 || v.dtype == DType::kF16) << file << ": " << v.name << " is " << dtype_name(v.dtype);
      for (std::size_t i = 0; i < data.size(); ++i) {
        std::uint16_t bits;
        std::memcpy(&bits, v.data + 2 * i, 2);
        data[i] = v.dtype == DType::kBF16 ? bf16_to_float(bits) : half_to_float(bits);
      }
    }
    out.emplace_back(v.name, std::move(data));
  }
  return out;
}

double max_abs_diff(const fs::path& a, const fs::path& b) {
  auto ta = read_f32_tensors(a), tb = read_f32_tensors(b);
  std::sort(ta.begin(), ta.end());
  std::sort(tb.begin(), tb.end());
  if (ta.size() != tb.size()) return INFINITY;
  double m = 0;
  for (std::size_t i = 0; i < ta.size(); ++i) {
    if (ta[i].first != tb[i].first || ta[i].second.size() != tb[i].second.size()) return INFINITY;
    for (std::size_t k = 0; k < ta[i].second.size(); ++k)
      m = std::max(m, static_cast<double>(std::fabs(ta[i].second[k] - tb[i].second[k])));
  }
  return m;
}

long last_metrics_step(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  long step = 0;
  while (std::getline(in, line)) {
    const auto p = line.find("\"step\":");
    if (p != std::string::npos) step = std::max(step, std::atol(line.c_str() + p + 7));
  }
  return step;
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

bool wait_for_step(Child& c, const fs::path& run, long step, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (last_metrics_step(run) < step) {
    int status = 0;
    if (waitpid(c.pid, &status, WNOHANG) == c.pid) {
      c.pid = -1;
      return false;
    }
    if (std::chrono::steady_clock::now() > end) {  // stuck: end it rather than leave it running
      kill(c.pid, SIGKILL);
      c.wait();
      c.pid = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace hone::test
