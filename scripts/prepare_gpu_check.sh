#!/usr/bin/env bash
# Prepares what scripts/gpu_check.sh needs on a GPU machine that has CUDA, PyTorch,
# transformers and sentence-transformers but no network and none of our Debian libraries:
#   build-gpu/            a CUDA build for Hopper (sm_90a + compute_90 PTX)
#   build-gpu-pack/       what travels (the whole build is over the device's 64 MiB limit):
#     sentembed, tests/test_cuda_*   the programs gpu_check.sh runs
#     lib/                the shared libraries they need that such a machine lacks
#     data/               all-MiniLM-L6-v2's tokenizer/config files, STS-B, SNLI, sentences
# Then carry build-gpu-pack to the device and run scripts/gpu_check.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${SENTEMBED_DATA:-../shared/data}
scripts/install_deps.sh
# Without MPI: the device has no MPI runtime (its libraries would add 3 MB to a pack near
# its limit) and NCCL's library (218 MB) cannot travel; the NCCL check needs both first.
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DSENTEMBED_CUDA=ON -DSENTEMBED_MPI=OFF -DSENTEMBED_WERROR=ON > /dev/null
cmake --build build-gpu -j"$(nproc)"
pack=build-gpu-pack
rm -rf $pack
mkdir -p $pack/lib $pack/data $pack/tests
cp build-gpu/sentembed build-gpu/bench_attention $pack/
cp build-gpu/tests/test_cuda_* $pack/tests/
# Everything ldd resolves outside glibc and CUDA (the device brings its own of those).
for bin in build-gpu/sentembed build-gpu/tests/test_cuda_ops build-gpu/tests/test_cuda_backward build-gpu/tests/test_cuda_train; do
    ldd "$bin" | awk '/=> \// {print $3}'
done | sort -u | grep -vE '/(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so|libcuda|libcudart|libcublas' |
    while read -r lib; do cp -L "$lib" $pack/lib/; done
cp -r "$data/minilm-config" $pack/data/
cp "$data/stsb/sts-train.csv" $pack/data/
scripts/make_snli_jsonl.sh dev "$data" && cp data/snli-dev.jsonl data/snli-dev-triplets.jsonl $pack/data/
# Sentences: SNLI premises and hypotheses, and long Japanese lines that hit truncation.
{
    # (10,000 of them, what gpu_check.sh reads: the carry limit is 64 MiB and the pack is near it)
    cat "$data/nli/snli/s1.dev" "$data/nli/snli/s2.dev" "$data/nli/snli/s1.test" "$data/nli/snli/s2.test" | head -10000
    tr -d '\r' < "$data/unicode/wagahaiwa_nekodearu.txt" | awk 'length > 600 && n++ < 64'
} > $pack/data/sentences.txt
# sentence-transformers' trainer needs `datasets`, which the device's Python (3.12) lacks.
rm -rf .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
    datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
du -sh $pack/lib $pack/data $pack .whl
echo "ready: carry $pack and .whl, and run scripts/gpu_check.sh on the device"
