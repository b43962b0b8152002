#!/usr/bin/env python3
"""Golden evaluator results for tests/cli_eval.sh from sentence-transformers' own
EmbeddingSimilarityEvaluator (STS-B dev, cosine Pearson/Spearman) and TripletEvaluator
(SNLI triplets made by tests/fixtures/eval/snli_triplets.sh, cosine accuracy), on the tiny
random BERT with mean pooling (tests/fixtures/encoder: tiny-bert + variants/mean) and, if
installed, all-MiniLM-L6-v2. Writes tests/fixtures/eval/golden.txt ("NAME METRIC VALUE").
Usage: .venv-ref/bin/python scripts/gen_eval_golden.py [SHARED_DATA_DIR]
"""
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator, TripletEvaluator  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
    s1, s2, gold = [], [], []
    with open(os.path.join(data, "stsb", "sts-dev.csv"), encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if line:
                cols = line.split("\t")
                s1.append(cols[5]), s2.append(cols[6]), gold.append(float(cols[4]) / 5)
    raw = subprocess.run(["sh", os.path.join(FIX, "eval", "snli_triplets.sh")], cwd=data, check=True,
                         stdout=subprocess.PIPE).stdout.decode("utf-8")
    trip = [line.split("\t") for line in raw.split("\n") if line]
    sim_eval = EmbeddingSimilarityEvaluator(s1, s2, gold, name="stsb", batch_size=32)
    trip_eval = TripletEvaluator([t[0] for t in trip], [t[1] for t in trip], [t[2] for t in trip], name="snli",
                                 batch_size=32)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        tiny = os.path.join(tmp, "tiny")
        shutil.copytree(os.path.join(FIX, "encoder", "tiny-bert"), tiny)
        shutil.copytree(os.path.join(FIX, "encoder", "variants", "mean"), tiny, dirs_exist_ok=True)
        models = [("tiny_mean", tiny)]
        minilm = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
        if os.path.exists(os.path.join(minilm, "model.safetensors")):
            models.append(("minilm", minilm))
        for name, path in models:
            model = SentenceTransformer(path, device="cpu")
            sim = sim_eval(model)
            acc = trip_eval(model)
            out.append("%s pearson_cosine %.8f" % (name, sim["stsb_pearson_cosine"]))
            out.append("%s spearman_cosine %.8f" % (name, sim["stsb_spearman_cosine"]))
            out.append("%s accuracy_cosine %.8f" % (name, acc["snli_cosine_accuracy"]))
    with open(os.path.join(FIX, "eval", "golden.txt"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
