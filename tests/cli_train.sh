#!/usr/bin/env bash
# `sentembed train` end to end on the CPU with the tiny random BERT: STS-B with
# CosineSimilarityLoss (TSV, column indices, scaled float labels), SNLI with SoftmaxLoss
# (JSONL, label_map, drop_labels), triplets from nested JSONL ("set.pos[0]") with
# TripletLoss; the saved model loads and encodes; the same seed gives byte-identical
# weights; bad recipes and data end in one message naming the key, file or line.
# usage: cli_train.sh SENTEMBED FIXTURE_DIR SHARED_DATA_DIR
set -uo pipefail
bin=$1
source "$(dirname "$0")/cli_lib.sh"
cli_setup "$3" "$2"

cat > "$tmp/stsb.json" <<JSON
{"model": "$model",
 "data": {"path": "$data/stsb/sts-train.csv", "format": "tsv", "columns": [5, 6], "label": 4, "label_scale": 5},
 "loss": {"type": "cosine_similarity"},
 "batch_size": 16, "max_steps": 20, "lr": 5e-4, "warmup_ratio": 0.1, "seed": 7,
 "output_dir": "$tmp/out-stsb", "log_every": 5}
JSON
if "$bin" train "$tmp/stsb.json" 2> "$tmp/log" && [ "$(wc -l < "$tmp/out-stsb/metrics.jsonl")" -eq 4 ] &&
    "$bin" info "$tmp/out-stsb" | grep -q "Pooling(mean)" &&
    echo "A man plays the guitar." | "$bin" encode --model "$tmp/out-stsb" --device cpu > /dev/null; then ok; else
    fail "STS-B cosine_similarity run:"; cat "$tmp/log"
fi
# the same recipe and seed give the same weights, byte for byte
"$bin" train "$tmp/stsb.json" --set output_dir="$tmp/out-stsb2" 2> /dev/null &&
    cmp -s "$tmp/out-stsb/model.safetensors" "$tmp/out-stsb2/model.safetensors" && ok ||
    fail "two runs with one seed differ"
"$bin" train "$tmp/stsb.json" --set output_dir="$tmp/out-stsb3" --set seed=8 2> /dev/null &&
    ! cmp -s "$tmp/out-stsb/model.safetensors" "$tmp/out-stsb3/model.safetensors" && ok ||
    fail "another seed gives the same weights"

# SNLI as JSONL with string labels, SoftmaxLoss over 3 classes
paste "$data/nli/snli/s1.dev" "$data/nli/snli/s2.dev" "$data/nli/snli/labels.dev" | head -200 |
    awk -F'\t' '{ gsub(/"/, "\\\""); printf "{\"premise\": \"%s\", \"hypothesis\": \"%s\", \"label\": \"%s\"}\n", $1, $2, $3 }' > "$tmp/snli.jsonl"
echo '{"premise": "A dropped row.", "hypothesis": "It has no gold label.", "label": "-"}' >> "$tmp/snli.jsonl"
cat > "$tmp/snli.json" <<JSON
{"model": "$model",
 "data": {"path": "$tmp/snli.jsonl", "columns": ["premise", "hypothesis"], "label": "label",
          "label_map": {"entailment": 0, "neutral": 1, "contradiction": 2, "-": -1}, "drop_labels": [-1]},
 "loss": {"type": "softmax", "num_labels": 3},
 "batch_size": 16, "max_steps": 6, "output_dir": "$tmp/out-snli", "log_every": 3}
JSON
"$bin" train "$tmp/snli.json" 2> "$tmp/log" && grep -q "200 examples (1 dropped)" "$tmp/log" && ok ||
    { fail "SNLI softmax run:"; cat "$tmp/log"; }

# triplets in nested JSONL, as QQP-triplets are shaped
paste "$data/nli/snli/s1.dev" "$data/nli/snli/s2.dev" | sed -n '1,96p' | awk -F'\t' '
    { gsub(/"/, "\\\"") } NR % 3 == 1 { q = $1; p = $2 } NR % 3 == 0 {
    printf "{\"set\": {\"query\": \"%s\", \"pos\": [\"%s\"], \"neg\": [\"%s\", \"x\"]}}\n", q, p, $2 }' > "$tmp/triplets.jsonl"
cat > "$tmp/triplet.json" <<JSON
{"model": "$model",
 "data": {"path": "$tmp/triplets.jsonl", "columns": ["set.query", "set.pos[0]", "set.neg[0]"]},
 "loss": {"type": "triplet", "metric": "euclidean", "margin": 5},
 "batch_size": 8, "epochs": 2, "output_dir": "$tmp/out-triplet", "log_every": 2}
JSON
"$bin" train "$tmp/triplet.json" 2> "$tmp/log" && grep -q "32 examples" "$tmp/log" &&
    [ "$(wc -l < "$tmp/out-triplet/metrics.jsonl")" -eq 4 ] && ok || { fail "triplet run:"; cat "$tmp/log"; }

