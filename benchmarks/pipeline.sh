#!/usr/bin/env bash
# Data pipeline benchmark (bench_pipeline.c): read + tokenize + pack of SNLI-like JSONL
# pairs with labels (SNLI dev+test repeated to ~200 MB), batch 32, max_seq_length 128, with
# 1 and 2 threads; then the peak resident memory while streaming a file of the same rows
# repeated to ~2 GB (index pass + 20000 batches), which must stay far below the file's
# size: the index holds 16 bytes per example and an epoch's plan 4, the file is never in
# memory. Writes
# benchmarks/results/pipeline-<host>.md. The big file lives in $TMPDIR and is deleted.
# usage: benchmarks/pipeline.sh   (needs a build in build/, or BUILD=dir)
set -euo pipefail
source "$(dirname "$0")/bench_lib.sh"
cd "$(dirname "$0")/.."
data=${SENTEMBED_DATA:-../shared/data}
build=${BUILD:-build}
big_mb=${BIG_MB:-2048}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=$data/minilm-config

paste "$data"/nli/snli/s1.dev "$data"/nli/snli/s2.dev "$data"/nli/snli/labels.dev > "$work/pairs.tsv"
paste "$data"/nli/snli/s1.test "$data"/nli/snli/s2.test "$data"/nli/snli/labels.test >> "$work/pairs.tsv"
awk -F'\t' '{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "{\"premise\": \"%s\", \"hypothesis\": \"%s\", \"label\": \"%s\"}\n", $1, $2, $3 }' \
    "$work/pairs.tsv" > "$work/once.jsonl"
grow() { # FILE MB
    while [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -lt $(($2 * 1024 * 1024)) ]; do cat "$work/once.jsonl" >> "$1"; done
}
spec() { echo "{\"path\": \"$1\", \"columns\": [\"premise\", \"hypothesis\"], \"label\": \"label\", \"label_map\": {\"entailment\": 0, \"neutral\": 1, \"contradiction\": 2}}"; }
grow "$work/200.jsonl" 200
runs=()
for threads in 1 2; do
    runs+=("$("$build/bench_pipeline" --model "$model" --data "$(spec "$work/200.jsonl")" --threads $threads)")
done
rm -f "$work/200.jsonl"
grow "$work/big.jsonl" "$big_mb"
grow "$work/small.jsonl" $((big_mb / 10))
mem=()
for f in small big; do
    mem+=("$(/usr/bin/time -f '%M' -o "$work/time.$f" "$build/bench_pipeline" --model "$model" --data "$(spec "$work/$f.jsonl")" \
        --threads 2 --max-batches 20000)")
    mem[-1]=$(printf '%s' "${mem[-1]}" | sed "s/}\$/, \"time_max_rss_kib\": $(cat "$work/time.$f")}/")
done

host=$(hostname -s)
out=benchmarks/results/pipeline-$host.md
{
    echo "# Data pipeline throughput and memory"
    echo
    echo "- date: $(bench_date)"
    echo "- machine: $(bench_machine)"
    echo "- command: benchmarks/pipeline.sh (build: $build)"
    echo "- data: SNLI dev+test pairs as JSONL {premise, hypothesis, label} (label_map), repeated; all-MiniLM-L6-v2 tokenizer"
    echo "- loop: epoch plan (shuffled), per batch of 32 pairs: pread + JSON parse of each row, WordPiece of the 64 texts, packing (max_seq_length 128)"
    echo
    echo "| threads | examples | file MB | index pass s | batches | samples/s | tokens | peak RSS MiB |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in "${runs[@]}" "${mem[@]}"; do
        python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("| %d | %d | %.0f | %.2f | %d | %.0f | %d | %.0f |" % (r["threads"], r["examples"], r["file_bytes"] / 2**20, r["index_s"], r["batches"], r["samples_per_s"], r["tokens"], r["peak_rss_mib"]))' "$r"
    done
    echo
    python3 - "${mem[@]}" <<'PY'
import json, sys
small, big = (json.loads(a) for a in sys.argv[1:])
for name, r in (("small", small), ("big", big)):
    print("- %s file: %.0f MiB, %d examples, index %.0f MiB (16 B/example), peak RSS %.0f MiB (/usr/bin/time: %.0f MiB) = %.1f%% of the file"
          % (name, r["file_bytes"] / 2**20, r["examples"], r["index_bytes"] / 2**20, r["peak_rss_mib"],
             r["time_max_rss_kib"] / 1024, 100 * r["peak_rss_mib"] * 2**20 / r["file_bytes"]))
rest = [r["peak_rss_mib"] - (r["index_bytes"] + r["plan_bytes"]) / 2**20 for r in (small, big)]
print("- peak RSS minus the index and the epoch's plan (20 B/example): small %.0f MiB, big %.0f MiB: flat, the file "
      "itself is streamed" % tuple(rest))
PY
} | tee "$out"
