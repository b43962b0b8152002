#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, only those missing.
# (CUDA is optional: nvcc, when present, comes with the CUDA toolkit, not from here.)
set -euo pipefail
packages=(build-essential cmake pkg-config libutf8proc-dev libcjson-dev zlib1g-dev libopenblas-openmp-dev libssl-dev libopenmpi-dev openmpi-bin xz-utils "$@")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
