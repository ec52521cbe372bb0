#!/usr/bin/env bash
# Stages what a GPU machine without a package manager needs to build and run hone there
# (scripts/gpu/run.sh), in .gpu-deps/ (ignored by git; carry it to the GPU machine):
#  - root/: the Debian packages hone builds against, extracted (headers, CMake files, shared
#    libraries): the -dev packages of setup.sh, and the package of every shared library that
#    build/hone loads from the system other than glibc, libstdc++ and libgcc (ldd);
#  - tokenizer/: SmolLM2's tokenizer as an HF directory (tokenizer.json, tokenizer_config.json), for
#    the random-weight models of scripts/bench/bench_gpu.py;
#  - banking77/: train.csv and test.csv, for run.sh's full-scale recipe;
# and, beside it, SmolLM2's GGUF in parts of 56 MiB, .gpu-model-1/part-1, .gpu-model-2/part-2,
# each small enough to travel in a call of its own (the device tool carries 64 MiB a call);
# run.sh concatenates them in order.
# Run on the Debian 12 machine where scripts/setup.sh and the build have run (apt-get download
# needs no root). Static libraries and documentation are left out to keep the folder small.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${HONE_GPU_DEPS:-$ROOT/.gpu-deps}
HONE=$ROOT/build/hone
[ -x "$HONE" ] || { echo "fetch-deps: build hone first (cmake --build build)" >&2; exit 1; }

DEV=(libcli11-dev libsentencepiece-dev libhdf5-dev libspdlog-dev libfmt-dev libgtest-dev nlohmann-json3-dev
     libpcre2-dev zlib1g-dev libgoogle-perftools-dev libgloo-dev)
# Runtime packages: owners of the system libraries build/hone loads (not glibc/libstdc++/libgcc or CUDA).
mapfile -t libs < <(ldd "$HONE" | awk '$3 ~ /^\/(usr\/)?lib/ {print $3}' | sort -u)
RUNTIME=()
for l in "${libs[@]}"; do
  pkg=$(dpkg -S "$(readlink -f "$l")" 2>/dev/null | head -1 | cut -d: -f1) || true
  case "$pkg" in ""|libc6|libstdc++6|libgcc-s1) continue ;; esac
  RUNTIME+=("$pkg")
done
mapfile -t PKGS < <(printf '%s\n' "${DEV[@]}" "${RUNTIME[@]}" | sort -u)
echo "fetch-deps: ${#PKGS[@]} packages: ${PKGS[*]}"

rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp/debs" "$OUT.tmp/root"
(cd "$OUT.tmp/debs" && apt-get download -q "${PKGS[@]}" >/dev/null)
for d in "$OUT.tmp"/debs/*.deb; do dpkg-deb -x "$d" "$OUT.tmp/root"; done
rm -rf "$OUT.tmp/debs" "$OUT.tmp/root/usr/share/doc" "$OUT.tmp/root/usr/share/man"
find "$OUT.tmp/root" -name '*.a' ! -name 'libgtest*' ! -name 'libgmock*' -delete  # GoogleTest is static only

# The tokenizer: from the HF directory the LoRA benchmark converts (or convert it now).
HF=/tmp/hone-bench-lora/hf
if [ ! -f "$HF/tokenizer.json" ]; then
  "$ROOT/.venv/bin/python" "$ROOT/scripts/bench/bench_lora_train.py" --convert-worker "$HF" \
    --model "$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf"
fi
mkdir -p "$OUT.tmp/tokenizer"
cp "$HF"/tokenizer.json "$HF"/tokenizer_config.json "$OUT.tmp/tokenizer/"
[ -f "$HF/chat_template.jinja" ] && cp "$HF/chat_template.jinja" "$OUT.tmp/tokenizer/"
B77=${BANKING77_DIR:-$ROOT/../shared/datasets/banking77}
mkdir -p "$OUT.tmp/banking77"
cp "$B77/train.csv" "$B77/test.csv" "$OUT.tmp/banking77/"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"

GGUF=$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf
sha256sum <"$GGUF" | cut -d' ' -f1 >"$OUT/model.sha256"  # run.sh checks the parts it joins
rm -rf "$ROOT"/.gpu-model-* "$OUT.parts" && mkdir -p "$OUT.parts"
split -b 56M -d -a 1 --numeric-suffixes=1 "$GGUF" "$OUT.parts/part-"
for p in "$OUT.parts"/part-*; do
  n=${p##*-}
  mkdir -p "$ROOT/.gpu-model-$n" && mv "$p" "$ROOT/.gpu-model-$n/"
done
rmdir "$OUT.parts"
echo "fetch-deps: the model in parts of at most 56 MiB:" $(cd "$ROOT" && ls -d .gpu-model-*)
