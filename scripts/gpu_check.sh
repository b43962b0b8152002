#!/usr/bin/env bash
# The one script a session with a GPU runs (prepare here with scripts/prepare_gpu_check.sh,
# carry build-gpu). In well under 10 minutes it:
#   1. runs every GPU test: each CUDA op against its CPU twin on fresh random inputs;
#   2. embeds real sentences with random-weight models of all-MiniLM-L6-v2's and
#      bert-base's architectures on the CPU (fp32) and the GPU (bf16) and compares them;
#   3. benchmarks `sentembed encode` against sentence-transformers' encode on the same GPU
#      (bert-base architecture, SNLI sentences);
#   4. trains the MiniLM-architecture model 50 steps on the CPU and on the GPU, dropout off,
#      with CosineSimilarityLoss (host loss), SoftmaxLoss, MNRL and TripletLoss (fused CUDA
#      losses), and compares the per-step losses (bar: within 1e-2 relative);
#   5. benchmarks training of the bert-base architecture against sentence-transformers' fit
#      on the same GPU: SoftmaxLoss on SNLI pairs, batch 16 (the seed's settings), and MNRL
#      on SNLI triplets, batch 256, max_seq_length 128; throughput and peak GPU memory.
# Logs go to $OUT (or benchmarks/results/gpu-check-local); a short table is printed last.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/results/gpu-check-local}
mkdir -p "$out"
exec > >(tee "$out/gpu_check.log") 2>&1
build=build-gpu
data=$build/data
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
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

echo "== machine =="
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
nproc
if ldd $build/sentembed | grep "not found"; then
    echo "missing shared libraries (above): stopping"
    exit 1
fi

echo "== 1. GPU tests (CUDA op vs CPU op) =="
for t in test_cuda_device test_cuda_ops test_cuda_backward test_cuda_train; do
    if timeout 300 $build/tests/$t; then note "$t: PASS"; else note "$t: FAIL (exit $?)"; fi
done

echo "== 2. embeddings GPU (bf16) vs CPU (fp32) =="
models=/tmp/sentembed-models
"$python" scripts/make_random_models.py $data/minilm-config $models
head -448 $data/sentences.txt > /tmp/check.txt
tail -64 $data/sentences.txt >> /tmp/check.txt   # long lines: truncation at 256 tokens
for m in minilm-random bert-base-random; do
    $build/sentembed encode --model $models/$m --device cpu --output /tmp/$m-cpu.npy < /tmp/check.txt
    $build/sentembed encode --model $models/$m --device cuda --output /tmp/$m-gpu.npy < /tmp/check.txt
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

echo "== 3. encode benchmark: sentembed vs sentence-transformers, same GPU =="
head -20000 $data/sentences.txt > /tmp/bench.txt
for bs in 32 128; do
    r=$($build/sentembed encode --model $models/bert-base-random --device cuda --batch-size $bs --timing \
        --output /tmp/bench.npy < /tmp/bench.txt 2>&1 >/dev/null | grep '"sentences_per_s"')
    echo "sentembed batch $bs: $r"
    note "sentembed encode bert-base batch $bs: $r"
    for dtype in float32 bfloat16; do
        r=$("$python" benchmarks/bench_encode_st.py --model $models/bert-base-random --input /tmp/bench.txt \
            --batch-size $bs --device cuda --dtype $dtype 2>/dev/null | tail -1)
        echo "sentence-transformers ($dtype) batch $bs: $r"
        note "sentence-transformers $dtype bert-base batch $bs: $r"
    done
done

echo "== 4. training: 50 steps on the CPU (fp32) vs the GPU (bf16), dropout off =="
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
        timeout 300 $build/sentembed train /tmp/train-$loss-$dev.json 2> /tmp/train-$loss-$dev.log ||
            { echo "$loss on $dev failed:"; tail -5 /tmp/train-$loss-$dev.log; }
    done
    result=$("$python" - /tmp/out-$loss-cpu/metrics.jsonl /tmp/out-$loss-cuda/metrics.jsonl <<'PY'
import json, sys
try:
    a, b = ([json.loads(l)["loss"] for l in open(p)] for p in sys.argv[1:3])
except OSError as e:
    print("FAIL (no metrics: %s)" % e); sys.exit()
worst = max(abs(x - y) / max(abs(x), 1e-12) for x, y in zip(a, b))
print("%s %d steps, worst per-step loss rel. diff %.3g (first %.5f vs %.5f, last %.5f vs %.5f)" % (
    "PASS" if len(a) == len(b) == 50 and worst <= 1e-2 else "FAIL", min(len(a), len(b)), worst, a[0], b[0], a[-1], b[-1]))
PY
)
    echo "$loss: $result"
    note "train $loss CPU vs GPU: $result"
done

echo "== 5. training benchmark: sentembed vs sentence-transformers fit, same GPU (bert-base architecture) =="
peak_mem() { # COMMAND...: runs it, printing the peak GPU memory used (MiB) seen by nvidia-smi on stderr
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > /tmp/mem.log 2>/dev/null &
    local smi=$!
    "$@"
    local rc=$?
    kill $smi 2>/dev/null; wait $smi 2>/dev/null
    echo "peak_gpu_mib_nvidia_smi $(sort -n /tmp/mem.log | tail -1)" >&2
    return $rc
}
bench() { # NAME BATCH MAXLEN STEPS SPEC LOSS PEER_ARGS...
    local name=$1 bs=$2 len=$3 steps=$4 sp=$5 loss=$6
    shift 6
    cat > /tmp/bench-$name.json <<JSON
{"model": "$models/bert-base-random", $sp, "batch_size": $bs, "max_seq_length": $len, "max_steps": $steps,
 "device": "cuda", "output_dir": "/tmp/bench-out-$name", "log_every": $steps}
JSON
    peak_mem $build/sentembed train /tmp/bench-$name.json 2> /tmp/bench-$name.log
    local ours mem
    ours=$(tail -1 /tmp/bench-out-$name/metrics.jsonl 2>/dev/null)
    mem=$(grep peak_gpu_mib_nvidia_smi /tmp/bench-$name.log)
    echo "sentembed $name: $ours $mem"
    note "sentembed train $name: $ours ($mem)"
    for flag in "" --bf16; do
        r=$(peak_mem "$python" benchmarks/bench_train_st.py --model $models/bert-base-random --device cuda $flag \
            --batch-size $bs --max-seq-length $len --max-steps $steps --loss $loss "$@" 2> /tmp/peer.log | tail -1)
        mem=$(grep peak_gpu_mib_nvidia_smi /tmp/peer.log)
        echo "sentence-transformers $name ${flag:-fp32}: $r $mem"
        note "sentence-transformers fit $name ${flag:-fp32}: $r ($mem)"
    done
}
bench softmax-b16 16 128 300 "${spec[softmax]}" softmax --train $data/snli-dev.jsonl --format jsonl \
    --columns premise,hypothesis --label label
bench mnrl-b256 256 128 20 "${spec[mnrl]}" mnrl --train $data/snli-dev-triplets.jsonl --format jsonl \
    --columns anchor,positive,negative

echo
echo "== summary =="
for s in "${summary[@]}"; do echo "  $s"; done
