#!/usr/bin/env bash
# Data-parallel training under mpirun (issue 14), on CPU ranks with one thread each:
#   - N ranks x batch_size b train like 1 process x N*b: the same loss at every step (within
#     1e-5 relative) and the same final embeddings (1e-5: float summation
#     order differs), for N = 2, 3, 4, with CosineSimilarityLoss and with SoftmaxLoss (its
#     classifier's gradient is summed too); a last, short global batch whose rows do not
#     split evenly (rows 3, 3, 4, 4 of 14) weighs each rank by its rows;
#   - rank 0 alone logs and writes; a run stopped and resumed under mpirun ends with the
#     same bytes as a straight one; another number of ranks with the same global batch
#     continues a run, another global batch does not;
#   - ranks with different recipes, and a rank that fails, end the whole job at once with
#     a message naming the rank.
# Dropout is on (0.1): its masks are keyed by the global position of a sample, so a rank
# draws for its rows the masks the single process draws for them.
# usage: cli_distributed.sh SENTEMBED NPY_COMPARE MPIEXEC FIXTURE_DIR SHARED_DATA_DIR
set -uo pipefail
bin=$1 npy_compare=$2 mpiexec=$3
source "$(dirname "$0")/cli_lib.sh"
cli_setup "$5" "$4"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpi() { local n=$1; shift; "$mpiexec" --oversubscribe -np "$n" "$@"; }

cat > "$tmp/r.json" <<JSON
{"model": "$model",
 "data": {"path": "$data/stsb/sts-train.csv", "format": "tsv", "columns": [5, 6], "label": 4, "label_scale": 5},
 "loss": {"type": "cosine_similarity"}, "dense": {"out_features": 16}, "batch_size": 12, "max_steps": 8,
 "lr": 5e-4, "seed": 7, "dropout": 0.1, "log_every": 1, "output_dir": "$tmp/unused"}
JSON
head -20 "$data/stsb/sts-dev.csv" | cut -f6 > "$tmp/sentences.txt"
losses() { sed -n 's/.*"loss": \([^,]*\),.*/\1/p' "$1/metrics.jsonl"; }
same_losses() { # DIR_A DIR_B: every step's loss within 1e-5 relative (metrics keep 9 digits)
    local a b
    a=$(losses "$1") b=$(losses "$2")
    [ -n "$a" ] && [ "$(echo "$a" | wc -l)" -eq "$(echo "$b" | wc -l)" ] &&
        paste <(echo "$a") <(echo "$b") | awk '{ d = $1 - $2; if (d < 0) d = -d; m = $1 < 0 ? -$1 : $1;
            if (d > 1e-5 * m + 1e-9) { print "  step " NR ": " $1 " vs " $2; bad = 1 } } END { exit bad }'
}
same_embeddings() { # DIR_A DIR_B
    "$bin" encode --model "$1" --output "$tmp/a.npy" < "$tmp/sentences.txt" 2> /dev/null &&
        "$bin" encode --model "$2" --output "$tmp/b.npy" < "$tmp/sentences.txt" 2> /dev/null &&
        "$npy_compare" "$tmp/a.npy" "$tmp/b.npy" 1e-5 > /dev/null
}

# 1 process x 12 rows against 2 x 6, 3 x 4 and 4 x 3
"$bin" train "$tmp/r.json" --set output_dir="$tmp/one" 2> "$tmp/log" || { fail "1 process:"; cat "$tmp/log"; }
for n in 2 3 4; do
    mpi $n "$bin" train "$tmp/r.json" --set output_dir="$tmp/np$n" --set batch_size=$((12 / n)) > "$tmp/log" 2>&1
    status=$?
    if [ $status -eq 0 ] && same_losses "$tmp/one" "$tmp/np$n" && same_embeddings "$tmp/one" "$tmp/np$n" &&
        [ "$(grep -c '^training ' "$tmp/log")" -eq 1 ] && [ "$(grep -c '^step 8/8 ' "$tmp/log")" -eq 1 ] &&
        grep -q "x $n ranks (12 rows per step; mpi)" "$tmp/log"; then ok; else
        fail "$n ranks x $((12 / n)) rows against 1 x 12 (status $status):"; cat "$tmp/log"
    fi
done
"$npy_compare" "$tmp/a.npy" "$tmp/b.npy" 1e-5 | sed 's/^/  4 ranks against 1: /'

