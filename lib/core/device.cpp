#include "core/device.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/Version.h>

#include <fmt/format.h>

namespace hone {

namespace {

bool cpu_native_bf16() {
  static const bool native = [] {
    // Registered by libtorch_cpu when it is built with oneDNN (mkldnn); absent otherwise.
    const auto op = c10::Dispatcher::singleton().findSchema({"mkldnn::_is_mkldnn_bf16_supported", ""});
    return op.has_value() && op->typed<bool()>().call();
  }();
  return native;
}

}  // namespace

bool native_bf16(c10::Device device) { return device.is_cuda() || (device.is_cpu() && cpu_native_bf16()); }

std::string cpu_bf16_description() {
  return fmt::format("CPU bf16 matmul {} ({})", cpu_native_bf16() ? "native" : "emulated, slower than f32",
                     at::get_cpu_capability());
}

}  // namespace hone