# MRPC paraphrase pairs (TSV with a header, columns by name) with OnlineContrastiveLoss
cat > "$tmp/mrpc.json" <<JSON
{"model": "$model",
 "data": {"path": "$data/pairs/mrpc/msr-para-val.tsv", "format": "tsv", "header": true,
          "columns": ["#1 String", "#2 String"], "label": "Quality"},
 "loss": {"type": "online_contrastive"}, "batch_size": 16, "max_steps": 4, "output_dir": "$tmp/out-mrpc", "log_every": 2}
JSON
"$bin" train "$tmp/mrpc.json" 2> "$tmp/log" && grep -q "500 examples" "$tmp/log" && ok || { fail "MRPC online_contrastive:"; cat "$tmp/log"; }
# sentences with class labels (SNLI premises by gold label) with BatchHardTripletLoss
cat > "$tmp/bh.json" <<JSON
{"model": "$model",
 "data": {"path": "$tmp/snli.jsonl", "columns": ["hypothesis"], "label": "label",
          "label_map": {"entailment": 0, "neutral": 1, "contradiction": 2, "-": -1}, "drop_labels": [-1]},
 "loss": {"type": "batch_hard_triplet"}, "batch_size": 32, "max_steps": 3, "output_dir": "$tmp/out-bh", "log_every": 1}
JSON
"$bin" train "$tmp/bh.json" 2> "$tmp/log" && [ "$(wc -l < "$tmp/out-bh/metrics.jsonl")" -eq 3 ] && ok ||
    { fail "batch_hard_triplet:"; cat "$tmp/log"; }

# dropout: on by default (the model config's 0.1, as sentence-transformers trains), 0 turns it off
"$bin" train "$tmp/stsb.json" --set output_dir="$tmp/out-nodrop" --set dropout=0 2> "$tmp/log" &&
    grep -q "dropout 0/0" "$tmp/log" && grep -q "dropout 0.1/0.1" < <("$bin" train "$tmp/stsb.json" --set output_dir="$tmp/out-drop" 2>&1) &&
    ! cmp -s "$tmp/out-drop/model.safetensors" "$tmp/out-nodrop/model.safetensors" && ok ||
    { fail "dropout 0 vs the default:"; cat "$tmp/log"; }

# the recipe of configs/: a random-init BERT from a shipped config.json and the shared
# vocabulary, with a Dense(tanh) and a Normalize added on top
root=$(cd "$(dirname "$0")/.." && pwd) # the recipe's paths are relative to the repository
rand() { (cd "$root" && "$bin" train configs/tiny-random-stsb.json --set vocab="$data/vocab/bert-base-uncased-vocab.txt" \
    --set data.path="$data/stsb/sts-train.csv" --set max_steps=4 "$@"); }
if rand --set output_dir="$tmp/out-rand" 2> "$tmp/log" && grep -q "(random init)" "$tmp/log" &&
    [ -f "$tmp/out-rand/2_Dense/model.safetensors" ] && [ -d "$tmp/out-rand/3_Normalize" ] &&
    [ -f "$tmp/out-rand/vocab.txt" ] && "$bin" info "$tmp/out-rand" > "$tmp/info" && grep -q "Dense(64 -> 32, tanh)" "$tmp/info" &&
    echo "A man plays the guitar." | "$bin" encode --model "$tmp/out-rand" --device cpu |
    awk -F'[][, ]+' '{ s = 0; for (i = 2; i < NF; i++) s += $i * $i } END { exit !(NR == 1 && s > 0.9999 && s < 1.0001) }'; then ok; else
    fail "random-init recipe with Dense + Normalize:"; cat "$tmp/log" "$tmp/info"
fi
rand --set output_dir="$tmp/out-rand2" 2> /dev/null && cmp -s "$tmp/out-rand/model.safetensors" "$tmp/out-rand2/model.safetensors" &&
    rand --set output_dir="$tmp/out-rand3" --set seed=43 2> /dev/null &&
    ! cmp -s "$tmp/out-rand/model.safetensors" "$tmp/out-rand3/model.safetensors" && ok ||
    fail "random init is not a function of the seed"

