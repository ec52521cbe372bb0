// Data parallelism across processes and machines through PyTorch's c10d: a TCPStore rendezvous
// and a Gloo process group (CPU tensors, and CUDA tensors staged by Gloo), configured from the
// torchrun / Slurm environment. There is no C++ DDP module: the trainer all-reduces its
// gradients itself, bucketed into flat buffers.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace hone {

struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;  // torchrun's agent already serves the store (TORCHELASTIC_USE_AGENT_STORE)
  int restart_count = 0;     // TORCHELASTIC_RESTART_COUNT
  // RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT (torchrun), else SLURM_PROCID/SLURM_NTASKS/
  // SLURM_LOCALID with MASTER_ADDR/MASTER_PORT; a single process when neither is set.
  // UsageError for inconsistent values.
  static DistEnv from_environment();
};

class Communicator {
 public:
  // world_size 1: every collective is a no-op and nothing is opened.
  explicit Communicator(const DistEnv& env, std::chrono::seconds timeout = std::chrono::seconds(600));
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  bool is_main() const { return env_.rank == 0; }

  // Sums `tensors` in place over all ranks, packed into flat buckets of about `bucket_bytes`.
  void all_reduce_sum(const std::vector<at::Tensor>& tensors, std::size_t bucket_bytes = 32u << 20);
  // Sums a few float64 scalars over all ranks.
  std::vector<double> all_reduce_sum(const std::vector<double>& values);
  void barrier();

 private:
  struct Impl;
  DistEnv env_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hone
