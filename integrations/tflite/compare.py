#!/usr/bin/env python3
"""Model-level comparison: LiteRT + armrest vs LiteRT + XNNPACK vs LiteRT's
builtin kernels, on the MobileNetV2/V3-like models the project builds and the
MediaPipe 0.10.21 models, at 1 and 2 threads. Latencies are medians of
interleaved runs (all three in one round, order rotated), so ratios come
from one run under the same load. Also: delegate set-up time (interpreter
creation + allocate_tensors, which includes armrest's weight packing) and
resident memory (growth of the resident set from after the runtime is
imported and the model read to after set-up and one inference; the process's
peak RSS is dominated by the imports), each in a fresh process per
configuration. Nodes armrest leaves unclaimed run on the builtin kernels.

Writes a Markdown table (stdout and --out-md) and a PNG chart (--out-png).

    python integrations/tflite/compare.py [--threads 1,2] [--rounds 40] [--no-mediapipe] [--quick]

With --int8 it compares the fully quantized MobileNetV2-like models instead
(int8 per-channel with float or int8 input/output, uint8), and adds per model
how many output elements armrest computes equal to LiteRT's reference kernels
(BUILTIN_REF) and the largest difference in LSB:

    python integrations/tflite/compare.py --int8 [--threads 1,2] [--out-md compare-int8.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from armrest_tflite import harness as h
from armrest_tflite import mediapipe_models as mm
from armrest_tflite import models

KINDS = {"armrest": h.ARMREST, "XNNPACK": h.XNNPACK, "builtin": h.BUILTIN}


def _q8(size: int, width: float, dtype, io: str) -> bytes:
    from armrest_tflite import quant_models as qm
    return qm.mobilenet_v2_quant(size, width, 1000, dtype, io)


# The project's benchmark models: short id -> (table label, builder). The
# first of each table is the quick one.
BUILT_MODELS = {
    "mnv2": ("MobileNetV2 224 (classifier)", lambda: models.mobilenet_v2(input_size=224).build()),
    "ssdlite": ("MobileNetV2-SSDLite 224", lambda: models.mobilenet_v2_ssdlite(input_size=224).build()),
    "mnv2_05": ("MobileNetV2 x0.5 160", lambda: models.mobilenet_v2(input_size=160, width=0.5).build()),
    "mnv3": ("MobileNetV3-like 224", lambda: models.mobilenet_v3_like(input_size=224).build()),
}
INT8_MODELS = {
    "q8_mnv2": ("MobileNetV2 224 int8 (float in/out)", lambda: _q8(224, 1.0, np.int8, "float")),
    "q8_mnv2_io": ("MobileNetV2 224 int8 (int8 in/out)", lambda: _q8(224, 1.0, np.int8, "quantized")),
    "q8_mnv2_05": ("MobileNetV2 x0.5 160 int8 (float in/out)", lambda: _q8(160, 0.5, np.int8, "float")),
    "u8_mnv2": ("MobileNetV2 224 uint8 (uint8 in/out)", lambda: _q8(224, 1.0, np.uint8, "quantized")),
}


def _table(table: dict, quick: bool) -> list[tuple[str, bytes]]:
    return [(label, build()) for label, build in list(table.values())[:1 if quick else None]]


def built_models(quick: bool) -> list[tuple[str, bytes]]:
    return _table(BUILT_MODELS, quick)


def int8_models(quick: bool) -> list[tuple[str, bytes]]:
    return _table(INT8_MODELS, quick)


def bench_inputs(interp, seed: int = 0) -> list[np.ndarray]:
    """Image-like inputs: float in [0, 1) as for the float models; int8/uint8
    inputs as an image-like float sample quantized with the input's parameters."""
    from armrest_tflite import quant_models as qm
    from armrest_tflite.quantize import QuantParams, quantize_array
    out = []
    floats = mm.inputs_for(interp, seed)
    for d, f in zip(interp.get_input_details(), floats):
        if np.issubdtype(d["dtype"], np.integer) and d["quantization"][0] > 0:
            shape = tuple(d["shape"])
            img = qm.image_samples(shape[1])(seed)[0] if len(shape) == 4 and shape[1] == shape[2] \
                else 2 * f.astype(np.float32) - 1
            scale, zp = d["quantization"]
            out.append(quantize_array(img.reshape(shape), QuantParams.of(scale, zp), d["dtype"]))
        else:
            out.append(f)
    return out