expect() { # NAME PATTERN ARGS...: exit 1 and the message
    local name=$1 pattern=$2
    shift 2
    # a fresh output_dir (a later --set may name another): these runs end before training
    "$bin" train "$1" --set output_dir="$tmp/expect-out" "${@:2}" > "$tmp/out" 2>&1
    local status=$?
    if [ $status -eq 1 ] && grep -q -- "$pattern" "$tmp/out"; then ok; else
        fail "$name: status $status:"; cat "$tmp/out"
    fi
}
expect "unknown key" 'unknown key "batchsize" (did you mean "batch_size"?)' "$tmp/stsb.json" --set batchsize=8
expect "unknown data key" 'unknown key "data.colums" (did you mean "data.columns"?)' "$tmp/stsb.json" --set data.colums=[1]
expect "unknown loss" '"loss.type": "mse" is not one of' "$tmp/stsb.json" --set loss.type=mse
expect "missing column" 'sts-train.csv:1: column 9 is missing' "$tmp/stsb.json" --set 'data.columns=[5,9]'
expect "text as label" 'column 5: expected a number as the label' "$tmp/stsb.json" --set data.label=5
expect "missing file" '/nonexistent.tsv: cannot open' "$tmp/stsb.json" --set data.path=/nonexistent.tsv
expect "missing model" '/nonexistent-model: not a directory' "$tmp/stsb.json" --set model=/nonexistent-model
expect "bad lr" '"lr": expected a number' "$tmp/stsb.json" --set lr=fast
expect "labels needed" 'needs labels: set data.label' "$tmp/stsb.json" --set data.label=null
printf '{"set": {"query": "q", "pos": ["p"], "neg": ["n"]}}\nnot json\n' > "$tmp/bad.jsonl"
expect "bad JSON line" 'bad.jsonl:2: not a JSON object' "$tmp/triplet.json" --set data.path="$tmp/bad.jsonl"
expect "label map" 'label "contradiction" (column label) is not in data.label_map' "$tmp/snli.json" \
    --set 'data.label_map={"entailment": 0, "neutral": 1, "-": -1}'
expect "bad init" '"init": "zeros" is not one of pretrained' "$tmp/stsb.json" --set init=zeros
expect "bad dense" '"dense.activation": "relu" is not one of tanh, identity' "$tmp/stsb.json" \
    --set 'dense={"out_features": 8, "activation": "relu"}'
expect "dense size" '"dense.out_features": expected a positive integer' "$tmp/stsb.json" --set 'dense={"out_features": 0}'
expect "bad dropout" '"dropout": expected a number from 0 to 0.95' "$tmp/stsb.json" --set dropout=2
expect "bad pooling" 'pooling "avg": expected mean, cls, max or mean_sqrt_len_tokens' "$tmp/stsb.json" --set pooling=avg
expect "no vocab" 'no tokenizer.json or vocab.txt' "$tmp/stsb.json" --set init=random --set model="$root/configs/models/tiny-bert"
mkdir -p "$tmp/not-a-model" && touch "$tmp/not-a-model/important.txt"
expect "output is not a model dir" 'not a model written by sentembed' "$tmp/stsb.json" --set output_dir="$tmp/not-a-model" --set max_steps=1
[ -f "$tmp/not-a-model/important.txt" ] && ok || fail "a non-model output directory was touched"

# identical anchor and positive, no dropout, margin 0: the triplet loss and its gradient are
# exactly 0 at every step, and the run says it learns nothing
"$bin" train "$tmp/stsb.json" --set output_dir="$tmp/out-zero" --set 'data.columns=[5,5,6]' --set data.label=null \
    --set loss.type=triplet --set loss.margin=0 --set dropout=0 --set max_steps=12 2> "$tmp/log" &&
    grep -q "steps 1-10: the loss and the gradient were exactly 0 in 10 steps in a row" "$tmp/log" &&
    grep -q "12 of 12 steps had a loss and a gradient of exactly 0" "$tmp/log" && ok || { fail "zero loss:"; cat "$tmp/log"; }
"$bin" train "$tmp/stsb.json" --set output_dir="$tmp/out-nonzero" --set max_steps=12 2> "$tmp/log" &&
    ! grep -q "exactly 0" "$tmp/log" && ok || { fail "a learning run warned of a zero loss:"; cat "$tmp/log"; }

# an eval set whose gold scores are all equal: Pearson is undefined, metrics.jsonl says null
# (never a bare nan, which is not JSON) and why
awk -F'\t' 'BEGIN { OFS = "\t" } NR <= 20 { $5 = 3; print }' "$data/stsb/sts-dev.csv" > "$tmp/const.tsv"
"$bin" train "$tmp/stsb.json" --set output_dir="$tmp/out-const-eval" --set max_steps=2 \
    --set "eval={\"path\": \"$tmp/const.tsv\", \"format\": \"tsv\", \"columns\": [5, 6], \"label\": 4}" 2> "$tmp/log" &&
    grep -q '"eval_pearson_cosine": null, "eval_spearman_cosine": null, "eval_undefined": "all gold scores are equal"' \
        "$tmp/out-const-eval/metrics.jsonl" && grep -q "correlations are undefined" "$tmp/log" &&
    python3 -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/out-const-eval/metrics.jsonl" &&
    ok || { fail "undefined eval in metrics:"; cat "$tmp/log" "$tmp/out-const-eval/metrics.jsonl"; }

echo "cli_train: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
