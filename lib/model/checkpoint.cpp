#include "model/checkpoint.h"

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mutex>

namespace hone {

namespace {

struct SegmentHolder : torch::CustomClassHolder {
  Segment segment;
  at::Tensor rng_state;  // of the default generator of the input's device
  c10::Device device{c10::kCPU};
};

at::Generator default_generator(c10::Device device) {
  return at::globalContext().defaultGenerator(device);
}

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, at::Tensor x,
                                                c10::intrusive_ptr<SegmentHolder> holder) {
    {
      at::Generator gen = default_generator(x.device());
      std::lock_guard<std::mutex> lock(gen.mutex());
      holder->rng_state = gen.get_state();
      holder->device = x.device();
    }
    ctx->save_for_backward({x});
    at::Tensor y = holder->segment(x);  // the Function runs its forward without recording
    ctx->saved_data["segment"] = c10::IValue::make_capsule(c10::static_intrusive_pointer_cast<torch::CustomClassHolder>(holder));
    return {y};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto holder = c10::static_intrusive_pointer_cast<SegmentHolder>(ctx->saved_data["segment"].toCapsule());
    at::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    at::Generator gen = default_generator(holder->device);
    at::Tensor after;  // the generator continues from where the original forward left it
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      after = gen.get_state();
      gen.set_state(holder->rng_state);
    }
    at::Tensor y;
    {
      at::AutoGradMode enable(true);
      y = holder->segment(x);
    }
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(after);
    }
    torch::autograd::backward({y}, {grads[0]});
    return {x.grad(), at::Tensor()};
  }
};

}  // namespace

at::Tensor checkpoint_segment(Segment segment, const at::Tensor& x) {
  auto holder = c10::make_intrusive<SegmentHolder>();
  holder->segment = std::move(segment);
  return CheckpointFunction::apply(x, holder)[0];
}

}  // namespace hone
