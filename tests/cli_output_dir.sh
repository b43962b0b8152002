#!/usr/bin/env bash
# Training never loses a user's data (issue 13, "data loss"), one block per class:
#   1. output_dir is checked before the first step: a directory holding other files, the
#      current directory, the input model's directory (and one above it), an existing file,
#      an empty name, a path that cannot be created and too little free space are refused;
#      nothing in them is touched;
#   2. --overwrite-output-dir replaces only the files of a model (a user's files stay) and
#      removes the earlier run's checkpoints; without it an earlier model is refused;
#   3. a second trainer on the same output_dir fails at once naming the first's PID;
#   4. a kill at any moment of a run, the final save included, leaves a model at the output
#      path (the old or the new one), and the next start recovers or cleans what the killed
#      save left (every leftover state, made by hand, too), and reports it;
#   5. a flipped byte in any file of a checkpoint (weights, Dense weights, config, pooling
#      config, vocab), a truncated or missing file, or weights from another step: `info`
#      exits 1, --resume DIR refuses, --resume latest falls back to the previous checkpoint;
#   6. checkpoints of another recipe are refused at start, never resumed nor pruned;
#   7. stops: SIGINT exits 130, --stop-at 0, and the continue line repeats every --set.
# usage: cli_output_dir.sh SENTEMBED FIXTURE_DIR SHARED_DATA_DIR
set -uo pipefail
bin=$1
source "$(dirname "$0")/cli_lib.sh"
cli_setup "$3" "$2"

cat > "$tmp/r.json" <<JSON
{"model": "$model",
 "data": {"path": "$data/stsb/sts-train.csv", "format": "tsv", "columns": [5, 6], "label": 4, "label_scale": 5},
 "loss": {"type": "cosine_similarity"}, "dense": {"out_features": 8}, "batch_size": 8, "max_steps": 6,
 "lr": 5e-4, "seed": 7, "output_dir": "$tmp/out", "log_every": 1, "checkpoint": {"every": 2, "keep": 3}}
JSON
refused() { # NAME PATTERN ARGS...: exit 1 with the message, before any training step
    local name=$1 pattern=$2
    shift 2
    "$bin" train "$@" > "$tmp/log" 2>&1
    local status=$?
    if [ $status -eq 1 ] && grep -qF -- "$pattern" "$tmp/log" && ! grep -q "^step 1/" "$tmp/log"; then ok; else
        fail "$name: status $status:"; cat "$tmp/log"
    fi
}
verified() { "$bin" info "$1" > "$tmp/info" 2>&1 && grep -q "every one matching sentembed_manifest.json" "$tmp/info"; }

# 1. refusals at start, nothing touched
mkdir -p "$tmp/project/src" && echo "my notes" > "$tmp/project/notes.txt" && echo "{}" > "$tmp/project/config.json"
refused "foreign directory" "it is not empty and not a model written by sentembed" "$tmp/r.json" --set output_dir="$tmp/project"
refused "foreign directory, --overwrite-output-dir" "not a model written by sentembed" "$tmp/r.json" \
    --set output_dir="$tmp/project" --overwrite-output-dir
[ "$(cat "$tmp/project/notes.txt")" = "my notes" ] && [ -d "$tmp/project/src" ] && [ -f "$tmp/project/config.json" ] &&
    [ "$(ls -A "$tmp/project" | wc -l)" -eq 3 ] && ok || fail "the foreign directory was touched: $(ls -A "$tmp/project")"
mkdir -p "$tmp/empty-cwd"
(cd "$tmp/empty-cwd" && "$bin" train "$tmp/r.json" --set output_dir=. > "$tmp/log" 2>&1)
[ $? -eq 1 ] && grep -q "is the current directory" "$tmp/log" && ok || { fail "current directory:"; cat "$tmp/log"; }
(cd "$tmp/empty-cwd" && "$bin" train "$tmp/r.json" --set output_dir=.. > "$tmp/log" 2>&1)
[ $? -eq 1 ] && grep -q "is the current directory or one above it" "$tmp/log" && ok || { fail "above cwd:"; cat "$tmp/log"; }
refused "input model" "is the directory of the model being fine-tuned" "$tmp/r.json" --set output_dir="$model" \
    --overwrite-output-dir
