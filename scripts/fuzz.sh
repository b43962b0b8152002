#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and fuzzes one of them.
# usage: scripts/fuzz.sh [SECONDS (default 600)] [TARGET (default tokenizer)]
#   tokenizer    WordPiece on text (seeds: tokenizer edge cases, the Unicode stress files)
#   safetensors  the safetensors reader (seeds: the test model's weights)
#   data         the JSONL/CSV/TSV readers: index + read back every example (seeds: STS-B, SNLI)
#   recipe       the training recipe loader (seeds: configs/*.json and multi-dataset recipes)
#   shard        the pre-tokenized shard reader (seeds: shards made from SNLI)
#   json         the strict JSON parser (duplicate keys, NUL, text after the value) and the
#                --set value reader (seeds: configs/*.json, the test model's JSON files)
#   manifest     the checkpoint/model manifest reader and verifier (seeds: the manifests of
#                a model and a checkpoint trained for one step)
# SENTEMBED_FUZZ_RUNS=N ends the run after N executions if that comes before SECONDS.
# Findings (crash-*, leak-*, timeout-*) land in BUILD/findings/; the build is build-fuzz
# unless SENTEMBED_FUZZ_BUILD names another directory.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
target=${2:-tokenizer}
data=${SENTEMBED_DATA:-../shared/data}
build=${SENTEMBED_FUZZ_BUILD:-build-fuzz}
case $target in
tokenizer | safetensors | data | recipe | shard | json | manifest) ;;
*) echo "fuzz.sh: unknown target '$target' (tokenizer, safetensors, data, recipe, shard, json or manifest)" >&2; exit 2 ;;
esac
scripts/install_deps.sh clang libclang-rt-14-dev libomp-dev
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSENTEMBED_FUZZ=ON -DSENTEMBED_CUDA=OFF > /dev/null
binary=fuzz_$target
[ "$target" = data ] && binary=fuzz_data_reader
[ "$target" = json ] && binary=fuzz_json_strict
targets=("$binary")
[ "$target" = shard ] && targets+=(sentembed) # makes the seed shards
[ "$target" = manifest ] && targets+=(sentembed) # trains for a step: the seed manifests
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"
corpus=$build/corpus-$target
[ "$target" = tokenizer ] && corpus=$build/corpus # where earlier runs kept it
mkdir -p "$corpus" "$build/findings"
seed() { # NAME: stdin becomes a seed file
    cat > "$corpus/seed-$1"
}
snli() { # the first N SNLI dev pairs (awk reads to the end: no SIGPIPE under pipefail)
    paste "$data/nli/snli/s1.dev" "$data/nli/snli/s2.dev" "$data/nli/snli/labels.dev" | awk -v n="$1" 'NR <= n'
}
case $target in
tokenizer)
    i=0
    for f in tests/fixtures/tokenizer/tricky.txt "$data"/unicode/*.txt; do
        [ -f "$f" ] || continue
        head -c 200000 "$f" | split -l 20 -a 4 - "$corpus/seed$i-"
        i=$((i + 1))
    done
    for f in "$corpus"/seed*; do  # the first byte of an input is the control byte
        [ -f "$f" ] && { printf '\x81'; cat "$f"; } > "$f.in" && mv "$f.in" "$f"
    done
    ;;
safetensors)
    cp tests/fixtures/encoder/tiny-bert/model.safetensors "$corpus/seed-tiny"
    cp tests/fixtures/encoder/tiny-bert/2_Dense/model.safetensors "$corpus/seed-dense" 2> /dev/null || true
    ;;
data)  # the first byte picks format, columns and options (tests/fuzz/fuzz_data_reader.c)
    for c in 0 4 12 20; do { printf "\\x$(printf %02x $c)"; head -30 "$data/stsb/sts-train.csv"; } | seed "tsv-$c"; done
    for c in 1 5 13 21; do
        { printf "\\x$(printf %02x $c)"; echo "a,b,l"; snli 30 | awk -F'\t' '{ gsub(/"/, "\"\""); l = substr($3, 1, 1);
            printf "\"%s\",\"%s\",%s\r\n", $1, $2, l == "e" ? "x" : l == "n" ? "y" : "z" }'; } | seed "csv-$c"
    done
    for c in 2 6 14; do
        { printf "\\x$(printf %02x $c)"; snli 30 | awk -F'\t' '{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\"");
            printf "{\"a\": \"%s\", \"s\": {\"q\": [\"-\", \"%s\"]}, \"l\": %d}\n", $1, $2, NR % 3 }'; } | seed "jsonl-$c"
    done
    for c in 3 7 15 23; do
        { printf "\\x$(printf %02x $c)"; snli 30 | awk -F'\t' '{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\"");
            printf "{\"a\": \"%s\", \"p\": [\"%s\", \"b\"], \"s\": {\"n\": [{\"t\": \"u\"}, {\"t\": \"v\"}]}, \"l\": [\"x\", \"z\"]}\n", $1, $2 }'; } |
            seed "every-$c"
    done
    ;;
recipe)
    for f in configs/*.json; do cp "$f" "$corpus/seed-$(basename "$f")"; done
    printf '%s' '{"model": "m", "output_dir": "o", "loss": {"type": "mnrl"}, "sampling": "round_robin",
 "batch_sampler": "no_duplicates", "drop_last": true, "on_bad_row": "skip",
 "data": [{"path": "a.jsonl.gz", "columns": ["set.query", "set.pos[*]"]}, {"shard": "b.shard"}],
 "eval": {"path": "e.tsv", "columns": [0, 1], "label": 2, "label_scale": 5, "every": 10}}' | seed multi
    ;;
json)
    for f in configs/*.json tests/fixtures/encoder/tiny-bert/*.json; do cp "$f" "$corpus/seed-$(basename "$f")"; done
    printf '%s' '{"a": {"b": 1, "c": [{"d": "\u0000"}, {"e": 1, "e": 2}]}, "a": 3} x' | seed tricky
    printf '%s' 'nullrun' | seed bare
    ;;
manifest)
    # the manifests of a real model and checkpoint, and one of the fuzz directory's own files
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cp -r tests/fixtures/encoder/tiny-bert "$work/model" && cp -r tests/fixtures/encoder/variants/mean/. "$work/model/"
    printf '%s\n' "{\"model\": \"$work/model\", \"data\": {\"path\": \"$data/stsb/sts-train.csv\", \"format\": \"tsv\"," \
        "\"columns\": [5, 6], \"label\": 4, \"label_scale\": 5}, \"loss\": {\"type\": \"cosine_similarity\"}," \
        "\"batch_size\": 4, \"max_steps\": 1, \"output_dir\": \"$work/out\", \"checkpoint\": {\"every\": 1}}" > "$work/r.json"
    "$build/sentembed" train "$work/r.json" 2> /dev/null
    seed model < "$work/out/sentembed_manifest.json"
    seed checkpoint < "$work/out/checkpoints/checkpoint-1/sentembed_manifest.json"
    printf '%s' '{"format": "sentembed-manifest", "version": 1, "kind": "model", "step": 0, "recipe_hash": "0000000000000000", "files": [{"path": "a.txt", "bytes": 3, "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}, {"path": "sub/b.bin", "bytes": 0, "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]}' | seed own
    ;;
shard)
    model=tests/fixtures/encoder/tiny-bert
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    snli 12 | awk -F'\t' '{ gsub(/"/, "\\\""); printf "{\"p\": \"%s\", \"h\": \"%s\", \"l\": \"%s\"}\n", $1, $2, $3 }' > "$work/s.jsonl"
    map='{"entailment": 0, "neutral": 1, "contradiction": 2}'
    "$build/sentembed" tokenize --shard "$corpus/seed-labels" --model "$model" --max-seq-length 12 \
        --data "{\"path\": \"$work/s.jsonl\", \"columns\": [\"p\", \"h\"], \"label\": \"l\", \"label_map\": $map}" 2> /dev/null
    "$build/sentembed" tokenize --shard "$corpus/seed-one" --model "$model" \
        --data "{\"path\": \"$work/s.jsonl\", \"columns\": [\"h\"]}" 2> /dev/null
    ;;
esac
# SENTEMBED_FUZZ_RUNS=N stops after N executions instead (whichever comes first)
"$build/tests/$binary" -max_total_time="$seconds" -runs="${SENTEMBED_FUZZ_RUNS:--1}" -max_len=4096 -timeout=10 \
    -artifact_prefix="$build/findings/" -print_final_stats=1 "$corpus" 2>&1 | tail -25
