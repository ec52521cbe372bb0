// The fused RMSNorm and SwiGLU autograd functions (model/fused.h) against the composite
// expressions they replace, on the CPU: the same values forward and the same gradients backward,
// in float32 and bfloat16. tests/gpu/test_cuda.cpp checks the CUDA kernels the same way.
#include <ATen/TensorOperators.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/randn_like.h>
#include <gtest/gtest.h>

#include <cmath>

#include "model/fused.h"

namespace hone {
namespace {

double rel(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor af = a.to(at::kDouble), bf = b.to(at::kDouble);
  return (af - bf).norm().item<double>() / std::max(1e-30, bf.norm().item<double>());
}

struct Case {
  std::vector<std::int64_t> shape;
  c10::ScalarType dtype;
  double grad_tol;
};

const std::vector<Case> kCases = {{{3, 5, 64}, at::kFloat, 1e-6},
                                  {{7, 33}, at::kFloat, 1e-6},
                                  {{2, 9, 48}, at::kBFloat16, 1e-2}};

TEST(FusedOps, RmsNormEqualsTheCompositeOnCpu) {
  at::manual_seed(3);
  for (const Case& c : kCases) {
    for (bool train_weight : {false, true}) {
      SCOPED_TRACE(::testing::Message() << c.shape.size() << "-d " << c10::toString(c.dtype) << " weight "
                                        << (train_weight ? "trained" : "frozen"));
      const at::Tensor x0 = (at::randn(c.shape) * 3).to(c.dtype);
      const at::Tensor w0 = (1 + 0.1 * at::randn({c.shape.back()})).to(c.dtype);
      const at::Tensor gy = at::randn(c.shape).to(c.dtype);
      at::Tensor x1 = x0.clone().requires_grad_(true), w1 = w0.clone().requires_grad_(train_weight);
      at::Tensor x2 = x0.clone().requires_grad_(true), w2 = w0.clone().requires_grad_(train_weight);
      at::Tensor y1 = rms_norm(x1, w1, 1e-5), y2 = rms_norm_reference(x2, w2, 1e-5);
      EXPECT_TRUE(y1.equal(y2));  // the same ops forward: bitwise
      EXPECT_EQ(y1.scalar_type(), c.dtype);
      y1.backward(gy);
      y2.backward(gy);
      EXPECT_LT(rel(x1.grad(), x2.grad()), c.grad_tol);
      if (train_weight) EXPECT_LT(rel(w1.grad(), w2.grad()), c.grad_tol);
      else EXPECT_FALSE(w1.grad().defined());
    }
  }
  // A float32 weight on bfloat16 activations (as in autocast): float32 out, like the composite.
  const at::Tensor x = at::randn({4, 16}).to(at::kBFloat16), w = at::randn({16});
  EXPECT_EQ(rms_norm(x, w, 1e-6).scalar_type(), at::kFloat);
  EXPECT_TRUE(rms_norm(x, w, 1e-6).equal(rms_norm_reference(x, w, 1e-6)));
}

TEST(FusedOps, SwigluEqualsTheCompositeOnCpu) {
  at::manual_seed(4);
  for (const Case& c : kCases) {
    SCOPED_TRACE(::testing::Message() << c.shape.size() << "-d " << c10::toString(c.dtype));
    const at::Tensor g0 = (at::randn(c.shape) * 4).to(c.dtype), u0 = at::randn(c.shape).to(c.dtype);
    const at::Tensor gy = at::randn(c.shape).to(c.dtype);
    at::Tensor g1 = g0.clone().requires_grad_(true), u1 = u0.clone().requires_grad_(true);
    at::Tensor g2 = g0.clone().requires_grad_(true), u2 = u0.clone().requires_grad_(true);
    at::Tensor y1 = swiglu(g1, u1), y2 = swiglu_reference(g2, u2);
    EXPECT_TRUE(y1.equal(y2));
    y1.backward(gy);
    y2.backward(gy);
    EXPECT_LT(rel(g1.grad(), g2.grad()), c.grad_tol);
    EXPECT_LT(rel(u1.grad(), u2.grad()), c.grad_tol);
  }
  // Only the gate needs a gradient (e.g. a frozen up projection): no gradient for up.
  at::Tensor g = at::randn({5, 8}).requires_grad_(true), u = at::randn({5, 8});
  swiglu(g, u).sum().backward();
  at::Tensor g2 = g.detach().clone().requires_grad_(true);
  swiglu_reference(g2, u).sum().backward();
  EXPECT_LT(rel(g.grad(), g2.grad()), 1e-6);
}

}  // namespace
}  // namespace hone