refused "above the input model" "the model being fine-tuned ($model), or one above it" "$tmp/r.json" --set output_dir="$tmp"
[ -f "$model/model.safetensors" ] && [ ! -e "$model/.sentembed.lock" ] && ok || fail "the input model was touched"
echo "not a directory" > "$tmp/a-file"
refused "existing file" "output_dir $tmp/a-file exists and is not a directory" "$tmp/r.json" --set output_dir="$tmp/a-file"
[ "$(cat "$tmp/a-file")" = "not a directory" ] && ok || fail "the file was touched"
refused "empty name" "output_dir is empty" "$tmp/r.json" --set 'output_dir=""'
refused "cannot create" "output_dir /proc/sentembed-out: cannot create it" "$tmp/r.json" --set output_dir=/proc/sentembed-out
refused "under a file" "a-file/out" "$tmp/r.json" --set output_dir="$tmp/a-file/out"
if mkdir -p "$tmp/small" && mount -t tmpfs -o size=1m tmpfs "$tmp/small" 2> /dev/null; then
    refused "too little free space" "MiB free on its file system, and this run writes about" "$tmp/r.json" \
        --set output_dir="$tmp/small/out"
    umount "$tmp/small"
else
    echo "  free-space check not exercised: cannot mount a small tmpfs here"
fi

# 2. an earlier model: refused without --overwrite-output-dir; with it, the model's files are
#    replaced, the user's kept, the old checkpoints removed
"$bin" train "$tmp/r.json" 2> "$tmp/log" && verified "$tmp/out" || { fail "first run:"; cat "$tmp/log" "$tmp/info"; }
echo "results of the first model" > "$tmp/out/README-mine.md"
mkdir -p "$tmp/out/my-eval" && echo "0.8" > "$tmp/out/my-eval/score.txt"
first_weights=$(sha256sum < "$tmp/out/model.safetensors")
refused "earlier model" "holds checkpoints of an earlier run of this recipe" "$tmp/r.json"
"$bin" train "$tmp/r.json" --overwrite-output-dir --set seed=8 2> "$tmp/log" &&
    grep -q "removed 3 checkpoint(s) of the earlier run" "$tmp/log" && verified "$tmp/out" &&
    [ "$(sha256sum < "$tmp/out/model.safetensors")" != "$first_weights" ] &&
    [ "$(cat "$tmp/out/README-mine.md")" = "results of the first model" ] && [ -f "$tmp/out/my-eval/score.txt" ] &&
    grep -q "kept $tmp/out/README-mine.md" "$tmp/log" && [ "$(ls "$tmp/out/checkpoints" | wc -l)" -eq 3 ] &&
    ! ls -d "$tmp"/out.* 2> /dev/null && ok || { fail "--overwrite-output-dir:"; cat "$tmp/log"; ls -la "$tmp" "$tmp/out"; }
# a model without checkpoints (checkpoint.every 0) is refused too
"$bin" train "$tmp/r.json" --set output_dir="$tmp/nock" --set checkpoint.every=0 2> /dev/null || fail "run without checkpoints"
refused "earlier model without checkpoints" "holds a model from an earlier run: pass --overwrite-output-dir" \
    "$tmp/r.json" --set output_dir="$tmp/nock" --set checkpoint.every=0

# 3. the lock: a second trainer fails at once, naming the first
"$bin" train "$tmp/r.json" --set output_dir="$tmp/locked" --set max_steps=100000 --set checkpoint.every=0 \
    2> "$tmp/first.log" &
first=$!
for i in $(seq 1 500); do grep -q "^step 1/" "$tmp/first.log" 2> /dev/null && break; sleep 0.02; done
start=$(date +%s)
refused "second trainer" "is in use by another sentembed train (PID $first" "$tmp/r.json" --set output_dir="$tmp/locked" \
    --set max_steps=100000 --set checkpoint.every=0 --overwrite-output-dir
[ $(($(date +%s) - start)) -le 5 ] && ok || fail "the second trainer did not fail at once"
kill -INT $first
wait $first
status=$?
# 7. (SIGINT) exit 130 and the continue line with every --set, quoted for the shell
[ $status -eq 130 ] && grep -qF "continue with: sentembed train $tmp/r.json --set output_dir=$tmp/locked --set max_steps=100000 --set checkpoint.every=0 --resume latest" "$tmp/first.log" &&
    ok || { fail "SIGINT stop (status $status):"; cat "$tmp/first.log"; }
"$bin" train "$tmp/r.json" --set output_dir="$tmp/stop" --set 'data.label_scale=5.0' --on-bad-row skip --stop-at 2 \
    2> "$tmp/log"
status=$?
[ $status -eq 0 ] && grep -qF -- "--set data.label_scale=5.0 --set on_bad_row=skip --resume latest" "$tmp/log" && ok ||
    { fail "--stop-at (status $status):"; cat "$tmp/log"; }

