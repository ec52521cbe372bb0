#include "batch/batches.h"

#include <ATen/ops/from_blob.h>

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace hone {

namespace {

// Examples of sequence j: [sequence_offsets[j], sequence_offsets[j + 1]) into example_offsets.
struct Span {
  std::int64_t first_example, end_example, begin_token, end_token;
};

Span span(const data::TokenSplit& s, std::int64_t j) {
  HONE_CHECK(j >= 0 && j < s.sequences(), UsageError, "sequence {} out of range ({} sequences)", j, s.sequences());
  const std::int64_t e0 = s.sequence_offsets[j], e1 = s.sequence_offsets[j + 1];
  return {e0, e1, s.example_offsets[e0], s.example_offsets[e1]};
}

// splitmix64: a portable 64-bit generator for the data order.
std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

std::int64_t count_loss_tokens(const data::TokenSplit& s, const std::vector<std::int64_t>& sequences) {
  std::int64_t n = 0;
  for (std::int64_t j : sequences) {
    const Span sp = span(s, j);
    for (std::int64_t e = sp.first_example; e < sp.end_example; ++e)
      for (std::int64_t t = s.example_offsets[e] + 1; t < s.example_offsets[e + 1]; ++t) n += s.loss_mask[t] != 0;
  }
  return n;
}

std::vector<std::int64_t> target_offsets(const data::TokenSplit& s) {
  std::vector<std::int64_t> out(1, 0);
  out.reserve(s.sequences() + 1);
  for (std::int64_t j = 0; j < s.sequences(); ++j) out.push_back(out.back() + count_loss_tokens(s, {j}));
  return out;
}

Batch make_batch(const data::TokenSplit& s, const std::vector<std::int64_t>& sequences, c10::Device device) {
  HONE_CHECK(!sequences.empty(), UsageError, "empty batch");
  const std::int64_t B = static_cast<std::int64_t>(sequences.size());
  std::int64_t T = 0;
  bool packed = false;
  for (std::int64_t j : sequences) {
    const Span sp = span(s, j);
    T = std::max(T, sp.end_token - sp.begin_token);
    packed = packed || sp.end_example - sp.first_example > 1;
  }
  T = std::max<std::int64_t>(T, 1);
  std::vector<std::int64_t> ids(B * T, 0), pos(B * T, 0), doc(B * T, -1), index, targets, real;
  Batch batch;
  batch.sequences = sequences;
  batch.row_tokens.assign(B, 0);
  batch.row_targets.assign(B, 0);
  for (std::int64_t b = 0; b < B; ++b) {
    const Span sp = span(s, sequences[b]);
    batch.row_tokens[b] = sp.end_token - sp.begin_token;
    for (std::int64_t e = sp.first_example; e < sp.end_example; ++e) {
      const std::int64_t lo = s.example_offsets[e], hi = s.example_offsets[e + 1];
      for (std::int64_t t = lo; t < hi; ++t) {
        const std::int64_t i = b * T + (t - sp.begin_token);
        ids[i] = s.input_ids[t];
        pos[i] = t - lo;
        doc[i] = e - sp.first_example;
        real.push_back(i);
        if (t > lo && s.loss_mask[t]) {
          index.push_back(i - 1);
          targets.push_back(s.input_ids[t]);
          ++batch.row_targets[b];
        }
      }
    }
    batch.tokens += sp.end_token - sp.begin_token;
  }
  auto tensor = [&](std::vector<std::int64_t>& v, std::vector<std::int64_t> shape) {
    return at::from_blob(v.data(), shape, at::kLong).clone().to(device);
  };
  batch.input_ids = tensor(ids, {B, T});
  batch.position_ids = tensor(pos, {B, T});
  if (packed) batch.document_ids = tensor(doc, {B, T});
  batch.loss_tokens = static_cast<std::int64_t>(index.size());
  batch.target_index = tensor(index, {batch.loss_tokens});
  batch.targets = tensor(targets, {batch.loss_tokens});
  batch.token_index = tensor(real, {static_cast<std::int64_t>(real.size())});
  return batch;
}

std::vector<std::int64_t> epoch_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch, bool shuffle) {
  std::vector<std::int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle) return order;
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(epoch) + 1;
  for (std::int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    const std::int64_t k = static_cast<std::int64_t>(splitmix(state) % static_cast<std::uint64_t>(i + 1));
    std::swap(order[i], order[k]);
  }
  return order;
}

}  // namespace hone
