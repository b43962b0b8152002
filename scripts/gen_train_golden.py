#!/usr/bin/env python3
"""Golden gradients of a whole training step for tests/test_train_grad.c: the tiny random
BERT of tests/fixtures/encoder (tiny-bert + variants/mean: BERT -> mean pooling), in
float64 with dropout off, on 8 (anchor, positive) pairs of SICK sentences, with
sentence-transformers' MultipleNegativesRankingLoss (scale 20). For every BertModel
parameter it records the gradient's L2 norm and its value at the largest entry and at 16
fixed positions. Writes tests/fixtures/train/mnrl_tiny_mean.txt:
  text SENTENCE            (anchors, then positives)
  loss VALUE
  grad NAME NUMEL NORM i:v i:v ...
Usage: .venv-ref/bin/python scripts/gen_train_golden.py [SHARED_DATA_DIR]
"""
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer, losses  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIX, "train", "mnrl_tiny_mean.txt")
PAIRS = 8


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
    raw = subprocess.run(["sh", os.path.join(FIX, "encoder", "sentences.sh")], cwd=data, check=True,
                         stdout=subprocess.PIPE).stdout.decode("utf-8").split("\n")
    anchors, positives = raw[:PAIRS], raw[125:125 + PAIRS]  # SICK sentence A / sentence B of the same pairs
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = os.path.join(tmp, "model")
        shutil.copytree(os.path.join(FIX, "encoder", "tiny-bert"), model_dir)
        shutil.copytree(os.path.join(FIX, "encoder", "variants", "mean"), model_dir, dirs_exist_ok=True)
        model = SentenceTransformer(model_dir, device="cpu").double()
        model.eval()  # no dropout: the engine's gradient check runs without it
        embed = []
        for texts in (anchors, positives):
            features = model.tokenize(texts)
            embed.append(model(features)["sentence_embedding"])
        loss = losses.MultipleNegativesRankingLoss(model=model).compute_loss_from_embeddings(embed, None)
        loss.backward()
        bert = model[0].auto_model
        with open(OUT, "w") as f:
            for t in anchors + positives:
                f.write("text %s\n" % t)
            f.write("loss %r\n" % float(loss))
            for name, p in bert.named_parameters():
                if p.grad is None:
                    continue
                g = p.grad.detach().flatten()
                picks = sorted({int(g.abs().argmax())} | {(k * 7919) % g.numel() for k in range(16)})
                f.write("grad %s %d %r %s\n" % (name, g.numel(), float(g.norm()),
                                                " ".join("%d:%r" % (i, float(g[i])) for i in picks)))
    print("wrote", OUT, "loss", float(loss))


if __name__ == "__main__":
    main()
