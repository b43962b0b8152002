#!/usr/bin/env bash
# `sentembed tokenize` as a user meets it: bad input ends in one clear message naming
# the line, and a non-zero exit; good input works with --tokens and --pair.
# The expected outputs below were checked against the reference (tokenizers 0.23.3).
# usage: cli_tokenize.sh SENTEMBED_BINARY SHARED_DATA_DIR
set -uo pipefail
bin=$1 data=$2
vocab=$data/vocab/bert-base-uncased-vocab.txt
if [ ! -f "$vocab" ]; then
    echo "SKIP: $vocab not found"
    exit 77
fi
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect NAME STATUS PATTERN INPUT ARGS...: the exit status, and PATTERN in the output
expect() {
    local name=$1 want_status=$2 pattern=$3 input=$4
    shift 4
    printf '%b' "$input" | "$bin" tokenize "$@" > "$tmp/err" 2>&1
    local status=$?
    if [ "$status" -eq "$want_status" ] && grep -q -- "$pattern" "$tmp/err"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: status $status (wanted $want_status), stderr:"; cat "$tmp/err"
    fi
}
# expect_out NAME WANT_STDOUT INPUT ARGS...
expect_out() {
    local name=$1 want=$2 input=$3
    shift 3
    local got
    got=$(printf '%b' "$input" | "$bin" tokenize "$@" 2>&1)
    if [ "$got" = "$want" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        printf 'FAIL %s:\n  wanted: %s\n  got:    %s\n' "$name" "$want" "$got"
    fi
}

expect "invalid UTF-8 names the line" 1 "stdin line 3: invalid UTF-8" 'ok\nfine\nbad \xff byte\n' --vocab "$vocab"
expect "no TAB in pair mode" 1 "stdin line 2: --pair expects two texts separated by a TAB" 'a\tb\nno tab\n' --vocab "$vocab" --pair
expect "unknown option" 2 "unknown argument '--bogus'" '' --vocab "$vocab" --bogus
expect "no model" 2 "give exactly one of --model DIR or --vocab FILE" ''
expect "missing model dir" 1 "/nonexistent: not a directory" '' --model /nonexistent
expect "missing vocab" 1 "/nonexistent/vocab.txt: cannot open" '' --vocab /nonexistent/vocab.txt
expect "bad max length" 1 "option --max-length: expected an integer" '' --vocab "$vocab" --max-length 1
expect "bad utf8 mode" 1 "option --utf8-errors: expected strict or replace" '' --vocab "$vocab" --utf8-errors=ignore
expect "pair needs 3" 1 "a pair needs at least 3" '' --vocab "$vocab" --pair --max-length 2
expect "help" 0 "usage: sentembed tokenize" '' --help

expect_out "tokens" "[CLS] hello , world ! [SEP]" 'Hello, World!\n' --vocab "$vocab" --tokens
expect_out "cased" "[CLS] [UNK] , [UNK] ! [SEP]" 'Hello, World!\n' --vocab "$vocab" --tokens --cased
expect_out "replace" "[CLS] bad byte [SEP]" 'bad \xff byte\n' --vocab "$vocab" --tokens --utf8-errors=replace
expect_out "pair type ids" "0 0 0 1 1" 'a\tb\n' --vocab "$vocab" --pair --type-ids
expect_out "last line without newline" "$(printf '101 102\n101 1037 102')" '\na' --vocab "$vocab"
expect_out "model dir" "[CLS] cafe [MASK] [SEP]" 'Café [MASK]\n' --model "$data/minilm-config" --tokens

echo "cli_tokenize: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
