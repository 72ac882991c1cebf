"""The same .pte flow lowered with ArmrestPartitioner and with
XnnpackPartitioner, run through ExecuTorch's Python runtime, 1 and 2
threads, interleaved in one run (A, B, A, B, ...): median latency and the
armrest / XNNPACK ratio.

    .venv-et/bin/python integrations/executorch/bench.py [--models mobilenet_v2,resnet18] [--runs 30]
"""

import argparse
import time

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mobilenet_v2,mobilenet_v3_small,resnet18")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()

    import torchvision
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    import armrest_executorch
    from armrest_executorch.harness import Program, export, lower, rel_error, set_xnnpack_threads

    armrest_executorch.load_backend()
    rows = []
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval()
        x = torch.randn(1, 3, args.size, args.size)
        ep = export(model, (x,))
        pte_a, ca = lower(ep, [armrest_executorch.ArmrestPartitioner()])
        pte_x, cx = lower(ep, [XnnpackPartitioner()])
        for threads in [int(t) for t in args.threads.split(",")]:
            armrest_executorch.set_options(num_threads=threads)
            if not set_xnnpack_threads(threads):
                raise SystemExit("this executorch runtime cannot set XNNPACK's thread count")
            a, b = Program(pte_a), Program(pte_x)  # armrest's pool is sized at init
            err = rel_error(a(x)[0], b(x)[0])
            for p in (a, b):
                p(x)
            ta, tb = [], []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                a(x)
                ta.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                b(x)
                tb.append(time.perf_counter() - t0)
            ma, mb = np.median(ta) * 1e3, np.median(tb) * 1e3
            rows.append((name, threads, ca.get("ArmrestBackend", 0), ca["undelegated"], ma, mb, ma / mb, err))
            print(f"{name:20s} threads={threads} armrest {ma:8.2f} ms  xnnpack {mb:8.2f} ms  ratio {ma / mb:5.2f}  err {err:.1e}", flush=True)
    print()
    print(f"| model | threads | armrest partitions | undelegated | armrest ms | XNNPACK ms | armrest/XNNPACK | rel. error |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.2f} | {r[7]:.1e} |")


if __name__ == "__main__":
    main()
