#include "distill/distill.h"

#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/zeros.h>
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

// What the teacher computes for a batch (no gradients), one sequence at a time: each row is run
// alone at its own length, so what the teacher gives a sequence does not depend on the batch it
// came in (its size, its padding, the rows beside it). Kernels whose rounding follows the shapes
// (oneDNN's bf16 GEMMs, the attention's blocking) would otherwise make the online teacher, which
// sees the training batches, differ from --cache-teacher, which sees others. Autocast is off: the
// teacher computes in its weights' dtype, so that online KD (run inside the training step's
// autocast) sees the very distribution that --cache-teacher writes.
enum class TeacherLayers { kNone, kAllTokens, kTargets };

struct TeacherOutput {
  TeacherTopK topk;  // at the batch's targets, in their order (empty without `want_topk`)
  // Each layer's output [rows, H]: at b.token_index (kAllTokens) or at b.target_index (kTargets).
  std::vector<at::Tensor> layers;
};

// What run_teacher collects for a hidden-state term over `tokens` (kNone without one).
TeacherLayers teacher_layers_for(bool hidden, HiddenTokens tokens) {
  if (!hidden) return TeacherLayers::kNone;
  return tokens == HiddenTokens::kAll ? TeacherLayers::kAllTokens : TeacherLayers::kTargets;
}

TeacherOutput run_teacher(const Decoder& teacher, const Batch& b, std::int64_t k, double temperature,
                          bool want_topk = true, TeacherLayers want_layers = TeacherLayers::kNone) {
  at::NoGradGuard no_grad;
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  const std::int64_t B = b.input_ids.size(0), T = b.input_ids.size(1);
  TeacherOutput out;
  std::vector<at::Tensor> ids, logprobs, tail;
  std::vector<std::vector<at::Tensor>> layers;
  std::int64_t first_target = 0;
  for (std::int64_t j = 0; j < B; ++j) {
    // Row j's real tokens are its first row_tokens[j] positions; its targets are consecutive.
    const std::int64_t len = b.row_tokens[j], n = b.row_targets[j];
    const bool all_tokens = want_layers == TeacherLayers::kAllTokens;
    if (len == 0 || (n == 0 && !all_tokens)) {
      first_target += n;
      continue;
    }
    ForwardInput in;
    in.input_ids = b.input_ids.narrow(0, j, 1).narrow(1, 0, len);
    in.position_ids = b.position_ids.narrow(0, j, 1).narrow(1, 0, len);
    if (b.document_ids.defined()) in.document_ids = b.document_ids.narrow(0, j, 1).narrow(1, 0, len);
    std::vector<at::Tensor> row_layers;
    if (want_layers != TeacherLayers::kNone) in.layer_outputs = &row_layers;
    const at::Tensor hidden = teacher.forward_hidden(in).squeeze(0);  // [len, H]
    const at::Tensor at_targets =
        n > 0 ? b.target_index.narrow(0, first_target, n) - j * T : at::Tensor();  // row positions
    layers.resize(row_layers.size());
    for (std::size_t l = 0; l < row_layers.size(); ++l) {
      const at::Tensor h = row_layers[l].squeeze(0);
      layers[l].push_back(all_tokens ? h : at::index_select(h, 0, at_targets));
    }
    if (want_topk && n > 0) {
      TeacherTopK t = teacher_topk(teacher.logits(at::index_select(hidden, 0, at_targets)), k, temperature);
      ids.push_back(t.ids), logprobs.push_back(t.logprobs), tail.push_back(t.tail);
    }
    first_target += n;
  }
  if (want_topk) {
    if (ids.empty()) {  // no targets: zero rows of the right widths
      const at::Tensor none = at::zeros({0, teacher.config().hidden_size}, teacher.lm_head().options());
      out.topk = teacher_topk(teacher.logits(none), k, temperature);
    } else {
      out.topk = {at::cat(ids), at::cat(logprobs), at::cat(tail)};
    }
  }
  for (const auto& per_row : layers) out.layers.push_back(at::cat(per_row));
  return out;
}

