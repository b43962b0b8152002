#!/usr/bin/env python3
"""The peer of bench_tokenizer.c: Hugging Face `tokenizers` (what sentence-transformers
uses), encode_batch over every line of a file in batches, single texts, max length 512.
Threads: set RAYON_NUM_THREADS before starting (benchmarks/tokenizer.sh does).
usage: bench_tokenizer_hf.py --model DIR --input FILE [--batch LINES]"""
import argparse
import json
import os
import time

import tokenizers
from tokenizers import Tokenizer

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--input", required=True)
ap.add_argument("--batch", type=int, default=10000)
args = ap.parse_args()

tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
tok.no_padding()
tok.enable_truncation(max_length=512)
raw = open(args.input, "rb").read()
lines = raw.decode("utf-8").split("\n")
if lines and lines[-1] == "":
    lines.pop()
tokens = 0
t0 = time.perf_counter()
for i in range(0, len(lines), args.batch):
    tokens += sum(len(e.ids) for e in tok.encode_batch(lines[i:i + args.batch]))
dt = time.perf_counter() - t0
print(json.dumps({"impl": "tokenizers %s" % tokenizers.__version__,
                  "threads": int(os.environ.get("RAYON_NUM_THREADS", os.cpu_count())),
                  "lines": len(lines), "bytes": len(raw), "tokens": tokens,
                  "seconds": round(dt, 4), "tokens_per_s": round(tokens / dt)}))
