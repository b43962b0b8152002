#!/usr/bin/env bash
# Builds the JSONL files the SNLI recipes read from the line-aligned SNLI files in
# ../shared/data/nli/snli (s1 = premise, s2 = hypothesis, labels = entailment|neutral|contradiction):
#   data/snli-SPLIT.jsonl           {"premise", "hypothesis", "label"}  label 0 entailment,
#                                   1 neutral, 2 contradiction (the Hugging Face snli ids)
#   data/snli-SPLIT-triplets.jsonl  {"anchor", "positive", "negative"}: each premise with its
#                                   first entailed and first contradicting hypothesis, as
#                                   sentence-transformers builds AllNLI triplets
# usage: scripts/make_snli_jsonl.sh [SPLIT (dev|test)] [SHARED_DATA_DIR]
set -euo pipefail
split=${1:-dev}
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${2:-$here/../shared/data}
src=$shared/nli/snli
for f in s1 s2 labels; do
    if [ ! -f "$src/$f.$split" ]; then
        echo "make_snli_jsonl: $src/$f.$split not found (expected SNLI in the InferSent layout)" >&2
        exit 1
    fi
done
mkdir -p "$here/data"
pairs=$here/data/snli-$split.jsonl
triplets=$here/data/snli-$split-triplets.jsonl
paste -d '\t' "$src/s1.$split" "$src/s2.$split" "$src/labels.$split" | awk -F '\t' -v pairs="$pairs.tmp" -v triplets="$triplets.tmp" '
function esc(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\r/, "", s); return s }
BEGIN { id["entailment"] = 0; id["neutral"] = 1; id["contradiction"] = 2 }
{
    if (!($3 in id)) { printf "make_snli_jsonl: line %d: label \"%s\" is not entailment, neutral or contradiction\n", NR, $3 > "/dev/stderr"; bad = 1; exit 1 }
    printf "{\"premise\": \"%s\", \"hypothesis\": \"%s\", \"label\": %d}\n", esc($1), esc($2), id[$3] > pairs
    if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
    if ($3 == "entailment" && !($1 in pos)) pos[$1] = $2
    if ($3 == "contradiction" && !($1 in neg)) neg[$1] = $2
}
END {
    if (bad) exit 1
    for (i = 1; i <= n; i++) {
        p = order[i]
        if ((p in pos) && (p in neg)) { printf "{\"anchor\": \"%s\", \"positive\": \"%s\", \"negative\": \"%s\"}\n", esc(p), esc(pos[p]), esc(neg[p]) > triplets; t++ }
    }
    printf "make_snli_jsonl: %d pairs, %d triplets\n", NR, t > "/dev/stderr"
}'
mv "$pairs.tmp" "$pairs"
mv "$triplets.tmp" "$triplets"
echo "wrote $pairs and $triplets"
