#!/usr/bin/env bash
# Issue 14's real job: all-MiniLM-L6-v2 fine-tuned on STS-B train (configs/minilm-stsb.json,
# 1 epoch, CosineSimilarityLoss, dropout as the model's config says) by 2 ranks x batch 8,
# one thread each, against 1 process x batch 16: the STS-B dev Spearman of the two models
# within 0.002 (the same dropout masks: they differ by float summation order only).
# usage: dp_real_job.sh SENTEMBED MPIEXEC REPO_ROOT SHARED_DATA_DIR
set -uo pipefail
bin=$1 mpiexec=$2 root=$3 data=$4
model=$root/models/all-MiniLM-L6-v2
if [ ! -f "$model/model.safetensors" ] || [ ! -d "$data/stsb" ]; then
    echo "SKIP: needs $model (scripts/get_model.sh) and $data/stsb"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
common=(--set model="$model" --set data.path="$data/stsb/sts-train.csv" --set eval.path="$data/stsb/sts-dev.csv"
        --set eval.every=0 --set log_every=60)
start=$(date +%s)
OMP_NUM_THREADS=2 "$bin" train "$root/configs/minilm-stsb.json" "${common[@]}" --set output_dir="$tmp/one" \
    2> "$tmp/one.log" || { cat "$tmp/one.log"; exit 1; }
mid=$(date +%s)
"$mpiexec" --oversubscribe -np 2 "$bin" train "$root/configs/minilm-stsb.json" "${common[@]}" \
    --set output_dir="$tmp/two" --set batch_size=8 > "$tmp/two.log" 2>&1 || { cat "$tmp/two.log"; exit 1; }
end=$(date +%s)
spearman() { sed -n 's/^eval at step [0-9]*: .*spearman_cosine \([0-9.]*\).*/\1/p' "$1" | tail -1; }
a=$(spearman "$tmp/one.log") b=$(spearman "$tmp/two.log")
echo "1 process x 16 (2 threads): STS-B dev spearman_cosine $a, $((mid - start)) s"
echo "2 ranks x 8 (1 thread each): STS-B dev spearman_cosine $b, $((end - mid)) s"
awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; printf "difference %.4f (limit 0.002)\n", d; exit !(a > 0 && b > 0 && d <= 0.002) }'
