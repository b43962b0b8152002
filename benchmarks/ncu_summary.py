#!/usr/bin/env python3
"""Where GPU time goes, from an Nsight Compute CSV of gpu__time_duration.sum per kernel
(`ncu --csv --page raw --metrics gpu__time_duration.sum --log-file F ...`): kernels grouped by
name, with launches, total time, share, and the total divided by --steps. Prints a table.
usage: ncu_summary.py NCU_CSV [--steps N] [--top 30]"""
import argparse
import collections
import csv
import re

ap = argparse.ArgumentParser()
ap.add_argument("csv")
ap.add_argument("--steps", type=int, default=1)
ap.add_argument("--top", type=int, default=30)
args = ap.parse_args()

SCALE = {"ns": 1e-6, "nsecond": 1e-6, "us": 1e-3, "usecond": 1e-3, "ms": 1.0, "msecond": 1.0, "s": 1e3, "second": 1e3}
rows = [r for r in csv.reader(open(args.csv, errors="replace")) if r]
head = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
cols = rows[head]
name_i = cols.index("Kernel Name")
time_i = cols.index("gpu__time_duration.sum")
unit = rows[head + 1][time_i].strip() if head + 1 < len(rows) else "ns"
start = head + 2 if unit in SCALE else head + 1
scale = SCALE.get(unit, 1e-6)
total = collections.Counter()
launches = collections.Counter()
for r in rows[start:]:
    if len(r) <= max(name_i, time_i):
        continue
    try:
        ms = float(r[time_i].replace(",", "")) * scale
    except ValueError:
        continue
    # Template arguments and parameter lists make every GEMM configuration its own name.
    name = re.sub(r"\(.*$", "", r[name_i])
    name = re.sub(r"<.*", "<...>", name)[:90]
    total[name] += ms
    launches[name] += 1
all_ms = sum(total.values())
print("GPU kernel time: %.2f ms in %d launches (%.2f ms per step over %d step(s))" % (
    all_ms, sum(launches.values()), all_ms / args.steps, args.steps))
print("| kernel | launches | ms | share |")
print("| --- | ---: | ---: | ---: |")
for name, ms in total.most_common(args.top):
    print("| %s | %d | %.3f | %.1f%% |" % (name, launches[name], ms, 100 * ms / all_ms))
