#!/usr/bin/env bash
# The data pipeline of `sentembed train` as a user meets it, with the tiny random BERT:
#   - every kind of bad input ends in one message naming the file, the line and the column
#     or key, and exit status 1: malformed JSON, an unterminated CSV quote, a missing
#     column, a number or a list where a text is expected, a label out of range for
#     SoftmaxLoss or not in label_map, invalid UTF-8, an empty text, an empty file, a
#     missing file, a corrupt or truncated gzip;
#   - --on-bad-row skip (and the recipe's on_bad_row) leaves bad rows out and counts them;
#   - .gz data trains exactly as the plain file; several datasets, no_duplicates, drop_last;
#   - a pre-tokenized shard trains to the same weights, byte for byte, as its text, also
#     truncated to a shorter max_seq_length; a shard of another vocabulary, one cut shorter
#     than training needs, or a damaged one is refused.
# usage: cli_data.sh SENTEMBED FIXTURE_DIR SHARED_DATA_DIR
set -uo pipefail
bin=$1
source "$(dirname "$0")/cli_lib.sh"
cli_setup "$3" "$2"
# SNLI pairs as JSONL, as CSV (with quoting) and as TSV
paste "$data/nli/snli/s1.dev" "$data/nli/snli/s2.dev" "$data/nli/snli/labels.dev" | head -120 > "$tmp/snli.tsv"
awk -F'\t' '{ gsub(/"/, "\\\""); printf "{\"premise\": \"%s\", \"hypothesis\": \"%s\", \"label\": \"%s\"}\n", $1, $2, $3 }' \
    "$tmp/snli.tsv" > "$tmp/snli.jsonl"
{ echo "premise,hypothesis,label"; awk -F'\t' '{ gsub(/"/, "\"\""); printf "\"%s\",\"%s\",%s\n", $1, $2, $3 }' "$tmp/snli.tsv"; } \
    > "$tmp/snli.csv"
map='{"entailment": 0, "neutral": 1, "contradiction": 2}'
cat > "$tmp/r.json" <<JSON
{"model": "$model",
 "data": {"path": "$tmp/snli.jsonl", "columns": ["premise", "hypothesis"], "label": "label", "label_map": $map},
 "loss": {"type": "softmax", "num_labels": 3},
 "batch_size": 16, "max_steps": 3, "seed": 5, "output_dir": "$tmp/out", "log_every": 1}
JSON
csv_data="{\"path\": \"$tmp/bad.csv\", \"header\": true, \"columns\": [\"premise\", \"hypothesis\"], \"label\": \"label\", \"label_map\": $map}"
good_data="{\"path\": \"$tmp/snli.jsonl\", \"columns\": [\"premise\", \"hypothesis\"], \"label\": \"label\", \"label_map\": $map}"
jsonl_data="{\"path\": \"$tmp/bad.jsonl\", \"columns\": [\"premise\", \"hypothesis\"], \"label\": \"label\", \"label_map\": $map}"

expect() { # NAME PATTERN ARGS...: exit status 1 and the message
    local name=$1 pattern=$2
    shift 2
    # a fresh output_dir (a later --set may name another): these runs end before training
    "$bin" train "$1" --set output_dir="$tmp/expect-out" "${@:2}" > "$tmp/log" 2>&1
    local status=$?
    if [ $status -eq 1 ] && grep -qF -- "$pattern" "$tmp/log"; then ok; else
        fail "$name: status $status:"; cat "$tmp/log"
    fi
}
bad_jsonl() { head -5 "$tmp/snli.jsonl" > "$tmp/bad.jsonl"; printf '%s\n' "$1" >> "$tmp/bad.jsonl"; head -12 "$tmp/snli.jsonl" | tail -7 >> "$tmp/bad.jsonl"; }

bad_jsonl '{"premise": "A man.", "hypothesis": "Unclosed", "label": "neutral"'
expect "malformed JSON" 'bad.jsonl:6: not a JSON object (invalid JSON at column' "$tmp/r.json" --set "data=$jsonl_data"
{ head -4 "$tmp/snli.csv"; printf 'A man.,"An open quote,neutral\nA woman.,A car.,neutral\n'; } > "$tmp/bad.csv"
expect "unterminated CSV quote" 'bad.csv:5: unterminated quoted field: the quote at line 5, column 8 is never closed' \
    "$tmp/r.json" --set "data=$csv_data"
bad_jsonl '{"premise": "A man.", "label": "neutral"}'
expect "missing key" 'bad.jsonl:6: key "hypothesis" is missing' "$tmp/r.json" --set "data=$jsonl_data"
{ head -4 "$tmp/snli.csv"; printf '"only one field"\n'; tail -3 "$tmp/snli.csv"; } > "$tmp/bad.csv"
expect "missing CSV column" 'bad.csv:5: column "hypothesis" is missing (the row has 1 fields)' "$tmp/r.json" \
    --set "data=$csv_data"