def bit_exactness(data: bytes) -> str:
    """armrest vs LiteRT's BUILTIN_REF on two inputs: % equal, max LSB."""
    from armrest_tflite import bitexact as bx
    it, _ = h.armrest_with_report(data, "litert", 1)
    it.allocate_tensors()
    total = bx.BitExact()
    for seed in (0, 1):
        inputs = bench_inputs(it, seed)
        total = total.merge(bx.compare(h.run(it, inputs), bx.tflite_outputs(data, "litert", inputs, bx.REF),
                                       bx.output_lsb(data)))
    return f"{100 * total.fraction:.2f}% / {total.max_lsb}"


def mediapipe_list(quick: bool) -> list[tuple[str, bytes]]:
    out = []
    for p in mm.find_models()[: 2 if quick else None]:
        with open(p, "rb") as f:
            data = f.read()
        # Only models the builtin kernels and XNNPACK both run without custom ops.
        if mm.runs_on(data, "litert", h.BUILTIN) is None and mm.runs_on(data, "litert", h.XNNPACK) is None:
            out.append((mm.model_id(p), data))
    return out


def make(kind: str, data: bytes, threads: int, report: dict | None = None):
    if kind == "armrest":
        it, rep = h.armrest_with_report(data, "litert", threads)
        if report is not None:
            report["claimed"] = f"{rep.claimed}/{rep.total}"
        return it
    return h.make_interpreter(data, "litert", KINDS[kind], threads)


def latency(data: bytes, threads: int, rounds: int, report: dict | None = None) -> dict[str, float]:
    its = {k: make(k, data, threads, report) for k in KINDS}
    for it in its.values():
        it.allocate_tensors()
    inputs = bench_inputs(its["armrest"], 0)
    for it in its.values():
        h.set_inputs(it, inputs)
    return h.interleaved_latency({k: it.invoke for k, it in its.items()}, rounds=rounds, warmup=3, budget_s=30)


CHILD = r"""
import json, os, resource, sys, time
from armrest_tflite import harness as h
kind, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(path, "rb").read()
def rss_kb():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
base = rss_kb()
t0 = time.perf_counter()
# armrest as a user creates it: without report=true (its claim report costs
# ~0.3 ms of set-up, 5% of MobileNetV2's; the latency run reports the claim).
it = h.make_interpreter(data, "litert", {"armrest": h.ARMREST, "XNNPACK": h.XNNPACK, "builtin": h.BUILTIN}[kind], threads)
it.allocate_tensors()
setup = time.perf_counter() - t0
it.invoke()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"setup_ms": 1e3 * setup, "peak_mb": peak / 1024, "added_mb": (rss_kb() - base) / 1024}))
"""


