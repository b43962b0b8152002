#!/usr/bin/env bash
# Strict input, as a user meets it with the tiny random BERT: what used to be read silently
# in a wrong way now ends in one message naming the file, line, column or key, exit 1:
#   - a --set value is one whole JSON value or else a string (2k, 1e-3abc, nullrun);
#   - text after the JSON of a recipe or a data spec;
#   - a key twice in one object of a recipe, a data spec or a JSONL row;
#   - a NUL character (a zero byte, or \u0000 in JSON) in a JSONL, CSV or TSV row (a bad
#     row, skipped with --on-bad-row skip) and on the standard input of encode, tokenize and
#     search (replaced with U+FFFD under --utf8-errors=replace);
#   - labels written as text that are not finite decimal numbers (0x3, inf, nan, 1e999);
#   - undefined correlations are null in eval's JSON, with the reason;
#   - model configs with is_decoder, model_max_length <= 0, or sizes above the limits;
#   - NaN or infinite weights in model.safetensors or 2_Dense/model.safetensors.
# usage: cli_strict.sh SENTEMBED FIXTURE_DIR SHARED_DATA_DIR
set -uo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/cli_lib.sh"
cli_setup "$3" "$2"

expect() { # NAME PATTERN COMMAND...: exit status 1 and the message on stderr
    local name=$1 pattern=$2
    shift 2
    "$@" > "$tmp/stdout" 2> "$tmp/log" < "${stdin:-/dev/null}"
    local status=$?
    if [ $status -eq 1 ] && grep -qF -- "$pattern" "$tmp/log"; then ok; else
        fail "$name: status $status:"; cat "$tmp/log"
    fi
}

head -40 "$data/stsb/sts-train.csv" | cut -f 5-7 > "$tmp/pairs.tsv"
cat > "$tmp/r.json" <<JSON
{"model": "$model",
 "data": {"path": "$tmp/pairs.tsv", "format": "tsv", "columns": [1, 2], "label": 0, "label_scale": 5},
 "loss": {"type": "cosine_similarity"},
 "batch_size": 8, "max_steps": 1, "seed": 3, "output_dir": "$tmp/out", "log_every": 1}
JSON

# --set: the whole value, or a string
expect "--set max_steps=2k" 'key "max_steps": expected a number from 0 to 1099511627776, got the string "2k"' \
    "$bin" train "$tmp/r.json" --set max_steps=2k
expect "--set lr=1e-3abc" 'key "lr": expected a number from 0 to 10, got the string "1e-3abc"' \
    "$bin" train "$tmp/r.json" --set lr=1e-3abc
(cd "$tmp" && "$bin" train r.json --set output_dir=nullrun > /dev/null 2>&1) && [ -f "$tmp/nullrun/model.safetensors" ] &&
    ok || fail "--set output_dir=nullrun did not write to ./nullrun"
"$bin" train "$tmp/r.json" --set max_steps=' 2 ' --set output_dir="$tmp/two" > /dev/null 2>&1 &&
    [ "$(grep -c '"loss"' "$tmp/two/metrics.jsonl")" -eq 2 ] && ok || fail "--set max_steps=' 2 ' is not 2 steps"
expect "--set broken JSON object" '--set data={"path": 1: invalid JSON (column 10 of the value)' \
    "$bin" train "$tmp/r.json" --set 'data={"path": 1'
expect "--set duplicate key" 'duplicate key "path": a key may appear once in an object (column 11 of the value)' \
    "$bin" train "$tmp/r.json" --set 'data={"path":1,"path":2}'

