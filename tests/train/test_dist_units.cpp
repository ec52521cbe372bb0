// Data parallelism's set-up without a second process: the rank, world and local GPU read from the
// torchrun and Slurm environments, the backend choice, a launched one-process Gloo group, and
// that the binary says (and loads) which NCCL it has.
#include <ATen/ops/arange.h>
#include <ATen/ops/ones.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "core/compute.h"
#include "core/error.h"
#include "helpers.h"
#include "train/dist.h"
#include "train_fixtures.h"

namespace hone {
namespace {

// The launcher variables DistEnv reads, set for one test and restored after it.
class LauncherEnv {
 public:
  static constexpr const char* kNames[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                                           "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID",
                                           "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT"};
  explicit LauncherEnv(const std::map<std::string, std::string>& values) {
    for (const char* name : kNames) {
      const char* v = std::getenv(name);
      saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
      ::unsetenv(name);
    }
    for (const auto& [k, v] : values) ::setenv(k.c_str(), v.c_str(), 1);
  }
  ~LauncherEnv() {
    for (const auto& [k, v] : saved_) v ? ::setenv(k.c_str(), v->c_str(), 1) : ::unsetenv(k.c_str());
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

std::string usage_error(const std::map<std::string, std::string>& values) {
  LauncherEnv env(values);
  try {
    DistEnv::from_environment();
  } catch (const UsageError& e) {
    return e.message() + " | " + e.hint();
  }
  return "(no error)";
}

TEST(DistEnv, NoLauncherIsOneProcessWithoutAGroup) {
  LauncherEnv env({});
  const DistEnv e = DistEnv::from_environment();
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.local_rank, 0);
  EXPECT_FALSE(e.launched);
}

TEST(DistEnv, Torchrun) {
  LauncherEnv env({{"RANK", "13"}, {"WORLD_SIZE", "16"}, {"LOCAL_RANK", "5"}, {"MASTER_ADDR", "node-a"},
                   {"MASTER_PORT", "29400"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                   {"TORCHELASTIC_RESTART_COUNT", "2"}});
  const DistEnv e = DistEnv::from_environment();
  EXPECT_EQ(e.rank, 13);
  EXPECT_EQ(e.world_size, 16);
  EXPECT_EQ(e.local_rank, 5);
  EXPECT_EQ(e.master_addr, "node-a");
  EXPECT_EQ(e.master_port, 29400);
  EXPECT_TRUE(e.launched);
  EXPECT_TRUE(e.agent_store);
  EXPECT_EQ(e.restart_count, 2);
}

TEST(DistEnv, TorchrunWithOneProcessStillOpensAGroup) {
  LauncherEnv env({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"LOCAL_RANK", "0"}});
  const DistEnv e = DistEnv::from_environment();
  EXPECT_EQ(e.world_size, 1);
  EXPECT_TRUE(e.launched);
  EXPECT_FALSE(e.agent_store);
}

TEST(DistEnv, SlurmTasks) {
  // srun --nodes 2 --ntasks-per-node 4: task 6 is the third task of the second node.
  LauncherEnv env({{"SLURM_PROCID", "6"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "2"}, {"MASTER_ADDR", "gpu-017"},
                   {"MASTER_PORT", "29501"}});
  const DistEnv e = DistEnv::from_environment();
  EXPECT_EQ(e.rank, 6);
  EXPECT_EQ(e.world_size, 8);
  EXPECT_EQ(e.local_rank, 2);
  EXPECT_EQ(e.master_addr, "gpu-017");
  EXPECT_EQ(e.master_port, 29501);
  EXPECT_FALSE(e.launched);
}

TEST(DistEnv, OneSlurmTaskIsAPlainRun) {
  LauncherEnv env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}, {"SLURM_LOCALID", "0"}});
  const DistEnv e = DistEnv::from_environment();
  EXPECT_EQ(e.world_size, 1);
  EXPECT_FALSE(e.launched);
}

TEST(DistEnv, TorchrunInsideSrunWins) {
  // One srun task per node runs torchrun, whose workers see both sets of variables.
  LauncherEnv env({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "0"}, {"RANK", "7"},
                   {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "3"}, {"MASTER_ADDR", "gpu-001"}, {"MASTER_PORT", "29500"}});
  const DistEnv e = DistEnv::from_environment();
  EXPECT_EQ(e.rank, 7);
  EXPECT_EQ(e.world_size, 8);
  EXPECT_EQ(e.local_rank, 3);
}

TEST(DistEnv, InconsistentValuesAreUsageErrors) {
  EXPECT_NE(usage_error({{"RANK", "8"}, {"WORLD_SIZE", "8"}}).find("RANK 8 is not in [0, WORLD_SIZE 8)"),
            std::string::npos);
  EXPECT_NE(usage_error({{"RANK", "0"}, {"WORLD_SIZE", "two"}}).find("WORLD_SIZE='two' is not an integer"),
            std::string::npos);
  EXPECT_NE(usage_error({{"RANK", "-1"}, {"WORLD_SIZE", "2"}}).find("RANK -1 is not in [0, WORLD_SIZE 2)"),
            std::string::npos);
  const std::string slurm = usage_error({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "0"}});
  EXPECT_NE(slurm.find("8 Slurm tasks but no MASTER_ADDR"), std::string::npos) << slurm;
  EXPECT_NE(slurm.find("set MASTER_ADDR and MASTER_PORT"), std::string::npos) << slurm;
  EXPECT_NE(usage_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29x"}}).find("MASTER_PORT='29x'"),
            std::string::npos);
  EXPECT_NE(usage_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "-1"}}).find("LOCAL_RANK -1 is negative"),
            std::string::npos);
}

