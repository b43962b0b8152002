#!/usr/bin/env bash
# Golden parity of `sentembed encode` (CPU, fp32) with sentence-transformers' encode()
# (torch fp32), on >= 1000 real sentences from shared/data (tests/fixtures/encoder/
# sentences.sh picks them, long ones included so truncation is exercised):
#   - the tiny random BERT of tests/fixtures/encoder/tiny-bert with every pooling variant
#     (mean, cls, max, mean_sqrt_len, + Dense(tanh), + Normalize), always;
#   - all-MiniLM-L6-v2 where it is installed (scripts/get_model.sh; models/ or $SENTEMBED_MINILM).
# Tolerance: max |diff| <= 1e-4 (see tests/fixtures/encoder/README.md for why that is fair).
# usage: encoder_golden.sh SENTEMBED NPY_COMPARE FIXTURE_DIR SHARED_DATA_DIR [MINILM_DIR]
set -euo pipefail
bin=$1 compare=$2 fixtures=$(cd "$3" && pwd)
minilm=${5:-${SENTEMBED_MINILM:-}}
source "$(dirname "$0")/cli_lib.sh"
cli_setup "$4"
(cd "$data" && sh "$fixtures/sentences.sh") > "$tmp/sentences.txt"
echo "sentences: $(wc -l < "$tmp/sentences.txt")"

check() { # NAME MODEL_DIR REFERENCE.npy
    if "$bin" encode --model "$2" --device cpu --output "$tmp/got.npy" < "$tmp/sentences.txt" \
        && printf '%-22s ' "$1" && "$compare" "$tmp/got.npy" "$3" 1e-4; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $1"
    fi
}

for variant in "$fixtures"/variants/*/; do
    name=$(basename "$variant")
    model=$tmp/model-$name
    cp -r "$fixtures/tiny-bert" "$model"
    cp -r "$variant"/. "$model"/
    check "tiny_$name" "$model" "$fixtures/tiny_$name.npy"
done

if [ -n "$minilm" ] && [ -f "$minilm/model.safetensors" ]; then
    xz -dc "$fixtures/minilm.npy.xz" > "$tmp/minilm.npy"
    check all-MiniLM-L6-v2 "$minilm" "$tmp/minilm.npy"
else
    echo "all-MiniLM-L6-v2 not installed (scripts/get_model.sh installs it): that part is skipped"
fi
echo "encoder_golden: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
