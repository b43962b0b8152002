#!/usr/bin/env bash
# encode / similarity / search / info as a user meets them: `sentembed search` against
# util.semantic_search (tests/fixtures/encoder/search_tiny_mean.jsonl, made by
# scripts/gen_search_golden.py), the output formats, and clear errors for bad input.
# usage: cli_encode.sh SENTEMBED FIXTURE_DIR SHARED_DATA_DIR
set -uo pipefail
bin=$1
source "$(dirname "$0")/cli_lib.sh"
cli_setup "$3" "$2"
(cd "$data" && sh "$fixtures/sentences.sh") > "$tmp/sentences.txt"
head -40 "$tmp/sentences.txt" > "$tmp/queries.txt"
sed -n '41,640p' "$tmp/sentences.txt" > "$tmp/corpus.txt"

# search vs semantic_search: scores within 1e-5 at every rank; the same corpus id unless
# the reference itself has a tie (scores within 2e-6) there.
"$bin" search --model "$model" --device cpu --corpus "$tmp/corpus.txt" --top-k 5 --jsonl < "$tmp/queries.txt" > "$tmp/hits.jsonl"
if awk '
function parse(line, ids, scores,   n, parts, i) {
    n = split(line, parts, /"corpus_id": /)
    for (i = 2; i <= n; i++) { ids[i - 1] = parts[i] + 0; sub(/^[0-9]+, "score": /, "", parts[i]); scores[i - 1] = parts[i] + 0 }
    return n - 1
}
function abs(x) { return x < 0 ? -x : x }
NR == FNR { want[FNR] = $0; next }
{
    nw = parse(want[FNR], wid, wsc); ng = parse($0, gid, gsc)
    if (nw != ng) { printf "query %d: %d hits, expected %d\n", FNR - 1, ng, nw; bad++; next }
    for (r = 1; r <= nw; r++) {
        if (abs(gsc[r] - wsc[r]) > 1e-5) { printf "query %d rank %d: score %.6f, expected %.6f\n", FNR - 1, r, gsc[r], wsc[r]; bad++ }
        if (gid[r] == wid[r]) continue
        tied = 0
        for (k = 1; k <= nw; k++) if (wid[k] == gid[r] && abs(wsc[k] - wsc[r]) <= 2e-6) tied = 1
        if (!tied && r == nw && abs(gsc[r] - wsc[r]) <= 2e-6) tied = 1  # a tie at the cut-off
        if (!tied) { printf "query %d rank %d: corpus_id %d, expected %d\n", FNR - 1, r, gid[r], wid[r]; bad++ }
    }
    n++
}
END { printf "search: %d queries compared with util.semantic_search\n", n; exit bad > 0 }
' "$fixtures/search_tiny_mean.jsonl" "$tmp/hits.jsonl"; then ok; else fail "search differs from util.semantic_search"; fi

# output formats agree: .npy, .jsonl file and stdout JSON lines hold the same numbers
head -5 "$tmp/sentences.txt" > "$tmp/five.txt"
"$bin" encode --model "$model" --device cpu --output "$tmp/five.jsonl" < "$tmp/five.txt" &&
    "$bin" encode --model "$model" --device cpu < "$tmp/five.txt" > "$tmp/five.stdout" &&
    cmp -s "$tmp/five.jsonl" "$tmp/five.stdout" && [ "$(wc -l < "$tmp/five.jsonl")" -eq 5 ] &&
    [ "$(head -1 "$tmp/five.jsonl" | tr ',' '\n' | wc -l)" -eq 64 ] && ok || fail "encode --output .jsonl vs stdout"
"$bin" encode --model "$model" --device cpu --normalize --output "$tmp/n.npy" < "$tmp/five.txt" &&
    [ "$(stat -c %s "$tmp/n.npy")" -eq $((128 + 5 * 64 * 4)) ] && ok || fail "encode --output .npy size"
# --timing: its warm-up leaves the embeddings as they are, and the line splits the time
"$bin" encode --model "$model" --device cpu --batch-size 2 --output "$tmp/b2.jsonl" < "$tmp/five.txt" &&
    "$bin" encode --model "$model" --device cpu --batch-size 2 --timing --output "$tmp/b2t.jsonl" < "$tmp/five.txt" \
        2> "$tmp/timing.log" && cmp -s "$tmp/b2.jsonl" "$tmp/b2t.jsonl" && grep -q '"sentences": 5, "batch_size": 2' "$tmp/timing.log" &&
    grep -q '"tokenize_s": [0-9.]*, "queue_s": [0-9.]*, "wait_s": [0-9.]*}' "$tmp/timing.log" && ok ||
    fail "encode --timing: $(cat "$tmp/timing.log")"
out=$("$bin" similarity --model "$model" --device cpu "a cat" "a dog" "a car")
[ "$(printf '%s\n' "$out" | wc -l)" -eq 3 ] && printf '%s\n' "$out" | head -1 | grep -q '^ 1.0000 ' && ok ||
    fail "similarity matrix: $out"
"$bin" info "$model" | grep -q "Pooling(mean)" && ok || fail "info"

# errors: one clear message naming what is wrong, and a non-zero exit
expect() { # NAME STATUS PATTERN INPUT ARGS...
    local name=$1 want=$2 pattern=$3 input=$4
    shift 4
    printf '%b' "$input" | "$bin" "$@" > "$tmp/out" 2>&1
    local status=$?
    if [ $status -eq "$want" ] && grep -q -- "$pattern" "$tmp/out"; then ok; else
        fail "$name: status $status, output:"; cat "$tmp/out"
    fi
}
expect "missing model" 1 "/nonexistent: not a directory" 'x\n' encode --model /nonexistent
expect "invalid UTF-8" 1 "stdin line 2: invalid UTF-8" 'ok\nbad \xfe\n' encode --model "$model" --device cpu
expect "output suffix" 1 "should end in .npy or .jsonl" 'x\n' encode --model "$model" --output "$tmp/x.txt"
expect "unwritable output" 1 "/nonexistent/out.npy" 'x\n' encode --model "$model" --device cpu --output /nonexistent/out.npy
expect "bad device" 1 "expected cpu, cuda or auto" 'x\n' encode --model "$model" --device tpu
expect "max seq length" 1 "max_seq_length 1000: expected 2 to 128" 'x\n' encode --model "$model" --max-seq-length 1000
expect "similarity needs two" 2 "at least two texts" '' similarity --model "$model" "only one"
expect "empty corpus" 1 "the corpus is empty" 'q\n' search --model "$model" --corpus /dev/null
expect "missing corpus" 1 "/nonexistent.txt: cannot open" 'q\n' search --model "$model" --corpus /nonexistent.txt
mkdir -p "$tmp/pickle" && cp "$model/config.json" "$tmp/pickle/" && echo x > "$tmp/pickle/pytorch_model.bin"
cp "$model"/vocab.txt "$tmp/pickle/"
expect "pickle refused" 1 "is a pickle, which sentembed never loads" 'x\n' encode --model "$tmp/pickle" --device cpu
if "$bin" encode --model "$model" --device cuda < "$tmp/five.txt" > "$tmp/out" 2>&1; then ok; else
    grep -q -- "--device cuda:" "$tmp/out" && ok || fail "--device cuda without a GPU: $(cat "$tmp/out")"
fi

echo "cli_encode: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
