#!/usr/bin/env python3
"""Thread scaling on one model, one run: LiteRT + armrest with its `spin` pool
and with its `rayon` pool (ARMREST_POOL, read when the delegate builds its
pool), and LiteRT + XNNPACK, each at 1 and 2 threads. All interpreters live in
one process and are invoked round-robin (order rotated every round), with a
short sleep before every invoke so no pool's spinning workers from the
previous invoke steal the core of the next; latencies are medians, ratios
are from this run only.

    python integrations/tflite/threads_bench.py [--model classifier|ssdlite] [--rounds 200] [--gap-ms 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

from armrest_tflite import harness as h
from armrest_tflite import models


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def armrest(model: bytes, threads: int, pool: str):
    """`pool` is `spin`, `rayon` or `spin:<µs>` (the spin pool with that spin time)."""
    kind, _, spin_us = pool.partition(":")
    os.environ["ARMREST_POOL"] = kind
    if spin_us:
        os.environ["ARMREST_POOL_SPIN_US"] = spin_us
    try:
        it, rep = h.armrest_with_report(model, "litert", threads)
    finally:
        os.environ.pop("ARMREST_POOL", None)
        os.environ.pop("ARMREST_POOL_SPIN_US", None)
    if rep.claimed != rep.total:
        raise SystemExit(f"armrest claimed only {rep.claimed}/{rep.total} nodes")
    return it


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="classifier", choices=["classifier", "ssdlite"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--budget", type=float, default=120.0, help="seconds of timing at most")
    ap.add_argument("--gap-ms", type=float, default=2.0, help="sleep before every invoke")
    ap.add_argument("--pools", default="spin,rayon", help="comma list of spin, rayon, spin:<spin µs>")
    args = ap.parse_args()

    make = models.mobilenet_v2 if args.model == "classifier" else models.mobilenet_v2_ssdlite
    model = make(input_size=args.size).build()
    its = {}
    for pool in args.pools.split(","):
        for t in (1, 2):
            if t == 1 and pool != args.pools.split(",")[0]:
                continue  # one thread runs inline whatever the pool
            its[f"armrest {pool} {t}T" if t == 2 else f"armrest {t}T"] = armrest(model, t, pool)
    for t in (1, 2):
        its[f"XNNPACK {t}T"] = h.make_interpreter(model, "litert", h.XNNPACK, t)
    for it in its.values():
        it.allocate_tensors()
    inputs = h.random_inputs(next(iter(its.values())), seed=0)
    for it in its.values():
        h.set_inputs(it, inputs)
    outs = {k: h.run(it, inputs) for k, it in its.items()}
    ref = outs["armrest 1T"]
    for k, o in outs.items():
        if k.startswith("armrest") and not all(np.array_equal(a, b) for a, b in zip(o, ref)):
            raise SystemExit(f"{k}: output differs from armrest 1T (threads must not change results)")

    load0 = loadavg()
    names = list(its)
    times: dict[str, list[float]] = {n: [] for n in names}
    gap = args.gap_ms / 1e3
    for n in names:  # warm-up
        its[n].invoke()
    start = time.perf_counter()
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            time.sleep(gap)
            t0 = time.perf_counter()
            its[n].invoke()
            times[n].append(time.perf_counter() - t0)
        if r >= 10 and time.perf_counter() - start > args.budget:
            break
    med = {n: 1e3 * float(np.median(v)) for n, v in times.items()}
    # The fastest tenth: the samples least disturbed by other load on the machine.
    p10 = {n: 1e3 * float(np.percentile(v, 10)) for n, v in times.items()}
    rounds = len(times[names[0]])
    print(f"model: MobileNetV2 {args.model} {args.size}; LiteRT; {rounds} interleaved rounds, "
          f"{args.gap_ms:g} ms sleep before each invoke; load average {load0} -> {loadavg()}")
    print()
    print("| configuration | median ms | 10th percentile ms | vs XNNPACK same threads (median) | (10th pct) |")
    print("|---|---|---|---|---|")
    for n in names:
        peer = "XNNPACK 2T" if n.endswith("2T") else "XNNPACK 1T"
        print(f"| {n} | {med[n]:.2f} | {p10[n]:.2f} | {med[n] / med[peer]:.2f}x | {p10[n] / p10[peer]:.2f}x |")
    print()
    print("| 2-thread speed-up (1T / 2T) | median | 10th percentile |")
    print("|---|---|---|")
    for n in names:
        if n.endswith("2T"):
            base = "XNNPACK 1T" if n.startswith("XNNPACK") else "armrest 1T"
            print(f"| {n[:-3]} | {med[base] / med[n]:.2f}x | {p10[base] / p10[n]:.2f}x |")
    # Idle: every pool above (armrest's and XNNPACK's) must go to sleep once no invoke comes.
    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    c0, t0 = cpu(), time.perf_counter()
    time.sleep(2.0)
    c1, t1 = cpu(), time.perf_counter()
    print()
    print(f"idle: the process used {100 * (c1 - c0) / (t1 - t0):.1f}% of a core in {t1 - t0:.1f} s without invokes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
