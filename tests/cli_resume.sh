#!/usr/bin/env bash
# Checkpoints and resume of `sentembed train` on the CPU with the tiny random BERT (dropout
# on, so the dropout masks must resume too):
#   - 40 steps straight vs 20 steps, --stop-at, --resume latest, 20 more: every file of the
#     final model is byte-identical; the same when the stop is a SIGTERM;
#   - the same with the input pipeline's worker thread (prefetch=true), SIGTERM included;
#   - a second SIGINT exits at once (status 130) and leaves the last checkpoint valid;
#   - crash safety: SIGKILL at random moments of a run that checkpoints every step, 20
#     times; every checkpoint on disk verifies and loads, and --resume latest always works;
#   - a NaN/inf loss stops the run naming the step and rows (on_nan stop) or is skipped;
#   - resuming with another recipe, or from a damaged checkpoint, is refused with a message.
# usage: cli_resume.sh SENTEMBED FIXTURE_DIR SHARED_DATA_DIR
set -uo pipefail
bin=$1
source "$(dirname "$0")/cli_lib.sh"
cli_setup "$3" "$2"
cat > "$tmp/r.json" <<JSON
{"model": "$model",
 "data": {"path": "$data/stsb/sts-train.csv", "format": "tsv", "columns": [5, 6], "label": 4, "label_scale": 5},
 "loss": {"type": "cosine_similarity"}, "batch_size": 8, "max_steps": 40, "lr": 5e-4, "warmup_ratio": 0.1,
 "seed": 7, "output_dir": "$tmp/straight", "log_every": 1, "checkpoint": {"every": 10, "keep": 2}}
JSON
same_model() { # DIR_A DIR_B: every file of the saved model (checkpoints and metrics aside) identical
    local f n=0
    for f in $(cd "$1" && find . -type f ! -path "./checkpoints/*" ! -name metrics.jsonl ! -name sentembed_manifest.json \
        ! -name '.sentembed*'); do
        cmp -s "$1/$f" "$2/$f" || { echo "  $f differs"; return 1; }
        n=$((n + 1))
    done
    [ "$n" -ge 8 ]
}

"$bin" train "$tmp/r.json" 2> "$tmp/log" || { fail "straight run:"; cat "$tmp/log"; }
[ -d "$tmp/straight/checkpoints/checkpoint-40" ] && [ -d "$tmp/straight/checkpoints/checkpoint-30" ] &&
    [ ! -d "$tmp/straight/checkpoints/checkpoint-20" ] && ok || fail "checkpoints every 10, keep 2"

# --stop-at 20, then resume
"$bin" train "$tmp/r.json" --set output_dir="$tmp/split" --stop-at 20 2> "$tmp/log" &&
    grep -q "stopped after step 20" "$tmp/log" && [ ! -f "$tmp/split/model.safetensors" ] && ok ||
    { fail "--stop-at 20:"; cat "$tmp/log"; }
"$bin" train "$tmp/r.json" --set output_dir="$tmp/split" --resume latest 2> "$tmp/log" &&
    grep -q "resuming from .*checkpoint-20: step 20" "$tmp/log" && same_model "$tmp/straight" "$tmp/split" &&
    [ "$(grep -c '"loss"' "$tmp/split/metrics.jsonl")" -eq 40 ] && ok ||
    { fail "40 straight vs 20 + resume + 20 differ:"; cat "$tmp/log"; }

# the input pipeline's worker thread (on by default only on a GPU) changes no result: the
# same 40 steps with it, and a --stop-at 20 + resume with it, give the straight run's files;
# its metrics count the waits
"$bin" train "$tmp/r.json" --set output_dir="$tmp/prefetch" --set prefetch=true 2> "$tmp/log" &&
    same_model "$tmp/straight" "$tmp/prefetch" && grep -q "input pipeline: the step waited" "$tmp/log" &&
    [ "$(grep -c '"input_waits": [0-9]*, "input_wait_s"' "$tmp/prefetch/metrics.jsonl")" -eq 40 ] && ok ||
    { fail "prefetch=true differs from the straight run:"; cat "$tmp/log"; }
