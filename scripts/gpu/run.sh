#!/usr/bin/env bash
# Builds hone on a GPU machine and runs the GPU tests, the GPU benchmark and the full-scale
# Banking77 recipe, in one command, and writes every figure to one Markdown file for
# docs/benchmarks.md. The machine needs Python with torch 2.11 (CUDA; its LibTorch and its NCCL
# are used), transformers and peft, nvcc, cmake and ninja; it needs no package manager: the other
# libraries come from .gpu-deps/ (scripts/gpu/fetch-deps.sh, run on a Debian 12 machine, then
# carried over).
#
#   bash scripts/gpu/run.sh [--steps build,tests,bench,demo] [--bench-args "..."]   (from the repository root)
#
# Steps (all by default; a later call on the same machine can run the rest, the build is kept):
#  - build: configure build-gpu/ against the torch of $PYTHON (default python3) and .gpu-deps/root,
#    build with all cores; `hone --version` (NCCL built in?) and the NCCL library it loads;
#  - tests: `ctest -L gpu` (CPU/CUDA parity, the kernels, a one-rank NCCL group and a training
#    step through it; a test that skips, as they do where no GPU is visible, fails the step), then
#    the CPU unit tests of the fused ops;
#  - bench: scripts/bench/bench_gpu.py (hone vs PEFT, SmolLM2-135M and a 1B-class model, seq 2048;
#    tokens/s, peak memory, MFU), its JSON in build-gpu/bench-gpu.json;
#  - demo: `make demo SCALE=full` on one GPU (recipes/banking77, DEVICE=cuda), if the model and
#    Banking77 are there: $HONE_GPU_MODEL (default models/SmolLM2-135M-Instruct.Q4_1.gguf, or the
#    parts in .gpu-model*/ that scripts/gpu/fetch-deps.sh splits it into, concatenated) and
#    $HONE_GPU_BANKING77 (default .gpu-deps/banking77). Stopped after $HONE_GPU_DEMO_SECONDS
#    (default 480); what finished is reported.
# Figures: build-gpu/gpu-figures.md, copied to $OUT/ when the device tool's OUT is set. A step
# that fails is recorded and the next steps still run; the exit status is then 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=${PYTHON:-python3}
DEPS=${HONE_GPU_DEPS:-$ROOT/.gpu-deps}
BUILD=${HONE_GPU_BUILD:-$ROOT/build-gpu}
BENCH_ARGS=""
STEPS=build,tests,bench,demo
while [ $# -gt 0 ]; do
  case $1 in
    --bench-args) BENCH_ARGS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
step() { [[ ",$STEPS," == *",$1,"* ]]; }
failed=0
FIG=$BUILD/gpu-figures.md
mkdir -p "$BUILD"
# A section of the figures file: a heading, what the command printed (also on the terminal), and
# its exit status when it failed; returns that status.
record() {
  local title=$1 rc=0
  shift
  "$@" >"$BUILD/step.log" 2>&1 || rc=$?
  { echo; echo "### $title"; echo; echo '```'; cat "$BUILD/step.log"; [ $rc -eq 0 ] || echo "(exit $rc)"; echo '```'; } >>"$FIG"
  cat "$BUILD/step.log"
  return $rc
}
publish() { [ -n "${OUT:-}" ] && cp "$FIG" "$OUT/" || true; }
trap publish EXIT

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
if step build; then
  echo "## GPU run, $(date -u +%Y-%m-%d)" >"$FIG"  # a new file: never the figures of an earlier call
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release ${HONE_GPU_CMAKE_ARGS:-} \
    -DHONE_PYTHON="$(command -v "$PY")" -DTORCH_CUDA_ARCH_LIST="$ARCH" \
    -DCMAKE_PREFIX_PATH="$SYS;$LIB/cmake;$SYS/share/cmake" -DCMAKE_LIBRARY_PATH="$LIB" \
    -DCMAKE_INCLUDE_PATH="$SYS/include;$SYS/include/hdf5/serial" -DCMAKE_CXX_FLAGS="-isystem $SYS/include" \
    -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=TRUE -DHDF5_C_INCLUDE_DIR="$SYS/include/hdf5/serial" \
    -DHDF5_C_LIBRARY_hdf5="$LIB/hdf5/serial/libhdf5.so" -DHDF5_C_LIBRARY_curl="$LIB/libcurl.so.4" \
    -DHDF5_C_LIBRARY_sz="$LIB/libsz.so.2" -DHDF5_C_LIBRARY_crypto="$LIB/libcrypto.so.3" -DHDF5_C_LIBRARY_z="$LIB/libz.so"
  start=$SECONDS
  if ! cmake --build "$BUILD" -j"$(nproc)" >"$BUILD/build.log" 2>&1; then
    { echo; echo '### build failed (last 60 lines)'; echo '```'; tail -n 60 "$BUILD/build.log"; echo '```'; } | tee -a "$FIG"
    exit 1
  fi
  echo "build: $((SECONDS - start)) s on $(nproc) cores" >>"$FIG"
  record "machine" bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; \
    '$BUILD/hone' --version; ldd '$BUILD/hone' | grep -E 'libnccl|libtorch_cuda|libcudart' || true"