# a last global batch that does not split evenly: 30 rows, 2 epochs of batches of 16 and 14
head -30 "$data/stsb/sts-train.csv" > "$tmp/small.tsv"
"$bin" train "$tmp/r.json" --set output_dir="$tmp/uneven1" --set data.path="$tmp/small.tsv" --set batch_size=16 \
    --set max_steps=0 --set epochs=2 2> "$tmp/log" || { fail "uneven, 1 process:"; cat "$tmp/log"; }
mpi 4 "$bin" train "$tmp/r.json" --set output_dir="$tmp/uneven4" --set data.path="$tmp/small.tsv" --set batch_size=4 \
    --set max_steps=0 --set epochs=2 > "$tmp/log" 2>&1 && [ "$(losses "$tmp/uneven4" | wc -l)" -eq 4 ] &&
    same_losses "$tmp/uneven1" "$tmp/uneven4" && same_embeddings "$tmp/uneven1" "$tmp/uneven4" && ok ||
    { fail "uneven last batch, 4 ranks:"; cat "$tmp/log"; }

# SoftmaxLoss: the classifier is trained with the model, its gradient summed over the ranks
cat > "$tmp/mrpc.json" <<JSON
{"model": "$model",
 "data": {"path": "$data/pairs/mrpc/msr-para-val.tsv", "format": "tsv", "header": true,
          "columns": ["#1 String", "#2 String"], "label": "Quality"},
 "loss": {"type": "softmax", "num_labels": 2}, "batch_size": 16, "max_steps": 6, "lr": 1e-4, "dropout": 0.1,
 "log_every": 1, "output_dir": "$tmp/unused"}
JSON
"$bin" train "$tmp/mrpc.json" --set output_dir="$tmp/softmax1" 2> "$tmp/log" || { fail "softmax, 1 process:"; cat "$tmp/log"; }
mpi 2 "$bin" train "$tmp/mrpc.json" --set output_dir="$tmp/softmax2" --set batch_size=8 > "$tmp/log" 2>&1 &&
    same_losses "$tmp/softmax1" "$tmp/softmax2" && same_embeddings "$tmp/softmax1" "$tmp/softmax2" && ok ||
    { fail "softmax, 2 ranks:"; cat "$tmp/log"; }

# TripletLoss (negatives: the file's genre column), and MNRL, whose in-batch negatives are
# per rank: N ranks x b against one process accumulating N micro-batches of b (the same
# rows: a global batch's shares are consecutive micro-batches of the same permutation, and
# the dropout masks are keyed by a row's place among all the rows of an optimizer step)
mpi 2 "$bin" train "$tmp/r.json" --set output_dir="$tmp/triplet2" --set batch_size=6 --set loss.type=triplet \
    --set 'data.columns=[5, 6, 1]' --set data.label=null > "$tmp/log" 2>&1 &&
    "$bin" train "$tmp/r.json" --set output_dir="$tmp/triplet1" --set loss.type=triplet \
    --set 'data.columns=[5, 6, 1]' --set data.label=null 2>> "$tmp/log" &&
    same_losses "$tmp/triplet1" "$tmp/triplet2" && same_embeddings "$tmp/triplet1" "$tmp/triplet2" && ok ||
    { fail "triplet, 2 ranks:"; cat "$tmp/log"; }
for n in 2 4; do
    mpi $n "$bin" train "$tmp/r.json" --set output_dir="$tmp/mnrl$n" --set batch_size=3 --set loss.type=mnrl \
        --set data.label=null > "$tmp/log" 2>&1 &&
        "$bin" train "$tmp/r.json" --set output_dir="$tmp/mnrl-acc$n" --set batch_size=3 --set loss.type=mnrl \
        --set data.label=null --set gradient_accumulation_steps=$n 2>> "$tmp/log" &&
        same_losses "$tmp/mnrl-acc$n" "$tmp/mnrl$n" && same_embeddings "$tmp/mnrl-acc$n" "$tmp/mnrl$n" && ok ||
        { fail "MNRL, $n ranks against $n accumulated micro-batches:"; cat "$tmp/log"; }
done

# ranks and accumulation together: 2 ranks x 3 rows x 2 micro-batches against 1 x 12
mpi 2 "$bin" train "$tmp/r.json" --set output_dir="$tmp/np2acc" --set batch_size=3 \
    --set gradient_accumulation_steps=2 > "$tmp/log" 2>&1 &&
    same_losses "$tmp/one" "$tmp/np2acc" && same_embeddings "$tmp/one" "$tmp/np2acc" && ok ||
    { fail "2 ranks x 3 x 2 accumulated against 1 x 12:"; cat "$tmp/log"; }

