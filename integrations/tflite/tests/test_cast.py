"""CAST inside armrest's partitions, end to end through TFLite/LiteRT.

CAST used to sit on every partition's edge (partitions were float32-only),
so a model taking a uint8 image or returning int32 indices was split. Now
CAST between float32, int32, int8 and uint8 runs natively inside the
partition: each model here is claimed whole, in one partition, and its
outputs equal TFLite's builtin kernels exactly (integer outputs) or to
float tolerance (after convolutions)."""

from __future__ import annotations

import numpy as np
import pytest

from armrest_tflite import harness as h
from armrest_tflite.tflite_builder import ModelBuilder, S
from conftest import assert_all_claimed, assert_match, oracle_outputs


def cast(b, x, dtype):
    return b.op("CAST", [x], [list(x.shape)], out_dtypes=[dtype], options=S.CastOptionsT())[0]


def _uint8_image():
    """uint8 image → CAST → scale to [-1, 1] → conv → relu6 (float out) and a
    truncated int32 and uint8 copy of the scaled image."""
    r = np.random.default_rng(4)
    b = ModelBuilder()
    img = b.input([1, 9, 7, 3], dtype=np.uint8)
    f = cast(b, img, np.float32)
    scaled = b.add(b.mul(f, b.const(np.float32([2.0 / 255.0]))), b.const(np.float32([-1.0])))
    y = b.conv_2d(scaled, b.const(0.3 * r.standard_normal((4, 3, 3, 3))), b.const(r.standard_normal(4)),
                  stride=2, padding="SAME", activation="RELU6")
    tens = b.mul(scaled, b.const(np.float32([10.0])))
    b.output(y, cast(b, tens, np.int32), cast(b, b.add(tens, b.const(np.float32([10.0]))), np.uint8))
    return b


def _int32_in():
    """int32 input → CAST → ADD → RELU; int8 input → CAST → MUL."""
    b = ModelBuilder()
    i = b.input([2, 5], dtype=np.int32)
    s = b.input([2, 5], dtype=np.int8)
    y = b.relu(b.add(cast(b, i, np.float32), b.const(np.linspace(-3, 3, 5).astype(np.float32))))
    b.output(b.mul(y, cast(b, s, np.float32)))
    return b


def _round_trip():
    """float → CAST int32 → CAST float (truncation toward zero) between float ops,
    and float → CAST int8 (wrapping) as a second output."""
    b = ModelBuilder()
    x = b.input([1, 4, 4, 6])
    scaled = b.mul(x, b.const(np.float32([7.5])))
    t = cast(b, cast(b, scaled, np.int32), np.float32)
    b.output(b.relu6(b.add(t, b.const(np.float32([0.5])))), cast(b, scaled, np.int8))
    return b


def _inputs(interp, seed):
    rng = np.random.default_rng(seed)
    out = []
    for d in interp.get_input_details():
        shape, dt = tuple(d["shape"]), d["dtype"]
        if dt == np.uint8:
            out.append(rng.integers(0, 256, size=shape).astype(dt))
        elif dt == np.int8:
            out.append(rng.integers(-128, 128, size=shape).astype(dt))
        elif dt == np.int32:
            out.append(rng.integers(-10, 10, size=shape).astype(dt))
        else:
            out.append((3 * rng.standard_normal(shape)).astype(dt))
    return out


CASES = {"uint8_image": _uint8_image, "int32_int8_in": _int32_in, "round_trip": _round_trip}


@pytest.mark.parametrize("name", CASES)
def test_cast_is_claimed_and_exact(name, runtime, armrest):
    b = CASES[name]()
    model = b.build()
    interp, report = armrest(model, runtime)
    assert_all_claimed(report, b.num_operators)
    assert "CAST" in b.operator_names
    interp.allocate_tensors()
    for seed in (0, 1, 2):
        inputs = _inputs(interp, seed)
        outs = h.run(interp, inputs)
        refs = oracle_outputs(model, runtime, inputs)
        for o, r in zip(outs, refs):
            assert o.dtype == r.dtype and o.shape == r.shape
            if o.dtype != np.float32:
                np.testing.assert_array_equal(o, r, err_msg=f"{name}: integer output differs from TFLite")
        assert_match(outs, refs, f"{name} vs builtin kernels")


def test_out_of_range_floats_saturate_as_litert(armrest):
    """Float → integer outside the target range: LiteRT 2.3.0 saturates (NaN to
    the maximum), which armrest follows; tflite-runtime 2.14 wraps through int32
    there (C++ leaves it undefined), so this case runs on LiteRT only."""
    b = ModelBuilder()
    x = b.input([12])
    y = b.mul(x, b.const(np.float32([1.0])))
    b.output(cast(b, y, np.int32), cast(b, y, np.int8), cast(b, y, np.uint8))
    model = b.build()
    interp, report = armrest(model, "litert")
    assert_all_claimed(report, b.num_operators)
    interp.allocate_tensors()
    x = np.float32([-3e9, -70000.5, -300.7, -128.5, -0.7, 0.7, 127.9, 128.5, 255.9, 300.7, 3e9, np.nan])
    outs = h.run(interp, [x])
    refs = oracle_outputs(model, "litert", [x])
    for o, r in zip(outs, refs):
        np.testing.assert_array_equal(o, r)
    np.testing.assert_array_equal(outs[2], np.uint8([0, 0, 0, 0, 0, 0, 127, 128, 255, 255, 255, 255]))


def test_fallback_none_still_claims_cast(runtime, armrest):
    """CAST is native: it stays claimed without the tract fallback."""
    b = _round_trip()
    interp, report = armrest(b.build(), runtime, fallback="none")
    assert_all_claimed(report, b.num_operators)


def test_unsupported_cast_is_left_to_tflite(runtime, armrest):
    b = ModelBuilder()
    x = b.input([4])
    y = b.relu(x)
    b.output(b.op("CAST", [y], [[4]], out_dtypes=[np.int64], options=S.CastOptionsT())[0])
    interp, report = armrest(b.build(), runtime)
    assert [u.op for u in report.unclaimed] == ["CAST"], report.text
    assert "int64" in report.unclaimed[0].reason
    interp.allocate_tensors()
    x = np.float32([-1.5, 0.5, 2.7, 9.9])
    np.testing.assert_array_equal(h.run(interp, [x])[0], np.int64([0, 0, 2, 9]))
