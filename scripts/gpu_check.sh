#!/usr/bin/env bash
# The one script a session with a GPU runs (prepare here with scripts/prepare_gpu_check.sh,
# carry build-gpu-pack and .whl). In well under 10 minutes it:
#   1. runs every GPU test: each CUDA op against its CPU twin on fresh random inputs, the
#      attention checks again with the simple kernels, and attention alone timed per mode;
#   2. embeds real sentences with random-weight models of all-MiniLM-L6-v2's and
#      bert-base's architectures on the CPU (fp32) and the GPU (bf16) and compares them;
#   3. benchmarks `sentembed encode` against sentence-transformers' encode on the same GPU
#      (bert-base architecture, SNLI sentences), compares its kernels' time (ncu) with its
#      wall time, and sums its host's CUDA calls (nsys, where the machine has it);
#   4. trains the MiniLM-architecture model 50 steps on the CPU and on the GPU, dropout off,
#      with CosineSimilarityLoss (host loss), SoftmaxLoss, MNRL and TripletLoss (fused CUDA
#      losses), and compares the per-step losses (bars: 4e-3 relative over the first 10 steps,
#      3e-2 over all 50, as bf16 and fp32 trajectories drift apart);
#   5. benchmarks training of the bert-base architecture against sentence-transformers' fit
#      on the same GPU: SoftmaxLoss on SNLI pairs, batch 16 (the seed's settings), and MNRL
#      on SNLI triplets, batch 256, max_seq_length 128; throughput and peak GPU memory; and
#      MNRL at a fixed 128 tokens per sequence, with the model FLOPs utilization (MFU);
#   6. profiles one bert-base MNRL step (batch 256, 128 tokens) with Nsight Compute: GPU time
#      per kernel.
# Sections run in the order 1 2 4 3 5 6 (most needed first); one that would start after
# GPU_CHECK_BUDGET seconds (default 480) is skipped and says so. Every command has its own
# timeout, and a GPU test that fails with a CUDA error is rerun under compute-sanitizer.
# Logs go to $OUT (or benchmarks/results/gpu-check-local): gpu_check.log, the Nsight CSVs and
# logs.tar.gz with every run's stderr and metrics; a short table is printed last.
# A typical call: GPU_CHECK_BUDGET=400 scripts/gpu_check.sh, timeout_s 540. GPU_CHECK_TRAIN_PEERS=none
# skips sentence-transformers' fit in section 5 (about 90 s; for a rerun in a call that has
# already measured it).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/results/gpu-check-local}
mkdir -p "$out"
exec > >(tee "$out/gpu_check.log") 2>&1
build=${GPU_BUILD:-build-gpu-pack}
data=$build/data
budget=${GPU_CHECK_BUDGET:-480}
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# Python packages the device image lacks (sentence-transformers' trainer needs `datasets`)
# travel as wheels in .whl (carry it): scripts/prepare_gpu_check.sh downloads them.
if compgen -G ".whl/*.whl" > /dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl &&
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# Our Debian libraries travel in build-gpu/lib; CUDA's come from the toolkit or PyTorch's wheels.
cuda_libs=$("$python" - <<'PY' 2>/dev/null
import glob, os, site
dirs = []
for s in site.getsitepackages():
    dirs += glob.glob(os.path.join(s, "nvidia", "*", "lib"))
print(":".join(dirs))
PY
)
export LD_LIBRARY_PATH=$PWD/$build/lib:/usr/local/cuda/lib64:${cuda_libs}:${LD_LIBRARY_PATH:-}
declare -a summary
note() { summary+=("$1"); }
in_budget() { # SECTION: whether there is time left to start it
    if ((SECONDS > budget)); then
        echo "== $1: skipped, ${SECONDS}s spent of the ${budget}s budget =="
        note "$1: skipped (time)"
        return 1
    fi
}
# GPU time per kernel of a command, by Nsight Compute (one metric, clocks as found), as CSV.
ncu_bin=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | tail -1)
ncu_kernels() { # CSV TIMEOUT COMMAND...: fails when ncu is missing or the command fails
    local csv=$1 limit=$2
    shift 2
    [[ -n $ncu_bin ]] && timeout "$limit" "$ncu_bin" --metrics gpu__time_duration.sum --csv --page raw \
        --clock-control none --log-file "$csv" "$@"
}
finish() {
    echo
    echo "== summary (${SECONDS}s) =="
    for s in "${summary[@]}"; do echo "  $s"; done
    (cd /tmp && tar czf "$out/logs.tar.gz" *.log *.json $(ls -d */metrics.jsonl 2>/dev/null)) 2>/dev/null
}
trap finish EXIT

