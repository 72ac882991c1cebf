"""MediaPipe's custom ops on armrest, one op per model, against the numpy
references in armrest_tflite.mediapipe_ops (written from MediaPipe's public
kernel semantics), and against XNNPACK where it implements the op
(Convolution2DTransposeBias). Every node must be claimed: no runtime here has
MediaPipe's resolver, so an unclaimed custom op could not run at all."""

from __future__ import annotations

import numpy as np
import pytest

from armrest_tflite import harness as h
from armrest_tflite import mediapipe_ops as mo
from conftest import assert_match


def _run_armrest(model: bytes, runtime, armrest, inputs, threads=1):
    interp, report = armrest(model, runtime, leftovers=h.BUILTIN)
    assert report.claimed == report.total == 1, report.unclaimed
    interp.allocate_tensors()
    return h.run(interp, inputs)


@pytest.mark.parametrize("x_shape,o,k,stride,same", [
    ((1, 8, 8, 16), 1, (2, 2), (2, 2), True),     # selfie_segmentation's last layer, smaller
    ((2, 5, 3, 3), 4, (3, 3), (2, 1), True),
    ((1, 4, 6, 5), 2, (3, 2), (3, 2), False),
    ((1, 7, 7, 8), 3, (4, 4), (2, 2), True),
])
def test_convolution2d_transpose_bias(x_shape, o, k, stride, same, runtime, armrest):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((o, k[0], k[1], x_shape[3])).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    model = mo.transpose_conv_bias_model(x_shape, w, b, stride, same)
    x = rng.standard_normal(x_shape).astype(np.float32)
    out = _run_armrest(model, runtime, armrest, [x])
    assert_match(out, [mo.transpose_conv_bias_ref(x, w, b, stride, same)], "armrest vs numpy reference")
    if runtime == "litert":  # LiteRT's XNNPACK implements this MediaPipe op
        xnn = h.make_interpreter(model, runtime, h.XNNPACK)
        xnn.allocate_tensors()
        assert_match(out, h.run(xnn, [x]), "armrest vs XNNPACK")


def _affine(rng, scale, shift):
    r = rng.uniform(-np.pi, np.pi)
    m = np.eye(4, dtype=np.float32)
    m[:2, :2] = scale * np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
    m[:2, 3] = shift
    return m.reshape(1, 4, 4)


@pytest.mark.parametrize("x_shape,out_hw", [((1, 48, 48, 32), (16, 16)), ((1, 9, 7, 5), (12, 4)), ((1, 3, 3, 1), (5, 5))])
def test_transform_tensor_bilinear(x_shape, out_hw, runtime, armrest):
    rng = np.random.default_rng(11)
    model = mo.transform_tensor_bilinear_model(x_shape, out_hw)
    x = rng.standard_normal(x_shape).astype(np.float32)
    # The first map fits the output inside the input;
    # the others are random and fall partly or wholly outside (zeros).
    inside = np.eye(4, dtype=np.float32)
    inside[0, 0], inside[1, 1] = 0.8 * (x_shape[2] - 1) / out_hw[1], 0.8 * (x_shape[1] - 1) / out_hw[0]
    inside[0, 3] = inside[1, 3] = 0.5  # cancels the pixel-centre shift: samples in [0, 0.8 (size - 1)]
    mats = [inside.reshape(1, 4, 4)] + [
        _affine(np.random.default_rng(seed), rng.uniform(0.3, 2.0), rng.uniform(-2, x_shape[1] / 2, 2)) for seed in range(3)]
    for i, m in enumerate(mats):
        out = _run_armrest(model, runtime, armrest, [x, m])
        ref = mo.transform_tensor_bilinear_ref(x, m, out_hw)
        if i == 0:
            assert (ref != 0).all(), "the fitted map samples inside the input everywhere"
        assert_match(out, [ref], f"armrest vs numpy reference (matrix {i})")


@pytest.mark.parametrize("shape", [(1, 468, 3), (1, 80, 2), (1, 5, 3)])
def test_transform_landmarks(shape, runtime, armrest):
    rng = np.random.default_rng(3)
    model = mo.transform_landmarks_model(shape)
    lm = rng.uniform(0, 16, shape).astype(np.float32)
    m = _affine(rng, 1.7, (40.0, -3.0))
    out = _run_armrest(model, runtime, armrest, [lm, m])
    assert_match(out, [mo.transform_landmarks_ref(lm, m)], "armrest vs numpy reference")


@pytest.mark.parametrize("subset", [[0, 3, 5, 7, 9, 11], [4, 1, 2]])
def test_landmarks_to_transform_matrix(subset, runtime, armrest):
    params = dict(subset_idxs=subset, left_rotation_idx=1, right_rotation_idx=6, target_rotation_radians=0.25,
                  output_height=16, output_width=24, scale_x=1.5, scale_y=1.5)
    model = mo.landmarks_to_transform_matrix_model(12, **params)
    rng = np.random.default_rng(5)
    for seed in range(3):
        lm = rng.uniform(0, 192, (1, 12, 3)).astype(np.float32)
        out = _run_armrest(model, runtime, armrest, [lm])
        assert_match(out, [mo.landmarks_to_transform_matrix_ref(lm, **params)], f"armrest vs numpy reference ({seed})")


def test_bad_custom_options_are_left_with_a_reason(runtime, armrest):
    """A malformed options blob is a reason in the report, not a crash."""
    from armrest_tflite.tflite_builder import ModelBuilder
    mb = ModelBuilder("bad options")
    x, m = mb.input((1, 4, 4, 2)), mb.input((1, 4, 4))
    (y,) = mb.op("custom:TransformTensorBilinear", [x, m], [(1, 2, 2, 2)], custom_options=b"\x01\x02\x24\x09", version=2)
    mb.output(y)
    _, report = armrest(mb.build(), runtime, leftovers=h.BUILTIN)
    assert report.claimed == 0
    assert "custom options" in report.unclaimed[0].reason, report.unclaimed
