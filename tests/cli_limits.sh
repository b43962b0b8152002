#!/usr/bin/env bash
# The input caps (host/input_limits.h) as a user meets them: a line longer than
# SENTEMBED_MAX_LINE_BYTES fails with the file, the line and the limit in encode, search
# (corpus and queries), tokenize and the data readers; an endless line (/dev/zero) fails
# at the default cap with bounded memory; a gzip bomb stops while it decompresses; and out
# of memory says what was being read.
# usage: cli_limits.sh SENTEMBED FIXTURE_DIR SHARED_DATA_DIR
set -uo pipefail
bin=$1
source "$(dirname "$0")/cli_lib.sh"
cli_setup "$3" "$2"
vocab=$data/minilm-config/vocab.txt
# one thread each: the memory bounds below are about the input, not thread pools
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# expect NAME STATUS PATTERN INPUT_FILE COMMAND...: the exit status and PATTERN in the output
expect() {
    local name=$1 want=$2 pattern=$3 input=$4
    shift 4
    "$@" < "$input" > "$tmp/out" 2>&1
    local status=$?
    if [ $status -eq "$want" ] && grep -qF -- "$pattern" "$tmp/out"; then ok; else
        fail "$name: status $status (wanted $want):"; head -c 2000 "$tmp/out"; echo
    fi
}
line() { head -c "$1" /dev/zero | tr '\0' a; echo; } # a line of N bytes

{ echo short; line 100; line 101; echo after; } > "$tmp/long.txt"
{ echo short; line 100; } > "$tmp/fits.txt"
cap="line 3: longer than 100 bytes, the limit of a line (set SENTEMBED_MAX_LINE_BYTES for another)"
export SENTEMBED_MAX_LINE_BYTES=100
expect "tokenize: long line" 1 "stdin $cap" "$tmp/long.txt" "$bin" tokenize --vocab "$vocab"
expect "tokenize: a line at the limit" 0 "" "$tmp/fits.txt" "$bin" tokenize --vocab "$vocab"
[ "$(wc -l < "$tmp/out")" -eq 2 ] && ok || fail "tokenize: 2 lines of ids expected"
expect "encode: long line" 1 "stdin $cap" "$tmp/long.txt" "$bin" encode --model "$model" --device cpu
expect "encode: a line at the limit" 0 "" "$tmp/fits.txt" "$bin" encode --model "$model" --device cpu
expect "search: long corpus line" 1 "long.txt $cap" "$tmp/fits.txt" \
    "$bin" search --model "$model" --device cpu --corpus "$tmp/long.txt"
expect "search: long query" 1 "stdin $cap" "$tmp/long.txt" \
    "$bin" search --model "$model" --device cpu --corpus "$tmp/fits.txt"
{ printf 'a\tb\n'; line 150 | sed 's/^/x\t/'; } > "$tmp/long.tsv"
expect "data: long record" 1 "long.tsv:2: a record longer than 100 bytes, the limit of a record" /dev/null \
    "$bin" tokenize --shard "$tmp/x.shard" --vocab "$vocab" --data "{\"path\": \"$tmp/long.tsv\", \"columns\": [0, 1]}"
[ ! -e "$tmp/x.shard" ] && ok || fail "a shard was written from bad data"
for bad in abc 0 12x -1; do
    SENTEMBED_MAX_LINE_BYTES=$bad expect "bad value $bad" 1 \
        "environment variable SENTEMBED_MAX_LINE_BYTES: expected a positive number of bytes, optionally with a K, M or G suffix (e.g. 1048576 or 64M), got '$bad'" \
        "$tmp/fits.txt" "$bin" tokenize --vocab "$vocab"
done
unset SENTEMBED_MAX_LINE_BYTES
for cmd in encode search tokenize "tokenize --shard"; do
    "$bin" $cmd --help | grep -q SENTEMBED_MAX_LINE_BYTES && ok || fail "$cmd --help does not name SENTEMBED_MAX_LINE_BYTES"
done
"$bin" tokenize --shard --help | grep -q SENTEMBED_GZ_MAX_BYTES && ok || fail "tokenize --shard --help: SENTEMBED_GZ_MAX_BYTES"