echo "== machine =="
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
nproc
ldd --version | head -1
command -v nvcc > /dev/null && nvcc --version | tail -1
"$python" -c 'import torch, transformers, sentence_transformers as st; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__, "sentence-transformers", st.__version__)'
ldd $build/sentembed | grep -E "cublas|cudart"
if ldd $build/sentembed $build/tests/test_cuda_* | grep "not found"; then
    echo "missing shared libraries (above); LD_LIBRARY_PATH=$LD_LIBRARY_PATH; on this machine:"
    find / -xdev \( -name 'libcublasLt.so*' -o -name 'libcudart.so*' \) 2>/dev/null | head
    echo "stopping"
    exit 1
fi

echo "== 1. GPU tests (CUDA op vs CPU op) (at ${SECONDS}s) =="
for t in test_cuda_device test_cuda_ops test_cuda_backward test_cuda_train; do
    timeout 120 $build/tests/$t > /tmp/$t.log 2>&1
    rc=$?
    cat /tmp/$t.log
    if ((rc == 0)); then note "$t: PASS"; continue; fi
    note "$t: FAIL (exit $rc; $(grep -c FAIL /tmp/$t.log) failed checks)"
    # A CUDA error or a crash: the sanitizer names the kernel and the bad access.
    if ((rc >= 124)) || grep -q "CUDA error\|illegal" /tmp/$t.log; then
        echo "-- $t under compute-sanitizer --"
        timeout 150 compute-sanitizer --print-limit 10 $build/tests/$t 2>&1 | grep -v "^PASS" | head -80
    fi
done
# Attention has two modes (kernels/cuda/attention_tc.cu): the tensor-core kernels (the default)
# and SENTEMBED_ATTENTION=simple. The tests above ran the default; here the attention checks
# run with the simple kernels too, and the rest of the run falls back to them if the default
# failed its checks.
for t in test_cuda_ops test_cuda_backward; do
    SENTEMBED_ATTENTION=simple timeout 120 $build/tests/$t > /tmp/$t-simple.log 2>&1
    echo "$t, SENTEMBED_ATTENTION=simple: exit $?, attention checks:"
    grep -E "^attention" /tmp/$t-simple.log
    note "$t attention checks, SENTEMBED_ATTENTION=simple: $(grep -c "^attention.*FAIL" /tmp/$t-simple.log) failed of $(grep -c "^attention" /tmp/$t-simple.log)"
done
attn_ok() { ! grep -q "^attention.*FAIL" "$@" && grep -q "^attention" "$@"; }
if ! attn_ok /tmp/test_cuda_ops.log /tmp/test_cuda_backward.log; then
    export SENTEMBED_ATTENTION=simple
    note "tensor-core attention FAILED its checks: the rest of this run uses SENTEMBED_ATTENTION=simple"
fi
echo "attention mode for the rest of the run: ${SENTEMBED_ATTENTION:-tc}"
# Attention alone at bert-base's training shape (768 sequences of 128 tokens, 12 x 64, dropout
# 0.1), per mode: the speed of each kernel (a failed mode's numbers are not results).
if [[ -x $build/bench_attention ]]; then
    for mode in simple tc; do
        r=$(SENTEMBED_ATTENTION=$mode timeout 120 $build/bench_attention --reps 5 2>&1 | tail -1)
        echo "bench_attention $mode: $r"
        note "attention alone, $mode: $r"
    done
fi

in_budget "2. embeddings" && {
echo "== 2. embeddings GPU (bf16) vs CPU (fp32) (at ${SECONDS}s) =="
models=/tmp/sentembed-models
"$python" scripts/make_random_models.py $data/minilm-config $models || { echo "cannot make the models: stopping"; exit 1; }
head -448 $data/sentences.txt > /tmp/check.txt
tail -64 $data/sentences.txt >> /tmp/check.txt   # long lines: truncation at 256 tokens
for m in minilm-random bert-base-random; do
    timeout 120 $build/sentembed encode --model $models/$m --device cpu --output /tmp/$m-cpu.npy < /tmp/check.txt
    timeout 120 $build/sentembed encode --model $models/$m --device cuda --output /tmp/$m-gpu.npy < /tmp/check.txt
    result=$("$python" - /tmp/$m-cpu.npy /tmp/$m-gpu.npy <<'PY'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
rel = np.abs(a - b).max() / np.abs(a).max()
# bf16 activations through 6-12 layers: cosine >= 0.999 per sentence is the bar.
print("%s min cosine %.5f, mean cosine %.6f, max |diff|/max|cpu| %.3g" % (
    "PASS" if cos.min() >= 0.999 else "FAIL", cos.min(), cos.mean(), rel))
PY
)
    echo "$m: $result"
    note "$m GPU vs CPU: $result"
done
}

