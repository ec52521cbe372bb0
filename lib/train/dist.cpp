#include "train/dist.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/from_blob.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <spdlog/spdlog.h>

#include "core/error.h"

namespace hone {

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

int env_int(const char* name, int fallback) {
  const char* v = env(name);
  if (v == nullptr) return fallback;
  try {
    std::size_t used = 0;
    const int x = std::stoi(v, &used);
    if (used == std::string(v).size()) return x;
  } catch (const std::exception&) {
  }
  HONE_THROW(UsageError, "environment variable {}='{}' is not an integer", name, v);
}

}  // namespace

DistEnv DistEnv::from_environment() {
  DistEnv e;
  if (env("WORLD_SIZE") != nullptr) {
    e.world_size = env_int("WORLD_SIZE", 1);
    e.rank = env_int("RANK", 0);
    e.local_rank = env_int("LOCAL_RANK", 0);
  } else if (env("SLURM_NTASKS") != nullptr) {
    e.world_size = env_int("SLURM_NTASKS", 1);
    e.rank = env_int("SLURM_PROCID", 0);
    e.local_rank = env_int("SLURM_LOCALID", 0);
  }
  if (const char* a = env("MASTER_ADDR")) e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", e.master_port);
  e.agent_store = env("TORCHELASTIC_USE_AGENT_STORE") != nullptr && std::string(env("TORCHELASTIC_USE_AGENT_STORE")) == "True";
  e.restart_count = env_int("TORCHELASTIC_RESTART_COUNT", 0);
  HONE_CHECK(e.world_size >= 1 && e.rank >= 0 && e.rank < e.world_size, UsageError,
             "RANK {} is not in [0, WORLD_SIZE {})", e.rank, e.world_size);
  HONE_CHECK(e.world_size == 1 || env("MASTER_ADDR") != nullptr || env("WORLD_SIZE") != nullptr, UsageError,
             Hint{"set MASTER_ADDR and MASTER_PORT to rank 0's host and a free port"},
             "{} Slurm tasks but no MASTER_ADDR", e.world_size);
  return e;
}

struct Communicator::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

Communicator::Communicator(const DistEnv& e, std::chrono::seconds timeout) : env_(e) {
  if (e.world_size == 1) return;
  impl_ = std::make_unique<Impl>();
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(e.master_port);
    so.numWorkers = e.world_size;
    so.timeout = timeout;
    if (e.agent_store) {
      // torchrun's elastic agent serves the store; its workers are clients under this prefix
      // (torch.distributed.rendezvous._create_c10d_store).
      so.isServer = false;
      auto tcp = c10::make_intrusive<c10d::TCPStore>(e.master_addr, so);
      impl_->store = c10::make_intrusive<c10d::PrefixStore>(fmt::format("/worker/attempt_{}", e.restart_count), tcp);
    } else {
      so.isServer = e.rank == 0;
      so.waitWorkers = false;
      so.multiTenant = true;
      impl_->store = c10::make_intrusive<c10d::TCPStore>(e.master_addr, so);
    }
    auto store = c10::make_intrusive<c10d::PrefixStore>("hone", impl_->store);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, e.rank, e.world_size, options);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& ex) {
    HONE_THROW(RuntimeError, Hint{"check MASTER_ADDR/MASTER_PORT and that every rank was started"},
               "rank {} of {} could not join the process group at {}:{}: {}", e.rank, e.world_size, e.master_addr,
               e.master_port, ex.what());
  }
  spdlog::info("rank {} of {} joined the Gloo process group ({}:{})", e.rank, e.world_size, e.master_addr,
               e.master_port);
}

Communicator::~Communicator() = default;

void Communicator::all_reduce_sum(const std::vector<at::Tensor>& tensors, std::size_t bucket_bytes) {
  if (env_.world_size == 1 || tensors.empty()) return;
  at::NoGradGuard no_grad;
  std::size_t i = 0;
  while (i < tensors.size()) {
    // One bucket: consecutive tensors of one dtype and device, up to bucket_bytes.
    std::size_t j = i, bytes = 0;
    while (j < tensors.size() && (j == i || (bytes + tensors[j].nbytes() <= bucket_bytes &&
                                             tensors[j].scalar_type() == tensors[i].scalar_type() &&
                                             tensors[j].device() == tensors[i].device()))) {
      bytes += tensors[j].nbytes();
      ++j;
    }
    std::vector<at::Tensor> flat_parts;
    for (std::size_t k = i; k < j; ++k) flat_parts.push_back(tensors[k].reshape({-1}));
    std::vector<at::Tensor> buf{at::cat(flat_parts)};
    try {
      impl_->group->allreduce(buf)->wait();
    } catch (const std::exception& ex) {
      HONE_THROW(RuntimeError, "all-reduce failed on rank {}: {}", env_.rank, ex.what());
    }
    std::int64_t off = 0;
    for (std::size_t k = i; k < j; ++k) {
      const std::int64_t n = tensors[k].numel();
      tensors[k].copy_(buf[0].narrow(0, off, n).view(tensors[k].sizes()));
      off += n;
    }
    i = j;
  }
}

std::vector<double> Communicator::all_reduce_sum(const std::vector<double>& values) {
  if (env_.world_size == 1) return values;
  std::vector<double> v = values;
  std::vector<at::Tensor> t{at::from_blob(v.data(), {static_cast<std::int64_t>(v.size())}, at::kDouble).clone()};
  try {
    impl_->group->allreduce(t)->wait();
  } catch (const std::exception& ex) {
    HONE_THROW(RuntimeError, "all-reduce failed on rank {}: {}", env_.rank, ex.what());
  }
  std::copy(t[0].data_ptr<double>(), t[0].data_ptr<double>() + v.size(), v.begin());
  return v;
}

void Communicator::barrier() {
  if (env_.world_size == 1) return;
  all_reduce_sum(std::vector<double>{0.0});
}

}  // namespace hone
