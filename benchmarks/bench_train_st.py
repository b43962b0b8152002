#!/usr/bin/env python3
"""The peer of `sentembed train` for benchmarks/train.sh and scripts/gpu_check.sh:
sentence-transformers' fit (SentenceTransformerTrainer) with AdamW, linear warmup 10%,
weight decay 0.01, clipping at 1, on the CPU (N threads) or a GPU; then, for STS-B data,
the STS-B dev Spearman of the result. Prints one JSON line with the throughput (and the
peak GPU memory torch allocated, on a GPU).

Data: --train FILE with --format stsb (the STS-B TSV: sentence columns 5 and 6, score / 5),
or --format jsonl --columns a,b[,c] [--label KEY] (SNLI pairs with integer labels for
SoftmaxLoss, triplets for TripletLoss / MNRL).
usage: bench_train_st.py --model DIR --train FILE [--format stsb|jsonl] [--columns ...]
       [--label KEY] [--loss cosine_similarity|softmax|mnrl|triplet] [--dev sts-dev.csv]
       [--device cpu|cuda] [--bf16] [--threads N] [--batch-size 16] [--max-steps N]
       [--max-seq-length N] [--steady-from STEP]
--steady-from STEP also reports steady_pairs_per_s: the rate over the steps after STEP, so
that the first steps' warm-up (allocator growth, kernel selection) stays out of it."""
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
from transformers import TrainerCallback  # noqa: E402


class SteadyClock(TrainerCallback):
    """The wall time at the end of step `start` and of the last step (the GPU drained)."""

    def __init__(self, start):
        self.start, self.t_start, self.t_end, self.steps = start, None, None, 0

    def on_step_end(self, args, state, control, **kwargs):
        # Synchronize only at the two ends, so the GPU queue runs as it would untimed.
        if state.global_step not in (self.start, state.max_steps):
            return
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if state.global_step == self.start:
            self.t_start = time.perf_counter()
        self.t_end, self.steps = time.perf_counter(), state.global_step


def read_stsb(path):
    rows = [line.split("\t") for line in open(path, encoding="utf-8").read().split("\n") if line]
    return [r[5] for r in rows], [r[6] for r in rows], [float(r[4]) / 5 for r in rows]


ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--train", required=True)
ap.add_argument("--format", choices=["stsb", "jsonl"], default="stsb")
ap.add_argument("--columns", default="")
ap.add_argument("--label", default="")
ap.add_argument("--loss", choices=["cosine_similarity", "softmax", "mnrl", "triplet"], default="cosine_similarity")
ap.add_argument("--dev", default="")
ap.add_argument("--device", default="cpu")
ap.add_argument("--bf16", action="store_true")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--batch-size", type=int, default=16)
ap.add_argument("--max-steps", type=int, default=-1)
ap.add_argument("--max-seq-length", type=int, default=0)
ap.add_argument("--steady-from", type=int, default=0)
ap.add_argument("--output", default="/tmp/bench-train-st")
args = ap.parse_args()
torch.set_num_threads(args.threads)

if args.format == "stsb":
    s1, s2, y = read_stsb(args.train)
    train = Dataset.from_dict({"sentence1": s1, "sentence2": s2, "score": y})
else:
    cols = args.columns.split(",")
    rows = [json.loads(line) for line in open(args.train, encoding="utf-8") if line.strip()]
    if args.label:
        rows = [r for r in rows if int(r[args.label]) >= 0]
    d = {"c%d" % i: [r[c] for r in rows] for i, c in enumerate(cols)}
    if args.label:
        d["label"] = [int(r[args.label]) for r in rows]
    train = Dataset.from_dict(d)
n_rows = len(train)
model = SentenceTransformer(args.model, device=args.device)
if args.max_seq_length:
    model.max_seq_length = args.max_seq_length
if args.loss == "cosine_similarity":
    loss = losses.CosineSimilarityLoss(model)
elif args.loss == "softmax":
    loss = losses.SoftmaxLoss(model, model.get_sentence_embedding_dimension(), num_labels=3)
elif args.loss == "mnrl":
    loss = losses.MultipleNegativesRankingLoss(model)
else:
    loss = losses.TripletLoss(model)
targs = SentenceTransformerTrainingArguments(
    output_dir=args.output, num_train_epochs=1, per_device_train_batch_size=args.batch_size, learning_rate=2e-5,
    warmup_ratio=0.1, lr_scheduler_type="linear", weight_decay=0.01, max_grad_norm=1.0, seed=42,
    max_steps=args.max_steps, save_strategy="no", logging_steps=100000, report_to=[],
    use_cpu=args.device == "cpu", bf16=args.bf16, dataloader_drop_last=False)
clock = SteadyClock(args.steady_from)
trainer = SentenceTransformerTrainer(model=model, args=targs, train_dataset=train, loss=loss,
                                     callbacks=[clock] if args.steady_from else None)
if args.device != "cpu":
    torch.cuda.reset_peak_memory_stats()
t0 = time.perf_counter()
trainer.train()
if args.device != "cpu":
    torch.cuda.synchronize()
dt = time.perf_counter() - t0
steps = trainer.state.global_step
pairs = steps * args.batch_size if args.max_steps > 0 else n_rows
result = {"impl": "sentence-transformers fit / torch %s" % torch.__version__, "device": args.device,
          "bf16": args.bf16, "threads": torch.get_num_threads(), "loss": args.loss, "batch_size": args.batch_size,
          "steps": steps, "pairs": pairs, "seconds": round(dt, 2), "pairs_per_s": round(pairs / dt, 1)}
if clock.t_start is not None and clock.steps > args.steady_from:
    result["steady_pairs_per_s"] = round(
        (clock.steps - args.steady_from) * args.batch_size / (clock.t_end - clock.t_start), 1)
if args.device != "cpu":
    result["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
if args.dev:
    d1, d2, dy = read_stsb(args.dev)
    result["dev_spearman_cosine"] = round(
        EmbeddingSimilarityEvaluator(d1, d2, dy, name="dev")(model)["dev_spearman_cosine"], 4)
print(json.dumps(result))
