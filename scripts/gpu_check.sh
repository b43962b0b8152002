#!/usr/bin/env bash
# The one script a session with a GPU runs (prepare here with scripts/prepare_gpu_check.sh,
# carry build-gpu). In well under 10 minutes it:
#   1. runs every GPU test: each CUDA op against its CPU twin on fresh random inputs;
#   2. embeds real sentences with random-weight models of all-MiniLM-L6-v2's and
#      bert-base's architectures on the CPU (fp32) and the GPU (bf16) and compares them;
#   3. benchmarks `sentembed encode` against sentence-transformers' encode on the same GPU
#      (bert-base architecture, SNLI sentences).
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
for t in test_cuda_device test_cuda_ops; do
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

echo
echo "== summary =="
for s in "${summary[@]}"; do echo "  $s"; done
