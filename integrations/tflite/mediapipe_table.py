#!/usr/bin/env python3
"""For each model MediaPipe 0.10.21 ships: nodes armrest claims / total, max
relative error against the oracle (builtin kernels, or XNNPACK where only it
runs the model's custom ops), and latency with armrest vs XNNPACK vs builtin
kernels (1 thread by default, median of interleaved runs).

    python integrations/tflite/mediapipe_table.py [--threads N] [--rounds R] [--runtime litert|tflite_runtime]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from armrest_tflite import harness as h
from armrest_tflite import mediapipe_models as mm


def row(path: str, runtime: str, threads: int, rounds: int) -> dict:
    with open(path, "rb") as f:
        data = f.read()
    r = {"model": mm.model_id(path)}
    builtin_err = mm.runs_on(data, runtime, h.BUILTIN)
    xnn_err = mm.runs_on(data, runtime, h.XNNPACK)
    leftovers = h.BUILTIN if builtin_err is None else h.XNNPACK
    try:
        arm, report = h.armrest_with_report(data, runtime, threads, leftovers)
    except Exception as e:  # noqa: BLE001 - a table row, not a test
        r["note"] = f"armrest failed: {str(e).splitlines()[0]}"
        return r
    r["claimed"] = f"{report.claimed}/{report.total}"
    r["partitions"] = report.partitions
    interps = {}
    try:
        arm.allocate_tensors()
        interps["armrest"] = arm
    except RuntimeError as e:
        r["note"] = f"armrest path cannot run: {str(e).splitlines()[0]}"
        return r
    if xnn_err is None:
        interps["xnnpack"] = h.make_interpreter(data, runtime, h.XNNPACK, threads)
    if builtin_err is None:
        interps["builtin"] = h.make_interpreter(data, runtime, h.BUILTIN, threads)
    for it in interps.values():
        it.allocate_tensors()
    inputs = mm.inputs_for(arm, 0)
    outs = {k: h.run(it, inputs) for k, it in interps.items()}
    oracle = "builtin" if "builtin" in outs else "xnnpack" if "xnnpack" in outs else None
    if oracle:
        r["max_rel_err"] = max(h.max_rel_error(o, ref) for o, ref in zip(outs["armrest"], outs[oracle]))
        r["oracle"] = oracle
    for it in interps.values():
        h.set_inputs(it, inputs)
    ms = h.interleaved_latency({k: it.invoke for k, it in interps.items()}, rounds=rounds, budget_s=20)
    r.update({f"ms_{k}": v for k, v in ms.items()})
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--runtime", default="litert", choices=["litert", "tflite_runtime"])
    args = ap.parse_args()
    paths = mm.find_models()
    if not paths:
        print("mediapipe is not installed (bash scripts/setup.sh)", file=sys.stderr)
        return 1
    print(f"runtime {args.runtime}, {args.threads} thread(s), median of up to {args.rounds} interleaved runs")
    hdr = f"{'model':36} {'claimed':>9} {'parts':>5} {'max rel err':>11} {'armrest ms':>10} " \
          f"{'XNNPACK ms':>10} {'builtin ms':>10} {'arm/xnn':>7} {'arm/blt':>7}"
    print(hdr)
    print("-" * len(hdr))

    def f(v, fmt):
        return format(v, fmt) if v is not None else "-"

    for p in paths:
        r = row(p, args.runtime, args.threads, args.rounds)
        a, x, b = r.get("ms_armrest"), r.get("ms_xnnpack"), r.get("ms_builtin")
        err = r.get("max_rel_err")
        print(f"{r['model']:36} {r.get('claimed', '-'):>9} {f(r.get('partitions'), 'd'):>5} "
              f"{f(err, '.2e'):>11} {f(a, '.2f'):>10} {f(x, '.2f'):>10} {f(b, '.2f'):>10} "
              f"{f(a / x if a and x else None, '.2f'):>7} {f(a / b if a and b else None, '.2f'):>7}"
              + (f"  (error vs {r['oracle']})" if r.get("oracle") == "xnnpack" else "")
              + (f"  {r['note']}" if r.get("note") else ""))
        if err is not None and not err <= h.TOLERANCE:
            print(f"  ^ error above tolerance {h.TOLERANCE:g}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
