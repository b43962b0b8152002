#!/usr/bin/env python3
"""The peer of `sentembed encode`: sentence-transformers (PyTorch) encoding every line of a
file with a sentence-transformers model directory. Warms up on the first 64 sentences, then
times model.encode(sentences, batch_size=B) (tokenization, forward, pooling, normalization,
copy to numpy) and prints one JSON line. --output saves the embeddings as float32 .npy so
the runner can check that both sides computed the same thing.
usage: bench_encode_st.py --model DIR --input FILE [--batch-size 32] [--device cpu|cuda]
                          [--threads N] [--output FILE.npy]      (run with .venv-ref/bin/python)"""
import argparse
import json
import os
import time

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import numpy as np  # noqa: E402
import sentence_transformers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True, help="sentence-transformers model directory")
ap.add_argument("--input", required=True, help="text file, one sentence per line")
ap.add_argument("--batch-size", type=int, default=32)
ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's own choice)")
ap.add_argument("--output", help="write the embeddings here as float32 .npy")
ap.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                help="model weights and activations (sentence-transformers' default is float32)")
args = ap.parse_args()

if args.threads:
    torch.set_num_threads(args.threads)
if args.device == "cuda" and not torch.cuda.is_available():
    raise SystemExit("bench_encode_st.py: --device cuda but torch sees no GPU")

with open(args.input, "rb") as f:
    lines = f.read().split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
sentences = [line.decode("utf-8") for line in lines]
if not sentences:
    raise SystemExit("bench_encode_st.py: no sentences in %s" % args.input)

model = SentenceTransformer(args.model, device=args.device,
                            model_kwargs={"torch_dtype": getattr(torch, args.dtype)})
model.encode(sentences[:64], batch_size=args.batch_size, show_progress_bar=False)
if args.device == "cuda":
    torch.cuda.synchronize()
t0 = time.perf_counter()
emb = model.encode(sentences, batch_size=args.batch_size, convert_to_numpy=True, show_progress_bar=False)
if args.device == "cuda":
    torch.cuda.synchronize()
dt = time.perf_counter() - t0

if args.output:
    np.save(args.output, np.ascontiguousarray(emb, dtype=np.float32))
print(json.dumps({
    "impl": "sentence-transformers %s / torch %s (%s)" % (sentence_transformers.__version__, torch.__version__,
                                                          args.dtype),
    "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
    "threads": torch.get_num_threads(),
    "sentences": len(sentences),
    "batch_size": args.batch_size,
    "seconds": round(dt, 4),
    "sentences_per_s": round(len(sentences) / dt, 1),
}))