in_budget "4. training" && {
echo "== 4. training: 50 steps on the CPU (fp32) vs the GPU (bf16), dropout off (at ${SECONDS}s) =="
stsb='"format": "tsv", "columns": [5, 6], "label": 4, "label_scale": 5'
declare -A spec=(
    [cosine_similarity]="\"data\": {\"path\": \"$data/sts-train.csv\", $stsb}, \"loss\": {\"type\": \"cosine_similarity\"}"
    [softmax]="\"data\": {\"path\": \"$data/snli-dev.jsonl\", \"columns\": [\"premise\", \"hypothesis\"], \"label\": \"label\"}, \"loss\": {\"type\": \"softmax\", \"num_labels\": 3}"
    [mnrl]="\"data\": {\"path\": \"$data/snli-dev-triplets.jsonl\", \"columns\": [\"anchor\", \"positive\", \"negative\"]}, \"loss\": {\"type\": \"mnrl\"}"
    [triplet]="\"data\": {\"path\": \"$data/snli-dev-triplets.jsonl\", \"columns\": [\"anchor\", \"positive\", \"negative\"]}, \"loss\": {\"type\": \"triplet\"}"
)
for loss in cosine_similarity softmax mnrl triplet; do
    for dev in cpu cuda; do
        cat > /tmp/train-$loss-$dev.json <<JSON
{"model": "$models/minilm-random", ${spec[$loss]}, "batch_size": 16, "max_steps": 50, "lr": 1e-4,
 "warmup_steps": 5, "dropout": 0, "seed": 1, "device": "$dev", "output_dir": "/tmp/out-$loss-$dev", "log_every": 1}
JSON
        timeout 120 $build/sentembed train /tmp/train-$loss-$dev.json 2> /tmp/train-$loss-$dev.log ||
            { echo "$loss on $dev failed:"; tail -5 /tmp/train-$loss-$dev.log; }
    done
    result=$("$python" - /tmp/out-$loss-cpu/metrics.jsonl /tmp/out-$loss-cuda/metrics.jsonl <<'PY'
import json, sys
try:
    a, b = ([json.loads(l)["loss"] for l in open(p)] for p in sys.argv[1:3])
except OSError as e:
    print("FAIL (no metrics: %s)" % e); sys.exit()
worst = max(abs(x - y) / max(abs(x), 1e-12) for x, y in zip(a, b))
# The first steps show the per-step numerics (bf16 vs fp32: up to 1.5e-3 seen); later the two runs'
# trajectories drift apart (a hinge like TripletLoss' flips on rounding), so the whole run
# only has a loose bar. A wrong gradient shows within the first ten steps.
early = max(abs(x - y) / max(abs(x), 1e-12) for x, y in zip(a[:10], b[:10]))
ok = len(a) == len(b) == 50 and early <= 4e-3 and worst <= 3e-2
print("%s %d steps, worst per-step loss rel. diff: steps 1-10 %.3g (bar 4e-3), all %.3g (bar 3e-2) (first %.5f vs %.5f, last %.5f vs %.5f)" % (
    "PASS" if ok else "FAIL", min(len(a), len(b)), early, worst, a[0], b[0], a[-1], b[-1]))
PY
)
    echo "$loss: $result"
    note "train $loss CPU vs GPU: $result"
done
}

