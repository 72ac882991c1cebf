#!/usr/bin/env python3
"""Per-layer comparison: every distinct layer of an int8 (or, with --float,
fp32) MobileNetV2 (width and input size given) as a one-op model of its own, each given
libarmrest.so against XNNPACK (LiteRT, 1 thread), invoked round-robin and
timed in the calling thread's CPU time (as ab_cpu.py). It finds the layers
where a model-level gap comes from; a one-op model also pays an invoke's
fixed costs and copying its output, so small layers read high on both sides
and the difference column (armrest − XNNPACK, µs) is the figure to compare.

    python integrations/tflite/layer_ab.py --libs old.so,new.so [--width 0.5 --size 160] [--filter dw] [--rounds 300] [--float]

Layers: the stem (3x3 stride 2, RELU6), per inverted residual block the
expand 1x1 (RELU6), the 3x3 depthwise (RELU6), the project 1x1 (no
activation) and the residual ADD, the last 1x1 (to 1280) and the classifier
FULLY_CONNECTED; int8 per-channel weights, int8 inputs and outputs,
calibrated on normal samples (fp32 weights and standard normal inputs with
--float); each shape once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from armrest_tflite import harness as h
from armrest_tflite import interpreter_module, load_delegate
from armrest_tflite.quantize import quantize_model
from armrest_tflite.tflite_builder import ModelBuilder, he_init

# MobileNetV2's blocks: expansion t, output channels c, repeats n, first stride s.
BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def divisible(ch: float, by: int = 8) -> int:
    """MobileNetV2's channel rounding (to a multiple of 8, at most 10% down)."""
    v = max(by, int(ch + by / 2) // by * by)
    return v + by if v < 0.9 * ch else v


def layers(width: float, size: int) -> list[tuple]:
    """(name, kind, spatial size, in channels, out channels, kernel, stride, activation), each shape once."""
    c, hw = divisible(32 * width), size // 2
    out = [(f"stem 3x3s2 3->{c} @{size}", "conv", size, 3, c, 3, 2, "RELU6")]
    for t, co, n, s in BLOCKS:
        co = divisible(co * width)
        for i in range(n):
            st = s if i == 0 else 1
            e = c * t
            if t != 1:
                out.append((f"pw {c}->{e} @{hw}", "conv", hw, c, e, 1, 1, "RELU6"))
            out.append((f"dw 3x3s{st} {e} @{hw}", "dw", hw, e, e, 3, st, "RELU6"))
            hw //= st
            out.append((f"pw {e}->{co} @{hw}", "conv", hw, e, co, 1, 1, None))
            if st == 1 and c == co:
                out.append((f"add {co} @{hw}", "add", hw, co, co, 0, 0, None))
            c = co
    out.append((f"pw {c}->1280 @{hw}", "conv", hw, c, 1280, 1, 1, "RELU6"))
    out.append(("fc 1280->1000", "fc", 1, 1280, 1000, 0, 0, None))
    seen: set[str] = set()
    return [x for x in out if not (x[0] in seen or seen.add(x[0]))]


def build(kind: str, hw: int, ci: int, co: int, k: int, s: int, act: str | None, seed: int = 0, float_model: bool = False) -> bytes:
    """The one-op int8 model of a layer (fp32 with `float_model`)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    bias = lambda n: b.const((0.2 * rng.standard_normal(n)).astype(np.float32))
    if kind == "fc":
        shapes = [[1, ci]]
        x = b.input(shapes[0])
        b.output(b.fully_connected(x, b.const(he_init(rng, (co, ci), ci)), bias(co)))
    elif kind == "add":
        shapes = [[1, hw, hw, ci]] * 2
        b.output(b.add(b.input(shapes[0]), b.input(shapes[1])))
    else:
        shapes = [[1, hw, hw, ci]]
        x = b.input(shapes[0])
        if kind == "conv":
            w = he_init(rng, (co, k, k, ci), k * k * ci)
            b.output(b.conv_2d(x, b.const(w), bias(co), stride=s, padding="SAME", activation=act))
        else:
            w = he_init(rng, (1, k, k, ci), k * k)
            b.output(b.depthwise_conv_2d(x, b.const(w), bias(ci), stride=s, padding="SAME", activation=act))
    if float_model:
        return b.build()
    calib = [[np.clip(rng.standard_normal(sh), -3, 6).astype(np.float32) for sh in shapes] for _ in range(4)]
    return quantize_model(b.build(), calib, dtype=np.int8, per_channel=True, io="quantized")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--libs", required=True, help="comma-separated libarmrest.so paths (distinct file names)")
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--filter", default="", help="only layers whose name contains this")
    ap.add_argument("--float", action="store_true", help="fp32 layers instead of int8 (inputs standard normal)")
    args = ap.parse_args()
    libs = args.libs.split(",")
    labels = [os.path.basename(lib) for lib in libs]
    if len(set(labels)) != len(labels):
        raise SystemExit("--libs: give the libraries distinct file names")
    mod = interpreter_module("litert")
    total = dict.fromkeys(labels, 0.0)
    print("| layer | XNNPACK µs | " + " | ".join(f"{lab} µs | ratio | diff µs" for lab in labels) + " |")
    for name, kind, hw, ci, co, k, s, act in layers(args.width, args.size):
        if args.filter not in name:
            continue
        data = build(kind, hw, ci, co, k, s, act, float_model=args.float)
        its = {lab: mod.Interpreter(model_content=data, num_threads=1,
                                    experimental_delegates=[load_delegate("litert", library=lib)],
                                    experimental_op_resolver_type=mod.OpResolverType.AUTO)
               for lib, lab in zip(libs, labels)}
        its["XNNPACK"] = h.make_interpreter(data, "litert", h.XNNPACK, 1)
        rng = np.random.default_rng(1)
        inputs = None
        for it in its.values():
            it.allocate_tensors()
            if inputs is None:
                inputs = [rng.standard_normal(d["shape"]).astype(np.float32) if args.float else rng.integers(-128, 128, size=d["shape"]).astype(np.int8)
                          for d in it.get_input_details()]
            h.set_inputs(it, inputs)
        ms = h.interleaved_latency({lab: it.invoke for lab, it in its.items()}, rounds=args.rounds, clock=time.thread_time)
        xnn = ms["XNNPACK"] * 1e3
        cells = []
        for lab in labels:
            us = ms[lab] * 1e3
            total[lab] += us - xnn
            cells.append(f"{us:.1f} | {us / xnn:.2f} | {us - xnn:+.1f}")
        print(f"| {name} | {xnn:.1f} | " + " | ".join(cells) + " |", flush=True)
    print("sum of differences over the distinct layers (µs): " + ", ".join(f"{lab} {v:+.1f}" for lab, v in total.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