# 4. kills at random moments of runs over an existing model: a model that verifies is always
#    at the output path, and leftovers are recovered at the next start
kill_out=$tmp/kill
"$bin" train "$tmp/r.json" --set output_dir="$kill_out" --set checkpoint.every=0 2> /dev/null || fail "kill: first run"
bad=0
for i in $(seq 1 12); do
    "$bin" train "$tmp/r.json" --set output_dir="$kill_out" --set checkpoint.every=0 --overwrite-output-dir \
        --set seed=$i 2> "$tmp/killrun.log" &
    pid=$!
    sleep "0.$((RANDOM % 6))$((RANDOM % 10))"
    kill -KILL $pid 2> /dev/null
    wait $pid 2> /dev/null
    verified "$kill_out" || { bad=$((bad + 1)); echo "  after kill $i: no verified model at $kill_out"; cat "$tmp/info"; }
done
"$bin" train "$tmp/r.json" --set output_dir="$kill_out" --set checkpoint.every=0 --overwrite-output-dir 2> "$tmp/log" &&
    verified "$kill_out" && ! ls -d "$kill_out".* 2> /dev/null && [ $bad -eq 0 ] && ok ||
    { fail "kills during runs: $bad times no model"; cat "$tmp/log"; ls -la "$tmp"; }
# every state a killed save can leave, made by hand from two finished models
"$bin" train "$tmp/r.json" --set output_dir="$tmp/new" --set checkpoint.every=0 --set seed=9 2> /dev/null
leftover() { # STATE: sets up $tmp/rec (old model) and its leftovers as a save killed in STATE leaves them
    rm -rf "$tmp/rec" "$tmp"/rec.*
    cp -r "$kill_out" "$tmp/rec"
    echo "mine" > "$tmp/rec/user-file.txt"
    case $1 in
    before-swap) cp -r "$tmp/new" "$tmp/rec.tmp.999999" && touch "$tmp/rec.tmp.999999/.sentembed-unpublished" ;;
    half-written) cp -r "$tmp/new" "$tmp/rec.tmp.999999" && touch "$tmp/rec.tmp.999999/.sentembed-unpublished" &&
        rm "$tmp/rec.tmp.999999/model.safetensors" ;;
    after-swap) mv "$tmp/rec" "$tmp/rec.tmp.999999" && touch "$tmp/rec.tmp.999999/.sentembed-replaced" &&
        cp -r "$tmp/new" "$tmp/rec" && touch "$tmp/rec/.sentembed-unpublished" ;;
    moved-aside) mv "$tmp/rec" "$tmp/rec.old.999999" && touch "$tmp/rec.old.999999/.sentembed-replaced" &&
        cp -r "$tmp/new" "$tmp/rec.tmp.999999" && touch "$tmp/rec.tmp.999999/.sentembed-unpublished" ;;
    moved-aside-only) mv "$tmp/rec" "$tmp/rec.old.999999" && touch "$tmp/rec.old.999999/.sentembed-replaced" ;;
    legacy) cp -r "$tmp/new" "$tmp/rec.tmp.999999" && rm "$tmp/rec.tmp.999999/sentembed_manifest.json" &&
        echo '{"step": 1}' > "$tmp/rec.metrics.jsonl.tmp.999999" ;;
    esac
}
new_weights=$(sha256sum < "$tmp/new/model.safetensors")
old_weights=$(sha256sum < "$kill_out/model.safetensors")
for state in before-swap half-written after-swap moved-aside moved-aside-only legacy; do
    leftover $state
    "$bin" train "$tmp/r.json" --set output_dir="$tmp/rec" --set checkpoint.every=0 --overwrite-output-dir \
        --stop-at 1 > "$tmp/log" 2>&1
    case $state in
    before-swap | after-swap | moved-aside) want=$new_weights ;;
    *) want=$old_weights ;;
    esac
    case $state in
    before-swap) report="recovered the model a killed save left in $tmp/rec.tmp.999999" ;;
    half-written) report="removed $tmp/rec.tmp.999999, an incomplete model a killed save left" ;;
    after-swap) report="finished replacing the model a killed save had swapped out to $tmp/rec.tmp.999999" ;;
    moved-aside) report="recovered the model a killed save left in $tmp/rec.tmp.999999" ;;
    moved-aside-only) report="put back the model a killed save had moved to $tmp/rec.old.999999" ;;
    legacy) report="removed $tmp/rec.metrics.jsonl.tmp.999999" ;;
    esac
    if verified "$tmp/rec" && [ "$(sha256sum < "$tmp/rec/model.safetensors")" = "$want" ] &&
        [ "$(cat "$tmp/rec/user-file.txt")" = "mine" ] && grep -qF "$report" "$tmp/log" &&
        ! ls -d "$tmp"/rec.* 2> /dev/null && [ ! -e "$tmp/rec/.sentembed-unpublished" ]; then ok; else
        fail "recovery after a save killed $state:"; cat "$tmp/log" "$tmp/info"; ls -la "$tmp" "$tmp/rec"
    fi
