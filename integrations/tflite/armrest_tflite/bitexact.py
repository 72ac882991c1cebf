"""How far apart two runs of a quantized model are, in quantization steps
(LSB): the fraction of output elements that are equal and the largest
difference. Quantized outputs are compared as integers; a float output behind
DEQUANTIZE in units of its input's scale (a difference below 1e-3 LSB, float
rounding in the dequantization itself, counts as equal). Dynamic-range models
(float outputs) are compared relative to the reference's output range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import harness as h
from . import interpreter_module
from .quantize import output_lsb

#: The bar: at least this fraction of elements equal, and never more than MAX_LSB apart.
MIN_EQUAL = 0.999
MAX_LSB = 1
#: Dynamic-range outputs: max|out - ref| <= RANGE_TOL * (max(ref) - min(ref)).
RANGE_TOL = 1e-4


@dataclass
class BitExact:
    elements: int = 0
    equal: int = 0
    max_lsb: int = 0
    detail: str = ""

    @property
    def fraction(self) -> float:
        return self.equal / self.elements if self.elements else 1.0

    def ok(self, min_equal: float = MIN_EQUAL, max_lsb: int = MAX_LSB) -> bool:
        return self.fraction >= min_equal and self.max_lsb <= max_lsb

    def merge(self, other: "BitExact") -> "BitExact":
        worst = self.detail if self.max_lsb >= other.max_lsb else other.detail
        return BitExact(self.elements + other.elements, self.equal + other.equal,
                        max(self.max_lsb, other.max_lsb), worst)

    def __str__(self) -> str:
        return (f"{100 * self.fraction:.3f}% of {self.elements} equal, max {self.max_lsb} LSB"
                + (f" ({self.detail})" if self.detail else ""))


def compare(outs: Sequence[np.ndarray], refs: Sequence[np.ndarray], lsbs: Sequence[float | None]) -> BitExact:
    """`outs` against `refs`, output by output, in LSB of each output."""
    if len(outs) != len(refs):
        raise AssertionError(f"{len(outs)} outputs, reference has {len(refs)}")
    total = BitExact()
    for k, (o, r, lsb) in enumerate(zip(outs, refs, lsbs)):
        if o.shape != r.shape:
            raise AssertionError(f"output {k}: shape {o.shape} != reference {r.shape}")
        d = np.abs(o.astype(np.float64) - r.astype(np.float64))
        if np.issubdtype(r.dtype, np.floating):
            d = d / (lsb if lsb else 1.0)
            if np.isnan(d).any():
                return BitExact(r.size, 0, 1 << 30, f"output {k}: NaN")
            eq = d <= 1e-3
            steps = np.round(d).astype(np.int64)
        else:
            eq = d == 0
            steps = d.astype(np.int64)
        worst = np.unravel_index(int(np.argmax(d)), d.shape) if d.size else ()
        detail = ""
        if d.size and steps.max() > 0:
            detail = (f"output {k} {r.shape}: worst at {tuple(int(v) for v in worst)}: "
                      f"{o[worst]!r} vs {r[worst]!r}")
        total = total.merge(BitExact(int(r.size), int(eq.sum()), int(steps.max()) if d.size else 0, detail))
    return total


def range_error(outs: Sequence[np.ndarray], refs: Sequence[np.ndarray]) -> float:
    """max|out - ref| / (max(ref) - min(ref)) over all outputs (dynamic-range models)."""
    worst = 0.0
    for o, r in zip(outs, refs):
        if o.shape != r.shape:
            return float("inf")
        span = float(r.max() - r.min()) or 1.0
        e = float(np.max(np.abs(o.astype(np.float64) - r))) / span
        if np.isnan(e):
            return float("inf")
        worst = max(worst, e)
    return worst


REF = "BUILTIN_REF"
OPT = "BUILTIN_WITHOUT_DEFAULT_DELEGATES"


def tflite_outputs(model: bytes, runtime: str, inputs, resolver: str = REF, num_threads: int = 1):
    """Outputs of TFLite's reference kernels (resolver BUILTIN_REF) or its
    optimized builtin kernels (BUILTIN_WITHOUT_DEFAULT_DELEGATES), no delegate."""
    mod = interpreter_module(runtime)
    it = mod.Interpreter(model_content=model, num_threads=num_threads,
                         experimental_op_resolver_type=getattr(mod.OpResolverType, resolver))
    it.allocate_tensors()
    return h.run(it, inputs)


__all__ = ["BitExact", "compare", "range_error", "tflite_outputs", "output_lsb", "MIN_EQUAL", "MAX_LSB",
           "RANGE_TOL", "REF", "OPT"]
