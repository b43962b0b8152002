#!/usr/bin/env bash
# A job whose rank fails ends at once, whole, with a non-zero status and a message naming
# the rank: se_die on one rank, a rank killed by SIGKILL, ranks that disagree on a value
# that must be the same, an MPI call that fails; and srun without a process-management
# interface that MPI understands (faked here: a plain process with Slurm's variables).
# usage: mpi_failures.sh MPIEXEC TEST_COLLECTIVES_BINARY
set -uo pipefail
mpiexec=$1 bin=$2
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Far above the ~1 s these take, far below "waits forever".
limit_ms=15000

# expect_fail NAME PATTERN COMMAND...: a non-zero status within limit_ms, PATTERN (grep -E) in the output
expect_fail() {
    local name=$1 pattern=$2
    shift 2
    local start=$(date +%s%N)
    "$@" > "$tmp/out" 2>&1
    local status=$?
    local took_ms=$((($(date +%s%N) - start) / 1000000))
    if [ "$status" -ne 0 ] && [ "$took_ms" -le "$limit_ms" ] && grep -Eq -- "$pattern" "$tmp/out"; then
        passed=$((passed + 1))
        echo "ok $name: status $status after $took_ms ms"
    else
        failed=$((failed + 1))
        echo "FAIL $name: status $status after $took_ms ms (limit $limit_ms), wanted /$pattern/ in:"
        cat "$tmp/out"
    fi
}

for n in 2 4; do
    expect_fail "die -np $n" "^sentembed: error: rank 1/$n: deliberate failure of rank 1" \
        "$mpiexec" -np $n "$bin" $n die
done
expect_fail "kill -np 3" "rank 1 .*(signal 9|Killed)" "$mpiexec" -np 3 "$bin" 3 kill
expect_fail "mismatch -np 4" \
    "^sentembed: error: rank 0/4: the recipe hash differs across ranks: rank 0 has 0000000000005eed, rank 1 has bad0000000000001, rank 3 has bad0000000000003; every rank must start the same job" \
    "$mpiexec" -np 4 "$bin" 4 mismatch
expect_fail "mpi error -np 2" "^sentembed: error: rank [01]/2: MPI error at .*dist\.c:[0-9]+: MPI_Bcast\(.*\): MPI_ERR_ROOT" \
    "$mpiexec" -np 2 "$bin" 2 mpi-error
expect_fail "bad root, one process" "^sentembed: error: broadcast from rank 1 in a world of one rank$" "$bin" 1 mpi-error
expect_fail "srun without PMI" \
    "^sentembed: error: the launcher started 2 processes \(SLURM_STEP_NUM_TASKS=2\) but MPI sees a world of 1" \
    env SLURM_STEP_NUM_TASKS=2 "$bin" 1

echo "mpi_failures: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
