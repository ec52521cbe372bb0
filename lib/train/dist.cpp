#include "train/dist.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/from_blob.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <exception>
#include <spdlog/spdlog.h>

#include "core/error.h"
#ifdef HONE_WITH_NCCL
#include "train/dist_nccl.h"
#endif

namespace hone {

std::string_view to_string(DistBackend backend) {
  switch (backend) {
    case DistBackend::kAuto: return "auto";
    case DistBackend::kNccl: return "nccl";
    case DistBackend::kGloo: return "gloo";
  }
  return "?";
}

bool nccl_built() {
#ifdef HONE_WITH_NCCL
  return true;
#else
  return false;
#endif
}

std::string nccl_version() {
#ifdef HONE_WITH_NCCL
  return nccl_library_version();
#else
  return "";
#endif
}

DistBackend choose_backend(DistBackend requested, c10::DeviceType device, bool have_nccl) {
  const bool cuda = device == c10::kCUDA;
  if (requested == DistBackend::kAuto) return cuda && have_nccl ? DistBackend::kNccl : DistBackend::kGloo;
  if (requested == DistBackend::kNccl) {
    HONE_CHECK(cuda, UsageError, Hint{"use --device cuda, or --dist-backend gloo on the CPU"},
               "--dist-backend nccl reduces CUDA tensors only, and this run is on the CPU");
    HONE_CHECK(have_nccl, UsageError, Hint{"use --dist-backend gloo, or build hone with HONE_CUDA on (hone --version)"},
               "--dist-backend nccl: this hone was built without NCCL");
  }
  return requested;
}

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

// A collective that failed: most often another rank stopped (its own error, a signal, the
// out-of-memory killer) and closed its connections, so the error this rank sees is only the echo.
[[noreturn]] void throw_collective_failed(int rank, const std::exception& ex) {
  HONE_THROW(RuntimeError, Hint{"another rank probably stopped first: its log says why"},
             "all-reduce failed on rank {}: {}", rank, ex.what());
}

}  // namespace

DistEnv DistEnv::from_environment() {
  DistEnv e;
  if (env("WORLD_SIZE") != nullptr) {
    e.launched = true;
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
  HONE_CHECK(e.local_rank >= 0, UsageError, "LOCAL_RANK {} is negative", e.local_rank);
  HONE_CHECK(e.world_size == 1 || env("MASTER_ADDR") != nullptr || env("WORLD_SIZE") != nullptr, UsageError,
             Hint{"set MASTER_ADDR and MASTER_PORT to rank 0's host and a free port"},
             "{} Slurm tasks but no MASTER_ADDR", e.world_size);
  return e;
}

struct Communicator::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> group;
  DistBackend backend = DistBackend::kGloo;
  c10::Device device = c10::Device(c10::kCPU);  // where the scalar all-reduces run
};

namespace {

// The rendezvous: rank 0 serves a TCPStore, or, under torchrun, every rank joins the elastic
// agent's store under the prefix torch.distributed uses (rendezvous._create_c10d_store).
c10::intrusive_ptr<c10d::Store> open_store(const DistEnv& e, std::chrono::seconds timeout) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(e.master_port);
  so.numWorkers = e.world_size;
  so.timeout = timeout;
  if (e.agent_store) {
    so.isServer = false;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(e.master_addr, so);
    return c10::make_intrusive<c10d::PrefixStore>(fmt::format("/worker/attempt_{}", e.restart_count), tcp);
  }
  so.isServer = e.rank == 0;
  so.waitWorkers = false;
  so.multiTenant = true;
  return c10::make_intrusive<c10d::TCPStore>(e.master_addr, so);
}

c10::intrusive_ptr<c10d::Backend> make_gloo_group(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                                  std::chrono::seconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
}

}  // namespace

Communicator::Communicator(const DistEnv& e, const CommOptions& o) : env_(e) {
  if (e.world_size == 1 && !e.launched) return;
  HONE_CHECK(o.backend != DistBackend::kAuto, RuntimeError, "Communicator needs a chosen backend, not auto");
  impl_ = std::make_unique<Impl>();
  impl_->backend = o.backend;
  try {
    impl_->store = open_store(e, o.timeout);
    auto store = c10::make_intrusive<c10d::PrefixStore>("hone", impl_->store);
#ifdef HONE_WITH_NCCL
    if (o.backend == DistBackend::kNccl) {
      impl_->device = o.device;
      impl_->group = make_nccl_group(store, e.rank, e.world_size, o.device, o.timeout);
    }
#endif
    if (o.backend == DistBackend::kGloo) impl_->group = make_gloo_group(store, e.rank, e.world_size, o.timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& ex) {
    HONE_THROW(RuntimeError,
               Hint{"check MASTER_ADDR/MASTER_PORT, that every rank was started, and (NCCL) that no two ranks of a "
                    "node share a GPU"},
               "rank {} of {} could not join the {} process group at {}:{}: {}", e.rank, e.world_size,
               to_string(o.backend), e.master_addr, e.master_port, ex.what());
  }
  HONE_CHECK(impl_->group, RuntimeError, "this build has no {} process group", to_string(o.backend));
  spdlog::info("rank {} of {} (local rank {}) joined the {} process group ({}:{}){}", e.rank, e.world_size,
               e.local_rank, to_string(o.backend), e.master_addr, e.master_port,
               o.backend == DistBackend::kNccl ? fmt::format(" on {}", o.device.str()) : "");
}

Communicator::~Communicator() {
  if (!impl_ || !impl_->group) return;
  try {
    // NCCL's communicators go before the CUDA context does. Unwinding from an error, a peer may be
    // gone: abort them rather than wait for their outstanding work.
    if (std::uncaught_exceptions() > 0) impl_->group->abort();
    else impl_->group->shutdown();
  } catch (const std::exception& ex) {
    spdlog::debug("process group shut-down: {}", ex.what());
  }
}

DistBackend Communicator::backend() const { return impl_ ? impl_->backend : DistBackend::kAuto; }

void Communicator::all_reduce_sum(const std::vector<at::Tensor>& tensors, std::size_t bucket_bytes) {
  if (!impl_ || tensors.empty()) return;
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
      throw_collective_failed(env_.rank, ex);
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
  if (!impl_) return values;
  std::vector<double> v = values;
  std::vector<at::Tensor> t{
      at::from_blob(v.data(), {static_cast<std::int64_t>(v.size())}, at::kDouble).clone().to(impl_->device)};
  try {
    impl_->group->allreduce(t)->wait();
  } catch (const std::exception& ex) {
    throw_collective_failed(env_.rank, ex);
  }
  const at::Tensor host = t[0].to(at::kCPU).contiguous();  // waits for the device's reduction
  std::copy(host.data_ptr<double>(), host.data_ptr<double>() + v.size(), v.begin());
  return v;
}

void Communicator::barrier() {
  if (!impl_) return;
  all_reduce_sum(std::vector<double>{0.0});
}

}  // namespace hone
