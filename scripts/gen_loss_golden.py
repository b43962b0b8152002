#!/usr/bin/env python3
"""Golden loss values and gradients for tests/test_loss.c, in float64 with torch autograd,
through sentence-transformers' own loss classes where they take embeddings directly
(compute_loss_from_embeddings: MNRL, CosineSimilarity, CoSENT, Contrastive) and through
the formulas the engine must follow where the issue pins them: TripletLoss as
sentence-transformers v4 computes it (torch.nn.functional.pairwise_distance, eps 1e-6),
SoftmaxLoss's classifier on concat(u, v, |u - v|) (its weights are inputs here).
Writes tests/fixtures/loss/losses.txt: one record per case,
  case NAME B D [params...]
  tensor NAME n v1 v2 ...      (inputs, then "grad_<input>" tensors, then "loss 1 value")
Usage: .venv-ref/bin/python scripts/gen_loss_golden.py
"""
import os

import torch
import torch.nn.functional as F
from sentence_transformers import losses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "loss", "losses.txt")
torch.manual_seed(7)
B, D = 6, 5


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float64) * scale).requires_grad_()


def record(f, name, params, inputs, loss):
    loss.backward()
    f.write("case %s %d %d %s\n" % (name, B, D, " ".join(str(p) for p in params)))
    for key, t in inputs.items():
        f.write("tensor %s %d %s\n" % (key, t.numel(), " ".join(repr(float(x)) for x in t.detach().flatten())))
    for key, t in inputs.items():
        if t.requires_grad:
            f.write("tensor grad_%s %d %s\n" % (key, t.numel(), " ".join(repr(float(x)) for x in t.grad.flatten())))
    f.write("tensor loss 1 %r\n" % float(loss))


def main():
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        # TripletLoss, v4 formula, margin 5; scale chosen so some triplets are inactive
        for metric, name in ((0, "euclidean"), (1, "cosine"), (2, "manhattan")):
            a, p, n = leaf(B, D), leaf(B, D), leaf(B, D)
            if metric == 1:
                dist = lambda x, y: 1 - F.cosine_similarity(x, y)  # noqa: E731
                margin = 0.5
            else:
                dist = lambda x, y, q=2 if metric == 0 else 1: F.pairwise_distance(x, y, p=q)  # noqa: E731
                margin = 5 if metric == 0 else 3
            loss = F.relu(dist(a, p) - dist(a, n) + margin).mean()
            record(f, "triplet_" + name, [metric, margin], {"a": a, "p": p, "n": n}, loss)
        # MultipleNegativesRankingLoss, scale 20, one column of hard negatives
        a, pos, neg = leaf(B, D), leaf(B, D), leaf(B, D)
        mnrl = losses.MultipleNegativesRankingLoss(model=None)
        loss = mnrl.compute_loss_from_embeddings([a, pos, neg], None)
        cand = torch.cat([pos, neg]).detach().requires_grad_()
        a2 = a.detach().clone().requires_grad_()
        loss2 = losses.MultipleNegativesRankingLoss(model=None).compute_loss_from_embeddings([a2, cand[:B], cand[B:]], None)
        assert abs(float(loss) - float(loss2)) < 1e-12
        record(f, "mnrl", [1, 20.0], {"a": a2, "cand": cand}, loss2)
        # float32-representable: CosineSimilarityLoss casts labels with .float()
        labels = torch.rand(B).to(torch.float64)
        u, v = leaf(B, D), leaf(B, D)
        loss = losses.CosineSimilarityLoss(model=None).compute_loss_from_embeddings([u, v], labels)
        record(f, "cosine_similarity", [], {"u": u, "v": v, "labels": labels}, loss)
        u, v = leaf(B, D), leaf(B, D)
        loss = losses.CoSENTLoss(model=None).compute_loss_from_embeddings([u, v], labels)
        record(f, "cosent", [20.0], {"u": u, "v": v, "labels": labels}, loss)
        binary = torch.tensor([1, 0, 1, 1, 0, 0], dtype=torch.float64)
        u, v = leaf(B, D, scale=0.3), leaf(B, D, scale=0.3)
        loss = losses.ContrastiveLoss(model=None).compute_loss_from_embeddings([u, v], binary)
        record(f, "contrastive", [0.5], {"u": u, "v": v, "labels": binary}, loss)
        # OnlineContrastiveLoss: binary labels, cosine distance, margin 0.5 (a sum over hard pairs)
        u, v = leaf(B, D, scale=0.3), leaf(B, D, scale=0.3)
        loss = losses.OnlineContrastiveLoss(model=None).compute_loss_from_embeddings([u, v], binary)
        record(f, "online_contrastive", [0.5], {"u": u, "v": v, "labels": binary}, loss)
        # BatchHardTripletLoss: one column, class labels (every anchor has a positive and a negative)
        e = leaf(B, D)
        classes = torch.tensor([0, 1, 0, 2, 1, 2], dtype=torch.float64)
        loss = losses.BatchHardTripletLoss(model=None).compute_loss_from_embeddings([e], classes)
        record(f, "batch_hard_triplet", [5], {"e": e, "labels": classes}, loss)
        # SoftmaxLoss: nn.Linear(3D, 3) on concat(u, v, |u - v|), cross entropy
        u, v = leaf(B, D), leaf(B, D)
        W, b = leaf(3, 3 * D, scale=0.5), leaf(3, scale=0.5)
        y = torch.tensor([0, 2, 1, 1, 0, 2])
        logits = torch.cat([u, v, (u - v).abs()], 1) @ W.T + b
        loss = F.cross_entropy(logits, y)
        record(f, "softmax", [3], {"u": u, "v": v, "W": W, "b": b, "labels": y.to(torch.float64)}, loss)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