bad_jsonl '{"premise": "A man.", "hypothesis": 42, "label": "neutral"}'
expect "number as text" 'bad.jsonl:6: key "hypothesis": expected a string, got a number' "$tmp/r.json" --set "data=$jsonl_data"
bad_jsonl '{"premise": ["A", "list"], "hypothesis": "h", "label": "neutral"}'
expect "list as text" 'bad.jsonl:6: key "premise": expected a string, got a list' "$tmp/r.json" --set "data=$jsonl_data"
expect "label out of range" 'snli.jsonl:3: label 2 (column label) is not a class id in 0..1 (loss.num_labels)' \
    "$tmp/r.json" --set loss.num_labels=2
bad_jsonl '{"premise": "A man.", "hypothesis": "A woman.", "label": "maybe"}'
expect "label not in label_map" 'bad.jsonl:6: label "maybe" (column label) is not in data.label_map' "$tmp/r.json" \
    --set "data=$jsonl_data"
bad_jsonl "$(printf '{"premise": "Caf\xe9 au lait.", "hypothesis": "A drink.", "label": "neutral"}')"
expect "invalid UTF-8" 'bad.jsonl:6: key "premise": invalid UTF-8 (byte 0xE9 at byte 4 of the text)' "$tmp/r.json" \
    --set "data=$jsonl_data"
bad_jsonl '{"premise": "A man.", "hypothesis": "", "label": "neutral"}'
expect "empty text" 'bad.jsonl:6: key "hypothesis": empty text' "$tmp/r.json" --set "data=$jsonl_data"
: > "$tmp/bad.jsonl"
expect "empty file" 'bad.jsonl: no examples: the file is empty' "$tmp/r.json" --set "data=$jsonl_data"
head -1 "$tmp/snli.csv" > "$tmp/bad.csv"
expect "only a header" 'bad.csv: no examples: the file is empty but for its header' "$tmp/r.json" --set "data=$csv_data"
expect "missing file" "$tmp/nowhere.jsonl: cannot open: No such file or directory" "$tmp/r.json" \
    --set "data.path=$tmp/nowhere.jsonl"
gzip -c "$tmp/snli.jsonl" > "$tmp/snli.jsonl.gz"
head -c 700 "$tmp/snli.jsonl.gz" > "$tmp/cut.jsonl.gz"
expect "truncated gzip" 'cut.jsonl.gz: truncated gzip file: it ends inside the compressed stream' "$tmp/r.json" \
    --set "data.path=$tmp/cut.jsonl.gz"
{ head -c 500 "$tmp/snli.jsonl.gz"; head -c 300 /dev/zero | tr '\0' 'x'; tail -c +801 "$tmp/snli.jsonl.gz"; } > "$tmp/corrupt.jsonl.gz"
expect "corrupt gzip" 'corrupt.jsonl.gz: corrupt gzip data at compressed byte' "$tmp/r.json" \
    --set "data.path=$tmp/corrupt.jsonl.gz"
cp "$tmp/snli.jsonl" "$tmp/plain.jsonl.gz"
expect "not gzip" 'plain.jsonl.gz: not gzip data' "$tmp/r.json" \
    --set "data.path=$tmp/plain.jsonl.gz"
expect "batch_sampler value" '"batch_sampler": "no_dups" is not one of default, no_duplicates' "$tmp/r.json" \
    --set batch_sampler=no_dups
expect "new key suggestion" 'unknown key "drop_lst" (did you mean "drop_last"?)' "$tmp/r.json" --set drop_lst=true
expect "data key suggestion" 'unknown key "data.shrd" (did you mean "data.shard"?)' "$tmp/r.json" --set data.shrd=x
expect "different columns" 'key "data[1]" (' "$tmp/r.json" \
    --set "data=[$good_data, {\"path\": \"$tmp/snli.tsv\", \"columns\": [0], \"label\": 2, \"label_map\": $map}]"

# --on-bad-row skip: four bad rows of five kinds left out and counted
{ head -20 "$tmp/snli.jsonl"; echo 'not json'; echo '{"premise": "x", "hypothesis": 3, "label": "neutral"}'
  echo '{"premise": "x", "hypothesis": "y", "label": "maybe"}'; echo '{"premise": "", "hypothesis": "y", "label": "neutral"}'
  tail -20 "$tmp/snli.jsonl"; } > "$tmp/bad.jsonl"