// alpha * T^2 * D(teacher, student) + (1 - alpha) * CE on the loss tokens, plus, with a hidden
// weight w, w * N * mean(1 - cos) over the matched layers' hidden states (N: the batch's loss
// tokens); the valid split is scored by the cross-entropy alone (comparable with lora-train's and
// across teachers).
class DistillObjective : public Objective {
 public:
  // `matched[j]`: the teacher layer that student layer j is matched to (empty: no hidden term).
  // Without an online teacher, the divergence's teacher rows and the matched layers' outputs come
  // from `cache`.
  DistillObjective(const Decoder& student, std::optional<Decoder> teacher, std::shared_ptr<TeacherCacheReader> cache,
                   const DistillOptions& o, std::int64_t topk, std::vector<std::int64_t> matched)
      : student_(student), teacher_(std::move(teacher)), cache_(std::move(cache)), kd_(o.kd), topk_(topk),
        checkpoint_(o.train.checkpoint_activations), chunk_(o.train.ce_chunk), hidden_weight_(o.hidden_weight),
        hidden_tokens_(o.hidden_tokens), matched_(std::move(matched)) {}

  at::Tensor loss_sum(const Batch& b) override {
    const bool hidden = !matched_.empty();
    TeacherOutput t;
    std::vector<at::Tensor> teacher_layers;  // teacher_layers[j]: what student layer j is pulled towards
    if (teacher_) {
      if (kd_.alpha > 0 || hidden)
        t = run_teacher(*teacher_, b, topk_, kd_.temperature, kd_.alpha > 0,
                        teacher_layers_for(hidden, hidden_tokens_));
      if (!t.layers.empty())  // empty when the batch has no position the term runs over
        for (std::int64_t l : matched_) teacher_layers.push_back(t.layers.at(static_cast<std::size_t>(l)));
    } else {
      if (kd_.alpha > 0) t.topk = cache_->rows(b.sequences, student_.device());
      if (hidden) teacher_layers = cache_->hidden(b.sequences, matched_, student_.device());
    }
    std::vector<at::Tensor> student_layers;
    at::Tensor loss = linear_kd_loss(target_hidden(student_, b, checkpoint_, hidden ? &student_layers : nullptr),
                                     student_.lm_head(), b.targets, t.topk, kd_, chunk_);
    if (!hidden) return loss;
    // The teacher's layers come at the same positions, in the same order.
    const at::Tensor& index = hidden_tokens_ == HiddenTokens::kAll ? b.token_index : b.target_index;
    if (index.numel() == 0) return loss;
    at::Tensor sum;
    for (std::size_t j = 0; j < matched_.size(); ++j) {
      const at::Tensor& s = student_layers.at(j);
      const at::Tensor term =
          hidden_cosine_loss_sum(at::index_select(s.reshape({-1, s.size(-1)}), 0, index), teacher_layers.at(j));
      sum = sum.defined() ? sum + term : term;
    }
    const double scale = hidden_weight_ * static_cast<double>(b.loss_tokens) /
                         (static_cast<double>(index.numel()) * static_cast<double>(matched_.size()));
    return loss + sum * scale;
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
  double hidden_weight_;
  HiddenTokens hidden_tokens_;
  std::vector<std::int64_t> matched_;
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
  if (!teacher.config.sliding_layers.empty()) {  // each kept layer keeps its attention kind
    s.config.sliding_layers.clear();
    for (std::int64_t l : keep) s.config.sliding_layers.push_back(teacher.config.sliding_layers[static_cast<std::size_t>(l)]);
  }
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


namespace {

// The option checks that need nothing read.
void check_distill_options(const DistillOptions& d, bool layers_student, bool offline) {
  check_kd_options(d.kd);
  HONE_CHECK(!d.student.empty(), UsageError, "--student is required: a model path, or layers:N");
  const bool kd_on = d.kd.alpha > 0;
  HONE_CHECK(!d.teacher.empty() || (offline && !layers_student) || (!kd_on && !layers_student), UsageError,
             "--teacher is required ({})", layers_student ? "a layers:N student is made from it" : "online distillation runs it");
  HONE_CHECK(d.hidden_weight >= 0 && std::isfinite(d.hidden_weight), UsageError,
             "--hidden-weight must be 0 or positive, got {}", d.hidden_weight);
  HONE_CHECK(!(offline && !kd_on && d.hidden_weight == 0), UsageError,
             "--teacher-cache with --kd-alpha 0 and no --hidden-weight: the cache would not be used");
  HONE_CHECK(d.hidden_weight == 0 || layers_student, UsageError,
             Hint{"cut the student from the teacher with --student layers:N, or pass --hidden-weight 0"},
             "--hidden-weight matches each student layer to the teacher layer it was cut from, but --student {} is "
             "not a layers: student", d.student);
  HONE_CHECK(d.layer_choice == LayerChoice::kEven || layers_student, UsageError,
             "--layer-choice {} applies to a layers:N student, not --student {}", to_string(d.layer_choice), d.student);
}

// The cache, checked against the store and the options.
std::shared_ptr<TeacherCacheReader> open_cache(const DistillOptions& d, const fs::path& data,
                                               const data::TokenStore& store, const data::TokenSplit& train) {
  auto cache = std::make_shared<TeacherCacheReader>(d.teacher_cache);
  cache->check_store(data, store.meta.tokenizer_fingerprint, data::split_sha256(train), target_offsets(train));
  HONE_CHECK(d.kd.alpha == 0 || std::abs(cache->meta().temperature - d.kd.temperature) < 1e-12, UsageError,
             Hint{"pass --temperature " + fmt::format("{}", cache->meta().temperature) +
                  ", or cache the teacher again at this temperature"},
             "{}: the cache holds the teacher at temperature {}, but --temperature is {}", d.teacher_cache.string(),
             cache->meta().temperature, d.kd.temperature);
  return cache;
}

// Per sequence of `split`, where its hidden rows start in a cache's hidden datasets.
std::vector<std::int64_t> hidden_offsets(const data::TokenSplit& split, HiddenTokens tokens) {
  if (tokens == HiddenTokens::kTargets) return target_offsets(split);
  std::vector<std::int64_t> out;  // the sequences' real tokens
  for (std::int64_t e : split.sequence_offsets) out.push_back(split.example_offsets[static_cast<std::size_t>(e)]);
  return out;
}

}  // namespace

TrainSummary distill(const DistillOptions& d) {
  const bool layers_student = d.student.rfind("layers:", 0) == 0;
  const bool offline = !d.teacher_cache.empty();
  check_distill_options(d, layers_student, offline);
  const bool kd_on = d.kd.alpha > 0, hidden_on = d.hidden_weight > 0;
  const bool teacher_online = !offline && (kd_on || hidden_on);

  TrainOptions o = d.train;
  o.full = !d.student_lora;
  o.model = layers_student ? d.teacher : fs::path(d.student);

  // Checks that need only the store: the teacher's tokenizer, or the cache against the store.
  const auto store_owner = std::make_shared<const data::TokenStore>(data::read_token_store(o.data));
  const data::TokenStore& store = *store_owner;
  const data::TokenSplit& train_split = data::require_split(store, o.data, "train");
  std::shared_ptr<TeacherCacheReader> cache;
  std::int64_t topk = d.topk;
  if (offline) {
    cache = open_cache(d, o.data, store, train_split);
    topk = cache->meta().topk;
  }
  if (!d.teacher.empty()) data::check_tokenizer(store, o.data, *Tokenizer::load(d.teacher), d.teacher.string());

  // The teacher's weights are loaded once: the layers student is cut from them, and the online
  // objective runs them.
  auto teacher_weights = std::make_shared<std::optional<ModelWeights>>();
  auto chosen = std::make_shared<StudentLayers>();
  TrainJob job;
  job.command = "distill";
  job.store = store_owner;  // read once, for the checks above and for training
  job.loss_label = kd_on ? fmt::format("{} x {} + {} x cross-entropy", d.kd.alpha, divergence_name(d.kd.divergence),
                                       1.0 - d.kd.alpha)
                         : "cross-entropy";
  if (hidden_on)
    job.loss_label += fmt::format(" + {} x hidden-state cosine distance ({} tokens)", d.hidden_weight, to_string(d.hidden_tokens));
  job.loss_label += " (nats per loss token)";
  json identity = {{"teacher", absolute_or_empty(d.teacher)},
                   {"teacher_adapter", absolute_or_empty(d.teacher_adapter)},
                   {"student", layers_student ? d.student : absolute_or_empty(d.student)},
                   {"kd_loss", divergence_name(d.kd.divergence)},
                   {"kd_alpha", d.kd.alpha},
                   {"temperature", d.kd.temperature},
                   {"topk", topk},
                   {"teacher_cache", absolute_or_empty(d.teacher_cache)}};
  if (d.kd.divergence == Divergence::kJsd) identity["jsd_beta"] = d.kd.beta;
  if (hidden_on) identity["hidden_weight"] = d.hidden_weight, identity["hidden_tokens"] = to_string(d.hidden_tokens);
  if (d.layer_choice != LayerChoice::kEven)
    identity["layer_choice"] = to_string(d.layer_choice), identity["influence_sample"] = d.influence_sample;
  job.identity_json = json{{"distill", identity}}.dump();
  if (layers_student) job.run_json_extra = [chosen] { return json{{"student_layers", json::parse(chosen->json())}}.dump(); };
  if (layers_student && d.student_lora) job.base_model = (o.out / "student-base").string();

  job.load_model = [&, teacher_weights, chosen](c10::Device device, bool main) -> Decoder {
    const bool need_teacher = layers_student || teacher_online;
    if (need_teacher) teacher_weights->emplace(load_teacher(d.teacher, d.teacher_adapter, device));
    if (!layers_student) {
      LoadOptions load;
      load.device = device;
      load.dtype = at::kFloat;
      return load_decoder(o.model, load);
    }
    const ModelWeights& t = **teacher_weights;
    *chosen = choose_student_layers(d.student, d.layer_choice, Decoder(t), train_split, d.influence_sample);
    Decoder student(layer_student(t, chosen->keep));
    if (main)
      spdlog::info("student: {} of the teacher's {} layers: {}", chosen->keep.size(), t.config.num_hidden_layers,
                   chosen->summary());
    if (main && d.student_lora) write_full_model(o.out / "student-base", student, d.teacher, store.meta.max_len);
    if (!teacher_online) teacher_weights->reset();  // only the student needed it
    return student;
  };
  job.make_objective = [&, teacher_weights, cache, chosen](const Decoder& student,
                                                           c10::Device device) -> std::unique_ptr<Objective> {
    std::optional<Decoder> teacher;
    const std::vector<std::int64_t> matched = hidden_on ? chosen->keep : std::vector<std::int64_t>{};
    if (teacher_online) {
      // Under bf16 compute the teacher's weights are bf16, as cache-teacher has them.
      teacher.emplace(to_dtype(std::move(**teacher_weights), resolve_dtype(o.dtype, device)));
      teacher_weights->reset();
      HONE_CHECK(teacher->config().vocab_size <= student.config().vocab_size, InputError,
                 "the teacher's vocabulary ({}) is larger than the student's ({})", teacher->config().vocab_size,
                 student.config().vocab_size);
    }
    if (cache) {
      HONE_CHECK(cache->meta().vocab_size <= student.config().vocab_size, InputError,
                 "{}: the cached teacher's vocabulary ({}) is larger than the student's ({})",
                 d.teacher_cache.string(), cache->meta().vocab_size, student.config().vocab_size);
      if (hidden_on) cache->check_hidden(matched, d.hidden_tokens, hidden_offsets(train_split, d.hidden_tokens));
    }
    return std::make_unique<DistillObjective>(student, std::move(teacher), cache, d, topk, matched);
  };
  return hone::train(o, job);
}

namespace {

// The cache's description of the teacher and the data (everything but the hidden states).
TeacherCacheMeta cache_meta(const CacheTeacherOptions& c, const data::TokenStore& store, const data::TokenSplit& train,
                            std::int64_t targets, const ModelConfig& config, c10::ScalarType dtype) {
  TeacherCacheMeta meta;
  const std::int64_t V = config.vocab_size;
  meta.tokenizer_fingerprint = store.meta.tokenizer_fingerprint;
  meta.store_sha256 = data::split_sha256(train);
  meta.store = c.data.string();
  meta.teacher = c.teacher.string();
  meta.teacher_adapter = c.teacher_adapter.string();
  meta.teacher_config = config.to_hf_json();
  meta.topk = c.topk <= 0 || c.topk >= V ? V : c.topk;
  meta.temperature = c.temperature;
  meta.vocab_size = V;
  meta.teacher_dtype = compute_type_name(dtype);
  meta.rows = targets;
  return meta;
}

}  // namespace

void cache_teacher(const CacheTeacherOptions& c) {
  HONE_CHECK(!c.teacher.empty(), UsageError, "--teacher is required");
  HONE_CHECK(c.temperature > 0 && std::isfinite(c.temperature), UsageError, "--temperature must be positive, got {}",
             c.temperature);
  HONE_CHECK(c.batch_size > 0, UsageError, "--batch-size must be positive");
  HONE_CHECK(c.overwrite || !fs::exists(c.out), UsageError, Hint{"pass --overwrite to replace it"}, "{} already exists",
             c.out.string());
  HONE_CHECK(c.student.empty() || c.student.rfind("layers:", 0) == 0, UsageError,
             "--student {}: the cache holds the hidden states of a layers: student (layers:N or layers:i,j,k)",
             c.student);
  HONE_CHECK(c.hidden_dtype == ComputeDtype::kF32 || c.hidden_dtype == ComputeDtype::kBF16 ||
                 c.hidden_dtype == ComputeDtype::kF16,
             UsageError, "--hidden-dtype must be f32, bf16 or f16, got '{}'", to_string(c.hidden_dtype));
  if (c.threads > 0) at::set_num_threads(c.threads);
  const data::TokenStore store = data::read_token_store(c.data);
  HONE_CHECK(!store.meta.preference, InputError, "{}: a store of preference pairs; the teacher cache needs examples",
             c.data.string());
  const data::TokenSplit& train = data::require_split(store, c.data, "train");
  data::check_tokenizer(store, c.data, *Tokenizer::load(c.teacher), c.teacher.string());
  const Compute compute = resolve_compute(c.device, c.dtype, DistEnv::from_environment().local_rank);
  const c10::Device device = compute.device;
  HONE_CHECK(compute.dtype != at::kHalf, UsageError, Hint{"use --dtype bf16"},
             "--dtype f16: the teacher cache holds f32 or bf16 teachers");

  // The student's layers are chosen on the float32 teacher, as distill chooses them.
  ModelWeights w = load_teacher(c.teacher, c.teacher_adapter, device);
  StudentLayers chosen;
  if (!c.student.empty()) {
    chosen = choose_student_layers(c.student, c.layer_choice, Decoder(w), train, c.influence_sample);
    spdlog::info("hidden states of the student's {} layers: {}", chosen.keep.size(), chosen.summary());
  }
  Decoder teacher(to_dtype(std::move(w), compute.dtype));
  const std::vector<std::int64_t> target_rows = target_offsets(train);
  TeacherCacheMeta meta = cache_meta(c, store, train, target_rows.back(), teacher.config(), compute.dtype);
  const std::vector<std::int64_t> hidden_rows = hidden_offsets(train, c.hidden_tokens);
  if (!chosen.keep.empty()) {
    meta.hidden_layers = chosen.keep;
    meta.hidden_tokens = c.hidden_tokens;
    meta.hidden_dtype = std::string(to_string(c.hidden_dtype));
    meta.hidden_size = teacher.config().hidden_size;
    meta.hidden_rows = hidden_rows.back();
    meta.student_layers = chosen.json();
  }
  spdlog::info("caching the teacher's top {} of {} tokens at {} targets of {} sequences (temperature {}, {} weights){}",
               meta.topk, meta.vocab_size, meta.rows, train.sequences(), c.temperature, meta.teacher_dtype,
               chosen.keep.empty() ? std::string()
                                   : fmt::format(", and {} layers' outputs at {} rows in {}", chosen.keep.size(),
                                                 meta.hidden_rows, meta.hidden_dtype));

  TeacherCacheWriter writer(c.out, meta, target_rows, chosen.keep.empty() ? std::vector<std::int64_t>{} : hidden_rows);
  const TeacherLayers want_layers = teacher_layers_for(!chosen.keep.empty(), c.hidden_tokens);
  const auto t0 = std::chrono::steady_clock::now();
  std::int64_t next_log = 0;
  for (std::int64_t first = 0; first < train.sequences(); first += c.batch_size) {
    std::vector<std::int64_t> seqs;
    for (std::int64_t j = first; j < std::min(first + c.batch_size, train.sequences()); ++j) seqs.push_back(j);
    const Batch b = make_batch(train, seqs, device);
    if (b.loss_tokens > 0 || want_layers == TeacherLayers::kAllTokens) {
      const TeacherOutput t = run_teacher(teacher, b, meta.topk, c.temperature, true, want_layers);
      writer.append(t.topk);
      std::vector<at::Tensor> layers;
      for (std::int64_t l : chosen.keep) layers.push_back(t.layers.at(static_cast<std::size_t>(l)));
      if (!layers.empty() && layers[0].size(0) > 0) writer.append_hidden(layers);
    }
    const std::int64_t done = first + static_cast<std::int64_t>(seqs.size());
    if (done >= next_log || done == train.sequences()) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      spdlog::info("{}/{} sequences ({:.0f}/s)", done, train.sequences(), s > 0 ? done / s : 0.0);
      next_log = done + std::max<std::int64_t>(1, train.sequences() / 10);
    }
  }
  writer.commit();
  spdlog::info("teacher cache written to {} ({:.1f} MB) in {:.1f} s", c.out.string(),
               static_cast<double>(fs::file_size(c.out)) / 1e6,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace hone
