// Where and in which number type a command computes: its --device and --dtype, resolved once into
// a device, a compute type and the autocast scope that applies it.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <optional>
#include <string>
#include <string_view>

namespace hone {

// --dtype: the number type a command computes in. The tools parse it; lib/ sees only the enum.
enum class ComputeDtype {
  kAuto,  // bf16 on CUDA, f32 on the CPU
  kFast,  // bf16 where the device multiplies it natively (CUDA; CPUs with AVX512-BF16 or AMX), f32 elsewhere
  kF32,
  kBF16,
  kF16,   // CUDA only (the CPU has no fast f16 kernels); never for training (no loss scaling)
};

std::string_view to_string(ComputeDtype dtype);
// "auto", "fast", "f32", "bf16" or "f16"; nullopt for anything else.
std::optional<ComputeDtype> compute_dtype_from_string(std::string_view name);

// "f32", "bf16" or "f16": a resolved compute type as reports name it.
std::string_view compute_type_name(c10::ScalarType type);

// bf16 or f16 autocast on `type` for the scope's lifetime (a training step's or an evaluation's
// compute type over float32 weights); nothing for float32. Clears the autocast cast cache on exit.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType type, c10::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType type_;
  bool on_;
};

// A command's resolved device and compute type.
struct Compute {
  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType dtype = c10::kFloat;  // kFloat, kBFloat16 or kHalf

  bool reduced() const { return dtype != c10::kFloat; }
  // Autocast to `dtype` on `device` while the returned scope lives (nothing for float32).
  AutocastScope autocast() const { return AutocastScope(device.type(), dtype); }
};

// --device ("cpu", "cuda": the GPU of `local_rank`, or "cuda:N") and --dtype resolved on that
// device. UsageError for a malformed device, a GPU this process does not see, or f16 on the CPU;
// one warning per process when bf16 lands on a CPU that only emulates it (`option` names what
// asked for it).
Compute resolve_compute(const std::string& device, ComputeDtype dtype, int local_rank,
                        std::string_view option = "--dtype");

// The compute type `dtype` resolves to on `device` (same rules and warning as resolve_compute).
c10::ScalarType resolve_dtype(ComputeDtype dtype, c10::Device device, std::string_view option = "--dtype");

// This process's GPU index under a launcher: LOCAL_RANK (torchrun) or SLURM_LOCALID; 0 otherwise.
int local_rank_from_environment();

// The device alone (same rules as resolve_compute).
c10::Device resolve_device(const std::string& spec, int local_rank);

// The GPU index of --device cuda for the process of `local_rank` on a node where `visible_gpus`
// GPUs are visible: local_rank itself (torchrun, or srun with every GPU visible to each task);
// 0 when each process sees one GPU of its own (`own_gpu`: srun --gpus-per-task=1, or
// CUDA_VISIBLE_DEVICES set per rank; not under torchrun, whose processes all see the same GPUs);
// local_rank when none is visible (resolve_compute then names the device). UsageError when
// local_rank is past the visible GPUs.
int local_gpu_index(int local_rank, int visible_gpus, bool own_gpu = true);

// GPUs visible to this process (0 without a driver; LibTorch's count, also in a CPU-only build).
int cuda_device_count();

}  // namespace hone
