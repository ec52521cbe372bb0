// Which collective library a distributed run uses, and whether this build has NCCL. A light
// header (no ATen), for the options of the training commands and `hone --version`.
#pragma once

#include <c10/core/DeviceType.h>

#include <string>
#include <string_view>

namespace hone {

// NCCL (CUDA tensors only, reduced on the GPU) or Gloo (CPU tensors; it also reduces CUDA
// tensors, staged through host memory: the slow path on GPUs).
enum class DistBackend { kAuto, kNccl, kGloo };
std::string_view to_string(DistBackend backend);

// Whether this build links c10d's ProcessGroupNCCL (a CUDA build against the wheel's nccl.h).
bool nccl_built();
// The version of the NCCL library LibTorch loads ("2.28.9"); "" in a build without NCCL.
std::string nccl_version();

// The backend a run uses: kAuto is NCCL on a CUDA device when `have_nccl`, else Gloo.
// UsageError for NCCL on the CPU or in a build without it.
DistBackend choose_backend(DistBackend requested, c10::DeviceType device, bool have_nccl);

}  // namespace hone