"$bin" train "$tmp/r.json" --set "data=$jsonl_data" --on-bad-row skip --set output_dir="$tmp/out-skip" > "$tmp/log" 2>&1 &&
    grep -qF "on 40 examples (0 dropped, 4 bad rows skipped)" "$tmp/log" &&
    grep -qF "4 bad rows of $tmp/bad.jsonl skipped (on_bad_row: skip); the first: $tmp/bad.jsonl:21: not a JSON object" "$tmp/log" &&
    ok || { fail "--on-bad-row skip:"; cat "$tmp/log"; }
"$bin" train "$tmp/r.json" --set "data=$jsonl_data" --set on_bad_row=skip --set output_dir="$tmp/out-skip2" > "$tmp/log" 2>&1 &&
    grep -qF "4 bad rows skipped" "$tmp/log" && ok || { fail "on_bad_row: skip in the recipe:"; cat "$tmp/log"; }
expect "--on-bad-row value" '"on_bad_row": "ignore" is not one of error, skip' "$tmp/r.json" --on-bad-row ignore

# the same data as JSONL, CSV, TSV and .gz trains to the same weights
"$bin" train "$tmp/r.json" 2> "$tmp/log" || { fail "JSONL run:"; cat "$tmp/log"; }
"$bin" train "$tmp/r.json" --set output_dir="$tmp/out-gz" --set data.path="$tmp/snli.jsonl.gz" 2> "$tmp/log" &&
    cmp -s "$tmp/out/model.safetensors" "$tmp/out-gz/model.safetensors" && ok || { fail ".gz differs from plain:"; cat "$tmp/log"; }
"$bin" train "$tmp/r.json" --set output_dir="$tmp/out-csv" --set "data=${csv_data/bad.csv/snli.csv}" 2> "$tmp/log" &&
    cmp -s "$tmp/out/model.safetensors" "$tmp/out-csv/model.safetensors" && ok || { fail "CSV differs from JSONL:"; cat "$tmp/log"; }
"$bin" train "$tmp/r.json" --set output_dir="$tmp/out-tsv" \
    --set "data={\"path\": \"$tmp/snli.tsv\", \"columns\": [0, 1], \"label\": 2, \"label_map\": $map}" 2> "$tmp/log" &&
    cmp -s "$tmp/out/model.safetensors" "$tmp/out-tsv/model.safetensors" && ok || { fail "TSV differs from JSONL:"; cat "$tmp/log"; }

# several datasets; no_duplicates; drop_last
two="[$good_data, {\"path\": \"$tmp/snli.tsv\", \"columns\": [0, 1], \"label\": 2, \"label_map\": $map}]"
"$bin" train "$tmp/r.json" --set "data=$two" --set sampling=round_robin --set max_steps=0 --set batch_size=50 \
    --set output_dir="$tmp/out-rr" > "$tmp/log" 2>&1 && grep -qF "on 240 examples (0 dropped) x 2 columns: 6 steps" "$tmp/log" &&
    [ "$(grep -c '"loss"' "$tmp/out-rr/metrics.jsonl")" -eq 6 ] && ok || { fail "round_robin:"; cat "$tmp/log"; }
# (each SNLI premise comes 3 times: no_duplicates defers the repeats, some batches are short)
"$bin" train "$tmp/r.json" --set "data=$two" --set max_steps=0 --set batch_size=20 --set drop_last=true \
    --set batch_sampler=no_duplicates --set output_dir="$tmp/out-nd" > "$tmp/log" 2>&1 &&
    grep -qF "on 240 examples (0 dropped) x 2 columns: 12 steps" "$tmp/log" &&
    ok || { fail "no_duplicates + drop_last:"; cat "$tmp/log"; }
# the log's count of batches is the steps that ran (fewer than the schedule's nominal 12: the
# deferred repeats fill no batch of 20), and the samples are those of full batches
batches=$(sed -n 's/^no_duplicates: epoch 1 has \([0-9]*\) batches of 20.0 samples on average (20 to 20; batch_size 20).*/\1/p' "$tmp/log")
[ -n "$batches" ] && grep -q "^step $batches/12 " "$tmp/log" && ! grep -q "^step $((batches + 1))/" "$tmp/log" &&
    grep -q "$((batches * 20)) of 240 examples used" "$tmp/log" && ok || { fail "no_duplicates log:"; cat "$tmp/log"; }
# without drop_last the deferred repeats end up in short batches, and the log says how short
"$bin" train "$tmp/r.json" --set "data=$two" --set max_steps=0 --set batch_size=20 --set batch_sampler=no_duplicates \
    --set output_dir="$tmp/out-nd2" > "$tmp/log" 2>&1 &&
    grep -q "no_duplicates: epoch 1 has [0-9]* batches of 1[0-9].[0-9] samples on average ([0-9]* to 20; batch_size 20)" "$tmp/log" &&
    ok || { fail "no_duplicates short batches:"; cat "$tmp/log"; }
