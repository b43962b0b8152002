#!/usr/bin/env bash
# Training throughput and result: `sentembed train` vs sentence-transformers' fit on the
# same CPU cores, all-MiniLM-L6-v2 + CosineSimilarityLoss on STS-B train (5749 pairs, batch
# 16, one epoch, AdamW 2e-5, linear warmup 10%), then STS-B dev Spearman of each result.
# Writes benchmarks/results/train-cpu-<host>.md.
# usage: benchmarks/train.sh   (needs scripts/get_model.sh and scripts/setup_reference.sh,
#        plus `pip install datasets accelerate` in .venv-ref for the peer)
set -euo pipefail
source "$(dirname "$0")/bench_lib.sh"
cd "$(dirname "$0")/.."
data=$(cd "${SENTEMBED_DATA:-../shared/data}" && pwd)
python=${PYTHON:-.venv-ref/bin/python}
threads=${THREADS:-$(nproc)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model=models/all-MiniLM-L6-v2
stsb="\"format\": \"tsv\", \"columns\": [5, 6], \"label\": 4, \"label_scale\": 5"
cat > "$tmp/recipe.json" <<JSON
{"model": "$model", "data": {"path": "$data/stsb/sts-train.csv", $stsb},
 "eval": {"path": "$data/stsb/sts-dev.csv", $stsb},
 "loss": {"type": "cosine_similarity"}, "batch_size": 16, "epochs": 1, "lr": 2e-5,
 "schedule": "warmuplinear", "warmup_ratio": 0.1, "seed": 42, "output_dir": "$tmp/ours", "log_every": 100000}
JSON
base=$(build/sentembed eval --model $model --device cpu --data "{\"path\": \"$data/stsb/sts-dev.csv\", $stsb}")
start=$(date +%s.%N)
OMP_NUM_THREADS=$threads build/sentembed train "$tmp/recipe.json" 2> "$tmp/ours.log"
end=$(date +%s.%N)
ours_spearman=$(grep -o 'spearman_cosine [0-9.]*' "$tmp/ours.log" | tail -1 | cut -d' ' -f2)
ours=$(awk -v s="$start" -v e="$end" -v sp="$ours_spearman" 'BEGIN { printf "%.1f %.1f %s", e - s, 5749 / (e - s), sp }')
peer=$("$python" benchmarks/bench_train_st.py --model $model --train "$data/stsb/sts-train.csv" \
    --dev "$data/stsb/sts-dev.csv" --threads "$threads" --output "$tmp/peer" 2> "$tmp/peer.log" | tail -1)
out=benchmarks/results/train-cpu-$(hostname -s).md
{
    echo "# Training throughput (CPU)"
    echo
    echo "- date: $(bench_date); machine: $(bench_machine), $threads threads"
    echo "- command: benchmarks/train.sh"
    echo "- job: all-MiniLM-L6-v2, CosineSimilarityLoss, STS-B train (5749 pairs), batch 16, 1 epoch, AdamW 2e-5, warmup 10%"
    echo "- STS-B dev before training: $base"
    echo "- sentembed: wall time of \`sentembed train\` (model load, training, final eval and save included)"
    echo "- peer: sentence-transformers' SentenceTransformerTrainer.train() alone (\`benchmarks/bench_train_st.py\`)"
    echo
    echo "| implementation | seconds | pairs/s | STS-B dev spearman_cosine after |"
    echo "|---|---:|---:|---:|"
    read -r s r sp <<< "$ours"
    echo "| sentembed | $s | $r | $sp |"
    "$python" -c 'import json,sys; r=json.loads(sys.argv[1]); print("| %s | %.1f | %.1f | %.4f |" % (r["impl"], r["seconds"], r["pairs_per_s"], r["dev_spearman_cosine"]))' "$peer"
} | tee "$out"
