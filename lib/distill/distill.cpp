#include "distill/distill.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/index_select.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "data/token_store.h"
#include "distill/teacher_cache.h"
#include "model/adapter.h"
#include "model/decoder.h"
#include "text/tokenizer.h"
#include "train/dist.h"

namespace hone {

using nlohmann::json;

namespace {

// `w`'s floating-point tensors in `dtype`.
ModelWeights to_dtype(ModelWeights w, c10::ScalarType dtype) {
  if (dtype != at::kFloat)
    for (auto& [name, t] : w.tensors)
      if (t.is_floating_point()) t = t.to(dtype);
  return w;
}

// The teacher's weights on `device` with its adapter, if any, checked and merged (in float32),
// then in `dtype`.
ModelWeights load_teacher(const fs::path& teacher, const fs::path& adapter, c10::Device device,
                          c10::ScalarType dtype = at::kFloat) {
  LoadOptions load;
  load.device = device;
  load.dtype = at::kFloat;
  ModelWeights w = load_model_weights(teacher, load);
  if (!adapter.empty()) {
    const LoraAdapter a = read_lora_adapter(adapter, w.config, teacher.string());
    check_adapter_tokenizer(a, *Tokenizer::load(teacher));
    merge_lora_adapter(w.tensors, a);
  }
  return to_dtype(std::move(w), dtype);
}

// The teacher's top-k distribution at the batch's targets (no gradients), `chunk` rows of logits
// at a time. Autocast is off: the teacher computes in its weights' dtype, so that online KD (run
// inside the training step's autocast) sees the very distribution that --cache-teacher writes.
TeacherTopK run_teacher(const Decoder& teacher, const Batch& b, std::int64_t k, double temperature,
                        std::int64_t chunk) {
  at::NoGradGuard no_grad;
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const at::Tensor rows = target_hidden(teacher, b, /*checkpoint_layers=*/false);
  std::vector<at::Tensor> ids, logprobs, tail;
  for (std::int64_t start = 0; start < rows.size(0); start += chunk) {
    const std::int64_t n = std::min(chunk, rows.size(0) - start);
    TeacherTopK t = teacher_topk(teacher.logits(rows.narrow(0, start, n)), k, temperature);
    ids.push_back(t.ids), logprobs.push_back(t.logprobs), tail.push_back(t.tail);
  }
  if (ids.empty()) {
    TeacherTopK empty = teacher_topk(teacher.logits(rows), k, temperature);  // zero rows, right widths
    return empty;
  }
  return {at::cat(ids), at::cat(logprobs), at::cat(tail)};
}

// alpha * T^2 * D(teacher, student) + (1 - alpha) * CE on the loss tokens; the valid split is
// scored by the cross-entropy alone (comparable with lora-train's and across teachers).
class DistillObjective : public Objective {
 public:
  DistillObjective(const Decoder& student, std::optional<Decoder> teacher, std::shared_ptr<TeacherCacheReader> cache,
                   const DistillOptions& o, std::int64_t topk)
      : student_(student), teacher_(std::move(teacher)), cache_(std::move(cache)), kd_(o.kd), topk_(topk),
        checkpoint_(o.train.checkpoint_activations), chunk_(o.train.ce_chunk) {}

  at::Tensor loss_sum(const Batch& b) override {
    TeacherTopK t;
    if (kd_.alpha > 0)
      t = teacher_ ? run_teacher(*teacher_, b, topk_, kd_.temperature, chunk_)
                   : cache_->rows(b.sequences, student_.device());
    return linear_kd_loss(target_hidden(student_, b, checkpoint_), student_.lm_head(), b.targets, t, kd_, chunk_);
  }
  at::Tensor valid_loss_sum(const Batch& b) override { return cross_entropy_sum(student_, b, false, chunk_); }