"$bin" train "$tmp/r.json" --set output_dir="$tmp/prefetch-split" --set prefetch=true --stop-at 20 2> /dev/null &&
    "$bin" train "$tmp/r.json" --set output_dir="$tmp/prefetch-split" --set prefetch=true --resume latest \
        2> "$tmp/log" && same_model "$tmp/straight" "$tmp/prefetch-split" && ok ||
    { fail "prefetch=true: 20 + resume + 20 differs from the straight run:"; cat "$tmp/log"; }

# SIGTERM after a few steps: the run finishes its step, checkpoints and exits 143 (128 + 15)
sigterm_run() { # OUT [ARGS...]: starts a run, SIGTERMs it once it has logged step 6
    local out=$1
    shift
    "$bin" train "$tmp/r.json" --set output_dir="$out" "$@" 2> "$tmp/term.log" &
    local pid=$! i
    for i in $(seq 1 400); do
        grep -q "^step 6/" "$tmp/term.log" 2>/dev/null && break
        sleep 0.02
    done
    kill -TERM $pid
    wait $pid
}
sigterm_run "$tmp/term"
status=$?
if [ $status -eq 143 ] && grep -q "stopped after step [0-9]* (SIGTERM); continue with: sentembed train $tmp/r.json --set output_dir=$tmp/term --resume latest" "$tmp/term.log" &&
    "$bin" train "$tmp/r.json" --set output_dir="$tmp/term" --resume latest 2> "$tmp/log" &&
    same_model "$tmp/straight" "$tmp/term"; then ok; else
    fail "SIGTERM + resume (status $status):"; cat "$tmp/term.log" "$tmp/log"
fi
# the same with the worker thread reading ahead when the signal comes
sigterm_run "$tmp/term-prefetch" --set prefetch=true
status=$?
if [ $status -eq 143 ] && grep -q "stopped after step [0-9]* (SIGTERM)" "$tmp/term.log" &&
    "$bin" train "$tmp/r.json" --set output_dir="$tmp/term-prefetch" --set prefetch=true --resume latest \
        2> "$tmp/log" && same_model "$tmp/straight" "$tmp/term-prefetch"; then ok; else
    fail "SIGTERM + resume with prefetch=true (status $status):"; cat "$tmp/term.log" "$tmp/log"
fi

# a second SIGINT: out at once, status 130, the last checkpoint still valid (big batches, so
# that both signals land within one step)
"$bin" train "$tmp/r.json" --set output_dir="$tmp/int" --set max_steps=100000 --set checkpoint.every=2 \
    --set batch_size=512 2> "$tmp/int.log" &
pid=$!
for i in $(seq 1 3000); do
    [ -d "$tmp/int/checkpoints/checkpoint-2" ] && break
    sleep 0.02
done
kill -INT $pid; sleep 0.05; kill -INT $pid
wait $pid
status=$?
last=$(ls -d "$tmp/int/checkpoints/checkpoint-"* 2>/dev/null | sort -t- -k2 -n | tail -1)
if [ $status -eq 130 ] && [ -n "$last" ] && "$bin" info "$last" | grep -q "training state verified"; then ok; else
    fail "second SIGINT (status $status, last checkpoint '$last'):"; cat "$tmp/int.log"
fi

# crash safety: SIGKILL at random moments of a run that checkpoints after every step
crash=$tmp/crash
"$bin" train "$tmp/r.json" --set output_dir="$crash" --set max_steps=100000 --set checkpoint.every=1 \
    --set checkpoint.keep=3 --stop-at 2 2> /dev/null || fail "crash run: first two steps"
bad=0
for i in $(seq 1 20); do
    "$bin" train "$tmp/r.json" --set output_dir="$crash" --set max_steps=100000 --set checkpoint.every=1 \
        --set checkpoint.keep=3 --resume latest 2> "$tmp/crash.log" &
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
    kill -KILL $pid 2> /dev/null
    wait $pid 2> /dev/null
    for c in "$crash"/checkpoints/checkpoint-*; do
        if ! "$bin" info "$c" 2>&1 | grep -q "training state verified"; then
            bad=$((bad + 1)); echo "  after kill $i: $c does not verify"; "$bin" info "$c" 2>&1 | tail -2
        fi
    done