in_budget "3. encode benchmark" && {
echo "== 3. encode benchmark: sentembed vs sentence-transformers, same GPU (at ${SECONDS}s) =="
head -10000 $data/sentences.txt > /tmp/bench.txt
for bs in 32 128; do
    r=$(timeout 120 $build/sentembed encode --model $models/bert-base-random --device cuda --batch-size $bs --timing \
        --output /tmp/bench.npy < /tmp/bench.txt 2>&1 >/dev/null | grep '"sentences_per_s"')
    echo "sentembed batch $bs: $r"
    note "sentembed encode bert-base batch $bs: $r"
    # (its bfloat16 encode ran at half its float32 rate on 2026-11-27: float32, its best, only)
    for dtype in float32; do
        r=$(timeout 120 "$python" benchmarks/bench_encode_st.py --model $models/bert-base-random --input /tmp/bench.txt \
            --batch-size $bs --device cuda --dtype $dtype 2>/dev/null | tail -1)
        echo "sentence-transformers ($dtype) batch $bs: $r"
        note "sentence-transformers $dtype bert-base batch $bs: $r"
    done
done
# How busy the GPU is during encode: the kernels' total time against the wall time of the
# same encode (2000 sentences, batch 128). A low share means the host side bounds it, not the
# kernels; --timing splits the host's time into tokenizing, queuing the model and waiting.
# (CUDA_MODULE_LOADING=EAGER made no difference on 2026-11-27: it is not lazy kernel loading.)
head -2000 /tmp/bench.txt > /tmp/bench-2k.txt
timing=$(timeout 60 $build/sentembed encode --model $models/bert-base-random --device cuda --batch-size 128 --timing \
    --output /tmp/bench.npy < /tmp/bench-2k.txt 2>&1 >/dev/null | grep '"seconds"')
wall=$(grep -o '"seconds": [0-9.]*' <<< "$timing" | grep -o '[0-9.]*$')
if [[ -n $wall ]] && ncu_kernels "$out/ncu-encode-b128.csv" 120 $build/sentembed encode \
        --model $models/bert-base-random --device cuda --batch-size 128 --output /tmp/bench.npy \
        < /tmp/bench-2k.txt > /dev/null 2>&1; then
    "$python" benchmarks/ncu_summary.py "$out/ncu-encode-b128.csv" > /tmp/encode-profile.log
    head -12 /tmp/encode-profile.log
    k=$(head -1 /tmp/encode-profile.log)
    echo "encode 2000 sentences, batch 128: wall ${wall}s (encode loop: $timing); $k"
    note "encode busy: wall ${wall}s of the encode loop ($timing); $k"
fi
# Which host calls take the encode loop's queue time (2026-11-27: 0.53 s of 0.64 s at batch
# 128, with the GPU busy 14% of the loop): the CUDA API calls' total times, by Nsight Systems.
nsys_bin=$(command -v nsys || ls /opt/nvidia/nsight-systems/*/bin/nsys /usr/local/cuda/bin/nsys 2>/dev/null | tail -1)
if [[ -n $nsys_bin ]] && timeout 90 "$nsys_bin" profile -t cuda,osrt --force-overwrite=true -o /tmp/encode-nsys \
        $build/sentembed encode --model $models/bert-base-random --device cuda --batch-size 128 --timing \
        --output /tmp/bench.npy < /tmp/bench-2k.txt > /tmp/encode-nsys.log 2>&1; then
    timeout 60 "$nsys_bin" stats -r cuda_api_sum,osrt_sum /tmp/encode-nsys.nsys-rep > /tmp/encode-api.log 2>&1
    head -60 /tmp/encode-api.log
    note "encode host calls: Nsight Systems' cuda_api_sum and osrt_sum are in gpu_check.log"
else
    echo "nsys missing or failed ($nsys_bin):"; tail -3 /tmp/encode-nsys.log 2>/dev/null
fi
}

in_budget "5. training benchmark" && {
echo "== 5. training benchmark: sentembed vs sentence-transformers fit, same GPU (bert-base architecture) (at ${SECONDS}s) =="
peak_mem() { # COMMAND...: runs it, printing the peak GPU memory used (MiB) seen by nvidia-smi on stderr
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > /tmp/mem.log 2>/dev/null &
    local smi=$!
    "$@"
    local rc=$?
    kill $smi 2>/dev/null; wait $smi 2>/dev/null
    echo "peak_gpu_mib_nvidia_smi $(sort -n /tmp/mem.log | tail -1)" >&2
    return $rc
}
# Each field a run of SNLI sentences, so every sequence is cut at exactly 128 tokens (MFU).
"$python" - $data/snli-dev-triplets.jsonl /tmp/long-triplets.jsonl <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
with open(sys.argv[2], "w") as f:
    for i in range(256 * 12):
        f.write(json.dumps({c: " ".join(rows[(i + k) % len(rows)][c] for k in range(16))
                            for c in ("anchor", "positive", "negative")}) + "\n")
PY
bench() { # NAME BATCH MAXLEN STEPS SPEC LOSS TOKENS_PER_SAMPLE(0: not fixed) PEERS(fp32,bf16) PEER_ARGS...
    local name=$1 bs=$2 len=$3 steps=$4 sp=$5 loss=$6 tokens=$7 peers=$8
    shift 8
    local warm=$((steps / 4)) mfu=()
    ((tokens)) && mfu=(--tokens-per-sample $tokens --seq $len)
    cat > /tmp/bench-$name.json <<JSON
{"model": "$models/bert-base-random", $sp, "batch_size": $bs, "max_seq_length": $len, "max_steps": $steps,
 "device": "cuda", "output_dir": "/tmp/bench-out-$name", "log_every": $warm}
JSON
    peak_mem timeout 180 $build/sentembed train /tmp/bench-$name.json 2> /tmp/bench-$name.log ||
        { echo "sentembed $name failed:"; tail -5 /tmp/bench-$name.log; }
    local ours mem
    ours=$("$python" benchmarks/train_rate.py /tmp/bench-out-$name/metrics.jsonl --steady-from $warm "${mfu[@]}" 2>&1)
    mem=$(grep peak_gpu_mib_nvidia_smi /tmp/bench-$name.log)
    echo "sentembed $name: $ours $mem"
    note "sentembed train $name: $ours ($mem)"
    [[ ${GPU_CHECK_TRAIN_PEERS:-all} == none ]] && peers=""
    for peer in ${peers//,/ }; do
        local flag=""
        [[ $peer == bf16 ]] && flag=--bf16
        r=$(peak_mem timeout 240 "$python" benchmarks/bench_train_st.py --model $models/bert-base-random --device cuda \
            $flag --batch-size $bs --max-seq-length $len --max-steps $steps --steady-from $warm --loss $loss "$@" \
            2> /tmp/peer-$name${flag}.log | tail -1)
        mem=$(grep peak_gpu_mib_nvidia_smi /tmp/peer-$name${flag}.log)
        if ((tokens)) && [[ $r == *steady_pairs_per_s* ]]; then
            rate=$("$python" -c 'import json,sys; print(json.loads(sys.argv[1])["steady_pairs_per_s"])' "$r")
            r="$r $("$python" benchmarks/train_rate.py --rate $rate "${mfu[@]}")"
        fi
        [[ -n $r ]] || r="failed: $(tail -2 /tmp/peer-$name${flag}.log | tr '\n' ' ')"
        echo "sentence-transformers $name ${flag:-fp32}: $r $mem"
        note "sentence-transformers fit $name ${flag:-fp32}: $r ($mem)"
    done
}
# sentence-transformers' bf16 (AMP) ran slower than its fp32 here on 2026-11-27 (140 vs 203 pairs/s):
# only fp32, its best, at batch 16.
bench softmax-b16 16 128 200 "${spec[softmax]}" softmax 0 fp32 --train $data/snli-dev.jsonl --format jsonl \
    --columns premise,hypothesis --label label
bench mnrl-b256 256 128 20 "${spec[mnrl]}" mnrl 0 fp32,bf16 --train $data/snli-dev-triplets.jsonl --format jsonl \
    --columns anchor,positive,negative
long='"data": {"path": "/tmp/long-triplets.jsonl", "columns": ["anchor", "positive", "negative"]}, "loss": {"type": "mnrl"}'
# Only the bf16 peer here: the fair one for MFU (its fp32 run was cut by the call's time
# limit on 2026-11-27).
bench mnrl-b256-fixed128 256 128 12 "$long" mnrl $((3 * 128)) bf16 --train /tmp/long-triplets.jsonl --format jsonl \
    --columns anchor,positive,negative
}

in_budget "6. kernel profile" && {
echo "== 6. GPU time per kernel: one bert-base MNRL step, batch 256, 128 tokens (Nsight Compute) (at ${SECONDS}s) =="
sed -e 's/"max_steps": 12/"max_steps": 1/' -e 's/bench-out-/prof-out-/' /tmp/bench-mnrl-b256-fixed128.json > /tmp/prof.json
if ncu_kernels "$out/ncu-mnrl-b256-fixed128.csv" 200 $build/sentembed train /tmp/prof.json > /tmp/prof.log 2>&1; then
    "$python" benchmarks/ncu_summary.py "$out/ncu-mnrl-b256-fixed128.csv" --steps 1 | tee /tmp/prof-summary.log
    note "kernel profile: $(head -1 /tmp/prof-summary.log)"
else
    echo "ncu failed or missing ($ncu_bin):"; tail -5 /tmp/prof.log
    note "kernel profile: failed"
fi
}

