#!/usr/bin/env python3
"""Throughput of a `sentembed train` run from its metrics.jsonl (log lines carry the
cumulative `samples` and `elapsed_s`), and, for fixed-length sequences, the model FLOPs
utilization (MFU) of that rate. Prints one JSON line.

steady_samples_per_s is the rate between the first logged step at or after --steady-from
and the last one: the first steps' warm-up (allocations, GEMM algorithm selection) stays out.

MFU counts only the matrix products of a BERT encoder, as is usual: per token in training
(forward + backward = 3x forward) 6 * 12 * hidden^2 * layers for the linear layers, plus
3 * 4 * seq * hidden * layers for the attention scores and the weighted sum.
usage: train_rate.py METRICS [--steady-from STEP] [--rate R] [--tokens-per-sample T --seq L
       --hidden H --layers N --peak-tflops P]       (--rate: take R samples/s, e.g. the peer's)"""
import argparse
import json

ap = argparse.ArgumentParser()
ap.add_argument("metrics", nargs="?")
ap.add_argument("--steady-from", type=int, default=0)
ap.add_argument("--rate", type=float, default=0)
ap.add_argument("--tokens-per-sample", type=int, default=0)
ap.add_argument("--seq", type=int, default=128)
ap.add_argument("--hidden", type=int, default=768)
ap.add_argument("--layers", type=int, default=12)
ap.add_argument("--peak-tflops", type=float, default=989.4)  # H100 SXM, dense bf16
args = ap.parse_args()

out = {}
rate = args.rate
if args.metrics:
    lines = [json.loads(l) for l in open(args.metrics) if '"samples"' in l]
    if not lines:
        raise SystemExit("%s: no step lines with samples/elapsed_s" % args.metrics)
    last = lines[-1]
    out = {"steps": last["step"], "samples": last["samples"], "seconds": round(last["elapsed_s"], 3),
           "samples_per_s": round(last["samples"] / last["elapsed_s"], 1)}
    first = next((l for l in lines if l["step"] >= args.steady_from), None)
    if args.steady_from and first is not None and last["step"] > first["step"]:
        rate = (last["samples"] - first["samples"]) / (last["elapsed_s"] - first["elapsed_s"])
        out["steady_samples_per_s"] = round(rate, 1)
    elif not rate:
        rate = out["samples_per_s"]
if args.tokens_per_sample and rate:
    flops_per_token = 6 * 12 * args.hidden ** 2 * args.layers + 3 * 4 * args.seq * args.hidden * args.layers
    tflops = rate * args.tokens_per_sample * flops_per_token / 1e12
    out["model_tflops"] = round(tflops, 1)
    out["mfu"] = round(tflops / args.peak_tflops, 4)
print(json.dumps(out))
