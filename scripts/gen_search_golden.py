#!/usr/bin/env python3
"""Golden results of sentence_transformers.util.semantic_search for `sentembed search`:
the tiny random BERT with mean pooling (tests/fixtures/encoder: tiny-bert + variants/mean),
the first 40 sentences of tests/fixtures/encoder/sentences.sh as queries and the next 600
as the corpus, top_k 5. Writes tests/fixtures/encoder/search_tiny_mean.jsonl in the format
of `sentembed search --jsonl`. Run after gen_encoder_golden.py, with .venv-ref/bin/python.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer, util  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "encoder")
N_QUERIES, N_CORPUS, TOP_K = 40, 600, 5


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
    raw = subprocess.run(["sh", os.path.join(FIX, "sentences.sh")], cwd=data, check=True,
                         stdout=subprocess.PIPE).stdout.decode("utf-8").split("\n")
    sentences = [s for s in raw if s][: N_QUERIES + N_CORPUS]
    queries, corpus = sentences[:N_QUERIES], sentences[N_QUERIES:]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = os.path.join(tmp, "model")
        shutil.copytree(os.path.join(FIX, "tiny-bert"), model_dir)
        shutil.copytree(os.path.join(FIX, "variants", "mean"), model_dir, dirs_exist_ok=True)
        model = SentenceTransformer(model_dir, device="cpu")
        q = model.encode(queries, batch_size=32, convert_to_tensor=True)
        c = model.encode(corpus, batch_size=32, convert_to_tensor=True)
        hits = util.semantic_search(q, c, top_k=TOP_K)
    with open(os.path.join(FIX, "search_tiny_mean.jsonl"), "w") as f:
        for i, h in enumerate(hits):
            f.write(json.dumps({"query": i, "hits": [{"corpus_id": x["corpus_id"], "score": round(x["score"], 6)}
                                                     for x in h]}) + "\n")
    print("wrote search_tiny_mean.jsonl: %d queries x top %d over %d documents" % (len(queries), TOP_K, len(corpus)))


if __name__ == "__main__":
    main()
