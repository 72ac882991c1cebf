#!/usr/bin/env python3
"""The tract fallback vs split partitions: a conv network whose blocks each
end in an RMS-style normalisation (SQUARED_DIFFERENCE, SUM, RSQRT: ops
armrest's kernels lack) runs with armrest's fallback=tract (one partition,
the norm ops on tract inside it) and with fallback=none (TFLite's builtin
kernels run the norm ops between armrest partitions). Latency is the median
of interleaved runs; outputs are checked against the builtin kernels.

    python integrations/tflite/fallback_bench.py [--size 56] [--blocks 6] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from armrest_tflite import harness as h
from armrest_tflite.tflite_builder import ModelBuilder, S, he_init


def norm_net(size: int, blocks: int, channels: int, seed: int = 0) -> ModelBuilder:
    r = np.random.default_rng(seed)
    b = ModelBuilder("conv blocks with RMS norms")
    x = b.input([1, size, size, 3])
    y = b.conv_2d(x, b.const(he_init(r, (channels, 3, 3, 3), 27)), None, stride=2, padding="SAME", activation="RELU6")
    s = size // 2
    for _ in range(blocks):
        y = b.conv_2d(y, b.const(he_init(r, (channels, 3, 3, channels), 9 * channels)),
                      b.const(0.1 * r.standard_normal(channels)), padding="SAME", activation="RELU")
        y = b.depthwise_conv_2d(y, b.const(he_init(r, (1, 3, 3, channels), 9)), None, padding="SAME")
        # y / sqrt(sum_c((y - 0)^2) / C + eps): squared difference, sum, rsqrt — all on tract.
        sq = b.op("SQUARED_DIFFERENCE", [y, b.const(np.zeros(channels, np.float32))], [[1, s, s, channels]],
                  options=S.SquaredDifferenceOptionsT())[0]
        o = S.ReducerOptionsT()
        o.keepDims = True
        ms = b.op("SUM", [sq, b.const(np.int32([3]))], [[1, s, s, 1]], options=o)[0]
        ms = b.add(b.mul(ms, b.const(np.float32([1.0 / channels]))), b.const(np.float32([1e-5])))
        inv = b.op("RSQRT", [ms], [[1, s, s, 1]])[0]
        y = b.mul(y, inv)
    y = b.mean(y, [1, 2], keep_dims=False)
    b.output(b.fully_connected(y, b.const(he_init(r, (10, channels), channels)), None))
    return b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--budget", type=float, default=30.0)
    ap.add_argument("--runtime", default="litert", choices=["litert", "tflite_runtime"])
    args = ap.parse_args()

    model = norm_net(args.size, args.blocks, args.channels).build()
    interps = {}
    for name, fallback in (("fallback=tract", "tract"), ("fallback=none", "none")):
        interps[name], report = h.armrest_with_report(model, args.runtime, args.threads, fallback=fallback)
        print(f"{name}: claimed {report.claimed} of {report.total} nodes in {report.partitions} partition(s)")
    interps["builtin"] = h.make_interpreter(model, args.runtime, h.BUILTIN, args.threads)
    interps["XNNPACK"] = h.make_interpreter(model, args.runtime, h.XNNPACK, args.threads)
    for it in interps.values():
        it.allocate_tensors()
    inputs = h.random_inputs(interps["builtin"], seed=0)
    refs = h.run(interps["builtin"], inputs)
    errors = {k: max(h.max_rel_error(o, r) for o, r in zip(h.run(it, inputs), refs)) for k, it in interps.items()}
    ms = h.interleaved_latency({k: it.invoke for k, it in interps.items()}, rounds=args.rounds, budget_s=args.budget)
    print("latency (median of interleaved runs, ms): " + "  ".join(f"{k} {v:.2f}" for k, v in ms.items()))
    print(f"fallback=none / fallback=tract = {ms['fallback=none'] / ms['fallback=tract']:.2f}x time   "
          f"fallback=tract / XNNPACK = {ms['fallback=tract'] / ms['XNNPACK']:.2f}x time")
    print("max rel error vs builtin: " + "  ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    return 0 if all(e <= h.TOLERANCE for e in errors.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