done

# 5. every file of a checkpoint is verified
ck=$tmp/ck
"$bin" train "$tmp/r.json" --set output_dir="$ck" --stop-at 6 2> /dev/null || fail "checkpoint run"
damage() { # FILE: flips one byte in the middle of FILE of checkpoint-6 (a copy is kept to undo it)
    cp "$ck/checkpoints/checkpoint-6/$1" "$tmp/undo"
    local size=$(stat -c %s "$ck/checkpoints/checkpoint-6/$1")
    printf '\x01' | dd of="$ck/checkpoints/checkpoint-6/$1" bs=1 seek=$((size / 2)) conv=notrunc 2> /dev/null
}
undo() { cp "$tmp/undo" "$ck/checkpoints/checkpoint-6/$1"; }
check_detected() { # NAME PATTERN: info, --resume DIR and --resume latest all notice
    local c=$ck/checkpoints/checkpoint-6
    "$bin" info "$c" > "$tmp/info" 2>&1
    local info_status=$?
    "$bin" train "$tmp/r.json" --set output_dir="$ck" --resume "$c" > "$tmp/log" 2>&1
    local resume_status=$?
    if [ $info_status -eq 1 ] && grep -qF -- "$2" "$tmp/info" && [ $resume_status -eq 1 ] && grep -qF -- "$2" "$tmp/log"; then
        ok; else fail "$1: info $info_status, resume $resume_status:"; cat "$tmp/info" "$tmp/log"; fi
    "$bin" train "$tmp/r.json" --set output_dir="$ck" --resume latest --stop-at 5 > "$tmp/log" 2>&1
    grep -q "checkpoint-6 is damaged and was skipped" "$tmp/log" && grep -q "resuming from .*checkpoint-4: step 4" "$tmp/log" &&
        ok || { fail "$1: --resume latest did not fall back to checkpoint-4:"; cat "$tmp/log"; }
    rm -rf "$ck/checkpoints/checkpoint-5"
}
for f in model.safetensors 2_Dense/model.safetensors config.json 1_Pooling/config.json vocab.txt; do
    damage $f
    check_detected "flipped byte in $f" "checkpoint-6/$f: SHA-256"
    undo $f
done
cp "$ck/checkpoints/checkpoint-6/model.safetensors" "$tmp/undo"
truncate -s 1000 "$ck/checkpoints/checkpoint-6/model.safetensors"
check_detected "truncated weights" "model.safetensors: 1000 bytes, the manifest says"
undo model.safetensors
cp "$ck/checkpoints/checkpoint-6/vocab.txt" "$tmp/undo"
rm "$ck/checkpoints/checkpoint-6/vocab.txt"
check_detected "missing vocab" "checkpoint-6/vocab.txt: missing"
undo vocab.txt
cp "$ck/checkpoints/checkpoint-6/model.safetensors" "$tmp/undo"
cp "$ck/checkpoints/checkpoint-4/model.safetensors" "$ck/checkpoints/checkpoint-6/model.safetensors"
check_detected "weights of another step" "the file is damaged or from another checkpoint"
undo model.safetensors
verified "$ck/checkpoints/checkpoint-6" && grep -q "training state verified" "$tmp/info" && ok ||
    { fail "the repaired checkpoint does not verify:"; cat "$tmp/info"; }

# 6. another recipe's checkpoints: refused at start (fresh and resumed), never pruned
before=$(ls "$ck/checkpoints")
refused "another recipe's checkpoints" "checkpoint(s) of a run with another recipe" "$tmp/r.json" \
    --set output_dir="$ck" --set lr=1e-3
refused "another recipe's checkpoints, resuming" "of a run with another recipe" "$tmp/r.json" \
    --set output_dir="$ck" --set lr=1e-3 --resume latest
[ "$(ls "$ck/checkpoints")" = "$before" ] && ok || fail "another recipe's checkpoints were touched: $(ls "$ck/checkpoints")"

echo "cli_output_dir: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
