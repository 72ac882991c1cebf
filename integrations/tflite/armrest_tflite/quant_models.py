"""Quantized test models: one small model per quantized op and variant (int8
with per-channel or per-tensor weights, uint8), dynamic-range FULLY_CONNECTED
and CONV_2D (int8 weights, float activations), and fully quantized
MobileNetV2-like classifiers. Each op case is a float model built with the
builder and quantized by `quantize.quantize_model` after calibration on
fixed-seed samples, so scales and zero points are the ones a converter would
pick; QUANTIZE / DEQUANTIZE (requantize included) are written directly.

    for case in QCASES: model = case.model(); inputs = case.inputs(model, seed=0)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import models
from .quantize import (QuantParams, dequantize_array, io_params, params_from_range, quantize_array,
                       quantize_model, weight_params, with_versions)
from .tflite_builder import ModelBuilder, he_init

CALIBRATION_SEEDS = (100, 101, 102, 103, 104, 105, 106, 107)


@dataclass
class QCase:
    """A quantized test model. `samples(seed)` gives float inputs from the
    distribution the model was calibrated on; `inputs(model, seed)` turns them
    into the model's input types (quantized with the input's parameters)."""

    id: str
    ops: tuple[str, ...]
    make: Callable[[], bytes]
    samples: Callable[[int], list[np.ndarray]]
    kind: str = "quantized"          # or "dynamic" (int8 weights, float activations)
    float_model: Callable[[], bytes] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @functools.cached_property
    def _bytes(self) -> bytes:
        return self.make()

    def model(self) -> bytes:
        return self._bytes

    def inputs(self, seed: int = 0, uniform: bool = False) -> list[np.ndarray]:
        """Inputs of the model: quantized samples, or (uniform=True) uniformly
        random values over the whole int8/uint8 range for quantized inputs."""
        ins, _ = io_params(self.model())
        xs = self.samples(seed)
        rng = np.random.default_rng(seed + 7)
        out = []
        for x, q, d in zip(xs, ins, _input_dtypes(self.model())):
            if q is None:
                out.append(np.asarray(x, dtype=np.float32))
            elif uniform:
                info = np.iinfo(d)
                out.append(rng.integers(info.min, info.max + 1, size=x.shape).astype(d))
            else:
                out.append(quantize_array(x, q, d))
        return out


def _input_dtypes(model: bytes) -> list[np.dtype]:
    from .quantize import _NP_OF_TYPE
    from .tflite_builder import load_model
    m = load_model(model)
    sg = m.subgraphs[0]
    return [_NP_OF_TYPE[sg.tensors[i].type] for i in sg.inputs]


def normal_samples(shapes: Sequence[Sequence[int]], scales: Sequence[float] | None = None,
                   offsets: Sequence[float] | None = None) -> Callable[[int], list[np.ndarray]]:
    scales = scales or [1.0] * len(shapes)
    offsets = offsets or [0.0] * len(shapes)

    def gen(seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng(10_000 + seed)   # not the weights' streams
        return [(o + s * rng.standard_normal(tuple(sh))).astype(np.float32)
                for sh, s, o in zip(shapes, scales, offsets)]
    return gen


QCASES: list[QCase] = []

VARIANTS = {"i8": (np.int8, True), "i8pt": (np.int8, False), "u8": (np.uint8, False)}


def _w(rng, shape, scale=0.3):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def ptq_case(id: str, ops: Sequence[str], float_builder: Callable[[], ModelBuilder],
             shapes: Sequence[Sequence[int]], scales=None, offsets=None, variants=("i8", "u8"),
             io: str = "quantized") -> None:
    """Registers `id` quantized per variant from the float model `float_builder` makes."""
    samples = normal_samples(shapes, scales, offsets)

    def float_model() -> bytes:
        return float_builder().build()

    for v in variants:
        dtype, per_channel = VARIANTS[v]

        def make(dtype=dtype, per_channel=per_channel) -> bytes:
            calib = [samples(s) for s in CALIBRATION_SEEDS]
            return quantize_model(float_model(), calib, dtype=dtype, per_channel=per_channel, io=io)
        QCASES.append(QCase(f"{id}-{v}", tuple(ops), make, samples, float_model=float_model, tags=(v,)))


# ---------------------------------------------------------------- convolutions
def _conv(id, in_shape, out_ch, k, stride=1, dilation=1, padding="SAME", activation=None, seed=0,
          io="quantized", variants=("i8", "i8pt", "u8"), offset=0.0):
    def fb():
        rng = np.random.default_rng(seed)
        kh, kw = (k, k) if isinstance(k, int) else k
        b = ModelBuilder()
        x = b.input(in_shape)
        w = he_init(rng, (out_ch, kh, kw, in_shape[3]), kh * kw * in_shape[3])
        b.output(b.conv_2d(x, b.const(w), b.const(_w(rng, (out_ch,), 0.2)), stride=stride, dilation=dilation,
                           padding=padding, activation=activation))
        return b
    ops = ("CONV_2D",) + (("QUANTIZE", "DEQUANTIZE") if io == "float" else ())
    ptq_case(f"conv_2d-{id}", ops, fb, [in_shape], variants=variants, io=io, offsets=[offset])


_conv("1x1", [1, 6, 7, 5], 9, 1)
_conv("1x1-35to40", [1, 5, 5, 35], 40, 1, activation="RELU")
_conv("3x3-same-relu6", [1, 9, 8, 3], 8, 3, activation="RELU6")
# inputs mostly positive (as after a RELU): the input zero point is far from 0,
# so SAME padding must read it
_conv("3x3-same-zp", [1, 8, 9, 7], 10, 3, offset=2.5)
_conv("3x3-s2-same-zp-relu6", [1, 11, 10, 16], 24, 3, stride=2, activation="RELU6", offset=-2.0)
_conv("3x3-s2-valid-relu", [1, 15, 16, 4], 7, 3, stride=2, padding="VALID", activation="RELU")
_conv("3x3-dil2", [1, 12, 11, 6], 5, 3, dilation=2)
_conv("5x5-s2-17to19", [1, 13, 14, 17], 19, 5, stride=2)
_conv("3x1-s2x1", [1, 10, 9, 8], 16, (3, 1), stride=(2, 1))
_conv("3x3-floatio", [1, 9, 9, 4], 12, 3, activation="RELU6", io="float", variants=("i8", "u8"))


def _dw(id, in_shape, k, stride=1, dilation=1, padding="SAME", multiplier=1, activation=None, seed=1,
        offset=0.0):
    def fb():
        rng = np.random.default_rng(seed)
        ch = in_shape[3] * multiplier
        b = ModelBuilder()
        x = b.input(in_shape)
        w = he_init(rng, (1, k, k, ch), k * k)
        b.output(b.depthwise_conv_2d(x, b.const(w), b.const(_w(rng, (ch,), 0.2)), stride=stride,
                                     dilation=dilation, padding=padding, depth_multiplier=multiplier,
                                     activation=activation))
        return b
    ptq_case(f"depthwise_conv_2d-{id}", ("DEPTHWISE_CONV_2D",), fb, [in_shape], variants=("i8", "i8pt", "u8"),
             offsets=[offset])


_dw("3x3-relu6", [1, 10, 9, 8], 3, activation="RELU6")
_dw("3x3-s2-19ch", [1, 11, 12, 19], 3, stride=2)
_dw("3x3-mult2", [1, 7, 8, 5], 3, multiplier=2, activation="RELU")
_dw("3x3-dil2", [1, 12, 12, 6], 3, dilation=2)
_dw("5x5-valid-33ch", [1, 9, 9, 33], 5, padding="VALID")
_dw("3x3-same-zp-relu6", [1, 9, 10, 24], 3, activation="RELU6", offset=2.5)
_dw("3x3-s2-same-zp", [1, 10, 11, 16], 3, stride=2, offset=-2.0)


def _fc(id, in_shape, units, bias=True, keep_num_dims=False, activation=None, seed=2):
    def fb():
        rng = np.random.default_rng(seed)
        depth = in_shape[-1]
        b = ModelBuilder()
        x = b.input(in_shape)
        w = he_init(rng, (units, depth), depth)
        b.output(b.fully_connected(x, b.const(w), b.const(_w(rng, (units,), 0.2)) if bias else None,
                                   keep_num_dims=keep_num_dims, activation=activation))
        return b
    ptq_case(f"fully_connected-{id}", ("FULLY_CONNECTED",), fb, [in_shape], variants=("i8", "i8pt", "u8"))


_fc("2x20to10-relu", [2, 20], 10, activation="RELU")
_fc("1x64to33-nobias", [1, 64], 33, bias=False)
_fc("keepdims", [1, 3, 24], 12, keep_num_dims=True)
_fc("flatten-4x3x8to5", [4, 3, 8], 5, activation="RELU6")


# ---------------------------------------------------------------- elementwise
def _binary(opname, id, a_shape, b_shape, const_b=False, activation=None, scales=(1.0, 2.0), seed=3):
    def fb():
        rng = np.random.default_rng(seed)
        b = ModelBuilder()
        x = b.input(a_shape)
        if const_b:
            y = b.const((scales[1] * rng.standard_normal(b_shape)).astype(np.float32))
        else:
            y = b.input(b_shape)
        b.output(getattr(b, opname.lower())(x, y, activation=activation))
        return b
    shapes = [a_shape] if const_b else [a_shape, b_shape]
    ptq_case(f"{opname.lower()}-{id}", (opname,), fb, shapes, scales=list(scales[:len(shapes)]))


for _op in ("ADD", "SUB", "MUL"):
    _binary(_op, "same", [1, 8, 8, 12], [1, 8, 8, 12])
    _binary(_op, "bcast-channel", [1, 6, 7, 12], [1, 1, 1, 12], scales=(1.5, 0.5))
    _binary(_op, "const-relu6", [1, 5, 5, 10], [10], const_b=True, activation="RELU6")
    _binary(_op, "bcast-rows-relu", [2, 1, 9], [2, 5, 1], activation="RELU", scales=(3.0, 1.0))


# ---------------------------------------------------------------- pooling / reduce
def _pool(kind, id, in_shape, filt, stride, padding, activation=None, offset=0.0):
    def fb():
        b = ModelBuilder()
        x = b.input(in_shape)
        f = b.average_pool_2d if kind == "AVERAGE_POOL_2D" else b.max_pool_2d
        b.output(f(x, filt, stride=stride, padding=padding, activation=activation))
        return b
    ptq_case(f"{kind.lower()}-{id}", (kind,), fb, [in_shape], offsets=[offset])


for _k in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
    _pool(_k, "2x2-s2-valid", [1, 8, 9, 6], 2, 2, "VALID")
    _pool(_k, "3x3-s1-same", [1, 7, 7, 17], 3, 1, "SAME")
    _pool(_k, "3x3-s2-same-relu6", [1, 9, 10, 5], 3, 2, "SAME", "RELU6")
    _pool(_k, "global", [1, 7, 7, 24], 7, 1, "VALID")
    _pool(_k, "3x3-s2-same-zp", [1, 10, 9, 8], 3, 2, "SAME", offset=2.5)


def _mean(id, in_shape, axes, keep_dims, offset=0.0):
    def fb():
        b = ModelBuilder()
        b.output(b.mean(b.input(in_shape), axes, keep_dims=keep_dims))
        return b
    ptq_case(f"mean-{id}", ("MEAN",), fb, [in_shape], offsets=[offset])


_mean("hw-keep", [1, 7, 7, 16], [1, 2], True)
_mean("hw", [1, 5, 6, 20], [1, 2], False, offset=0.5)
_mean("w", [1, 4, 6, 8], [2], True)
_mean("c", [1, 3, 4, 10], [3], False, offset=-0.4)


def _concat(id, shapes, axis, scales, activation=None):
    def fb():
        b = ModelBuilder()
        xs = [b.input(s) for s in shapes]
        b.output(b.concatenation(xs, axis=axis, activation=activation))
        return b
    ptq_case(f"concatenation-{id}", ("CONCATENATION",), fb, shapes, scales=scales)


_concat("c-3in-scales", [[1, 4, 5, 3], [1, 4, 5, 6], [1, 4, 5, 2]], 3, [1.0, 3.0, 0.3])
_concat("h-2in", [[1, 3, 4, 5], [1, 2, 4, 5]], 1, [0.5, 2.0])
_concat("rank2-same", [[2, 7], [2, 9]], -1, [1.0, 1.0])


# ---------------------------------------------------------------- shape / data movement
def _shape_case(id, op, in_shape, fn, offsets=None):
    def fb():
        b = ModelBuilder()
        b.output(fn(b, b.input(in_shape)))
        return b
    ptq_case(f"{op.lower()}-{id}", (op,), fb, [in_shape], offsets=offsets)


_shape_case("flatten", "RESHAPE", [1, 4, 4, 6], lambda b, x: b.reshape(x, [1, -1]))
_shape_case("3d", "RESHAPE", [1, 6, 10], lambda b, x: b.reshape(x, [2, 3, 10]))
_shape_case("hw", "SQUEEZE", [1, 1, 1, 20], lambda b, x: b.squeeze(x, [1, 2]))
_shape_case("spatial", "PAD", [1, 5, 6, 3], lambda b, x: b.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]]),
            offsets=[1.0])
_shape_case("channels", "PAD", [1, 4, 4, 5], lambda b, x: b.pad(x, [[0, 0], [0, 0], [0, 0], [0, 3]]),
            offsets=[-0.5])
_shape_case("up2", "RESIZE_BILINEAR", [1, 5, 6, 7], lambda b, x: b.resize_bilinear(x, (10, 12)))
_shape_case("align-corners", "RESIZE_BILINEAR", [1, 5, 6, 4],
            lambda b, x: b.resize_bilinear(x, (9, 11), align_corners=True))
_shape_case("half-pixel", "RESIZE_BILINEAR", [1, 4, 5, 6],
            lambda b, x: b.resize_bilinear(x, (7, 9), half_pixel_centers=True))
_shape_case("down-half-pixel", "RESIZE_BILINEAR", [1, 9, 8, 3],
            lambda b, x: b.resize_bilinear(x, (4, 5), half_pixel_centers=True))


# ---------------------------------------------------------------- activations
def _unary(id, op, in_shape, fn, scale=1.0, offset=0.0):
    def fb():
        b = ModelBuilder()
        b.output(fn(b, b.input(in_shape)))
        return b
    ptq_case(f"{op.lower()}-{id}", (op,), fb, [in_shape], scales=[scale], offsets=[offset])


_unary("beta1", "SOFTMAX", [2, 10], lambda b, x: b.softmax(x), scale=2.0)
_unary("beta05-4d", "SOFTMAX", [1, 4, 4, 8], lambda b, x: b.softmax(x, beta=0.5), scale=3.0)
_unary("wide", "SOFTMAX", [1, 100], lambda b, x: b.softmax(x), scale=4.0)
_unary("x3", "LOGISTIC", [1, 6, 6, 8], lambda b, x: b.logistic(x), scale=3.0)
_unary("x1", "LOGISTIC", [3, 17], lambda b, x: b.logistic(x), offset=0.5)
_unary("x3", "TANH", [1, 6, 6, 8], lambda b, x: b.tanh(x), scale=3.0)
_unary("x05", "TANH", [3, 17], lambda b, x: b.tanh(x), scale=0.5)
_unary("x4", "HARD_SWISH", [1, 6, 6, 8], lambda b, x: b.hard_swish(x), scale=4.0)
_unary("x1", "HARD_SWISH", [2, 33], lambda b, x: b.hard_swish(x), offset=1.0)
_unary("a01", "LEAKY_RELU", [1, 6, 6, 8], lambda b, x: b.leaky_relu(x, 0.1), scale=2.0)
_unary("a03", "LEAKY_RELU", [2, 33], lambda b, x: b.leaky_relu(x, 0.3))


# ---------------------------------------------------------------- QUANTIZE / DEQUANTIZE
def _qdq_case(id, ops, in_shape, make, scale=1.0, offset=0.0):
    QCASES.append(QCase(id, tuple(ops), make, normal_samples([in_shape], [scale], [offset]),
                        tags=("i8" if "uint8" not in id else "u8",)))


def _quantize_float(in_shape, dtype, scale, offset):
    def make():
        lo, hi = offset - 3.5 * scale, offset + 3.5 * scale
        q = params_from_range(lo, hi, dtype)
        b = ModelBuilder()
        x = b.input(in_shape)
        y = b.op("QUANTIZE", [x], [x.shape], out_dtypes=[dtype], out_quants=[q])[0]
        b.output(y)
        return with_versions(b.build())
    return make


def _requantize(in_shape, dtype_in, dtype_out, scale, offset, ratio, shift):
    def make():
        lo, hi = offset - 3.5 * scale, offset + 3.5 * scale
        qi = params_from_range(lo, hi, dtype_in)
        qo = params_from_range(lo * ratio + shift, hi * ratio + shift, dtype_out)
        b = ModelBuilder()
        x = b.input(in_shape, dtype_in, quant=qi)
        b.output(b.op("QUANTIZE", [x], [x.shape], out_dtypes=[dtype_out], out_quants=[qo])[0])
        return with_versions(b.build())
    return make


def _dequantize(in_shape, dtype, scale, offset):
    def make():
        q = params_from_range(offset - 3.5 * scale, offset + 3.5 * scale, dtype)
        b = ModelBuilder()
        x = b.input(in_shape, dtype, quant=q)
        b.output(b.op("DEQUANTIZE", [x], [x.shape])[0])
        return with_versions(b.build())
    return make


_qdq_case("quantize-float-int8", ["QUANTIZE"], [1, 8, 8, 3], _quantize_float([1, 8, 8, 3], np.int8, 1.0, 0.3))
_qdq_case("quantize-float-uint8", ["QUANTIZE"], [2, 50], _quantize_float([2, 50], np.uint8, 2.0, 1.0), 2.0, 1.0)
_qdq_case("quantize-requant-int8-wider", ["QUANTIZE"], [1, 6, 6, 8],
          _requantize([1, 6, 6, 8], np.int8, np.int8, 1.0, 0.0, 1.7, 0.4))
_qdq_case("quantize-requant-int8-narrower", ["QUANTIZE"], [2, 40],
          _requantize([2, 40], np.int8, np.int8, 1.0, 0.5, 0.45, -0.2), 1.0, 0.5)
_qdq_case("quantize-requant-uint8", ["QUANTIZE"], [1, 5, 5, 4],
          _requantize([1, 5, 5, 4], np.uint8, np.uint8, 1.0, 0.0, 0.8, 0.3))
_qdq_case("quantize-requant-uint8-to-int8", ["QUANTIZE"], [1, 5, 5, 4],
          _requantize([1, 5, 5, 4], np.uint8, np.int8, 1.0, 0.0, 1.2, 0.0))
_qdq_case("quantize-requant-int8-to-uint8", ["QUANTIZE"], [3, 30],
          _requantize([3, 30], np.int8, np.uint8, 1.0, 0.3, 0.9, 0.1), 1.0, 0.3)
_qdq_case("dequantize-int8", ["DEQUANTIZE"], [1, 7, 7, 5], _dequantize([1, 7, 7, 5], np.int8, 1.0, 0.2))
_qdq_case("dequantize-uint8", ["DEQUANTIZE"], [3, 21], _dequantize([3, 21], np.uint8, 2.0, -0.5), 2.0, -0.5)


# ---------------------------------------------------------------- dynamic range
DYNAMIC: list[QCase] = []


def _dyn_fc(id, in_shape, units, asymmetric, per_channel=False, keep_num_dims=False, seed=4):
    def make():
        rng = np.random.default_rng(seed)
        depth = in_shape[-1]
        w = he_init(rng, (units, depth), depth)
        wq = weight_params(w, np.int8, 0 if per_channel else None)
        b = ModelBuilder()
        x = b.input(in_shape)
        y = b.fully_connected(x, b.const(quantize_array(w, wq, np.int8), quant=wq),
                              b.const(_w(rng, (units,), 0.2)), keep_num_dims=keep_num_dims)
        b._operators[-1].builtinOptions.asymmetricQuantizeInputs = bool(asymmetric)
        b.output(y)
        return with_versions(b.build())
    DYNAMIC.append(QCase(f"dynamic-fully_connected-{id}", ("FULLY_CONNECTED",), make,
                         normal_samples([in_shape], [1.0], [0.3]), kind="dynamic"))


def _dyn_conv(id, in_shape, out_ch, k, per_channel, stride=1, padding="SAME", activation=None, seed=5):
    def make():
        rng = np.random.default_rng(seed)
        w = he_init(rng, (out_ch, k, k, in_shape[3]), k * k * in_shape[3])
        wq = weight_params(w, np.int8, 0 if per_channel else None)
        b = ModelBuilder()
        x = b.input(in_shape)
        b.output(b.conv_2d(x, b.const(quantize_array(w, wq, np.int8), quant=wq), b.const(_w(rng, (out_ch,), 0.2)),
                           stride=stride, padding=padding, activation=activation))
        return with_versions(b.build())
    DYNAMIC.append(QCase(f"dynamic-conv_2d-{id}", ("CONV_2D",), make,
                         normal_samples([in_shape], [1.0], [0.2]), kind="dynamic"))


for _asym in (False, True):
    _a = "asym" if _asym else "sym"
    _dyn_fc(f"2x32to16-{_a}", [2, 32], 16, _asym)
    _dyn_fc(f"5x70to33-{_a}", [5, 70], 33, _asym)
    _dyn_fc(f"keepdims-{_a}", [1, 3, 24], 12, _asym, keep_num_dims=True)
_dyn_fc("3x40to20-perchannel-asym", [3, 40], 20, True, per_channel=True)
_dyn_fc("3x40to20-perchannel-sym", [3, 40], 20, False, per_channel=True)
_dyn_conv("3x3-pertensor", [1, 8, 8, 6], 8, 3, per_channel=False)
_dyn_conv("3x3-perchannel-relu6", [1, 9, 8, 5], 12, 3, per_channel=True, activation="RELU6")
_dyn_conv("1x1-s2-perchannel", [2, 8, 8, 16], 24, 1, per_channel=True, stride=2)


# ---------------------------------------------------------------- MobileNetV2
def mobilenet_v2_float(input_size: int, width: float, num_classes: int, seed: int = 0,
                       softmax: bool = True) -> bytes:
    """The float MobileNetV2 classifier; softmax=False ends at the FULLY_CONNECTED logits."""
    if softmax:
        return models.mobilenet_v2(input_size=input_size, width=width, num_classes=num_classes, seed=seed).build()
    b = ModelBuilder(f"mobilenet_v2 {input_size} x{width} logits")
    n = models._Net(b, seed, False)
    x = b.input([1, input_size, input_size, 3], name="image")
    _, x = models._mobilenet_v2_backbone(b, n, x, width)
    b.output(n.fc(b.mean(x, [1, 2], keep_dims=False), num_classes))
    return b.build()


def image_samples(input_size: int) -> Callable[[int], list[np.ndarray]]:
    """Image-like inputs in [-1, 1] (smooth gradients plus noise), as a
    MobileNet's preprocessing produces."""
    def gen(seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        yy, xx = np.meshgrid(np.linspace(-1, 1, input_size), np.linspace(-1, 1, input_size), indexing="ij")
        chans = []
        for _ in range(3):
            a, b_, c = rng.uniform(-1, 1, 3)
            chans.append(a * xx + b_ * yy + c * np.sin(3 * xx * yy + rng.uniform(0, 6)))
        img = np.stack(chans, -1)[None] + 0.25 * rng.standard_normal((1, input_size, input_size, 3))
        return [np.clip(img, -1, 1).astype(np.float32)]
    return gen


def mobilenet_v2_quant(input_size: int = 224, width: float = 1.0, num_classes: int = 1000, dtype=np.int8,
                       io: str = "float", per_channel: bool = True, calibration: int = 2, seed: int = 0,
                       softmax: bool = True) -> bytes:
    """A fully quantized MobileNetV2 (stem, 17 inverted residuals with RELU6 and
    ADDs, 1x1 to 1280, global MEAN, FULLY_CONNECTED, SOFTMAX), calibrated on
    `calibration` image-like samples. io="float": float image in through
    QUANTIZE, DEQUANTIZE at the end; io="quantized": int8/uint8 in and out.
    softmax=False: the logits of the FULLY_CONNECTED are the output."""
    f = mobilenet_v2_float(input_size, width, num_classes, seed, softmax)
    gen = image_samples(input_size)
    calib = [gen(s) for s in CALIBRATION_SEEDS[:calibration]]
    return quantize_model(f, calib, dtype=dtype, per_channel=per_channel, io=io)


MOBILENET_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX")


def _mnv2_case(id, dtype, io, per_channel=True, size=96, width=0.5, classes=16, softmax=True):
    ops = MOBILENET_OPS + (("QUANTIZE", "DEQUANTIZE") if io == "float" else ())
    if not softmax:
        ops = tuple(o for o in ops if o != "SOFTMAX")
    QCASES_MODELS.append(QCase(
        id, ops, lambda: mobilenet_v2_quant(size, width, classes, dtype, io, per_channel, softmax=softmax),
        image_samples(size), float_model=lambda: mobilenet_v2_float(size, width, classes, softmax=softmax),
        tags=("model",)))


QCASES_MODELS: list[QCase] = []
_mnv2_case("mobilenet_v2_int8_floatio", np.int8, "float")
_mnv2_case("mobilenet_v2_int8_floatio_logits", np.int8, "float", softmax=False)
_mnv2_case("mobilenet_v2_int8_int8io", np.int8, "quantized")
_mnv2_case("mobilenet_v2_int8_pertensor", np.int8, "float", per_channel=False)
_mnv2_case("mobilenet_v2_uint8", np.uint8, "quantized")


def ssdlite_quant(input_size: int = 96, width: float = 0.35, num_classes: int = 5, dtype=np.int8,
                  io: str = "float", calibration: int = 2, seed: int = 6) -> bytes:
    """A fully quantized MobileNetV2-SSDLite detector (the MobileNetV2 backbone,
    extra layers, separable box/class heads, RESHAPE, CONCATENATION (int8: the
    inputs requantized to one scale by QUANTIZE, as the converter does),
    LOGISTIC scores)."""
    f = models.mobilenet_v2_ssdlite(input_size=input_size, width=width, num_classes=num_classes, seed=seed).build()
    gen = image_samples(input_size)
    return quantize_model(f, [gen(s) for s in CALIBRATION_SEEDS[:calibration]], dtype=dtype, io=io)


SSD_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "RESHAPE", "CONCATENATION", "LOGISTIC", "QUANTIZE", "DEQUANTIZE")
QCASES_MODELS.append(QCase("ssdlite_int8_floatio", SSD_OPS, lambda: ssdlite_quant(dtype=np.int8), image_samples(96),
                           float_model=lambda: models.mobilenet_v2_ssdlite(96, 0.35, 5, seed=6).build(),
                           tags=("model",)))
QCASES_MODELS.append(QCase("ssdlite_uint8_floatio", SSD_OPS, lambda: ssdlite_quant(dtype=np.uint8), image_samples(96),
                           float_model=lambda: models.mobilenet_v2_ssdlite(96, 0.35, 5, seed=6).build(),
                           tags=("model",)))


def dequantized_inputs(case: QCase, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The real values the quantized inputs stand for (float inputs as they are)."""
    ins, _ = io_params(case.model())
    return [x.astype(np.float32) if q is None else dequantize_array(x, q).astype(np.float32)
            for x, q in zip(inputs, ins)]


ALL = QCASES + DYNAMIC + QCASES_MODELS
BY_ID = {c.id: c for c in ALL}
