"""Export, lower and run helpers shared by the tests and the benchmark."""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch


def export(model: torch.nn.Module, example: Tuple[torch.Tensor, ...], dynamic_shapes=None):
    return torch.export.export(model.eval(), example, dynamic_shapes=dynamic_shapes)


def lower(ep, partitioners: Sequence) -> Tuple[bytes, Dict[str, int]]:
    """(.pte bytes, {backend id: delegate count, "undelegated": call nodes left to the portable kernels})."""
    from executorch.exir import to_edge_transform_and_lower

    edge = to_edge_transform_and_lower(ep, partitioner=list(partitioners))
    counts = delegation_counts(edge.exported_program().graph_module)
    return edge.to_executorch().buffer, counts


def is_shape_op(n) -> bool:
    """Scalar shape bookkeeping (sym_size and SymInt arithmetic), not a kernel."""
    val = n.meta.get("val")
    return "sym_size" in str(n.target) or isinstance(val, (torch.SymInt, int))


def delegation_counts(gm) -> Dict[str, int]:
    """Delegates per backend; `undelegated`: tensor ops left to the portable
    kernels (scalar shape bookkeeping such as sym_size is not counted)."""
    import operator

    counts: Dict[str, int] = {"undelegated": 0}
    undelegated: List[str] = []
    for n in gm.graph.nodes:
        if n.op == "get_attr" and hasattr(getattr(gm, n.target, None), "backend_id"):
            bid = getattr(gm, n.target).backend_id
            counts[bid] = counts.get(bid, 0) + 1
        elif n.op == "call_function" and n.target is not operator.getitem and "executorch_call_delegate" not in str(n.target) \
                and not is_shape_op(n):
            counts["undelegated"] += 1
            undelegated.append(str(n.target))
    counts["undelegated_ops"] = undelegated  # type: ignore[assignment]
    return counts


class Program:
    """A loaded .pte's forward method."""

    def __init__(self, pte: bytes):
        from executorch.runtime import Runtime

        self.program = Runtime.get().load_program(pte)
        self.method = self.program.load_method("forward")

    def __call__(self, *inputs: torch.Tensor) -> List[torch.Tensor]:
        return list(self.method.execute(list(inputs)))

    def latency(self, inputs: Sequence[torch.Tensor], runs: int) -> float:
        """Median seconds of `runs` executions (after one warm-up)."""
        self(*inputs)
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self(*inputs)
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts))


def rel_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want| (norm-wise relative error)."""
    got, want = got.detach().double(), want.detach().double()
    if got.shape != want.shape:
        raise AssertionError(f"shape {tuple(got.shape)} != {tuple(want.shape)}")
    scale = want.abs().max().item()
    return (got - want).abs().max().item() / max(scale, 1e-30)


def set_xnnpack_threads(n: int) -> bool:
    """Resets ExecuTorch's shared threadpool (XNNPACK's) to n threads, if the runtime offers it."""
    from executorch.extension.pybindings import portable_lib

    f = getattr(portable_lib, "_unsafe_reset_threadpool", None)
    if f is None:
        return False
    f(n)
    return True
