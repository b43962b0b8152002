#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, and run sentembed on
# real data. Today that is the tokenizer on SNLI with all-MiniLM-L6-v2's tokenizer
# files; it grows into a demo fine-tune as the engine does.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${SENTEMBED_DATA:-../shared/data}

scripts/install_deps.sh
cmake -S . -B build > /dev/null
cmake --build build -j"$(nproc)"

model=$data/minilm-config
sentences=$data/nli/snli/s1.dev
echo
echo "== sentembed tokenize --model $model --tokens (first 3 SNLI premises) =="
head -3 "$sentences" | build/sentembed tokenize --model "$model" --tokens
echo
echo "== the same as ids, and a sentence pair =="
head -3 "$sentences" | build/sentembed tokenize --model "$model"
paste "$sentences" "$data/nli/snli/s2.dev" | head -1 | build/sentembed tokenize --model "$model" --pair --tokens
echo
echo "== all $(wc -l < "$sentences") premises of SNLI dev, on all cores =="
start=$(date +%s.%N)
tokens=$(build/sentembed tokenize --model "$model" < "$sentences" | wc -w)
end=$(date +%s.%N)
awk -v t="$tokens" -v s="$start" -v e="$end" 'BEGIN { printf "%d tokens in %.3f s (including process start and output)\n", t, e - s }'
