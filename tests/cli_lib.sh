# Shared start of the CLI tests (sourced): skips (exit 77) without the shared data, makes a
# temporary directory that goes away at exit, counts checks with ok / fail, and, given a
# fixture directory, assembles the tiny random BERT with mean pooling in $model.
# usage, at the top of a test: source "$(dirname "$0")/cli_lib.sh"; cli_setup DATA [ENCODER_FIXTURE_DIR]
cli_setup() {
    data=$1
    if [ ! -d "$data" ]; then
        echo "SKIP: shared data not found at $data"
        exit 77
    fi
    data=$(cd "$data" && pwd)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    passed=0 failed=0
    if [ $# -ge 2 ]; then
        fixtures=$(cd "$2" && pwd)
        model=$tmp/model
        cp -r "$fixtures/tiny-bert" "$model" && cp -r "$fixtures/variants/mean/." "$model/"
    fi
}
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
