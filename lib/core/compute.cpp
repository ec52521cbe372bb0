#include "core/compute.h"

#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <mutex>

#include "core/device.h"
#include "core/error.h"

namespace hone {

int cuda_device_count() { return at::detail::getCUDAHooks().getNumGPUs(); }

std::string_view to_string(ComputeDtype dtype) {
  switch (dtype) {
    case ComputeDtype::kAuto: return "auto";
    case ComputeDtype::kFast: return "fast";
    case ComputeDtype::kF32: return "f32";
    case ComputeDtype::kBF16: return "bf16";
    case ComputeDtype::kF16: return "f16";
  }
  return "?";
}

std::optional<ComputeDtype> compute_dtype_from_string(std::string_view name) {
  for (ComputeDtype d : {ComputeDtype::kAuto, ComputeDtype::kFast, ComputeDtype::kF32, ComputeDtype::kBF16,
                         ComputeDtype::kF16})
    if (name == to_string(d)) return d;
  return std::nullopt;
}

std::string_view compute_type_name(c10::ScalarType type) {
  return type == c10::kBFloat16 ? "bf16" : type == c10::kHalf ? "f16" : "f32";
}

AutocastScope::AutocastScope(c10::DeviceType type, c10::ScalarType dtype) : type_(type), on_(dtype != c10::kFloat) {
  if (on_) {
    at::autocast::set_autocast_dtype(type_, dtype);
    at::autocast::set_autocast_enabled(type_, true);
  }
}

AutocastScope::~AutocastScope() {
  if (on_) {
    at::autocast::set_autocast_enabled(type_, false);
    at::autocast::clear_cache();
  }
}

int local_rank_from_environment() {
  for (const char* name : {"LOCAL_RANK", "SLURM_LOCALID"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    char* end = nullptr;
    const long rank = std::strtol(v, &end, 10);
    HONE_CHECK(*end == '\0' && rank >= 0 && rank < 1024, UsageError, "{}={}: expected a GPU index", name, v);
    return static_cast<int>(rank);
  }
  return 0;
}

int local_gpu_index(int local_rank, int visible_gpus, bool own_gpu) {
  if (visible_gpus <= 0) return local_rank;
  if (visible_gpus == 1 && own_gpu) return 0;
  HONE_CHECK(local_rank < visible_gpus, UsageError,
             Hint{"start at most one process per GPU (torchrun --nproc-per-node, srun --ntasks-per-node), or set "
                  "CUDA_VISIBLE_DEVICES"},
             "local rank {} has no GPU of its own: {} GPUs are visible on this node", local_rank, visible_gpus);
  return local_rank;
}

c10::Device resolve_device(const std::string& spec, int local_rank) {
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "cuda")
    // torchrun (LOCAL_WORLD_SIZE) starts its processes with the same GPUs visible to all.
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(local_gpu_index(
                                       local_rank, cuda_device_count(), std::getenv("LOCAL_WORLD_SIZE") == nullptr)));
  try {
    const c10::Device device(spec);
    if (device.is_cpu() || device.is_cuda()) return device;
  } catch (const std::exception&) {
  }
  HONE_THROW(UsageError, "--device must be cpu, cuda or cuda:N, got '{}'", spec);
}

namespace {

void warn_if_emulated_bf16(c10::Device device, std::string_view option, ComputeDtype dtype) {
  static std::once_flag once;
  if (native_bf16(device)) return;
  std::call_once(once, [&] {
    spdlog::warn("{} {} computes in bf16, but this CPU has no native bf16 matrix multiply ({}): expect it to run "
                 "several times slower than float32; {} fast takes bf16 only where it is native",
                 option, to_string(dtype), cpu_bf16_description(), option);
  });
}

}  // namespace

c10::ScalarType resolve_dtype(ComputeDtype dtype, c10::Device device, std::string_view option) {
  c10::ScalarType t = c10::kFloat;
  switch (dtype) {
    case ComputeDtype::kF32: t = c10::kFloat; break;
    case ComputeDtype::kBF16: t = c10::kBFloat16; break;
    case ComputeDtype::kF16: t = c10::kHalf; break;
    case ComputeDtype::kAuto: t = device.is_cuda() ? c10::kBFloat16 : c10::kFloat; break;
    case ComputeDtype::kFast: t = native_bf16(device) ? c10::kBFloat16 : c10::kFloat; break;
  }
  HONE_CHECK(t != c10::kHalf || device.is_cuda(), UsageError, Hint{"use f32, or bf16 on a CPU with AVX512-BF16 or AMX"},
             "{} f16 computes only on CUDA, not on {}", option, device.str());
  if (t == c10::kBFloat16) warn_if_emulated_bf16(device, option, dtype);
  return t;
}

Compute resolve_compute(const std::string& device_spec, ComputeDtype dtype, int local_rank, std::string_view option) {
  Compute c;
  c.device = resolve_device(device_spec, local_rank);
  if (c.device.is_cuda()) {
    const int visible = cuda_device_count();
    HONE_CHECK(visible > 0, UsageError,
               Hint{"check nvidia-smi and CUDA_VISIBLE_DEVICES (hone --version counts the GPUs it sees), or use --device cpu"},
               "--device {} needs a GPU, and none is visible to this process", device_spec);
    HONE_CHECK(c.device.index() < visible, UsageError, Hint{"hone --version counts the GPUs this process sees"},
               "--device {} is {}, but only {} GPU{} visible", device_spec, c.device.str(), visible,
               visible == 1 ? " is" : "s are");
  }
  c.dtype = resolve_dtype(dtype, c.device, option);
  return c;
}

}  // namespace hone
