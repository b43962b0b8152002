#!/usr/bin/env bash
# Creates .venv-ref/ in the repo root with the reference stack that the golden fixtures
# and the peer benchmarks are made with (sentence-transformers on PyTorch), all from
# PyPI at pinned versions. Idempotent: an existing venv that already has these exact
# versions is left alone; otherwise the missing/different packages are (re)installed.
# Python here is only for scripts/ and benchmarks/, never for the engine.
# PyPI's Linux torch wheel is the CUDA build (it pulls the nvidia-* runtime wheels,
# a few GB); a CPU-only wheel is not on PyPI under the name `torch`. It runs fine on a
# machine without a GPU.
# usage: scripts/setup_reference.sh        (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

TORCH=2.15.0
TRANSFORMERS=5.24.0
SENTENCE_TRANSFORMERS=6.2.0
TOKENIZERS=0.23.3
NUMPY=2.4.6
SAFETENSORS=0.8.0
DATASETS=5.2.0       # sentence-transformers' trainer, for benchmarks/bench_train_st.py
ACCELERATE=1.15.0
pins=(
    "torch==$TORCH"
    "transformers==$TRANSFORMERS"
    "sentence-transformers==$SENTENCE_TRANSFORMERS"
    "tokenizers==$TOKENIZERS"
    "numpy==$NUMPY"
    "safetensors==$SAFETENSORS"
    "datasets==$DATASETS"
    "accelerate==$ACCELERATE"
)

venv=.venv-ref
py=$venv/bin/python
if [ ! -x "$py" ]; then
    echo "creating $venv"
    "${PYTHON:-python3}" -m venv "$venv"
fi

# Already satisfied? (pip would also say so, but only after resolving everything.)
if "$py" - "${pins[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
then
    echo "$venv already has the pinned versions"
else
    echo "installing into $venv: ${pins[*]}"
    "$py" -m pip install --quiet --upgrade pip
    "$py" -m pip install --quiet "${pins[@]}"
fi

"$py" - <<'PY'
import numpy, safetensors, tokenizers, torch, transformers, sentence_transformers
print("reference stack in .venv-ref:")
for m in (torch, transformers, sentence_transformers, tokenizers, numpy, safetensors):
    print("  %-22s %s" % (m.__name__.replace("_", "-"), m.__version__))
print("  %-22s %s (cuda available: %s)" % ("torch build", torch.version.cuda and "cuda " + torch.version.cuda or "cpu",
                                          torch.cuda.is_available()))
PY