# stop after step 3 and resume, both under mpirun: the bytes of the straight 2-rank run
mpi 2 "$bin" train "$tmp/r.json" --set output_dir="$tmp/split" --set batch_size=6 --set checkpoint.every=4 \
    --stop-at 3 > "$tmp/log" 2>&1 &&
    grep -qF "continue with: mpirun -np 2 sentembed train $tmp/r.json --set output_dir=$tmp/split --set batch_size=6" "$tmp/log" &&
    [ "$(ls "$tmp/split/checkpoints")" = "checkpoint-3" ] &&
    mpi 2 "$bin" train "$tmp/r.json" --set output_dir="$tmp/split" --set batch_size=6 --set checkpoint.every=4 \
        --resume latest > "$tmp/log" 2>&1 &&
    cmp -s "$tmp/split/model.safetensors" "$tmp/np2/model.safetensors" &&
    cmp -s "$tmp/split/2_Dense/model.safetensors" "$tmp/np2/2_Dense/model.safetensors" && ok ||
    { fail "stop and resume under mpirun:"; cat "$tmp/log"; }
# SIGTERM to mpirun: it passes the signal on, every rank stops after the same step and
# checkpoints once; resuming gives the bytes of the straight run
# (mpirun itself in the background, not a function's subshell: the signals must reach it)
"$mpiexec" --oversubscribe -np 2 "$bin" train "$tmp/r.json" --set output_dir="$tmp/term" --set batch_size=6 \
    --set max_steps=400 --set checkpoint.every=0 > "$tmp/term.log" 2>&1 &
pid=$!
for i in $(seq 1 500); do grep -q "^step 2/" "$tmp/term.log" 2> /dev/null && break; sleep 0.02; done
kill -TERM $pid
wait $pid
mpi 2 "$bin" train "$tmp/r.json" --set output_dir="$tmp/straight400" --set batch_size=6 --set max_steps=400 \
    --set checkpoint.every=0 > /dev/null 2>&1
if grep -q "stopped after step [0-9]* (SIGTERM)" "$tmp/term.log" && [ "$(ls "$tmp/term/checkpoints" | wc -l)" -eq 1 ] &&
    mpi 2 "$bin" train "$tmp/r.json" --set output_dir="$tmp/term" --set batch_size=6 --set max_steps=400 \
        --set checkpoint.every=0 --resume latest > "$tmp/log" 2>&1 &&
    cmp -s "$tmp/term/model.safetensors" "$tmp/straight400/model.safetensors"; then ok; else
    fail "SIGTERM to mpirun and resume:"; cat "$tmp/term.log" "$tmp/log"
fi

# SIGTERM to one rank only: every rank stops after the same step, one checkpoint
"$mpiexec" --oversubscribe -np 2 "$bin" train "$tmp/r.json" --set output_dir="$tmp/term1" --set batch_size=6 \
    --set max_steps=100000 --set checkpoint.every=0 > "$tmp/log" 2>&1 &
pid=$!
for i in $(seq 1 500); do grep -q "^step 2/" "$tmp/log" 2> /dev/null && break; sleep 0.02; done
kill -TERM "$(pgrep -P $pid -f 'sentembed train' | tail -1)"
wait $pid
[ "$(grep -c "stopped after step" "$tmp/log")" -eq 1 ] && [ "$(ls "$tmp/term1/checkpoints" | wc -l)" -eq 1 ] &&
    "$bin" info "$(ls -d "$tmp"/term1/checkpoints/checkpoint-*)" | grep -q "training state verified" && ok ||
    { fail "SIGTERM to one rank:"; cat "$tmp/log"; }

# another number of ranks with the same global batch continues the run (the plan, the
# position and the dropout masks are global): 1 process x 12 and 3 ranks x 4 resume the
# 2 x 6 run's checkpoint and end where the straight 2-rank run ends; 1 x 6 is another run
mpi 2 "$bin" train "$tmp/r.json" --set output_dir="$tmp/regrid" --set batch_size=6 --stop-at 3 > /dev/null 2>&1
cp -r "$tmp/regrid" "$tmp/regrid3"
"$bin" train "$tmp/r.json" --set output_dir="$tmp/regrid" --set batch_size=12 --resume latest > "$tmp/log" 2>&1 &&
    grep -q "resuming from .*checkpoint-3: step 3" "$tmp/log" && same_embeddings "$tmp/regrid" "$tmp/np2" &&
    same_losses "$tmp/regrid" "$tmp/np2" && ok || { fail "1 process x 12 resuming 2 ranks x 6:"; cat "$tmp/log"; }