done
steps=$("$bin" info "$(ls -d "$crash"/checkpoints/checkpoint-* | sort -t- -k2 -n | tail -1)" | sed -n 's/.*after optimizer step \([0-9]*\).*/\1/p')
if [ $bad -eq 0 ] && "$bin" train "$tmp/r.json" --set output_dir="$crash" --set max_steps=100000 \
    --set checkpoint.every=1 --resume latest --stop-at $((steps + 1)) 2> "$tmp/log"; then ok; else
    fail "crash safety: $bad bad checkpoints;"; cat "$tmp/log"
fi
echo "  crash safety: 20 SIGKILLs, the run reached step $steps, every checkpoint verified"

# NaN / inf: a label that overflows to inf makes the loss inf
{ head -15 "$data/stsb/sts-train.csv"; printf 'x\tx\tx\tx\t1e300\tA bad row.\tIts label overflows.\n'; } > "$tmp/inf.tsv"
"$bin" train "$tmp/r.json" --set output_dir="$tmp/nan" --set data.path="$tmp/inf.tsv" --set 'data.label_scale=1e-10' \
    --set max_steps=4 --set batch_size=16 > "$tmp/out" 2>&1
status=$?
[ $status -eq 1 ] && grep -q "step 1: the loss is inf (batch of $tmp/inf.tsv rows .*16" "$tmp/out" &&
    [ ! -e "$tmp/nan/model.safetensors" ] && ok || { fail "inf loss, on_nan stop (status $status):"; cat "$tmp/out"; }
"$bin" train "$tmp/r.json" --set output_dir="$tmp/nan" --set data.path="$tmp/inf.tsv" --set 'data.label_scale=1e-10' \
    --set max_steps=4 --set batch_size=8 --set on_nan=skip > "$tmp/out" 2>&1 &&
    grep -q "step(s) skipped" "$tmp/out" && [ -f "$tmp/nan/model.safetensors" ] && ok ||
    { fail "inf loss, on_nan skip:"; cat "$tmp/out"; }

# refusals
"$bin" train "$tmp/r.json" --set output_dir="$tmp/split" --set lr=1e-3 --resume latest > "$tmp/out" 2>&1
[ $? -eq 1 ] && grep -q "split holds 2 checkpoint(s) of a run with another recipe" "$tmp/out" && ok ||
    { fail "another recipe:"; cat "$tmp/out"; }
"$bin" train "$tmp/r.json" --set output_dir="$tmp/other" --set lr=1e-3 --resume "$tmp/split/checkpoints/checkpoint-40" \
    > "$tmp/out" 2>&1
[ $? -eq 1 ] && grep -q "written by another recipe" "$tmp/out" && ok || { fail "another recipe's checkpoint:"; cat "$tmp/out"; }
"$bin" train "$tmp/r.json" --set output_dir="$tmp/none" --resume latest > "$tmp/out" 2>&1
[ $? -eq 1 ] && grep -q "no complete checkpoint to resume from" "$tmp/out" && ok || { fail "nothing to resume:"; cat "$tmp/out"; }
c=$tmp/straight/checkpoints/checkpoint-40
printf 'X' | dd of="$c/training_state.bin" bs=1 seek=100 conv=notrunc 2> /dev/null
"$bin" train "$tmp/r.json" --resume "$c" > "$tmp/out" 2>&1
[ $? -eq 1 ] && grep -q "training_state.bin: SHA-256 [0-9a-f]*, the manifest says" "$tmp/out" && ok ||
    { fail "damaged state:"; cat "$tmp/out"; }
"$bin" train "$tmp/r.json" --resume latest > "$tmp/out" 2>&1 && grep -q "checkpoint-40 is damaged and was skipped" "$tmp/out" &&
    grep -q "resuming from .*checkpoint-30" "$tmp/out" && ok || { fail "latest skips a damaged checkpoint:"; cat "$tmp/out"; }
"$bin" train "$tmp/r.json" --set 'checkpoint={"evry": 3}' > "$tmp/out" 2>&1
[ $? -eq 1 ] && grep -q 'unknown key "checkpoint.evry" (did you mean "checkpoint.every"?)' "$tmp/out" && ok ||
    { fail "checkpoint key:"; cat "$tmp/out"; }

echo "cli_resume: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