# recipes: text after the object, a key twice (nested too), NUL
{ cat "$tmp/r.json"; echo '{"lr": 1}'; } > "$tmp/bad.json"
expect "recipe: text after it" 'bad.json:5:1: unexpected text after the JSON value' "$bin" train "$tmp/bad.json"
sed 's/"seed": 3,/"seed": 3,\n "lr": 1e-4, "lr": 2e-4,/' "$tmp/r.json" > "$tmp/bad.json"
expect "recipe: duplicate key" 'bad.json:5:14: duplicate key "lr"' "$bin" train "$tmp/bad.json"
sed 's/"cosine_similarity"}/"cosine_similarity", "type": "cosent"}/' "$tmp/r.json" > "$tmp/bad.json"
expect "recipe: nested duplicate key" 'bad.json:3:40: duplicate key "loss.type"' "$bin" train "$tmp/bad.json"
sed 's|"output_dir": "|"output_dir": "\\u0000|' "$tmp/r.json" > "$tmp/bad.json"
expect "recipe: \\u0000" 'bad.json:4:' "$bin" train "$tmp/bad.json"
grep -qF 'a NUL character (\u0000), which no text may hold' "$tmp/log" && ok || fail "recipe: \\u0000 message"

# data specs given to eval and tokenize --shard, inline and as @FILE
spec="{\"path\": \"$tmp/pairs.tsv\", \"format\": \"tsv\", \"columns\": [1, 2], \"label\": 0}"
expect "eval --data: text after it" '--data: unexpected text after the JSON value' \
    "$bin" eval --model "$model" --device cpu --data "$spec}"
printf '{"path": "%s",\n "columns": [1, 2], "columns": [0, 1]}\n' "$tmp/pairs.tsv" > "$tmp/spec.json"
expect "eval --data @FILE: duplicate key" 'spec.json:2:21: duplicate key "columns"' \
    "$bin" eval --model "$model" --device cpu --data "@$tmp/spec.json"
expect "tokenize --shard --data: text after it" '--data: unexpected text after the JSON value' \
    "$bin" tokenize --shard "$tmp/x.shard" --model "$model" --data "$spec x"

# JSONL rows: a key twice, \u0000, a zero byte; CSV and TSV rows: a zero byte
printf '{"a": "One.", "b": "Two."}\n' > "$tmp/rows.jsonl"
for k in 1 2 3 4 5 6; do printf '{"a": "Row %d.", "b": "Text."}\n' "$k" >> "$tmp/rows.jsonl"; done
jsonl_data="{\"path\": \"$tmp/bad.jsonl\", \"columns\": [\"a\", \"b\"]}"
mnrl=(--set loss.type=mnrl --set "data=$jsonl_data")
bad_jsonl() { cp "$tmp/rows.jsonl" "$tmp/bad.jsonl"; printf '%s\n' "$1" >> "$tmp/bad.jsonl"; }
bad_jsonl '{"a": "One.", "b": "Two.", "a": "Three."}'
expect "JSONL: duplicate key" 'bad.jsonl:8: duplicate key "a": a key may appear once in an object (column 28)' \
    "$bin" train "$tmp/r.json" "${mnrl[@]}"
bad_jsonl '{"a": "Cut\u0000 here.", "b": "Two."}'
expect "JSONL: \\u0000" 'bad.jsonl:8: a NUL character (\u0000), which no text may hold (column 11)' \
    "$bin" train "$tmp/r.json" "${mnrl[@]}"
cp "$tmp/rows.jsonl" "$tmp/bad.jsonl" && printf '{"a": "Zero X byte.", "b": "Two."}\n' | tr X '\000' >> "$tmp/bad.jsonl"
expect "JSONL: zero byte" 'bad.jsonl:8: a NUL character (a zero byte), which no text may hold (column 13)' \
    "$bin" train "$tmp/r.json" "${mnrl[@]}"