expect "no_duplicates, no full batch" 'epoch 1 has no batch (drop_last)' "$tmp/r.json" --set "data=$two" --set batch_size=50 \
    --set drop_last=true --set batch_sampler=no_duplicates
expect "no full batch" 'an epoch has no batch: 120 examples, batch_size 200 and drop_last' "$tmp/r.json" \
    --set batch_size=200 --set drop_last=true

# shards: the same weights as the text, also cut to a shorter max_seq_length
spec="{\"path\": \"$tmp/snli.jsonl\", \"columns\": [\"premise\", \"hypothesis\"], \"label\": \"label\", \"label_map\": $map}"
"$bin" tokenize --shard "$tmp/snli.shard" --model "$model" --data "$spec" --max-seq-length 16 2> "$tmp/log" &&
    [ -f "$tmp/snli.shard" ] && [ -z "$(ls "$tmp" | grep 'shard\.tmp')" ] && ok || { fail "tokenize --shard:"; cat "$tmp/log"; }
for len in 16 9; do
    "$bin" train "$tmp/r.json" --set max_seq_length=$len --set output_dir="$tmp/text-$len" 2> "$tmp/log" &&
        "$bin" train "$tmp/r.json" --set max_seq_length=$len --set output_dir="$tmp/shard-$len" \
            --set "data={\"shard\": \"$tmp/snli.shard\"}" 2>> "$tmp/log" &&
        cmp -s "$tmp/text-$len/model.safetensors" "$tmp/shard-$len/model.safetensors" && ok ||
        { fail "shard vs text at max_seq_length $len:"; cat "$tmp/log"; }
done
expect "shard cut too short" "snli.shard: the shard's ids were truncated to 16" "$tmp/r.json" --set max_seq_length=32 \
    --set "data={\"shard\": \"$tmp/snli.shard\"}"
"$bin" tokenize --shard "$tmp/minilm.shard" --model "$data/minilm-config" --data "$spec" 2> /dev/null
expect "shard of another vocabulary" 'minilm.shard: the shard was made with another vocabulary' "$tmp/r.json" \
    --set "data={\"shard\": \"$tmp/minilm.shard\"}"
head -c 2000 "$tmp/snli.shard" > "$tmp/cut.shard"
expect "truncated shard" 'cut.shard: damaged shard:' "$tmp/r.json" --set "data={\"shard\": \"$tmp/cut.shard\"}"
# a flipped byte: in a block with offsets, found at open; in the first 64 KiB block of ids
# of a larger shard (2000 SNLI pairs), found when training reads into it
cp "$tmp/snli.shard" "$tmp/flip.shard"
printf '\377' | dd of="$tmp/flip.shard" bs=1 seek=200 conv=notrunc 2> /dev/null
expect "flipped byte in a shard" 'flip.shard: damaged shard: bytes 120..' "$tmp/r.json" \
    --set "data={\"shard\": \"$tmp/flip.shard\"}"
paste "$data/nli/snli/s1.dev" "$data/nli/snli/s2.dev" "$data/nli/snli/labels.dev" | head -2000 |
    awk -F'\t' '{ gsub(/"/, "\\\""); printf "{\"premise\": \"%s\", \"hypothesis\": \"%s\", \"label\": \"%s\"}\n", $1, $2, $3 }' \
    > "$tmp/snli2k.jsonl"
"$bin" tokenize --shard "$tmp/big.shard" --model "$model" --max-seq-length 16 \
    --data "${spec//snli.jsonl/snli2k.jsonl}" 2> "$tmp/log" || { fail "tokenize --shard 2000 pairs:"; cat "$tmp/log"; }
printf '\377' | dd of="$tmp/big.shard" bs=1 seek=200 conv=notrunc 2> /dev/null
expect "flipped byte among the ids" 'big.shard: damaged shard: bytes 120..65656 (block 1 of ' "$tmp/r.json" \
    --set max_seq_length=16 --set "data={\"shard\": \"$tmp/big.shard\"}"
grep -q '^step' "$tmp/log" && fail "training stepped on damaged ids" || ok
expect "shard with columns" 'key "data.columns": a shard holds its own columns' "$tmp/r.json" \
    --set "data={\"shard\": \"$tmp/snli.shard\", \"columns\": [0]}"
"$bin" tokenize --shard "$tmp/x.shard" --model "$model" --data "{\"path\": \"$tmp/bad.jsonl\", \"columns\": [\"premise\"]}" \
    > "$tmp/log" 2>&1
[ $? -eq 1 ] && grep -qF 'bad.jsonl:21: not a JSON object' "$tmp/log" && [ ! -e "$tmp/x.shard" ] && ok ||
    { fail "tokenize --shard on bad data:"; cat "$tmp/log"; }

echo "cli_data: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
