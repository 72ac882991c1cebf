#!/usr/bin/env python3
"""Before/after comparison of armrest builds against XNNPACK in ONE process:
each given libarmrest.so and XNNPACK get an interpreter per model (1 thread),
invoked round-robin, and each invoke is timed in the calling thread's CPU
time (time.thread_time), not wall time. With one thread every kernel runs
on the calling thread, so CPU time does not count the time other processes
hold the core — on a shared, overloaded machine wall-clock medians swing by
2x between runs, thread CPU time by a few percent. Ratios are armrest /
XNNPACK medians from the same rounds.

    python integrations/tflite/ab_cpu.py --libs old.so,new.so [--rounds 30] [--models mnv2,face_landmark,...]

Models: the ids of compare.py's BUILT_MODELS (mnv2, ssdlite, mnv2_05, mnv3) and
INT8_MODELS (q8_mnv2, q8_mnv2_io, q8_mnv2_05, u8_mnv2), or MediaPipe model ids
(default: MobileNetV2 224 and every MediaPipe model XNNPACK runs).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from armrest_tflite import harness as h
from armrest_tflite import interpreter_module, load_delegate
from armrest_tflite import mediapipe_models as mm
from compare import BUILT_MODELS, INT8_MODELS, bench_inputs, geomean

def model_bytes(name: str) -> bytes:
    for table in (BUILT_MODELS, INT8_MODELS):
        if name in table:
            return table[name][1]()
    for p in mm.find_models():
        if mm.model_id(p) == name:
            with open(p, "rb") as f:
                return f.read()
    raise SystemExit(f"unknown model {name!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--libs", required=True, help="comma-separated libarmrest.so paths (distinct file names)")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--models", default=None)
    args = ap.parse_args()
    libs = args.libs.split(",")
    labels = [os.path.basename(lib) for lib in libs]
    if len(set(labels)) != len(labels):
        raise SystemExit("--libs: give the libraries distinct file names")
    if args.models:
        names = args.models.split(",")
    else:
        names = ["mnv2"] + [mm.model_id(p) for p in mm.find_models()
                            if mm.runs_on(open(p, "rb").read(), "litert", h.XNNPACK) is None]
    mod = interpreter_module("litert")
    ratios: dict[str, list[float]] = {lab: [] for lab in labels}
    for name in names:
        data = model_bytes(name)
        its = {}
        for lib, lab in zip(libs, labels):
            its[lab] = mod.Interpreter(model_content=data, num_threads=1,
                                       experimental_delegates=[load_delegate("litert", library=lib)],
                                       experimental_op_resolver_type=mod.OpResolverType.AUTO)
        its["XNNPACK"] = h.make_interpreter(data, "litert", h.XNNPACK, 1)
        inputs = None
        for it in its.values():
            it.allocate_tensors()
            inputs = inputs if inputs is not None else bench_inputs(it, 0)
            h.set_inputs(it, inputs)
        ms = h.interleaved_latency({k: it.invoke for k, it in its.items()}, rounds=args.rounds,
                                   clock=time.thread_time)
        line = f"| {name} | {ms['XNNPACK']:.2f} |"
        for lab in labels:
            ratios[lab].append(ms[lab] / ms["XNNPACK"])
            line += f" {ms[lab]:.2f} | {ms[lab] / ms['XNNPACK']:.2f} |"
        print(line, flush=True)
    geo = " | ".join(f"{lab}: {geomean(v):.3f}" for lab, v in ratios.items())
    print(f"geometric mean armrest/XNNPACK over {len(names)} models: {geo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