"$bin" train "$tmp/r.json" "${mnrl[@]}" --on-bad-row skip --set output_dir="$tmp/skip" > "$tmp/log" 2>&1 &&
    grep -qF "1 bad rows of $tmp/bad.jsonl skipped" "$tmp/log" && ok || { fail "JSONL: NUL row not skipped"; cat "$tmp/log"; }
{ cat "$tmp/pairs.tsv"; printf '3.0\tA zero X byte.\tText.\n' | tr X '\000'; } > "$tmp/bad.tsv"
expect "TSV: zero byte" 'bad.tsv:41: a NUL character (a zero byte), which no text may hold (byte 12 of the row)' \
    "$bin" train "$tmp/r.json" --set data.path="$tmp/bad.tsv"
{ echo 'score,a,b'; printf '1,"A zero X byte.",Text.\n' | tr X '\000'; printf '2,Fine.,Text.\n'; } > "$tmp/bad.csv"
expect "CSV: zero byte" 'bad.csv:2: a NUL character (a zero byte), which no text may hold (byte 11 of the row)' \
    "$bin" train "$tmp/r.json" --set "data={\"path\": \"$tmp/bad.csv\", \"header\": true, \"columns\": [\"a\", \"b\"], \"label\": \"score\"}"
{ printf 'score,a,bX\n' | tr X '\000'; printf '2,Fine.,Text.\n'; } > "$tmp/bad.csv"
expect "CSV header: zero byte" 'bad.csv:1: a NUL character (a zero byte), which no text may hold (byte 10 of the header)' \
    "$bin" train "$tmp/r.json" --set "data={\"path\": \"$tmp/bad.csv\", \"header\": true, \"columns\": [\"a\", \"b\"], \"label\": \"score\"}"

# plain text on stdin (encode, tokenize, search): an error naming the line, or U+FFFD with
# --utf8-errors=replace, which the tokenizer drops as it drops NUL: the ids of the text
# without it
printf 'A first line.\nA zero X byte.\n' | tr X '\000' > "$tmp/nul.txt"
printf 'A first line.\nA zero  byte.\n' > "$tmp/no_nul.txt"
stdin=$tmp/nul.txt expect "encode: zero byte" 'stdin line 2: a NUL character (a zero byte) at byte 8 of the line' \
    "$bin" encode --model "$model" --device cpu
stdin=$tmp/nul.txt expect "tokenize: zero byte" 'stdin line 2: a NUL character (a zero byte) at byte 8 of the line' \
    "$bin" tokenize --model "$model"
stdin=$tmp/no_nul.txt expect "search corpus: zero byte" 'nul.txt line 2: a NUL character (a zero byte)' \
    "$bin" search --model "$model" --device cpu --corpus "$tmp/nul.txt"
"$bin" tokenize --model "$model" --utf8-errors=replace < "$tmp/nul.txt" > "$tmp/a" &&
    "$bin" tokenize --model "$model" < "$tmp/no_nul.txt" > "$tmp/b" && cmp -s "$tmp/a" "$tmp/b" && ok ||
    fail "tokenize --utf8-errors=replace: a NUL is not dropped as the tokenizer drops it"
"$bin" encode --model "$model" --device cpu --utf8-errors=replace --output "$tmp/a.jsonl" < "$tmp/nul.txt" &&
    "$bin" encode --model "$model" --device cpu --output "$tmp/b.jsonl" < "$tmp/no_nul.txt" &&
    cmp -s "$tmp/a.jsonl" "$tmp/b.jsonl" && ok || fail "encode --utf8-errors=replace with a NUL"

# labels as text: finite decimal numbers only
for label in 0x3 inf nan 1e999 3.0x; do
    { head -8 "$tmp/pairs.tsv"; printf '%s\tA sentence.\tAnother.\n' "$label"; } > "$tmp/bad.tsv"
    expect "label $label" "bad.tsv:9: column 0: expected a number as the label (decimal, like 3, -0.5 or 2.5e-3), got \"$label\"" \
        "$bin" train "$tmp/r.json" --set data.path="$tmp/bad.tsv"
done
{ head -8 "$tmp/pairs.tsv"; printf ' -.5e+1 \tA sentence.\tAnother.\n'; } > "$tmp/ok.tsv"
"$bin" train "$tmp/r.json" --set data.path="$tmp/ok.tsv" --set output_dir="$tmp/ok" > /dev/null 2>&1 && ok ||
    fail "label ' -.5e+1 ' refused"

