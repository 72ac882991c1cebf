"""What armrest must leave to TFLite, and say why: fused TANH/SIGN_BIT
activations, non-constant weights, non-fp32 tensors, ops it does not have.
The rest of each model is claimed, the partitions are counted, and the mixed
model still computes the builtin kernels' result."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from armrest_tflite import harness as h
from armrest_tflite.tflite_builder import ModelBuilder, S
from conftest import assert_match, oracle_outputs


@dataclass
class Mixed:
    id: str
    make: Callable[[], ModelBuilder]
    unclaimed: dict[int, tuple[str, str]]   # node -> (op, reason pattern)
    partitions: int


def _rng():
    return np.random.default_rng(11)


def _tanh_conv():
    r = _rng()
    b = ModelBuilder()
    x = b.input([1, 6, 6, 3])
    y = b.conv_2d(x, b.const(0.3 * r.standard_normal((4, 3, 3, 3))), None, activation="RELU")
    y = b.conv_2d(y, b.const(0.3 * r.standard_normal((4, 3, 3, 4))), None, activation="TANH")
    b.output(b.add(y, b.const(np.ones(4, np.float32))))
    return b


def _tanh_add():
    b = ModelBuilder()
    x = b.input([1, 5, 5, 4])
    z = b.input([1, 5, 5, 4])
    b.output(b.relu(b.add(b.mul(x, z), z, activation="TANH")))
    return b


def _sign_bit_mul():
    b = ModelBuilder()
    x = b.input([2, 7])
    b.output(b.mul(b.relu6(x), b.const(np.full(7, -0.5, np.float32)), activation="SIGN_BIT"))
    return b


def _fc_runtime_weights():
    b = ModelBuilder()
    x = b.input([2, 8])
    w = b.input([5, 8], name="weights")
    b.output(b.relu(b.fully_connected(b.relu(x), w, None)))
    return b


def _conv_runtime_weights():
    b = ModelBuilder()
    x = b.input([1, 6, 6, 3])
    w = b.input([4, 3, 3, 3], name="filter")
    b.output(b.conv_2d(x, w, None, activation="RELU6"))
    return b


def _int32_add():
    b = ModelBuilder()
    x = b.input([1, 4, 4, 2])
    i = b.input([3, 5], dtype=np.int32)
    y = b.op("ADD", [i, b.const(np.arange(5, dtype=np.int32))], [[3, 5]], [np.int32],
             options=S.AddOptionsT())[0]
    b.output(b.relu(x), y)
    return b


def _space_to_depth_between():
    r = _rng()
    b = ModelBuilder()
    x = b.input([1, 4, 4, 3])
    y = b.conv_2d(x, b.const(0.3 * r.standard_normal((8, 1, 1, 3))), None, activation="RELU")
    o = S.SpaceToDepthOptionsT()
    o.blockSize = 2
    y = b.op("SPACE_TO_DEPTH", [y], [[1, 2, 2, 32]], options=o)[0]
    b.output(b.conv_2d(y, b.const(0.3 * r.standard_normal((3, 3, 3, 32))), None))
    return b


_ACT = r"activation|tanh|sign"
_WEIGHTS = r"constant|weight|filter|dynamic"
_TYPE = r"type|float|fp32|f32|int"

MIXED = [
    Mixed("conv-fused-tanh", _tanh_conv, {1: ("CONV_2D", _ACT)}, 2),
    Mixed("add-fused-tanh", _tanh_add, {1: ("ADD", _ACT)}, 2),
    Mixed("mul-fused-sign_bit", _sign_bit_mul, {1: ("MUL", _ACT)}, 1),
    Mixed("fc-runtime-weights", _fc_runtime_weights, {1: ("FULLY_CONNECTED", _WEIGHTS)}, 2),
    Mixed("conv-runtime-weights", _conv_runtime_weights, {0: ("CONV_2D", _WEIGHTS)}, 0),
    Mixed("int32-add", _int32_add, {0: ("ADD", _TYPE)}, 1),
    Mixed("space_to_depth-between-convs", _space_to_depth_between, {1: ("SPACE_TO_DEPTH", r".")}, 2),
]


@pytest.mark.parametrize("mixed", MIXED, ids=lambda m: m.id)
def test_left_to_tflite_with_reason(mixed, runtime, armrest):
    b = mixed.make()
    model = b.build()
    # What armrest's own kernels leave: the tract fallback is off here
    # (test_tract_fallback.py covers it).
    interp, report = armrest(model, runtime, fallback="none")
    assert report.total == b.num_operators, report.text
    got = {u.index: u for u in report.unclaimed}
    assert set(got) == set(mixed.unclaimed), \
        f"not claimed: {sorted(got)}, expected {sorted(mixed.unclaimed)}:\n{report.text}"
    for idx, (op, pattern) in mixed.unclaimed.items():
        assert got[idx].op == op, report.text
        assert got[idx].reason.strip(), f"node {idx} has an empty reason"
        assert re.search(pattern, got[idx].reason, re.I), \
            f"node {idx} {op}: reason {got[idx].reason!r} should say why (/{pattern}/)"
    assert report.partitions == mixed.partitions, report.text
    interp.allocate_tensors()
    inputs = h.random_inputs(interp, seed=2)
    assert_match(h.run(interp, inputs), oracle_outputs(model, runtime, inputs))


@pytest.mark.parametrize("mixed", MIXED, ids=lambda m: m.id)
def test_mixed_models_run_on_builtin(mixed, runtime):
    """The models themselves are valid TFLite (checked without armrest)."""
    model = mixed.make().build()
    interp = h.make_interpreter(model, runtime, h.BUILTIN)
    interp.allocate_tensors()
    outs = h.run(interp, h.random_inputs(interp))
    assert all(np.isfinite(o).all() for o in outs if o.dtype.kind == "f")