def setup_and_memory(data: bytes, threads: int, reps: int) -> dict[str, dict[str, float]]:
    """Per kind: median set-up ms and peak RSS over `reps` fresh processes (interleaved)."""
    with tempfile.NamedTemporaryFile(suffix=".tflite", delete=False) as f:
        f.write(data)
        path = f.name
    res: dict[str, list[dict]] = {k: [] for k in ("armrest", "XNNPACK")}
    try:
        for _ in range(reps):
            for k in res:
                out = subprocess.run([sys.executable, "-c", CHILD, k, path, str(threads)], capture_output=True,
                                     text=True, check=True, env=os.environ)
                res[k].append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        os.unlink(path)
    return {k: {m: float(np.median([r[m] for r in v])) for m in v[0]} for k, v in res.items()}


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--setup-reps", type=int, default=3, help="fresh processes per kind for set-up/memory")
    ap.add_argument("--no-mediapipe", action="store_true")
    ap.add_argument("--quick", action="store_true", help="one built model, two MediaPipe models, few rounds")
    ap.add_argument("--int8", action="store_true", help="the quantized MobileNetV2-like models (no MediaPipe)")
    ap.add_argument("--out-md", default="compare.md")
    ap.add_argument("--out-png", default="compare.png")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    if args.int8 and args.out_md == "compare.md":
        args.out_md, args.out_png = "compare-int8.md", "compare-int8.png"
    if args.quick:
        args.rounds, args.setup_reps = min(args.rounds, 5), 1

    t0 = time.perf_counter()
    if args.int8:
        cases = [("int8", n, d) for n, d in int8_models(args.quick)]
    else:
        cases = [("built", n, d) for n, d in built_models(args.quick)]
    if not args.no_mediapipe and not args.int8:
        cases += [("mediapipe", n, d) for n, d in mediapipe_list(args.quick)]

    rows = []
    for group, name, data in cases:
        r = {"group": group, "model": name}
        for t in threads:
            ms = latency(data, t, args.rounds, r)
            r.update({f"{k}_{t}": v for k, v in ms.items()})
        sm = setup_and_memory(data, 1, args.setup_reps)
        r.update({f"setup_{k}": v["setup_ms"] for k, v in sm.items()})
        r.update({f"mem_{k}": v["added_mb"] for k, v in sm.items()})
        if group == "int8":
            r["bitexact"] = bit_exactness(data)
        rows.append(r)
        print(f"  measured {name} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)

    lines = [f"LiteRT 2.3.0 on this machine; medians of up to {args.rounds} interleaved rounds; "
             "ratio = armrest time / XNNPACK time (below 1: armrest faster).", ""]
    hdr = "| model | claimed |" + "".join(f" armrest {t}T ms | XNNPACK {t}T ms | builtin {t}T ms | arm/xnn {t}T |" for t in threads)
    if 1 in threads and 2 in threads:
        hdr += " armrest 1T/2T | XNNPACK 1T/2T |"
    hdr += " set-up ms arm / xnn | RSS added MB arm / xnn |"
    if args.int8:
        hdr += " equal to BUILTIN_REF / max LSB |"
    lines += [hdr, "|" + "---|" * (hdr.count("|") - 1)]
    for r in rows:
        s = f"| {r['model']} | {r.get('claimed', '-')} |"
        for t in threads:
            s += f" {r[f'armrest_{t}']:.2f} | {r[f'XNNPACK_{t}']:.2f} | {r[f'builtin_{t}']:.2f} | " \
                 f"{r[f'armrest_{t}'] / r[f'XNNPACK_{t}']:.2f} |"
        if 1 in threads and 2 in threads:
            s += f" {r['armrest_1'] / r['armrest_2']:.2f}x | {r['XNNPACK_1'] / r['XNNPACK_2']:.2f}x |"
        s += f" {r['setup_armrest']:.1f} / {r['setup_XNNPACK']:.1f} | {r['mem_armrest']:.1f} / {r['mem_XNNPACK']:.1f} |"
        if args.int8:
            s += f" {r.get('bitexact', '-')} |"
        lines.append(s)
    lines.append("")
    for group in ("built", "mediapipe", "int8"):
        for t in threads:
            rs = [r[f"armrest_{t}"] / r[f"XNNPACK_{t}"] for r in rows if r["group"] == group]
            if rs:
                lines.append(f"geometric mean arm/xnn, {group} models, {t} thread(s): {geomean(rs):.2f} over {len(rs)}")
    text = "\n".join(lines)
    print(text)
    with open(args.out_md, "w") as f:
        f.write(text + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.5))
    y = np.arange(len(rows))
    width = 0.8 / len(threads)
    for i, t in enumerate(threads):
        ax.barh(y + i * width, [r[f"armrest_{t}"] / r[f"XNNPACK_{t}"] for r in rows], width, label=f"{t} thread(s)")
    ax.axvline(1.0, color="k", lw=1)
    ax.set_yticks(y + width * (len(threads) - 1) / 2, [r["model"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("armrest latency / XNNPACK latency (LiteRT, same run; < 1 is faster)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out_png, dpi=120)
    print(f"wrote {args.out_md} and {args.out_png} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
