#!/usr/bin/env python3
"""Golden values for tests/test_optimizer.c from the reference stack: learning-rate
factors of transformers' get_*_schedule(_with_warmup) (the five schedules
sentence-transformers names), torch.optim.AdamW steps in float32 with a decayed and a
non-decayed parameter group, and torch.nn.utils.clip_grad_norm_.
Writes tests/fixtures/optimizer/golden.json. Usage: .venv-ref/bin/python scripts/gen_optimizer_golden.py
"""
import json
import os

import torch
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "optimizer", "golden.json")
WARMUP, TOTAL = 10, 100


def schedule_factors(make):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = make(opt)
    factors = []
    for _ in range(TOTAL + 10):
        factors.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return factors


def main():
    torch.manual_seed(3)
    out = {"schedules": [], "reference": "torch %s, transformers %s" % (torch.__version__, transformers.__version__)}
    makers = {
        "constantlr": lambda o: transformers.get_constant_schedule(o),
        "warmupconstant": lambda o: transformers.get_constant_schedule_with_warmup(o, WARMUP),
        "warmuplinear": lambda o: transformers.get_linear_schedule_with_warmup(o, WARMUP, TOTAL),
        "warmupcosine": lambda o: transformers.get_cosine_schedule_with_warmup(o, WARMUP, TOTAL),
        "warmupcosinewithhardrestarts": lambda o: transformers.get_cosine_with_hard_restarts_schedule_with_warmup(
            o, WARMUP, TOTAL),
    }
    for name, make in makers.items():
        out["schedules"].append({"name": name, "warmup": WARMUP, "total": TOTAL, "factors": schedule_factors(make)})

    # AdamW: two groups (weight decay 0.01 and 0), lr 1e-3 scheduled by warmuplinear(2, 6)
    decayed = torch.nn.Parameter(torch.randn(40))
    plain = torch.nn.Parameter(torch.randn(24))
    init = [decayed.detach().clone().tolist(), plain.detach().clone().tolist()]
    opt = torch.optim.AdamW([{"params": [decayed], "weight_decay": 0.01}, {"params": [plain], "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    sched = transformers.get_linear_schedule_with_warmup(opt, 2, 6)
    steps = []
    for _ in range(6):
        g1, g2 = torch.randn(40) * 0.1, torch.randn(24) * 3
        lr = opt.param_groups[0]["lr"]
        decayed.grad, plain.grad = g1.clone(), g2.clone()
        opt.step()
        sched.step()
        steps.append({"lr": lr, "grads": [g1.tolist(), g2.tolist()],
                      "params": [decayed.detach().tolist(), plain.detach().tolist()]})
    out["adamw"] = {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": [0.01, 0.0], "init": init, "steps": steps}

    # clip_grad_norm_(max_norm=1) over two tensors, once above and once below the limit
    clips = []
    for scale in (2.0, 0.01):
        a, b = torch.nn.Parameter(torch.zeros(7)), torch.nn.Parameter(torch.zeros(5))
        a.grad, b.grad = torch.randn(7) * scale, torch.randn(5) * scale
        before = [a.grad.tolist(), b.grad.tolist()]
        norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
        clips.append({"grads": before, "norm": float(norm), "clipped": [a.grad.tolist(), b.grad.tolist()]})
    out["clip"] = clips
    with open(OUT, "w") as f:
        json.dump(out, f)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
