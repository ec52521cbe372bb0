// Data parallelism across processes and machines through PyTorch's c10d: a TCPStore rendezvous
// and a process group, NCCL for CUDA tensors (collectives on the GPU) or Gloo for CPU tensors,
// configured from the torchrun / Slurm environment. There is no C++ DDP module: the trainer
// all-reduces its gradients itself, bucketed into flat buffers on their own device and dtype.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "train/dist_backend.h"

namespace hone {

struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  // WORLD_SIZE was set (torchrun, or by hand): a process group is opened even for one process,
  // as torch.distributed does; a plain run, or one Slurm task, opens none.
  bool launched = false;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;  // torchrun's agent already serves the store (TORCHELASTIC_USE_AGENT_STORE)
  int restart_count = 0;     // TORCHELASTIC_RESTART_COUNT
  // RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT (torchrun), else SLURM_PROCID/SLURM_NTASKS/
  // SLURM_LOCALID with MASTER_ADDR/MASTER_PORT; a single process when neither is set.
  // UsageError for inconsistent values.
  static DistEnv from_environment();
};

struct CommOptions {
  DistBackend backend = DistBackend::kGloo;  // chosen (choose_backend), not kAuto
  c10::Device device = c10::Device(c10::kCPU);  // the run's device: NCCL binds its communicator to it
  std::chrono::seconds timeout{600};  // a collective or the rendezvous waiting longer fails
};

class Communicator {
 public:
  // One process that was not launched (DistEnv::launched false, world size 1): every collective
  // is a no-op and nothing is opened.
  explicit Communicator(const DistEnv& env, const CommOptions& options = {});
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  bool is_main() const { return env_.rank == 0; }
  // The backend of the open group; kAuto when none is open.
  DistBackend backend() const;

  // Sums `tensors` in place over all ranks, packed into flat buckets of about `bucket_bytes`.
  void all_reduce_sum(const std::vector<at::Tensor>& tensors, std::size_t bucket_bytes = 32u << 20);
  // Sums a few float64 scalars over all ranks (on the group's device).
  std::vector<double> all_reduce_sum(const std::vector<double>& values);
  void barrier();

 private:
  struct Impl;
  DistEnv env_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hone