# An endless line at the default cap: fails at 64 MiB of it, not at the end of memory.
# Peak RSS (KiB) against the same command on no input; without /usr/bin/time only the
# message is checked.
peak() { # OUT_FILE INPUT COMMAND...: runs it, its peak RSS in KiB on stdout
    local out=$1 input=$2
    shift 2
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f %M -o "$tmp/rss" "$@" < "$input" > "$out" 2>&1
        tail -1 "$tmp/rss"
    else
        "$@" < "$input" > "$out" 2>&1
    fi
}
truncate -s 1G "$tmp/zeros" # sparse: 1 GiB of zeros that takes no disk
zero_line() { # NAME MESSAGE HOW COMMAND...: COMMAND reads 1 GiB of zeros through a pipe on
    # stdin (HOW=pipe) or from the file $tmp/zeros (HOW=file: as stdin or as it names it)
    local name=$1 pattern=$2 how=$3
    shift 3
    local base used
    base=$(peak "$tmp/out" /dev/null "${@//$tmp\/zeros//dev/null}")
    if [ "$how" = pipe ]; then
        used=$(head -c 1G /dev/zero 2> /dev/null | peak "$tmp/out" /dev/stdin "$@")
    else
        used=$(peak "$tmp/out" "$tmp/zeros" "$@")
    fi
    if grep -qF -- "$pattern" "$tmp/out"; then ok; else fail "$name:"; head -c 2000 "$tmp/out"; echo; fi
    if [ -n "$base" ]; then
        [ $((used - base)) -lt $((256 * 1024)) ] && ok ||
            fail "$name: peak RSS $used KiB, $base KiB on no input: an endless line should cost at most ~64 MiB"
    fi
}
default_cap="line 1: longer than 64.0 MiB, the limit of a line"
zero_line "tokenize zeros" "stdin $default_cap" pipe "$bin" tokenize --vocab "$vocab"
zero_line "tokenize zeros from a file" "stdin $default_cap" file "$bin" tokenize --vocab "$vocab"
zero_line "encode zeros" "stdin $default_cap" pipe "$bin" encode --model "$model" --device cpu
zero_line "encode zeros from a file" "stdin $default_cap" file "$bin" encode --model "$model" --device cpu
zero_line "search zeros corpus" "zeros $default_cap" file \
    "$bin" search --model "$model" --device cpu --corpus "$tmp/zeros"
zero_line "search zeros queries" "stdin $default_cap" pipe \
    "$bin" search --model "$model" --device cpu --corpus "$tmp/fits.txt"
zero_line "data zeros" "zeros:1: a record longer than 64.0 MiB" file "$bin" tokenize --shard "$tmp/z.shard" \
    --vocab "$vocab" --data "{\"path\": \"$tmp/zeros\", \"format\": \"tsv\", \"columns\": [0]}"

# gzip bombs: 200 MiB of zeros (one line) and 64 MiB of short lines, each ~200 KB packed
head -c 200M /dev/zero | gzip > "$tmp/bomb.tsv.gz"
yes a | head -c 64M | gzip > "$tmp/lines.tsv.gz"
printf 'a\tb\nc\td\n' | gzip > "$tmp/small.tsv.gz"
spec() { echo "{\"path\": \"$tmp/$1\", \"format\": \"tsv\", \"columns\": [0]}"; }
rss=$(peak "$tmp/out" /dev/null "$bin" tokenize --shard "$tmp/b.shard" --vocab "$vocab" --data "$(spec bomb.tsv.gz)")
grep -qF "bomb.tsv.gz:1: a line longer than 64.0 MiB (decompressed), the limit of a line" "$tmp/out" && ok ||
    { fail "gzip bomb, one line:"; cat "$tmp/out"; }
SENTEMBED_GZ_MAX_BYTES=10M expect "gzip bomb, short lines" 1 \
    "lines.tsv.gz: decompresses to more than 10.0 MiB, the limit SENTEMBED_GZ_MAX_BYTES sets" /dev/null \
    "$bin" tokenize --shard "$tmp/b.shard" --vocab "$vocab" --data "$(spec lines.tsv.gz)"
SENTEMBED_GZ_MAX_BYTES=10M expect "a small .gz under the limits" 0 "wrote $tmp/b.shard: 2 examples" /dev/null \
    "$bin" tokenize --shard "$tmp/b.shard" --vocab "$vocab" --data "$(spec small.tsv.gz)"
SENTEMBED_GZ_MAX_BYTES=lots expect "bad gz limit" 1 "environment variable SENTEMBED_GZ_MAX_BYTES: expected" /dev/null \
    "$bin" tokenize --shard "$tmp/b.shard" --vocab "$vocab" --data "$(spec small.tsv.gz)"

# Out of memory names what was being read: a line of zeros (the cap raised past the memory)
# under a virtual memory limit. A sanitizer's shadow memory does not fit under the limit:
# there the check is left to test_host (se_xmalloc's message in a child process).
oom=$( (ulimit -v 1500000 && head -c 3G /dev/zero | SENTEMBED_MAX_LINE_BYTES=4G "$bin" tokenize --vocab "$vocab") 2>&1)
case $oom in
*AddressSanitizer* | *Sanitizer*) echo "note: out-of-memory check skipped under a sanitizer" ;;
*)
    printf '%s\n' "$oom" | grep -qE '^sentembed: error: out of memory allocating [0-9.]+ [KMG]iB \([0-9]+ bytes\) while tokenizing stdin line 1$' &&
        ok || fail "out of memory message: $oom"
    ;;
esac

echo "cli_limits: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
