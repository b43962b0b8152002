#!/usr/bin/env bash
# Encode benchmark on the CPU: `sentembed encode` vs sentence-transformers (PyTorch) with
# all-MiniLM-L6-v2, the same 5000 SNLI sentences, batch 32, the same number of threads, in
# one run. Prints a markdown table and writes it to benchmarks/results/encode-cpu-<host>.md.
# Both sides are timed over everything from text to vectors; ours also includes starting the
# process and loading the model (timed from outside), the peer's excludes loading and a 64-sentence
# warm-up, so the comparison does not flatter us. When both ran, the table also gives the
# largest difference between the two sets of embeddings.
# usage: benchmarks/encode.sh
#   needs: a build in build/ (skipped with a note while `sentembed encode` is missing),
#          scripts/get_model.sh and scripts/setup_reference.sh (or PYTHON with sentence-transformers)
#   THREADS (default 2) threads for both sides.
set -euo pipefail
source "$(dirname "$0")/bench_lib.sh"
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
data=${SENTEMBED_DATA:-../shared/data}
python=${PYTHON:-.venv-ref/bin/python}
model=models/all-MiniLM-L6-v2
bin=build/sentembed
threads=${THREADS:-2}
batch=32
[ -f "$model/model.safetensors" ] || { echo "encode.sh: $model missing: run scripts/get_model.sh" >&2; exit 1; }
"$python" -c 'import sentence_transformers' 2> /dev/null ||
    { echo "encode.sh: $python has no sentence-transformers: run scripts/setup_reference.sh" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# SNLI dev: the first 2500 premises and the first 2500 hypotheses (real short-sentence lengths).
{ head -n 2500 "$data/nli/snli/s1.dev"; head -n 2500 "$data/nli/snli/s2.dev"; } > "$tmp/sentences.txt"
n=$(wc -l < "$tmp/sentences.txt")

runs=()
notes=()
if [ ! -x "$bin" ]; then
    notes+=("sentembed: skipped, $bin not built")
elif ! "$bin" encode --help > /dev/null 2>&1; then
    notes+=("sentembed: skipped, $bin has no working \`encode\` command yet")
else
    # --timing: the encode loop alone, as the peer is timed (model loading and I/O excluded)
    OMP_NUM_THREADS=$threads \
        "$bin" encode --model "$model" --batch-size "$batch" --device cpu --timing --output "$tmp/out.npy" \
        < "$tmp/sentences.txt" 2> "$tmp/ours.log" ||
        { echo "encode.sh: $bin encode failed:" >&2; cat "$tmp/ours.log" >&2; exit 1; }
    runs+=("$(grep '"sentences_per_s"' "$tmp/ours.log" | sed "s/^{/{\"threads\": $threads, /")")
fi
runs+=("$("$python" benchmarks/bench_encode_st.py --model "$model" --input "$tmp/sentences.txt" \
    --batch-size "$batch" --device cpu --threads "$threads" --output "$tmp/peer.npy")")

host=$(hostname -s)
mkdir -p benchmarks/results
out=benchmarks/results/encode-cpu-$host.md
{
    echo "# Encode throughput (CPU)"
    echo
    echo "- date: $(bench_date)"
    echo "- machine: $(bench_machine)"
    echo "- command: benchmarks/encode.sh (THREADS=$threads)"
    echo "- model: all-MiniLM-L6-v2 (6 layers, hidden 384, max_seq_length 256, mean pooling, normalize)"
    echo "- text: $n SNLI dev sentences (first 2500 premises + first 2500 hypotheses), batch size $batch"
    echo "- sentembed: \`$bin encode --model $model --batch-size $batch --device cpu --output OUT.npy < sentences\`," \
         "time of the encode loop (\`--timing\`: tokenize + forward + pooling; model loading and file I/O excluded)"
    echo "- peer: \`benchmarks/bench_encode_st.py\`, time of \`model.encode(sentences, batch_size=$batch)\` after loading and a warm-up"
    echo
    echo "| implementation | device | threads | sentences | batch | seconds | sentences/s |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for r in "${runs[@]}"; do
        "$python" -c 'import json,sys; r=json.loads(sys.argv[1]); print("| %s | %s | %d | %d | %d | %.2f | %.1f |" % (r["impl"], r["device"], r["threads"], r["sentences"], r["batch_size"], r["seconds"], r["sentences_per_s"]))' "$r"
    done
    echo
    for note in "${notes[@]+"${notes[@]}"}"; do echo "- $note"; done
    "$python" - "$tmp" "${runs[@]}" <<'PY'
import json, os, sys
import numpy as np
tmp, runs = sys.argv[1], [json.loads(a) for a in sys.argv[2:]]
ours = [r for r in runs if r["impl"] == "sentembed"]
peer = [r for r in runs if r["impl"] != "sentembed"]
if ours and peer:
    print("- sentembed / sentence-transformers = %.2fx" % (ours[0]["sentences_per_s"] / peer[0]["sentences_per_s"]))
    a, b = os.path.join(tmp, "out.npy"), os.path.join(tmp, "peer.npy")
    if os.path.exists(a):
        x, y = np.load(a), np.load(b)
        if x.shape == y.shape:
            print("- max abs difference of the embeddings: %.2e" % float(np.abs(x.astype(np.float64) - y).max()))
        else:
            print("- embeddings differ in shape: sentembed %s, sentence-transformers %s" % (x.shape, y.shape))
PY
} | tee "$out"
