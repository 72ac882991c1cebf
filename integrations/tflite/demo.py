#!/usr/bin/env python3
"""armrest on a MobileNetV2-SSDLite detector (fp32, fixed-seed weights, made
by the model builder at run time, 113 nodes; `--model classifier` for the
65-node MobileNetV2 classifier): nodes claimed, latency vs LiteRT's XNNPACK and
builtin kernels (interleaved runs, median), max error vs the builtin kernels.

    python integrations/tflite/demo.py [--size 224] [--threads 1] [--rounds 30] [--fp16-weights]
"""

from __future__ import annotations

import argparse
import sys
import time

from armrest_tflite import harness as h
from armrest_tflite import library_path, models


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="ssdlite", choices=["ssdlite", "classifier"])
    ap.add_argument("--size", type=int, default=224, help="input height and width (default 224)")
    ap.add_argument("--width", type=float, default=1.0, help="MobileNetV2 width multiplier (default 1.0)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=30, help="interleaved timing rounds (default 30)")
    ap.add_argument("--budget", type=float, default=30.0, help="seconds for timing at most (default 30)")
    ap.add_argument("--fp16-weights", action="store_true",
                    help="store weights as fp16 behind DEQUANTIZE nodes (as MediaPipe ships them)")
    ap.add_argument("--runtime", default="litert", choices=["litert", "tflite_runtime"])
    args = ap.parse_args()

    t0 = time.perf_counter()
    make = models.mobilenet_v2_ssdlite if args.model == "ssdlite" else models.mobilenet_v2
    b = make(input_size=args.size, width=args.width, fp16_weights=args.fp16_weights)
    model = b.build()
    name = "MobileNetV2-SSDLite" if args.model == "ssdlite" else "MobileNetV2 classifier"
    print(f"model: {name} x{args.width} {args.size}x{args.size}x3, "
          f"{'fp16 weights + DEQUANTIZE' if args.fp16_weights else 'fp32 weights'}, "
          f"{b.num_operators} nodes, {len(model) / 1e6:.1f} MB (built in {time.perf_counter() - t0:.1f}s)")
    print(f"delegate: {library_path()}")
    print(f"runtime: {args.runtime}, {args.threads} thread(s)")

    arm, report = h.armrest_with_report(model, args.runtime, args.threads)
    print(f"armrest claimed {report.claimed} of {report.total} nodes in {report.partitions} partition(s)")
    for u in report.unclaimed:
        print(f"  not claimed: node {u.index} {u.op}: {u.reason}")
    xnn = h.make_interpreter(model, args.runtime, h.XNNPACK, args.threads)
    blt = h.make_interpreter(model, args.runtime, h.BUILTIN, args.threads)
    interps = {"armrest": arm, "XNNPACK": xnn, "builtin": blt}
    for it in interps.values():
        it.allocate_tensors()

    inputs = h.random_inputs(arm, seed=0)
    outs = {k: h.run(it, inputs) for k, it in interps.items()}
    err_arm = max(h.max_rel_error(o, r) for o, r in zip(outs["armrest"], outs["builtin"]))
    err_xnn = max(h.max_rel_error(o, r) for o, r in zip(outs["XNNPACK"], outs["builtin"]))

    ms = h.interleaved_latency({k: it.invoke for k, it in interps.items()}, rounds=args.rounds,
                               budget_s=args.budget)
    print(f"latency (median of interleaved runs, ms): armrest {ms['armrest']:.2f}  "
          f"XNNPACK {ms['XNNPACK']:.2f}  builtin {ms['builtin']:.2f}")
    print(f"armrest / XNNPACK = {ms['armrest'] / ms['XNNPACK']:.2f}x time   "
          f"armrest / builtin = {ms['armrest'] / ms['builtin']:.2f}x time")
    ok = err_arm <= h.TOLERANCE
    print(f"max rel error vs builtin kernels: armrest {err_arm:.2e} ({'ok' if ok else 'ABOVE'} "
          f"tolerance {h.TOLERANCE:g}), XNNPACK {err_xnn:.2e}")
    print(f"total {time.perf_counter() - t0:.1f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
