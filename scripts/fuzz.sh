#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz/ for SECONDS each (default 60) and keeps what crashes.
#   scripts/fuzz.sh [SECONDS]
# Environment: TARGETS="gguf safetensors" runs only those; JOBS=N runs N targets at once (default
#   1); BUILD_JOBS (default 2) compiles with that many jobs; MAX_LEN (default 65536) bounds an input's size; BUILD (default
#   build) is the normal gcc build directory whose hone_fuzz_regressions writes the seeds.
#
# Steps: configures and builds build-fuzz/ (clang, -DHONE_FUZZ=ON, no tests, no CUDA), writes each
# target's seed corpus into build-fuzz/seeds/<target>/ (FuzzSeeds.Write of the gcc suite, from the
# models in models/ and hone's own writers), then runs fuzz_<target> on a corpus that persists
# across runs in build-fuzz/corpus/<target>/. A crash, sanitizer report, leak, timeout (-timeout=10)
# or out-of-memory (-rss_limit_mb=2048) leaves its input in tests/fuzz/crashes/<target>/; commit it
# with the fix, and hone_fuzz_regressions replays it in the normal suite from then on.
# Prints per target: executions, final coverage (cov: edges, ft: features), seconds, crashed or not.
# Exits 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
jobs=${JOBS:-1}
build_jobs=${BUILD_JOBS:-2}
max_len=${MAX_LEN:-65536}
build=${BUILD:-build}
lock=/tmp/hone-build.lock
fz=build-fuzz

# ---------------------------------------------------------------------------- build
if [[ ! -f $fz/CMakeCache.txt ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$fz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHONE_FUZZ=ON -DHONE_TESTS=OFF -DHONE_CUDA=OFF -DHONE_TCMALLOC=OFF \
    -DTORCH_CUDA_ARCH_LIST=9.0 >/dev/null  # a fixed list: else a reconfigure probes for a GPU and fails
fi
flock "$lock" cmake --build "$fz" -j"$build_jobs" --target hone_fuzzers
read -r -a all <<<"$(tr '\n' ' ' <"$fz/fuzz_targets.txt")"
read -r -a targets <<<"${TARGETS:-${all[*]}}"

# ---------------------------------------------------------------------------- seeds
# The seed writer is a test of the normal (gcc) suite, so that it shares the seeds' code with the
# regression test; without that build the fuzzers start from their persistent corpus alone.
rm -rf "$fz/seeds"
mkdir -p "$fz/seeds"
if [[ -f $build/CMakeCache.txt ]] && flock "$lock" cmake --build "$build" -j"$build_jobs" --target hone_fuzz_regressions >/dev/null; then
  HONE_FUZZ_SEEDS="$PWD/$fz/seeds" "$build/tests/fuzz/hone_fuzz_regressions" --gtest_filter=FuzzSeeds.Write \
    --gtest_brief=1 | grep seeds || true
else
  echo "fuzz.sh: no $build/ with hone_fuzz_regressions: running without seeds" >&2
fi

# ---------------------------------------------------------------------------- fuzz
mkdir -p "$fz/logs"
run_one() {
  local t=$1 corpus=$fz/corpus/$1 crashes=tests/fuzz/crashes/$1 log=$fz/logs/$1.log
  mkdir -p "$corpus" "$crashes" "$fz/seeds/$t"
  local start=$SECONDS rc=0
  "$fz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "$fz/seeds/$t" >"$log" 2>&1 || rc=$?
  echo "$rc $((SECONDS - start))" >"$fz/logs/$t.status"
}
active=0
for t in "${targets[@]}"; do
  [[ -x $fz/tests/fuzz/fuzz_$t ]] || { echo "fuzz.sh: no target '$t' (have: ${all[*]})" >&2; exit 2; }
  run_one "$t" &
  active=$((active + 1))
  if ((active >= jobs)); then
    wait -n || true
    active=$((active - 1))
  fi
done
wait

# ---------------------------------------------------------------------------- report
failed=0
printf '%-22s %12s %8s %8s %6s  %s\n' target execs cov ft seconds result
for t in "${targets[@]}"; do
  read -r rc secs <"$fz/logs/$t.status"
  log=$fz/logs/$t.log
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  stats=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$stats")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$stats")
  result=ok
  if [[ $rc != 0 ]]; then
    result="CRASHED ($(grep -m1 -oE '(ERROR|WARNING): [A-Za-z]+[^:]*|deadly signal|uncaught exception|out-of-memory|timeout' "$log" || echo "exit $rc")); log $log"
    failed=1
  fi
  printf '%-22s %12s %8s %8s %6s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$secs" "$result"
done
if ((failed)); then
  echo "inputs kept under tests/fuzz/crashes/<target>/; replay one with build-fuzz/tests/fuzz/fuzz_<target> FILE" >&2
fi
exit "$failed"
