// Knowledge-distillation losses on the loss-masked positions only: forward KL, reverse KL and the
// generalised Jensen-Shannon divergence between the teacher's and the student's next-token
// distributions at temperature T (times T^2, so that gradients keep their scale as T changes),
// mixed with the cross-entropy on the true next token.
//
// The teacher's distribution may be truncated to its top-K tokens. The tail is then handled
// explicitly: both distributions are compared over K + 1 outcomes, the K tokens and "any other
// token", whose probability is the mass outside the top K (the teacher's is stored with its
// top K; the student's is computed exactly from its full softmax). With K = vocab the tail is
// empty and the divergences are the full ones.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace hone {

enum class Divergence {
  kForwardKl,  // KL(teacher || student): mass-covering (the classic Hinton et al. KD)
  kReverseKl,  // KL(student || teacher): mode-seeking
  kJsd,        // beta KL(P || M) + (1 - beta) KL(Q || M), M = beta P + (1 - beta) Q (TRL's GKD)
};

// "forward-kl", "reverse-kl" or "jsd"; UsageError otherwise.
Divergence parse_divergence(const std::string& name);
std::string divergence_name(Divergence d);

struct KdOptions {
  Divergence divergence = Divergence::kForwardKl;
  double beta = 0.5;         // jsd only, in (0, 1)
  double temperature = 1.0;  // > 0
  double alpha = 0.5;        // weight of the distillation term; 1 - alpha goes to the cross-entropy
};

// UsageError naming the option when a value is out of range.
void check_kd_options(const KdOptions& options);

// The teacher's distribution at N positions, at temperature T.
struct TeacherTopK {
  at::Tensor ids;       // [N, K] int64, by decreasing probability
  at::Tensor logprobs;  // [N, K] float32: log softmax(z / T) at those ids
  at::Tensor tail;      // [N] float32: log of the probability outside the top K (-inf when K = vocab)
  std::int64_t rows() const { return ids.defined() ? ids.size(0) : 0; }
  TeacherTopK narrow(std::int64_t start, std::int64_t length) const;
};

// From teacher logits [N, V]: the top `k` tokens (k <= 0 or k >= V: all of them) at temperature T.
TeacherTopK teacher_topk(const at::Tensor& logits, std::int64_t k, double temperature);

// Per-row T^2 * D(teacher, student) [N] (float32) for student logits [N, V]; differentiable with
// respect to the student logits. The direct form, used inside linear_kd_loss's chunks.
at::Tensor kd_divergence(const at::Tensor& student_logits, const TeacherTopK& teacher, const KdOptions& options);

// sum over the N rows of  alpha * T^2 * D(teacher, student) + (1 - alpha) * CE(target)  where the
// student logits are hidden [N, H] x weight [V, H]^T, computed `chunk_rows` rows at a time; the
// gradients with respect to `hidden` and `weight` (those that require grad) are computed chunk by
// chunk in the forward pass, so the [N, V] logits are never all alive at once. With alpha = 0 the
// teacher may be empty (cross-entropy only).
at::Tensor linear_kd_loss(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                          const TeacherTopK& teacher, const KdOptions& options, std::int64_t chunk_rows = 1024);

// sum over the M rows of  1 - cos(student_m, teacher_m)  for hidden states [M, H], computed in
// float32 whatever their dtype (autocast off; a zero row counts as orthogonal); differentiable with
// respect to `student`. The hidden-state term of distillation (DistilBERT's cosine loss): a
// student layer kept from the teacher is pulled towards the output of the teacher layer it was.
at::Tensor hidden_cosine_loss_sum(const at::Tensor& student, const at::Tensor& teacher);

}  // namespace hone
