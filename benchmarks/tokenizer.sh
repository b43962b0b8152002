#!/usr/bin/env bash
# Tokenizer benchmark: sentembed vs Hugging Face tokenizers (encode_batch) on the same
# real text (SNLI + STS-B sentences repeated to ~50 MB), one thread and all threads,
# in one run. Writes the table to benchmarks/results/tokenizer-<host>.md.
# usage: benchmarks/tokenizer.sh   (needs a build in build/ and `pip install tokenizers`,
#        or PYTHON pointing at an interpreter that has it)
set -euo pipefail
source "$(dirname "$0")/bench_lib.sh"
cd "$(dirname "$0")/.."
data=${SENTEMBED_DATA:-../shared/data}
python=${PYTHON:-python3}
model=$data/minilm-config
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One sentence per line: SNLI premises and hypotheses, STS-B sentence pairs split.
{
    cat "$data"/nli/snli/s1.dev "$data"/nli/snli/s2.dev "$data"/nli/snli/s1.test "$data"/nli/snli/s2.test
    cut -f6 "$data"/stsb/sts-train.csv "$data"/stsb/sts-dev.csv
    cut -f7 "$data"/stsb/sts-train.csv "$data"/stsb/sts-dev.csv
} > "$work/once.txt"
target=$((50 * 1024 * 1024))
while [ "$(stat -c %s "$work/corpus.txt" 2>/dev/null || echo 0)" -lt "$target" ]; do
    cat "$work/once.txt" >> "$work/corpus.txt"
done

all=$(nproc)
runs=()
for threads in 1 "$all"; do
    runs+=("$(build/bench_tokenizer --model "$model" --input "$work/corpus.txt" --threads "$threads")")
    runs+=("$(RAYON_NUM_THREADS=$threads "$python" benchmarks/bench_tokenizer_hf.py --model "$model" --input "$work/corpus.txt")")
done

host=$(hostname -s)
out=benchmarks/results/tokenizer-$host.md
{
    echo "# Tokenizer throughput"
    echo
    echo "- date: $(bench_date)"
    echo "- machine: $(bench_machine)"
    echo "- command: benchmarks/tokenizer.sh"
    echo "- text: SNLI dev+test and STS-B train+dev sentences, one per line, repeated to $(stat -c %s "$work/corpus.txt") bytes"
    echo "- both: all-MiniLM-L6-v2 tokenizer (uncased WordPiece), single texts with [CLS]/[SEP], max length 512, batches of 10000 lines, file already in memory"
    echo
    echo "| implementation | threads | lines | tokens | seconds | tokens/s |"
    echo "|---|---:|---:|---:|---:|---:|"
    for r in "${runs[@]}"; do
        "$python" -c 'import json,sys; r=json.loads(sys.argv[1]); print("| %s | %d | %d | %d | %.2f | %.0f |" % (r["impl"], r["threads"], r["lines"], r["tokens"], r["seconds"], r["tokens_per_s"]))' "$r"
    done
    echo
    "$python" - "${runs[@]}" <<'PY'
import json, sys
runs = [json.loads(a) for a in sys.argv[1:]]
ours = {r["threads"]: r for r in runs if r["impl"] == "sentembed"}
peer = {r["threads"]: r for r in runs if r["impl"] != "sentembed"}
for t in sorted(ours):
    print("- %d thread(s): sentembed / tokenizers = %.2fx" % (t, ours[t]["tokens_per_s"] / peer[t]["tokens_per_s"]))
same = all(ours[t]["tokens"] == peer[t]["tokens"] for t in ours)
print("- token counts identical: %s" % ("yes" if same else "NO"))
PY
} | tee "$out"
