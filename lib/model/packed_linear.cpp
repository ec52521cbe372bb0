#include "model/packed_linear.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/empty.h>

#include <optional>
#include <vector>

#include "core/error.h"

namespace hone {

namespace {

// The row count oneDNN picks the blocked layout for; any count runs with it. 128 rows is what an
// eval pass of 32 queries x 4 label-tree nodes feeds.
constexpr std::int64_t kPackRows = 128;

using ReorderFn = at::Tensor(const at::Tensor&, std::optional<std::int64_t>);
using LinearFn = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&, c10::string_view,
                            c10::List<std::optional<at::Scalar>>, std::optional<c10::string_view>);

struct Ops {
  std::optional<c10::TypedOperatorHandle<ReorderFn>> reorder;
  std::optional<c10::TypedOperatorHandle<LinearFn>> linear;
};

// Registered by libtorch_cpu when it is built with oneDNN; absent otherwise.
const Ops& ops() {
  static const Ops o = [] {
    Ops r;
    auto& d = c10::Dispatcher::singleton();
    const auto reorder = d.findSchema({"mkldnn::_reorder_linear_weight", ""});
    const auto linear = d.findSchema({"mkldnn::_linear_pointwise", ""});
    if (reorder && linear) {
      r.reorder = reorder->typed<ReorderFn>();
      r.linear = linear->typed<LinearFn>();
    }
    return r;
  }();
  return o;
}

}  // namespace

bool can_pack_linear(const at::Tensor& weight) {
  return ops().reorder.has_value() && weight.defined() && weight.dim() == 2 && weight.device().is_cpu() &&
         weight.scalar_type() == at::kFloat && !weight.requires_grad();
}

at::Tensor pack_linear_weight(const at::Tensor& weight) {
  HONE_CHECK(can_pack_linear(weight), UsageError, "cannot pack a {} weight of {} dimensions for oneDNN",
             c10::toString(weight.scalar_type()), weight.dim());
  return ops().reorder->call(weight.contiguous(), kPackRows);
}

at::Tensor packed_linear(const at::Tensor& x, const at::Tensor& packed, const at::Tensor& bias) {
  if (x.numel() == 0) {  // no rows: nothing for oneDNN to multiply
    std::vector<std::int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = packed.size(0);
    return at::empty(shape, x.options());
  }
  return ops().linear->call(x.contiguous(), packed, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt,
                            "none", c10::List<std::optional<at::Scalar>>(), std::nullopt);
}

}  // namespace hone