TEST(DistBackend, AutoIsNcclOnCudaWhenBuilt) {
  EXPECT_EQ(choose_backend(DistBackend::kAuto, c10::kCUDA, true), DistBackend::kNccl);
  EXPECT_EQ(choose_backend(DistBackend::kAuto, c10::kCUDA, false), DistBackend::kGloo);
  EXPECT_EQ(choose_backend(DistBackend::kAuto, c10::kCPU, true), DistBackend::kGloo);
  EXPECT_EQ(choose_backend(DistBackend::kGloo, c10::kCUDA, true), DistBackend::kGloo);
  EXPECT_EQ(choose_backend(DistBackend::kNccl, c10::kCUDA, true), DistBackend::kNccl);
}

TEST(DistBackend, NcclWhereItCannotRunIsAUsageError) {
  try {
    choose_backend(DistBackend::kNccl, c10::kCPU, true);
    ADD_FAILURE() << "NCCL on the CPU was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(e.message().find("--dist-backend nccl reduces CUDA tensors only"), std::string::npos) << e.message();
  }
  try {
    choose_backend(DistBackend::kNccl, c10::kCUDA, false);
    ADD_FAILURE() << "NCCL without NCCL was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(e.message().find("built without NCCL"), std::string::npos) << e.message();
  }
}

TEST(DistBackend, NcclBuiltMatchesTheBuild) {
#ifdef HONE_WITH_CUDA
  // A CUDA build compiles ProcessGroupNCCL whenever the wheel's nvidia-nccl headers are there.
  EXPECT_TRUE(nccl_built());
#endif
  if (nccl_built()) {
    EXPECT_EQ(nccl_version().rfind("2.", 0), 0u) << nccl_version();
  } else {
    EXPECT_EQ(nccl_version(), "");
  }
}

TEST(LocalGpu, ByLocalRank) {
  EXPECT_EQ(local_gpu_index(3, 8), 3);  // torchrun --nproc-per-node 8, or srun with every GPU visible
  EXPECT_EQ(local_gpu_index(0, 8), 0);
  EXPECT_EQ(local_gpu_index(3, 1), 0);  // srun --gpus-per-task=1: each task sees its own GPU as 0
  EXPECT_EQ(local_gpu_index(2, 0), 2);  // no GPU: the device check names cuda:2 later
  EXPECT_EQ(local_gpu_index(0, 1, /*own_gpu=*/false), 0);
  try {  // torchrun --nproc-per-node 2 on a one-GPU node: the ranks would share it
    local_gpu_index(1, 1, /*own_gpu=*/false);
    ADD_FAILURE() << "two torchrun ranks on one GPU were accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(e.message().find("local rank 1 has no GPU of its own: 1 GPUs are visible"), std::string::npos)
        << e.message();
  }
  try {
    local_gpu_index(5, 4);
    ADD_FAILURE() << "local rank 5 of 4 GPUs was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(e.message().find("local rank 5 has no GPU of its own: 4 GPUs are visible"), std::string::npos)
        << e.message();
  }
}

TEST(LocalGpu, CpuIgnoresTheLocalRank) {
  EXPECT_EQ(resolve_device("cpu", 7), c10::Device(c10::kCPU));
  EXPECT_EQ(resolve_device("cuda:1", 7), c10::Device(c10::kCUDA, 1));  // an explicit index wins
}

TEST(Communicator, LaunchedOneProcessGlooGroupReduces) {
  DistEnv e;
  e.launched = true;
  e.master_port = test::free_port();
  Communicator comm(e, {DistBackend::kGloo, c10::Device(c10::kCPU), std::chrono::seconds(60)});
  EXPECT_EQ(comm.backend(), DistBackend::kGloo);
  at::Tensor a = at::arange(10, at::kFloat), b = at::ones({3, 4}, at::kBFloat16);
  const at::Tensor a0 = a.clone(), b0 = b.clone();
  comm.all_reduce_sum({a, b}, 16);  // two buckets: the dtypes differ
  EXPECT_TRUE(a.equal(a0));
  EXPECT_TRUE(b.equal(b0));
  EXPECT_EQ(comm.all_reduce_sum(std::vector<double>{1.5, -2.0}), (std::vector<double>{1.5, -2.0}));
  comm.barrier();
}

TEST(Communicator, PlainRunOpensNothing) {
  Communicator comm(DistEnv{});
  EXPECT_EQ(comm.backend(), DistBackend::kAuto);
  EXPECT_EQ(comm.all_reduce_sum(std::vector<double>{3.0}), std::vector<double>{3.0});
}

TEST(DistCli, VersionSaysWhetherNcclIsBuiltIn) {
  const test::CommandResult r = test::run_hone({"--version"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string expected = nccl_built() ? "NCCL " + nccl_version() : "no NCCL";
  EXPECT_NE(r.out.find("[" + expected + ";"), std::string::npos) << r.out;
}

TEST(DistCli, TheOnlyNcclLoadedIsTheWheels) {
  const test::CommandResult r = test::run_command({"/usr/bin/ldd", HONE_BINARY});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  int count = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("libnccl") == std::string::npos) continue;
    ++count;
    EXPECT_NE(line.find("/nvidia/nccl/lib/libnccl.so"), std::string::npos) << "an NCCL from outside the wheel: " << line;
  }
  EXPECT_LE(count, 1) << r.out;
  if (nccl_built()) {
    EXPECT_EQ(count, 1) << r.out;
  }
}

}  // namespace
}  // namespace hone