# eval: a constant gold score makes the correlations undefined: null, and why
awk -F'\t' '{ print "2.5\t" $2 "\t" $3 }' "$tmp/pairs.tsv" > "$tmp/flat.tsv"
"$bin" eval --model "$model" --device cpu --data "{\"path\": \"$tmp/flat.tsv\", \"columns\": [1, 2], \"label\": 0}" \
    > "$tmp/stdout" 2> "$tmp/log" &&
    grep -qF '{"pairs": 40, "pearson_cosine": null, "spearman_cosine": null, "undefined": "all gold scores are equal"}' "$tmp/stdout" &&
    grep -qF 'warning: the correlations are undefined (null): all gold scores are equal' "$tmp/log" && ok ||
    { fail "eval with constant gold scores:"; cat "$tmp/stdout" "$tmp/log"; }

# model configs
edit_model() { # FILE SED_EXPRESSION: a copy of the model with FILE edited, in $tmp/m
    rm -rf "$tmp/m" && cp -r "$model" "$tmp/m" && sed -i "$2" "$tmp/m/$1"
}
encode_m() { echo "A sentence." > "$tmp/one.txt"; stdin=$tmp/one.txt expect "$@" "$bin" encode --model "$tmp/m" --device cpu; }
edit_model config.json 's/"is_decoder": false/"is_decoder": true/'
encode_m "is_decoder" 'm/config.json: key "is_decoder": true is not supported'
edit_model config.json 's/"hidden_size": 64/"hidden_size": 100000/'
encode_m "hidden_size too large" 'm/config.json: key "hidden_size": 100000 is more than sentembed supports (at most 65536)'
edit_model config.json 's/"max_position_embeddings": 128/"max_position_embeddings": 2000000/'
encode_m "max_position_embeddings too large" 'key "max_position_embeddings": 2000000 is more than sentembed supports (at most 1048576)'
edit_model tokenizer_config.json 's/"model_max_length": 64/"model_max_length": 0/'
encode_m "model_max_length 0" 'm/tokenizer_config.json: key "model_max_length": expected a positive integer, got 0'
edit_model tokenizer_config.json 's/"model_max_length": 64/"model_max_length": -5/'
encode_m "model_max_length -5" 'key "model_max_length": expected a positive integer, got -5'
edit_model sentence_bert_config.json 's/"transformer_task"/"max_seq_length": 0, "transformer_task"/'
encode_m "max_seq_length 0" 'm/sentence_bert_config.json: key "max_seq_length": expected a positive integer, got 0'
edit_model config.json 's/"vocab_size": 3901/"vocab_size": 3901, "vocab_size": 3902/'
encode_m "config.json: duplicate key" 'm/config.json:27:23: duplicate key "vocab_size"'

# NaN or infinite weights: written into copies of the fixture, refused at load
poke() { # FILE TENSOR BYTES(printf escapes): overwrites the tensor's first element
    local hlen off
    hlen=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    off=$(head -c $((8 + hlen)) "$1" | tail -c "$hlen" |
        sed -n "s/.*\"$2\":{[^}]*\"data_offsets\":\[\([0-9]*\),.*/\1/p")
    [ -n "$off" ] || { echo "poke: no tensor $2 in $1"; return 1; }
    printf "$3" | dd of="$1" bs=1 seek=$((8 + hlen + off)) conv=notrunc status=none
}
rm -rf "$tmp/m" && cp -r "$model" "$tmp/m"
poke "$tmp/m/model.safetensors" "encoder.layer.1.intermediate.dense.weight" '\000\000\300\177' # a quiet NaN
encode_m "NaN weight" 'm/model.safetensors: tensor "encoder.layer.1.intermediate.dense.weight": element 0 is NaN'
rm -rf "$tmp/m" && cp -r "$fixtures/tiny-bert" "$tmp/m" && cp -r "$fixtures/variants/mean_dense/." "$tmp/m/"
poke "$tmp/m/2_Dense/model.safetensors" "linear.bias" '\000\000\200\377' # -inf
encode_m "infinite Dense weight" 'm/2_Dense/model.safetensors: tensor "linear.bias": element 0 is infinite'

echo "cli_strict: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
