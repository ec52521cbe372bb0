#!/usr/bin/env bash
# The main job on the built-in defaults. Until the Banking77 recipe lands (issue #8), this is the
# smoke path through what exists: the binary, the default base model, and its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
HONE=build/hone
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
$HONE --version
echo
$HONE info "$MODEL"
echo
echo "hone is built (build/hone) and the default base model is at $MODEL."
echo "The Banking77 recipe (ingest -> tokenize -> lora-train -> eval -> distill -> export) arrives with issue #8."
