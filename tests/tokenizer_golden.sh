#!/usr/bin/env bash
# Golden parity: `sentembed tokenize` against ids made by the reference tokenizer
# (scripts/gen_tokenizer_golden.py) for every line of every file in shared/data, single
# and pair mode, uncased and cased, max length 512 and 128 (and small lengths for the
# hand-written edge cases in tricky.txt). The bar is 100% identical;
# each mismatch is printed with its line and both id lists.
# usage: tokenizer_golden.sh SENTEMBED_BINARY FIXTURE_DIR SHARED_DATA_DIR
set -euo pipefail
bin=$1 fixtures=$(cd "$2" && pwd)
source "$(dirname "$0")/cli_lib.sh"
cli_setup "$3"

# Expands the stored config (see the generator's docstring) and compares line by line.
compare_awk='
FNR == NR {
    if ($0 ~ /^#config /) { split($0, f, " "); section = f[2] " " f[3]; if (first == "") first = f[3]; next }
    if (section == "uncased " first) { base[++n] = $0; next }
    split($0, f, "\t"); diff[section, f[1]] = f[2]; next
}
{
    i = FNR; got_lines = i
    want = base[i]
    if (casing == "cased" && ((casing " " first, i) in diff)) want = diff[casing " " first, i]
    if (len != first && ((casing " " len, i) in diff)) want = diff[casing " " len, i]
    if ($0 != want) {
        bad++
        if (bad <= 5) {
            printf "MISMATCH %s %s max_length=%d line %d\n  expected: %s\n  got:      %s\n", name, casing, len, i, want, $0
        }
    }
}
END {
    if (got_lines != n) { printf "MISMATCH %s %s max_length=%d: %d output lines for %d expected\n", name, casing, len, got_lines, n; bad++ }
    printf "RESULT %d %d\n", n, bad + 0
}'

total=0 mismatches=0 runs=0
export FIXTURES=$fixtures
while IFS=$'\t' read -r name source flags lengths cmd; do
    case $name in \#*|"") continue ;; esac
    [ "$flags" = - ] && flags=
    xz -dc "$fixtures/$name.golden.xz" > "$tmp/golden"
    (cd "$data" && sh -c "$cmd") > "$tmp/input"
    if [ "$source" = model ]; then
        tok=(--model "$data/minilm-config")
    else
        tok=(--vocab "$data/vocab/bert-base-uncased-vocab.txt")
    fi
    for casing in uncased cased; do
        grep -q "^#config $casing " "$tmp/golden" || continue
        cased=()
        [ "$casing" = cased ] && cased=(--cased)
        for len in $lengths; do
            # shellcheck disable=SC2086  # flags is a list of options
            "$bin" tokenize "${tok[@]}" "${cased[@]}" $flags --max-length "$len" < "$tmp/input" > "$tmp/got"
            result=$(awk -v name="$name" -v casing="$casing" -v len="$len" "$compare_awk" "$tmp/golden" "$tmp/got")
            printf '%s\n' "$result" | grep -v '^RESULT' || true
            set -- $(printf '%s\n' "$result" | grep '^RESULT')
            total=$((total + $2))
            mismatches=$((mismatches + $3))
            runs=$((runs + 1))
        done
    done
done < "$fixtures/manifest.tsv"

echo "tokenizer golden parity: $runs runs, $total lines compared, $mismatches mismatches"
[ "$mismatches" -eq 0 ]