fi

if step tests; then
  record "ctest -L gpu" ctest --test-dir "$BUILD" -L gpu --output-on-failure || failed=1
  # The GPU tests must run on the GPU: a skip here means the GPU was not seen.
  if grep -q 'Skipped' "$BUILD/step.log"; then
    echo "run.sh: GPU tests were skipped: the build does not see the GPU" | tee -a "$FIG" >&2
    failed=1
  fi
  record "CPU fused-op tests" ctest --test-dir "$BUILD" -R 'FusedOps|TrainLora|TrainLoss|TrainOptim' \
    --output-on-failure || failed=1
fi

if step bench; then
  record "scripts/bench/bench_gpu.py $BENCH_ARGS" "$PY" "$ROOT/scripts/bench/bench_gpu.py" --hone "$BUILD/hone" \
    --tokenizer "$DEPS/tokenizer" --json "$BUILD/bench-gpu.json" $BENCH_ARGS || failed=1
fi

if step demo; then
  MODEL=${HONE_GPU_MODEL:-$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf}
  B77=${HONE_GPU_BANKING77:-$DEPS/banking77}
  if [ ! -f "$MODEL" ] && compgen -G "$ROOT/.gpu-model*/part-*" >/dev/null; then
    MODEL=$BUILD/SmolLM2-135M-Instruct.Q4_1.gguf
    cat "$ROOT"/.gpu-model*/part-* >"$MODEL.tmp"  # part-1, part-2: glob order
    # A part that did not travel would give a truncated model that fails late: check the whole.
    if [ -f "$DEPS/model.sha256" ] && [ "$(sha256sum <"$MODEL.tmp" | cut -d' ' -f1)" != "$(cat "$DEPS/model.sha256")" ]; then
      echo "run.sh: the model's parts do not add up to $DEPS/model.sha256 (a part missing?)" | tee -a "$FIG" >&2
      rm -f "$MODEL.tmp"
      exit 1
    fi
    mv "$MODEL.tmp" "$MODEL"
  fi
  if [ -f "$MODEL" ] && [ -f "$B77/train.csv" ]; then
    RUN=$BUILD/banking77-full
    start=$SECONDS
    rc=0
    record "make demo SCALE=full (DEVICE=cuda)" timeout "${HONE_GPU_DEMO_SECONDS:-480}" \
      make -C "$ROOT/recipes/banking77" SCALE=full DEVICE=cuda HONE="$BUILD/hone" MODEL="$MODEL" \
      BANKING77_DIR="$B77" RUN="$RUN" || rc=$?
    echo "recipe: $((SECONDS - start)) s, exit $rc" | tee -a "$FIG"
    [ $rc -eq 0 ] || failed=1
    for f in "$RUN"/lora/run.json "$RUN"/student/run.json; do
      [ -f "$f" ] && record "$(basename "$(dirname "$f")")/run.json" cat "$f"
    done
    [ -f "$RUN/report/report.md" ] && record "report" cat "$RUN/report/report.md"
  else
    echo "run.sh: no model ($MODEL) or no Banking77 ($B77/train.csv): demo step left out" | tee -a "$FIG" >&2
  fi
fi
echo "figures: $FIG"
exit $failed
