"""Running a model three ways and comparing: armrest (the delegate), TFLite's
builtin kernels without default delegates (the oracle), and the default path
(XNNPACK, the peer). Also parses armrest's `report=true` lines."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import interpreter_module, load_delegate

ARMREST = "armrest"
BUILTIN = "builtin"
XNNPACK = "xnnpack"
KINDS = (ARMREST, BUILTIN, XNNPACK)

#: Outputs match when max|out - ref| <= TOLERANCE * max(1, max|ref|).
TOLERANCE = 1e-4


def make_interpreter(model: bytes, runtime: str = "litert", kind: str = BUILTIN, num_threads: int = 1,
                     options: dict | None = None, leftovers: str = BUILTIN):
    """An interpreter for `model` (bytes).

    kind=builtin: builtin kernels, no default delegate (the oracle);
    kind=xnnpack: the default resolver (XNNPACK applied), no other delegate;
    kind=armrest: armrest delegate with `options`; the nodes it leaves run on the
    builtin kernels (leftovers=builtin) or on the default path (leftovers=xnnpack).
    The delegate object stays referenced by the interpreter."""
    mod = interpreter_module(runtime)
    builtin = mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if kind == BUILTIN:
        return mod.Interpreter(model_content=model, num_threads=num_threads,
                               experimental_op_resolver_type=builtin)
    if kind == XNNPACK:
        return mod.Interpreter(model_content=model, num_threads=num_threads,
                               experimental_op_resolver_type=mod.OpResolverType.AUTO)
    if kind == ARMREST:
        delegate = load_delegate(runtime, **(options or {}))
        resolver = builtin if leftovers == BUILTIN else mod.OpResolverType.AUTO
        return mod.Interpreter(model_content=model, num_threads=num_threads,
                               experimental_delegates=[delegate],
                               experimental_op_resolver_type=resolver)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def random_inputs(interp, seed: int = 0) -> list[np.ndarray]:
    """Fixed-seed inputs for every model input (normal floats, small ints)."""
    rng = np.random.default_rng(seed)
    out = []
    for d in interp.get_input_details():
        shape, dtype = tuple(d["shape"]), d["dtype"]
        if np.issubdtype(dtype, np.floating):
            out.append(rng.standard_normal(shape).astype(dtype))
        else:
            out.append(rng.integers(0, 4, size=shape).astype(dtype))
    return out


def set_inputs(interp, inputs: Sequence[np.ndarray]) -> None:
    details = interp.get_input_details()
    if len(details) != len(inputs):
        raise ValueError(f"model has {len(details)} inputs, got {len(inputs)}")
    for d, x in zip(details, inputs):
        interp.set_tensor(d["index"], x)


def get_outputs(interp) -> list[np.ndarray]:
    return [np.array(interp.get_tensor(d["index"]), copy=True) for d in interp.get_output_details()]


def run(interp, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    set_inputs(interp, inputs)
    interp.invoke()
    return get_outputs(interp)


def max_rel_error(out: np.ndarray, ref: np.ndarray) -> float:
    """max|out - ref| / max(1, max|ref|); inf on a shape mismatch or a NaN."""
    if out.shape != ref.shape:
        return float("inf")
    out64, ref64 = out.astype(np.float64), ref.astype(np.float64)
    if ref64.size == 0:
        return 0.0
    err = float(np.max(np.abs(out64 - ref64)))
    if np.isnan(err):
        return float("inf")
    return err / max(1.0, float(np.max(np.abs(ref64))))


def mismatches(outs: Sequence[np.ndarray], refs: Sequence[np.ndarray], tol: float = TOLERANCE) -> list[str]:
    """Descriptions of the outputs that do not match (empty when all match)."""
    if len(outs) != len(refs):
        return [f"{len(outs)} outputs, reference has {len(refs)}"]
    bad = []
    for i, (o, r) in enumerate(zip(outs, refs)):
        e = max_rel_error(o, r)
        if not e <= tol:
            if o.shape != r.shape:
                bad.append(f"output {i}: shape {o.shape} != reference {r.shape}")
            else:
                worst = np.unravel_index(np.argmax(np.abs(o.astype(np.float64) - r)), r.shape)
                bad.append(f"output {i} {r.shape}: max rel error {e:.3g} > {tol:g} "
                           f"(worst at {tuple(int(v) for v in worst)}: {o[worst]!r} vs {r[worst]!r})")
    return bad


# ------------------------------------------------------------------- reports
SUMMARY_RE = re.compile(r"^armrest: claimed (\d+) of (\d+) nodes in (\d+) partitions$", re.M)
UNCLAIMED_RE = re.compile(r"^armrest: node (\d+) (\S+) not claimed: (.*)$", re.M)


class ReportError(AssertionError):
    pass


@dataclass
class Unclaimed:
    index: int
    op: str
    reason: str


@dataclass
class Report:
    claimed: int
    total: int
    partitions: int
    unclaimed: list[Unclaimed] = field(default_factory=list)
    text: str = ""

    def check_consistent(self) -> None:
        """Every node is either claimed or listed once as not claimed."""
        indices = [u.index for u in self.unclaimed]
        if len(set(indices)) != len(indices):
            raise ReportError(f"a node is listed twice as not claimed:\n{self.text}")
        if self.claimed + len(self.unclaimed) != self.total:
            raise ReportError(
                f"claimed {self.claimed} + {len(self.unclaimed)} listed not claimed != {self.total} nodes:\n"
                f"{self.text}")
        if any(not 0 <= i < self.total for i in indices):
            raise ReportError(f"a not-claimed node index is out of range:\n{self.text}")
        if self.claimed and self.partitions < 1:
            raise ReportError(f"claimed nodes but no partition:\n{self.text}")


def count_summaries(text: str) -> int:
    return len(SUMMARY_RE.findall(text))


def parse_report(text: str) -> Report:
    """The one report in `text` (stderr of one interpreter creation with report=true)."""
    summaries = SUMMARY_RE.findall(text)
    if len(summaries) != 1:
        raise ReportError(
            f"expected exactly one line 'armrest: claimed C of T nodes in P partitions' on stderr, "
            f"found {len(summaries)}; stderr was:\n{text if text.strip() else '(empty)'}")
    c, t, p = (int(v) for v in summaries[0])
    unclaimed = [Unclaimed(int(i), op, reason.strip()) for i, op, reason in UNCLAIMED_RE.findall(text)]
    return Report(c, t, p, unclaimed, text)


@contextlib.contextmanager
def captured_fd2():
    """Captures what native code writes to fd 2 (for scripts; tests use capfd).
    Yields a list that holds the text once the block has exited."""
    sys.stderr.flush()
    saved = os.dup(2)
    box: list[str] = []
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield box
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            box.append(tmp.read().decode("utf-8", "replace"))


def armrest_with_report(model: bytes, runtime: str = "litert", num_threads: int = 1,
                        leftovers: str = BUILTIN, **options):
    """(interpreter, Report) for scripts: creates armrest with report=true, capturing fd 2."""
    with captured_fd2() as box:
        interp = make_interpreter(model, runtime, ARMREST, num_threads,
                                  dict(options, report="true"), leftovers)
    return interp, parse_report(box[0])


# ------------------------------------------------------------------- timing
def interleaved_latency(invokers: dict[str, Callable[[], None]], rounds: int = 20, warmup: int = 2,
                        budget_s: float | None = None,
                        clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Median time (ms) of each callable by `clock` (seconds; wall time by
    default, `time.thread_time` for the calling thread's CPU time), runs
    interleaved round by round (order rotated each round) so drifts in machine
    load hit all alike. With `budget_s`, stops early (after at least 3 rounds)
    when that much wall time is up."""
    names = list(invokers)
    for _ in range(warmup):
        for n in names:
            invokers[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    start = time.perf_counter()
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            t0 = clock()
            invokers[n]()
            times[n].append(clock() - t0)
        if budget_s is not None and r >= 2 and time.perf_counter() - start > budget_s:
            break
    return {n: 1e3 * float(np.median(v)) for n, v in times.items()}
