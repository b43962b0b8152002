#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and fuzzes the tokenizer.
# usage: scripts/fuzz.sh [SECONDS (default 600)]
# The corpus starts from the tokenizer edge cases and lines of the Unicode stress files;
# findings (crash-*, leak-*, timeout-*) land in build-fuzz/findings/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
data=${SENTEMBED_DATA:-../shared/data}
scripts/install_deps.sh clang libclang-rt-14-dev libomp-dev
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSENTEMBED_FUZZ=ON -DSENTEMBED_CUDA=OFF > /dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_tokenizer
corpus=build-fuzz/corpus
mkdir -p "$corpus" build-fuzz/findings
i=0
for f in tests/fixtures/tokenizer/tricky.txt "$data"/unicode/*.txt; do
    [ -f "$f" ] || continue
    head -c 200000 "$f" | split -l 20 -a 4 - "$corpus/seed$i-"
    i=$((i + 1))
done
for f in "$corpus"/seed*; do  # the first byte of an input is the control byte
    [ -f "$f" ] && { printf '\x81'; cat "$f"; } > "$f.in" && mv "$f.in" "$f"
done
build-fuzz/tests/fuzz_tokenizer -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -artifact_prefix=build-fuzz/findings/ -print_final_stats=1 "$corpus" 2>&1 | tail -25
