#!/usr/bin/env bash
# Fuzzes hone's Jinja interpreter with libFuzzer (Debian's clang) under AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer.
#   scripts/fuzz/jinja.sh [SECONDS]     (default 600)
# The corpus starts from tests/data/chat_templates/ and grows in build/fuzz/jinja-corpus/; a
# finding stops the run and leaves the input as build/fuzz/crash-*.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-600}
out=build/fuzz
mkdir -p "$out/jinja-corpus"
cp -n tests/data/chat_templates/*.jinja "$out/jinja-corpus/" 2>/dev/null || true
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -DHONE_SOURCE_DIR="\"$PWD\"" \
  -Ilib scripts/fuzz/jinja_fuzz.cpp lib/text/jinja/*.cpp lib/core/error.cpp -lfmt -o "$out/jinja_fuzz"
cd "$out"
./jinja_fuzz -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 jinja-corpus
