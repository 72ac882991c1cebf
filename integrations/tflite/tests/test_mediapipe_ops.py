"""MediaPipe's custom ops on armrest, one op per model, against the numpy
references in armrest_tflite.mediapipe_ops (written from MediaPipe's public
kernel semantics), and against XNNPACK where it implements the op
(Convolution2DTransposeBias, MaxPoolingWithArgmax2D and MaxUnpooling2D with
stride = filter). Every node must be claimed: no runtime here has
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


def _claimed_all(model: bytes, runtime, armrest, n: int):
    interp, report = armrest(model, runtime, leftovers=h.BUILTIN)
    assert report.claimed == report.total == n, report.unclaimed
    interp.allocate_tensors()
    return interp


def _xnnpack_positions(idx: np.ndarray, filt) -> np.ndarray:
    """XNNPACK writes the argmax as uint32 bits in the float32 tensor, counting
    down the window's columns (kx * fh + ky); as MediaPipe's ky * fw + kx."""
    k = idx.view(np.uint32).astype(np.int64)
    return (k % filt[0]) * filt[1] + k // filt[0]


@pytest.mark.parametrize("x_shape,filt,stride,same,activation", [
    ((1, 16, 16, 8), (2, 2), (2, 2), True, 0),   # the SegNet pool
    ((2, 7, 9, 3), (2, 2), (2, 2), True, 0),     # odd sizes: the last window overhangs
    ((1, 6, 10, 4), (2, 2), (2, 2), False, 1),   # VALID; RELU
    ((1, 9, 8, 5), (3, 3), (2, 2), True, 3),     # overlapping windows, padded before; RELU6
    ((1, 8, 11, 4), (3, 2), (1, 3), False, 2),   # VALID, stride != filter; RELU_N1_TO_1
])
def test_max_pooling_with_argmax(x_shape, filt, stride, same, activation, runtime, armrest):
    rng = np.random.default_rng(17)
    model = mo.max_pool_argmax_model(x_shape, filt, stride, same, activation)
    interp = _claimed_all(model, runtime, armrest, 1)
    # Coarse values: ties are common, the first row-major maximum must win.
    x = np.round(rng.standard_normal(x_shape) * 3).astype(np.float32)
    values, indices = h.run(interp, [x])
    ref_v, ref_i = mo.max_pool_with_argmax_ref(x, filt, stride, same, activation)
    np.testing.assert_array_equal(values, ref_v)
    np.testing.assert_array_equal(indices, ref_i)
    if runtime == "litert" and filt == stride and activation == 0:
        # XNNPACK implements the op for stride = filter without a fused activation;
        # compared on distinct values (its ties may resolve in its own window order).
        x = rng.standard_normal(x_shape).astype(np.float32)
        out = h.run(interp, [x])
        xnn = h.make_interpreter(model, runtime, h.XNNPACK)
        xnn.allocate_tensors()
        xv, xi = h.run(xnn, [x])
        assert_match([out[0]], [xv], "armrest vs XNNPACK (values)")
        np.testing.assert_array_equal(np.trunc(out[1]).astype(np.int64), _xnnpack_positions(xi, filt))


@pytest.mark.parametrize("shape,filt,stride", [((1, 8, 8, 16), (2, 2), (2, 2)), ((2, 3, 5, 3), (3, 2), (2, 2)),
                                               ((1, 4, 3, 2), (2, 3), (3, 4))])
def test_max_unpooling(shape, filt, stride, runtime, armrest):
    """Indices as MediaPipe's pooling writes them, plus irregular ones (past the
    window, negative): armrest scatters them as MediaPipe's loops do."""
    rng = np.random.default_rng(19)
    model = mo.max_unpool_model(shape, filt, stride)
    interp = _claimed_all(model, runtime, armrest, 1)
    v = rng.standard_normal(shape).astype(np.float32)
    k = filt[0] * filt[1]
    regular = rng.integers(0, k, shape).astype(np.float32) + np.float32(0.1)
    irregular = regular.copy()
    irregular.flat[::5] = rng.integers(-2 * k, 3 * k, irregular.flat[::5].shape) + 0.1
    for idx in (regular, irregular):
        (out,) = h.run(interp, [v, idx])
        np.testing.assert_array_equal(out, mo.max_unpool_ref(v, idx, filt, stride))


def test_argmax_pool_unpool_segmentation_model(runtime, armrest):
    """A SegNet-style encoder/decoder: every node claimed (2 pools, 2 unpools,
    5 convs), against the numpy references chained by hand and XNNPACK."""
    model = mo.segmentation_model(np.random.default_rng(23))
    interp = _claimed_all(model, runtime, armrest, 9)
    rng = np.random.default_rng(29)
    for seed in range(3):
        x = rng.standard_normal((1, 32, 32, 3)).astype(np.float32)
        out = h.run(interp, [x])
        if runtime == "litert":  # LiteRT's XNNPACK implements both MediaPipe ops
            xnn = h.make_interpreter(model, runtime, h.XNNPACK)
            xnn.allocate_tensors()
            assert_match(out, h.run(xnn, [x]), f"armrest vs XNNPACK ({seed})")
    # The numpy chain on the model's own weights.
    from armrest_tflite.tflite_builder import load_model
    m = load_model(model)
    buffers = [np.frombuffer(bytes(b.data), np.float32) if b.data is not None else None for b in m.buffers]
    sg = m.subgraphs[0]
    const = lambda t: buffers[sg.tensors[t].buffer].reshape(sg.tensors[t].shape)  # noqa: E731
    vals = {sg.inputs[0]: x.astype(np.float64)}
    for op in sg.operators:
        name = m.operatorCodes[op.opcodeIndex].customCode
        if name is None:  # CONV_2D, SAME, stride 1, RELU on all but the last
            t = vals[op.inputs[0]]
            w, b = const(op.inputs[1]).astype(np.float64), const(op.inputs[2]).astype(np.float64)
            kh, kw = w.shape[1:3]
            p = np.pad(t, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
            y = sum(np.einsum("nhwc,oc->nhwo", p[:, ky:ky + t.shape[1], kx:kx + t.shape[2]], w[:, ky, kx])
                    for ky in range(kh) for kx in range(kw)) + b
            relu = op.builtinOptions.fusedActivationFunction == 1
            vals[op.outputs[0]] = np.maximum(y, 0) if relu else y
        elif name == b"MaxPoolingWithArgmax2D":
            pv, pi = mo.max_pool_with_argmax_ref(vals[op.inputs[0]].astype(np.float32), (2, 2), (2, 2), True)
            vals[op.outputs[0]], vals[op.outputs[1]] = pv.astype(np.float64), pi
        else:
            vals[op.outputs[0]] = mo.max_unpool_ref(vals[op.inputs[0]], vals[op.inputs[1]], (2, 2), (2, 2)).astype(np.float64)
    assert_match(out, [vals[sg.outputs[0]].astype(np.float32)], "armrest vs numpy chain")
