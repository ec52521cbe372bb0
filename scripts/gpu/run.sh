#!/usr/bin/env bash
# Builds hone on a GPU machine and runs the GPU tests and the GPU benchmark, in one command.
# The machine needs Python with torch 2.11 (CUDA; its LibTorch is used), transformers and
# peft, nvcc, cmake and ninja; it needs no package manager: the other libraries come from
# .gpu-deps/ (scripts/gpu/fetch-deps.sh, run on a Debian 12 machine, then carried over).
#
#   bash scripts/gpu/run.sh [--bench-args "..."]     (from the repository root)
#
# Steps: configure build-gpu/ against the torch of $PYTHON (default python3) and .gpu-deps/root,
# build with all cores, `ctest -L gpu` (CPU/CUDA parity and the kernels; they fail rather than
# skip when no GPU is visible), the CPU unit tests of the fused ops, then
# scripts/bench/bench_gpu.py (hone vs PEFT, SmolLM2-135M and a 1B-class model, seq 2048), whose
# table and JSON (build-gpu/bench-gpu.json) go to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=${PYTHON:-python3}
DEPS=${HONE_GPU_DEPS:-$ROOT/.gpu-deps}
BUILD=${HONE_GPU_BUILD:-$ROOT/build-gpu}
BENCH_ARGS=""
[ "${1:-}" = "--bench-args" ] && BENCH_ARGS=${2:-}

[ -d "$DEPS/root/usr" ] || { echo "run.sh: no $DEPS/root: run scripts/gpu/fetch-deps.sh on a Debian 12 machine and carry .gpu-deps here" >&2; exit 1; }
"$PY" -c "import torch; assert torch.cuda.is_available(), 'torch sees no GPU'; print('torch', torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"

SYS=$DEPS/root/usr
export LD_LIBRARY_PATH=$SYS/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# nvcc: on PATH, or the toolkit's default place
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
ARCH=$("$PY" -c "import torch; m, n = torch.cuda.get_device_capability(0); print(f'{m}.{n}')")

# pkg-config (PCRE2, sentencepiece) reads only the staged .pc files, their /usr paths under the stage.
export PKG_CONFIG_LIBDIR=$SYS/lib/x86_64-linux-gnu/pkgconfig:$SYS/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$DEPS/root
LIB=$SYS/lib/x86_64-linux-gnu
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release ${HONE_GPU_CMAKE_ARGS:-} \
  -DHONE_PYTHON="$(command -v "$PY")" -DTORCH_CUDA_ARCH_LIST="$ARCH" \
  -DCMAKE_PREFIX_PATH="$SYS;$LIB/cmake;$SYS/share/cmake" -DCMAKE_LIBRARY_PATH="$LIB" \
  -DCMAKE_INCLUDE_PATH="$SYS/include;$SYS/include/hdf5/serial" -DCMAKE_CXX_FLAGS="-isystem $SYS/include" \
  -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=TRUE -DHDF5_C_INCLUDE_DIR="$SYS/include/hdf5/serial" \
  -DHDF5_C_LIBRARY_hdf5="$LIB/hdf5/serial/libhdf5.so" -DHDF5_C_LIBRARY_curl="$LIB/libcurl.so.4" \
  -DHDF5_C_LIBRARY_sz="$LIB/libsz.so.2" -DHDF5_C_LIBRARY_crypto="$LIB/libcrypto.so.3" -DHDF5_C_LIBRARY_z="$LIB/libz.so"
cmake --build "$BUILD" -j"$(nproc)"
"$BUILD/hone" --version

# The GPU tests must run on the GPU: a skip here means the GPU was not seen.
ctest --test-dir "$BUILD" -L gpu --output-on-failure
if "$BUILD/tests/hone_gpu_tests" 2>&1 | grep -q "SKIPPED"; then
  echo "run.sh: GPU tests were skipped: the build does not see the GPU" >&2
  exit 1
fi
ctest --test-dir "$BUILD" -R 'FusedOps|TrainLora|TrainLoss|TrainOptim' --output-on-failure

"$PY" "$ROOT/scripts/bench/bench_gpu.py" --hone "$BUILD/hone" --tokenizer "$DEPS/tokenizer" \
  --json "$BUILD/bench-gpu.json" $BENCH_ARGS
