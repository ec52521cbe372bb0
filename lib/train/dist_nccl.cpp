#include "train/dist_nccl.h"

#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/NCCLUtils.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "core/error.h"

namespace hone {

c10::intrusive_ptr<c10d::Backend> make_nccl_group(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                  int world_size, c10::Device device, std::chrono::seconds timeout) {
  HONE_CHECK(device.is_cuda() && device.has_index(), RuntimeError, "an NCCL group needs a CUDA device with an index, got {}",
             device.str());
  c10::cuda::set_device(device.index());  // NCCL and the caching allocator use the current device
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world_size, options);
  // As torch.distributed.init_process_group(device_id=...): one communicator, made now.
  group->setBoundDeviceId(device);
  group->eagerConnectSingleDevice(device);
  return group;
}

std::string nccl_library_version() { return c10d::getNcclVersion(); }

}  // namespace hone
