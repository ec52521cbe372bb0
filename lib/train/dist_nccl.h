// c10d's NCCL process group, in its own translation unit: only a CUDA build with the wheel's
// nccl.h compiles it (USE_C10D_NCCL), and only dist.cpp calls it (HONE_WITH_NCCL).
#pragma once

#include <c10/core/Device.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <string>

namespace hone {

// A group of `world_size` ranks over `store`, this rank's communicator bound to `device` (made the
// current CUDA device) and connected at once, so that a wrong set-up fails here and not at the
// first all-reduce. `timeout` bounds every collective (NCCL's watchdog then stops the process).
c10::intrusive_ptr<c10d::Backend> make_nccl_group(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                  int world_size, c10::Device device, std::chrono::seconds timeout);

// The version of the NCCL library LibTorch loaded ("2.28.9").
std::string nccl_library_version();

}  // namespace hone