 private:
  const Decoder& student_;
  std::optional<Decoder> teacher_;
  std::shared_ptr<TeacherCacheReader> cache_;
  KdOptions kd_;
  std::int64_t topk_;
  bool checkpoint_;
  std::int64_t chunk_;
};

std::string absolute_or_empty(const fs::path& p) {
  return p.empty() ? std::string() : fs::absolute(p).lexically_normal().string();
}

}  // namespace

std::vector<std::int64_t> parse_student_layers(const std::string& spec, std::int64_t L) {
  static const std::string prefix = "layers:";
  if (spec.rfind(prefix, 0) != 0) return {};
  const std::string body = spec.substr(prefix.size());
  static const std::regex count("[0-9]+"), list("[0-9]+(,[0-9]+)+");
  std::vector<std::int64_t> keep;
  if (std::regex_match(body, count)) {
    const std::int64_t n = std::stoll(body);
    HONE_CHECK(n >= 1 && n <= L, UsageError, "--student {}: the teacher has {} layers; N must be 1 to {}", spec, L, L);
    for (std::int64_t i = 0; i < n; ++i)
      keep.push_back(n == 1 ? 0 : static_cast<std::int64_t>(std::llround(static_cast<double>(i) * (L - 1) / (n - 1))));
  } else if (std::regex_match(body, list)) {
    std::size_t pos = 0;
    while (pos <= body.size()) {
      const std::size_t comma = body.find(',', pos);
      keep.push_back(std::stoll(body.substr(pos, comma - pos)));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    for (std::size_t i = 0; i < keep.size(); ++i) {
      HONE_CHECK(keep[i] < L, UsageError, "--student {}: layer {} does not exist (the teacher has layers 0 to {})", spec,
                 keep[i], L - 1);
      HONE_CHECK(i == 0 || keep[i] > keep[i - 1], UsageError, "--student {}: layers must be listed in increasing order",
                 spec);
    }
  } else {
    HONE_THROW(UsageError, Hint{"e.g. --student layers:10, or --student layers:0,5,10,15"},
               "--student '{}': expected layers:N or layers:i,j,k", spec);
  }
  return keep;
}

ModelWeights layer_student(ModelWeights teacher, const std::vector<std::int64_t>& keep) {
  static const std::regex layer_name("model\\.layers\\.([0-9]+)\\.(.*)");
  ModelWeights s;
  s.config = teacher.config;
  s.config.num_hidden_layers = static_cast<std::int64_t>(keep.size());
  s.rope_freq_factors = teacher.rope_freq_factors;
  s.source = teacher.source;
  for (auto& [name, tensor] : teacher.tensors) {
    std::smatch m;
    if (!std::regex_match(name, m, layer_name)) {
      s.tensors[name] = tensor.clone();
      continue;
    }
    const auto it = std::find(keep.begin(), keep.end(), std::stoll(m[1].str()));
    if (it != keep.end()) s.tensors[fmt::format("model.layers.{}.{}", it - keep.begin(), m[2].str())] = tensor.clone();
  }
  return s;
}

TrainSummary distill(const DistillOptions& d) {
  check_kd_options(d.kd);
  HONE_CHECK(!d.student.empty(), UsageError, "--student is required: a model path, or layers:N");
  const bool layers_student = d.student.rfind("layers:", 0) == 0;
  const bool offline = !d.teacher_cache.empty();
  const bool kd_on = d.kd.alpha > 0;
  HONE_CHECK(!d.teacher.empty() || (offline && !layers_student) || (!kd_on && !layers_student), UsageError,
             "--teacher is required ({})", layers_student ? "a layers:N student is made from it" : "online distillation runs it");
  HONE_CHECK(!(offline && !kd_on), UsageError, "--teacher-cache with --kd-alpha 0: the cache would not be used");

  TrainOptions o = d.train;
  o.full = !d.student_lora;
  o.model = layers_student ? d.teacher : fs::path(d.student);

  // Checks that need only the store: the teacher's tokenizer, or the cache against the store.
  const auto store_owner = std::make_shared<const data::TokenStore>(data::read_token_store(o.data));
  const data::TokenStore& store = *store_owner;
  HONE_CHECK(store.splits.count("train"), InputError, "{}: no 'train' split", o.data.string());
  const data::TokenSplit& train_split = store.splits.at("train");
  std::shared_ptr<TeacherCacheReader> cache;
  std::int64_t topk = d.topk;
  if (offline) {
    cache = std::make_shared<TeacherCacheReader>(d.teacher_cache);
    cache->check_store(o.data, store.meta.tokenizer_fingerprint, data::split_sha256(train_split),
                       target_offsets(train_split));
    HONE_CHECK(std::abs(cache->meta().temperature - d.kd.temperature) < 1e-12, UsageError,
               Hint{"pass --temperature " + fmt::format("{}", cache->meta().temperature) +
                    ", or cache the teacher again at this temperature"},
               "{}: the cache holds the teacher at temperature {}, but --temperature is {}", d.teacher_cache.string(),
               cache->meta().temperature, d.kd.temperature);
    topk = cache->meta().topk;
  }
  if (!d.teacher.empty()) data::check_tokenizer(store, o.data, *Tokenizer::load(d.teacher), d.teacher.string());

  // The teacher's weights are loaded once: the layers student is cut from them, and the online
  // objective runs them.
  auto teacher_weights = std::make_shared<std::optional<ModelWeights>>();
  TrainJob job;
  job.command = "distill";
  job.store = store_owner;  // read once, for the checks above and for training
  job.loss_label = kd_on ? fmt::format("{} x {} + {} x cross-entropy (nats per loss token)", d.kd.alpha,
                                       divergence_name(d.kd.divergence), 1.0 - d.kd.alpha)
                         : "cross-entropy (nats per loss token)";
  json identity = {{"teacher", absolute_or_empty(d.teacher)},
                   {"teacher_adapter", absolute_or_empty(d.teacher_adapter)},
                   {"student", layers_student ? d.student : absolute_or_empty(d.student)},
                   {"kd_loss", divergence_name(d.kd.divergence)},
                   {"kd_alpha", d.kd.alpha},
                   {"temperature", d.kd.temperature},
                   {"topk", topk},
                   {"teacher_cache", absolute_or_empty(d.teacher_cache)}};
  if (d.kd.divergence == Divergence::kJsd) identity["jsd_beta"] = d.kd.beta;
  job.identity_json = json{{"distill", identity}}.dump();
  if (layers_student && d.student_lora) job.base_model = (o.out / "student-base").string();

  job.load_model = [&, teacher_weights](c10::Device device, bool main) -> Decoder {
    const bool need_teacher = layers_student || (kd_on && !offline);
    if (need_teacher) teacher_weights->emplace(load_teacher(d.teacher, d.teacher_adapter, device));
    if (!layers_student) {
      LoadOptions load;
      load.device = device;
      load.dtype = at::kFloat;
      return load_decoder(o.model, load);
    }
    const ModelWeights& t = **teacher_weights;
    const std::vector<std::int64_t> keep = parse_student_layers(d.student, t.config.num_hidden_layers);
    Decoder student(layer_student(t, keep));
    if (main)
      spdlog::info("student: {} of the teacher's {} layers ({})", keep.size(), t.config.num_hidden_layers,
                   fmt::join(keep, ","));
    if (main && d.student_lora) write_full_model(o.out / "student-base", student, d.teacher, store.meta.max_len);
    if (!(kd_on && !offline)) teacher_weights->reset();  // only the student needed it
    return student;
  };
  job.make_objective = [&, teacher_weights, cache](const Decoder& student, c10::Device device) -> std::unique_ptr<Objective> {
    std::optional<Decoder> teacher;
    if (kd_on && !offline) {
      // In bf16 precision the teacher's weights are bf16, as --cache-teacher has them.
      teacher.emplace(to_dtype(std::move(**teacher_weights), bf16_precision(o.precision, device) ? at::kBFloat16 : at::kFloat));
      teacher_weights->reset();
      HONE_CHECK(teacher->config().vocab_size <= student.config().vocab_size, InputError,
                 "the teacher's vocabulary ({}) is larger than the student's ({})", teacher->config().vocab_size,
                 student.config().vocab_size);
    }
    if (cache)
      HONE_CHECK(cache->meta().vocab_size <= student.config().vocab_size, InputError,
                 "{}: the cached teacher's vocabulary ({}) is larger than the student's ({})",
                 d.teacher_cache.string(), cache->meta().vocab_size, student.config().vocab_size);
    return std::make_unique<DistillObjective>(student, std::move(teacher), cache, d, topk);
  };
  return hone::train(o, job);
}

void cache_teacher(const CacheTeacherOptions& c) {
  HONE_CHECK(!c.teacher.empty(), UsageError, "--teacher is required with --cache-teacher");
  HONE_CHECK(c.temperature > 0 && std::isfinite(c.temperature), UsageError, "--temperature must be positive, got {}",
             c.temperature);
  HONE_CHECK(c.batch_size > 0, UsageError, "--batch-size must be positive");
  HONE_CHECK(c.overwrite || !fs::exists(c.out), UsageError, Hint{"pass --overwrite to replace it"}, "{} already exists",
             c.out.string());
  if (c.threads > 0) at::set_num_threads(c.threads);
  const data::TokenStore store = data::read_token_store(c.data);
  HONE_CHECK(store.splits.count("train") && store.splits.at("train").sequences() > 0, InputError,
             "{}: no 'train' split (or it is empty)", c.data.string());
  const data::TokenSplit& train = store.splits.at("train");
  data::check_tokenizer(store, c.data, *Tokenizer::load(c.teacher), c.teacher.string());
  const c10::Device device = parse_device(c.device, DistEnv::from_environment().local_rank);
  const bool bf16 = bf16_precision(c.precision, device);
  if (bf16) warn_if_emulated_bf16(device, fmt::format("--precision {}", c.precision));

  ModelWeights w = load_teacher(c.teacher, c.teacher_adapter, device, bf16 ? at::kBFloat16 : at::kFloat);
  const std::string config_json = w.config.to_hf_json();
  Decoder teacher(std::move(w));
  const std::int64_t V = teacher.config().vocab_size;
  const std::vector<std::int64_t> offsets = target_offsets(train);
  TeacherCacheMeta meta;
  meta.tokenizer_fingerprint = store.meta.tokenizer_fingerprint;
  meta.store_sha256 = data::split_sha256(train);
  meta.store = c.data.string();
  meta.teacher = c.teacher.string();
  meta.teacher_adapter = c.teacher_adapter.string();
  meta.teacher_config = config_json;
  meta.topk = c.topk <= 0 || c.topk >= V ? V : c.topk;
  meta.temperature = c.temperature;
  meta.vocab_size = V;
  meta.teacher_dtype = bf16 ? "bf16" : "f32";
  meta.rows = offsets.back();
  spdlog::info("caching the teacher's top {} of {} tokens at {} targets of {} sequences (temperature {}, {} weights)",
               meta.topk, V, meta.rows, train.sequences(), c.temperature, meta.teacher_dtype);

  TeacherCacheWriter writer(c.out, meta, offsets);
  const auto t0 = std::chrono::steady_clock::now();
  std::int64_t next_log = 0;
  for (std::int64_t first = 0; first < train.sequences(); first += c.batch_size) {
    std::vector<std::int64_t> seqs;
    for (std::int64_t j = first; j < std::min(first + c.batch_size, train.sequences()); ++j) seqs.push_back(j);
    const Batch b = make_batch(train, seqs, device);
    if (b.loss_tokens > 0) writer.append(run_teacher(teacher, b, meta.topk, c.temperature, 1024));
    const std::int64_t done = first + static_cast<std::int64_t>(seqs.size());
    if (done >= next_log || done == train.sequences()) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      spdlog::info("{}/{} sequences ({:.0f}/s)", done, train.sequences(), s > 0 ? done / s : 0.0);
      next_log = done + std::max<std::int64_t>(1, train.sequences() / 10);
    }
  }
  writer.commit();
  spdlog::info("teacher cache written to {} ({:.1f} MB)", c.out.string(),
               static_cast<double>(fs::file_size(c.out)) / 1e6);
}

}  // namespace hone
