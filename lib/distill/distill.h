// `hone distill`: trains a student on a teacher's next-token distributions through the training
// loop of lora-train (train/trainer.h: only the objective and the models differ), online (the
// teacher runs beside the student) or offline (from a teacher cache written by cache_teacher).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/fs.h"
#include "distill/influence.h"
#include "distill/kd_loss.h"
#include "distill/teacher_cache.h"
#include "model/loader.h"
#include "train/trainer.h"

namespace hone {

struct DistillOptions {
  DistillOptions() { train.save_dtype = ComputeDtype::kBF16; }  // a student is saved to be served
  TrainOptions train;     // the student's training (train.model is set from the student spec)
  fs::path teacher;       // .gguf or HF directory
  fs::path teacher_adapter;
  std::string student;    // a model path, or layers:N / layers:i,j,k (kept teacher layers)
  LayerChoice layer_choice = LayerChoice::kEven;  // layers:N: which N layers (influence.h)
  std::int64_t influence_sample = 64;             // sequences of the train split that influence is measured on
  bool student_lora = false;  // LoRA on the student instead of training it fully
  fs::path teacher_cache;     // train from this cache instead of running the teacher
  std::int64_t topk = 64;     // online: teacher tokens kept per target (0: the whole vocabulary)
  KdOptions kd;
  // Weight of the hidden-state term (0: off): a layers:N student's layer j is pulled towards the
  // output of the teacher layer it was cut from, by 1 - cosine, averaged over the matched layers
  // and over `hidden_tokens`, and counted once per loss token beside the divergence. Online, or
  // from a teacher cache that holds those layers' outputs at those tokens.
  double hidden_weight = 0.0;
  HiddenTokens hidden_tokens = HiddenTokens::kAll;
};

TrainSummary distill(const DistillOptions& options);

struct CacheTeacherOptions {
  fs::path teacher, teacher_adapter;
  fs::path data;  // token store
  fs::path out;   // the cache file
  std::int64_t topk = 64;  // 0: the whole vocabulary
  double temperature = 1.0;
  std::int64_t batch_size = 16;
  ComputeDtype dtype = ComputeDtype::kAuto;  // the teacher's weights and compute: auto (bf16 on CUDA), fast, f32, bf16
  std::string device = "cpu";
  int threads = 0;
  bool overwrite = false;
  // The hidden states for distill --hidden-weight: with a `layers:` student spec, the outputs of
  // the teacher layers it keeps (chosen as distill chooses them) are cached too, at `hidden_tokens`,
  // stored in `hidden_dtype` (f32, bf16 or f16). Empty: none.
  std::string student;
  LayerChoice layer_choice = LayerChoice::kEven;
  std::int64_t influence_sample = 64;
  HiddenTokens hidden_tokens = HiddenTokens::kAll;
  ComputeDtype hidden_dtype = ComputeDtype::kBF16;
};

// Writes the teacher's top-k log-probabilities at every target of the store's train split (and
// the hidden states of a student's layers, with `student`).
void cache_teacher(const CacheTeacherOptions& options);

// "layers:N" (N evenly spaced layers, the first and the last included) or "layers:i,j,k" (those
// layers, increasing) of a teacher with `teacher_layers` layers; empty when `spec` does not start
// with "layers:". UsageError for a malformed spec.
std::vector<std::int64_t> parse_student_layers(const std::string& spec, std::int64_t teacher_layers);

// The teacher's weights with only `keep` layers (renumbered 0..N-1); embedding, final norm and
// head are the teacher's.
ModelWeights layer_student(ModelWeights teacher, const std::vector<std::int64_t>& keep);

}  // namespace hone
