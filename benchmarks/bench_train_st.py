#!/usr/bin/env python3
"""The peer of `sentembed train` for benchmarks/train.sh: sentence-transformers' fit
(SentenceTransformerTrainer) on STS-B train with CosineSimilarityLoss, batch 16, AdamW
lr 2e-5, linear warmup 10%, one epoch, on the CPU with N threads; then the STS-B dev
Spearman of the result. Prints one JSON line.
usage: bench_train_st.py --model DIR --train sts-train.csv --dev sts-dev.csv [--threads N] [--max-steps N]"""
import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,  # noqa: E402
                                   SentenceTransformerTrainingArguments, losses)
from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator  # noqa: E402


def read_stsb(path):
    rows = [line.split("\t") for line in open(path, encoding="utf-8").read().split("\n") if line]
    return [r[5] for r in rows], [r[6] for r in rows], [float(r[4]) / 5 for r in rows]


ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--train", required=True)
ap.add_argument("--dev", required=True)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--max-steps", type=int, default=-1)
ap.add_argument("--output", default="/tmp/bench-train-st")
args = ap.parse_args()
torch.set_num_threads(args.threads)

s1, s2, y = read_stsb(args.train)
train = Dataset.from_dict({"sentence1": s1, "sentence2": s2, "score": y})
model = SentenceTransformer(args.model, device="cpu")
loss = losses.CosineSimilarityLoss(model)
targs = SentenceTransformerTrainingArguments(
    output_dir=args.output, num_train_epochs=1, per_device_train_batch_size=16, learning_rate=2e-5,
    warmup_ratio=0.1, lr_scheduler_type="linear", weight_decay=0.01, max_grad_norm=1.0, seed=42,
    max_steps=args.max_steps, save_strategy="no", logging_steps=1000, report_to=[], use_cpu=True,
    dataloader_drop_last=False)
trainer = SentenceTransformerTrainer(model=model, args=targs, train_dataset=train, loss=loss)
t0 = time.perf_counter()
trainer.train()
dt = time.perf_counter() - t0
d1, d2, dy = read_stsb(args.dev)
spearman = EmbeddingSimilarityEvaluator(d1, d2, dy, name="dev")(model)["dev_spearman_cosine"]
steps = trainer.state.global_step
print(json.dumps({"impl": "sentence-transformers fit / torch %s" % torch.__version__, "threads": torch.get_num_threads(),
                  "steps": steps, "pairs": steps * 16 if args.max_steps > 0 else len(s1), "seconds": round(dt, 2),
                  "pairs_per_s": round((steps * 16 if args.max_steps > 0 else len(s1)) / dt, 1),
                  "dev_spearman_cosine": round(spearman, 4)}))