mpi 3 "$bin" train "$tmp/r.json" --set output_dir="$tmp/regrid3" --set batch_size=4 --resume latest > "$tmp/log" 2>&1 &&
    same_embeddings "$tmp/regrid3" "$tmp/np2" && ok || { fail "3 ranks x 4 resuming 2 ranks x 6:"; cat "$tmp/log"; }
"$bin" train "$tmp/r.json" --set output_dir="$tmp/split" --set batch_size=6 --set checkpoint.every=4 \
    --resume latest > "$tmp/log" 2>&1
[ $? -eq 1 ] && grep -q "checkpoint(s) of a run with another recipe" "$tmp/log" && ok ||
    { fail "1 process x 6 resuming a 2 x 6 run:"; cat "$tmp/log"; }

# failures end the whole job at once, naming the rank
start=$(date +%s)
"$mpiexec" --oversubscribe -np 1 "$bin" train "$tmp/r.json" --set output_dir="$tmp/mismatch" --set batch_size=6 : \
    -np 1 "$bin" train "$tmp/r.json" --set output_dir="$tmp/mismatch" --set batch_size=6 --set lr=1e-3 > "$tmp/log" 2>&1
status=$?
[ $status -ne 0 ] && grep -q "recipe hash" "$tmp/log" && [ $(($(date +%s) - start)) -le 60 ] && ok ||
    { fail "ranks with different recipes (status $status):"; cat "$tmp/log"; }
start=$(date +%s)
"$mpiexec" --oversubscribe -np 1 "$bin" train "$tmp/r.json" --set output_dir="$tmp/onefails" --set batch_size=6 : \
    -np 1 env SENTEMBED_MAX_LINE_BYTES=64 "$bin" train "$tmp/r.json" --set output_dir="$tmp/onefails" \
    --set batch_size=6 > "$tmp/log" 2>&1
status=$?
[ $status -ne 0 ] && grep -q "rank 1/2: .*longer than 64 bytes" "$tmp/log" && [ $(($(date +%s) - start)) -le 60 ] && ok ||
    { fail "one rank fails (status $status):"; cat "$tmp/log"; }

# kill -9 of one rank mid-run: the job ends within 60 s naming the rank, and the last
# checkpoint verifies
start=$(date +%s)
"$mpiexec" --oversubscribe -np 2 "$bin" train "$tmp/r.json" --set output_dir="$tmp/k9" --set batch_size=6 \
    --set max_steps=100000 --set checkpoint.every=5 > "$tmp/log" 2>&1 &
pid=$!
for i in $(seq 1 1500); do [ -d "$tmp/k9/checkpoints/checkpoint-10" ] && break; sleep 0.02; done
kill -9 "$(pgrep -P $pid -f 'sentembed train' | tail -1)"
wait $pid
status=$?
last=$(ls -d "$tmp"/k9/checkpoints/checkpoint-* | sort -t- -k2 -n | tail -1)
[ $status -ne 0 ] && [ $(($(date +%s) - start)) -le 60 ] && grep -q "process rank [01] .* exited on signal 9" "$tmp/log" &&
    "$bin" info "$last" | grep -q "training state verified" && ok || { fail "kill -9 of a rank (status $status):"; cat "$tmp/log"; }
# damaged data that one rank meets mid-run (a shard's block of ids is checked when first
# read): the job ends at once with the message of the rank that read it
spec="{\"path\": \"$data/stsb/sts-train.csv\", \"format\": \"tsv\", \"columns\": [5, 6], \"label\": 4, \"label_scale\": 5}"
"$bin" tokenize --shard "$tmp/stsb.shard" --model "$model" --data "$spec" 2> /dev/null
printf '\377' | dd of="$tmp/stsb.shard" bs=1 seek=200000 conv=notrunc 2> /dev/null
start=$(date +%s)
mpi 2 "$bin" train "$tmp/r.json" --set output_dir="$tmp/badshard" --set batch_size=6 --set max_steps=100000 \
    --set "data={\"shard\": \"$tmp/stsb.shard\"}" > "$tmp/log" 2>&1
status=$?
[ $status -ne 0 ] && [ $(($(date +%s) - start)) -le 60 ] && grep -q "rank [01]/2: .*stsb.shard: damaged shard" "$tmp/log" &&
    ok || { fail "damaged data met by one rank (status $status):"; cat "$tmp/log"; }

echo "cli_distributed: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
