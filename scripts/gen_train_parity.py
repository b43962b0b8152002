#!/usr/bin/env python3
"""Golden training trajectories for tests/test_train_parity.c: 50 optimizer steps of
sentence-transformers training on the tiny random BERT of tests/fixtures/encoder (tiny-bert
+ variants/mean: BERT -> mean pooling), in float32 on the CPU, with dropout off
(model.eval(): BERT has no other train/eval difference), for TripletLoss, SoftmaxLoss,
MultipleNegativesRankingLoss (with a hard-negative column) and CosineSimilarityLoss.

The loop is what SentenceTransformerTrainer (sentence-transformers' fit) runs per step,
written out so the batches come in a fixed order:
  loss = loss_module(features of each column, labels); loss.backward()
  clip_grad_norm_(model.parameters(), 1.0)       (the model's, not the loss's classifier)
  AdamW step (torch.optim.AdamW, betas 0.9/0.999, eps 1e-8, weight decay 0.01 except on
  biases and LayerNorm parameters, groups over the loss module's parameters as
  SentenceTransformerTrainer.get_optimizer_cls_and_kwargs builds them), then the
  warmuplinear schedule (transformers.get_linear_schedule_with_warmup).

Data (8 rows a step, 400 rows a loss): SNLI dev triplets (premise, first entailment, first
contradiction) for TripletLoss and MNRL; SNLI dev pairs with their labels for SoftmaxLoss;
STS-B train pairs with score / 5 for CosineSimilarityLoss.

Writes tests/fixtures/train/parity_LOSS.txt:
  lr LR / warmup N / steps N / rows N / columns N
  text STEP COLUMN SENTENCE      (per step, column-major)
  label STEP V V ...             (per step, when the loss has labels)
  classifier W|B i:v ...         (SoftmaxLoss: its initial weights, all of them)
  step_loss STEP VALUE
  final NAME NUMEL NORM DELTA_NORM i:v ...   (final BertModel weights: norm, norm of the
                                              change from the start, value at the entry
                                              that changed most and at 16 fixed entries)
Usage: .venv-ref/bin/python scripts/gen_train_parity.py [SHARED_DATA_DIR]
"""
import os
import shutil
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer, losses  # noqa: E402
from transformers import get_linear_schedule_with_warmup  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
STEPS, ROWS, LR, WARMUP = 50, 8, 2e-4, 5
LABEL_IDS = {"entailment": 0, "neutral": 1, "contradiction": 2}


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").replace("\r", "") for line in f]


def snli(data):
    d = os.path.join(data, "nli", "snli")
    return read_lines(os.path.join(d, "s1.dev")), read_lines(os.path.join(d, "s2.dev")), \
        read_lines(os.path.join(d, "labels.dev"))


def snli_triplets(data, n):
    s1, s2, lab = snli(data)
    order, pos, neg = [], {}, {}
    for p, h, y in zip(s1, s2, lab):
        if p not in pos and p not in neg and p not in order:
            order.append(p)
        if y == "entailment":
            pos.setdefault(p, h)
        if y == "contradiction":
            neg.setdefault(p, h)
    rows = [(p, pos[p], neg[p]) for p in order if p in pos and p in neg]
    return rows[:n]


def snli_pairs(data, n):
    s1, s2, lab = snli(data)
    return [((p, h), LABEL_IDS[y]) for p, h, y in zip(s1, s2, lab)][:n]


def stsb_pairs(data, n):
    rows = []
    for line in read_lines(os.path.join(data, "stsb", "sts-train.csv")):
        f = line.split("\t")
        rows.append(((f[5], f[6]), float(f[4]) / 5.0))
    return rows[:n]


def train(kind, model_dir, rows, labels, out):
    torch.manual_seed(1234)
    model = SentenceTransformer(model_dir, device="cpu")
    model.eval()  # dropout off
    if kind == "triplet":
        loss = losses.TripletLoss(model)  # euclidean, margin 5
    elif kind == "mnrl":
        loss = losses.MultipleNegativesRankingLoss(model)  # scale 20, cosine
    elif kind == "cosine_similarity":
        loss = losses.CosineSimilarityLoss(model)
    else:
        loss = losses.SoftmaxLoss(model, model.get_sentence_embedding_dimension(), num_labels=3)
    bert = model[0].auto_model
    start = {n: p.detach().clone() for n, p in bert.named_parameters()}
    no_decay = lambda n: "bias" in n or "LayerNorm" in n  # noqa: E731
    groups = [{"params": [p for n, p in loss.named_parameters() if not no_decay(n)], "weight_decay": 0.01},
              {"params": [p for n, p in loss.named_parameters() if no_decay(n)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=LR, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, WARMUP, STEPS)
    columns = len(rows[0])
    with open(out, "w", encoding="utf-8") as f:
        f.write("lr %r\nwarmup %d\nsteps %d\nrows %d\ncolumns %d\n" % (LR, WARMUP, STEPS, ROWS, columns))
        if kind == "softmax":
            W, b = loss.classifier.weight.detach().flatten(), loss.classifier.bias.detach()
            f.write("classifier W %s\n" % " ".join("%r" % float(v) for v in W))
            f.write("classifier B %s\n" % " ".join("%r" % float(v) for v in b))
        for s in range(STEPS):
            batch = rows[s * ROWS:(s + 1) * ROWS]
            for c in range(columns):
                for r in batch:
                    f.write("text %d %d %s\n" % (s, c, r[c]))
            y = None
            if labels is not None:
                lab = labels[s * ROWS:(s + 1) * ROWS]
                f.write("label %d %s\n" % (s, " ".join("%r" % float(v) for v in lab)))
                y = torch.tensor(lab, dtype=torch.long if kind == "softmax" else torch.float32)
            features = [model.tokenize([r[c] for r in batch]) for c in range(columns)]
            value = loss(features, y)
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            f.write("step_loss %d %r\n" % (s, float(value)))
        for name, p in bert.named_parameters():
            if name.startswith("pooler."):
                continue
            w = p.detach().flatten()
            delta = w - start[name].flatten()
            picks = sorted({int(delta.abs().argmax())} | {(k * 7919) % w.numel() for k in range(16)})
            f.write("final %s %d %r %r %s\n" % (name, w.numel(), float(w.norm()), float(delta.norm()),
                                               " ".join("%d:%r" % (i, float(w[i])) for i in picks)))
    print("wrote", out, "first/last loss", float(value))


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
    n = STEPS * ROWS
    triplets = snli_triplets(data, n)
    pairs = snli_pairs(data, n)
    sts = stsb_pairs(data, n)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = os.path.join(tmp, "model")
        shutil.copytree(os.path.join(FIX, "encoder", "tiny-bert"), model_dir)
        shutil.copytree(os.path.join(FIX, "encoder", "variants", "mean"), model_dir, dirs_exist_ok=True)
        out = os.path.join(FIX, "train")
        train("triplet", model_dir, triplets, None, os.path.join(out, "parity_triplet.txt"))
        train("mnrl", model_dir, triplets, None, os.path.join(out, "parity_mnrl.txt"))
        train("softmax", model_dir, [r for r, _ in pairs], [y for _, y in pairs], os.path.join(out, "parity_softmax.txt"))
        train("cosine_similarity", model_dir, [r for r, _ in sts], [y for _, y in sts],
              os.path.join(out, "parity_cosine_similarity.txt"))


if __name__ == "__main__":
    main()
