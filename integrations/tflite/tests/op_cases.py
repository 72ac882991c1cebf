"""One small model per claimed op and option set, each with a numpy reference.

A case builds its model with the builder and returns a reference function
(inputs -> outputs in float64) written against numpy_ref, so the same list
validates the builder (on TFLite's builtin kernels) and tests armrest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

import numpy_ref as R
from armrest_tflite.tflite_builder import ModelBuilder


@dataclass
class Case:
    id: str
    make: Callable[[], tuple[ModelBuilder, Callable[..., Sequence[np.ndarray]]]]
    input_scale: float = 1.0
    positive_inputs: bool = False    # inputs in [0.5, 1.5) (denominators)

    def build(self):
        return self.make()

    def inputs(self, shapes, seed=0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        if self.positive_inputs:
            return [(0.5 + rng.random(s)).astype(np.float32) for s in shapes]
        return [(self.input_scale * rng.standard_normal(s)).astype(np.float32) for s in shapes]


CASES: list[Case] = []


def case(id, input_scale=1.0, positive_inputs=False):
    def deco(fn):
        CASES.append(Case(id, fn, input_scale, positive_inputs))
        return fn
    return deco


def _rng(seed):
    return np.random.default_rng(seed)


def _w(rng, shape, scale=0.3):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ------------------------------------------------------------------ CONV_2D
def _conv_case(id, in_shape, out_ch, k, stride=1, dilation=1, padding="SAME", activation=None,
               bias=True, fp16=False, seed=0):
    @case(f"conv_2d-{id}")
    def make():
        rng = _rng(seed)
        kh, kw = _pair(k)
        w = _w(rng, (out_ch, kh, kw, in_shape[3]))
        bv = _w(rng, (out_ch,)) if bias else None
        b = ModelBuilder()
        x = b.input(in_shape)
        y = b.conv_2d(x, b.weights(w, fp16=fp16), b.weights(bv, fp16=fp16) if bias else None,
                      stride=stride, dilation=dilation, padding=padding, activation=activation)
        b.output(y)
        wr = w.astype(np.float16).astype(np.float32) if fp16 else w
        br = bv.astype(np.float16).astype(np.float32) if (fp16 and bias) else bv
        return b, lambda xs: [R.conv2d(xs[0], wr, br, _pair(stride), _pair(dilation), padding, activation)]


_conv_case("1x1", [1, 6, 7, 5], 9, 1)
_conv_case("3x3-same", [1, 9, 8, 3], 8, 3)
_conv_case("3x3-valid", [1, 9, 8, 3], 8, 3, padding="VALID")
_conv_case("3x3-s2-same-relu6", [1, 15, 16, 4], 12, 3, stride=2, activation="RELU6")
_conv_case("3x3-s2-valid-relu", [1, 15, 16, 4], 7, 3, stride=2, padding="VALID", activation="RELU")
_conv_case("5x5-s12-same", [1, 11, 13, 6], 5, 5, stride=(1, 2))
_conv_case("3x3-d2-same", [1, 12, 12, 4], 6, 3, dilation=2)
_conv_case("3x3-d21-valid-relu_n1_to_1", [1, 12, 10, 3], 6, 3, dilation=(2, 1), padding="VALID",
           activation="RELU_N1_TO_1")
_conv_case("2x3-s3-same", [1, 10, 11, 7], 17, (2, 3), stride=3)
_conv_case("3x3-zero-bias", [1, 8, 8, 8], 16, 3, bias=False, activation="RELU")
_conv_case("3x3-batch3", [3, 7, 7, 5], 11, 3, stride=2)
_conv_case("1x1-wide", [1, 4, 4, 67], 129, 1, activation="RELU6")
_conv_case("3x3-fp16", [1, 9, 9, 8], 16, 3, fp16=True, activation="RELU6")
_conv_case("1x1-fp16-zero-bias", [1, 5, 5, 12], 24, 1, fp16=True, bias=False)


# ------------------------------------------------------- DEPTHWISE_CONV_2D
def _dw_case(id, in_shape, k, stride=1, dilation=1, padding="SAME", multiplier=1, activation=None,
             bias=True, fp16=False, seed=1):
    @case(f"depthwise_conv_2d-{id}")
    def make():
        rng = _rng(seed)
        kh, kw = _pair(k)
        oc = in_shape[3] * multiplier
        w = _w(rng, (1, kh, kw, oc), 0.5)
        bv = _w(rng, (oc,)) if bias else None
        b = ModelBuilder()
        x = b.input(in_shape)
        y = b.depthwise_conv_2d(x, b.weights(w, fp16=fp16), b.weights(bv, fp16=fp16) if bias else None,
                                stride=stride, dilation=dilation, padding=padding,
                                depth_multiplier=multiplier, activation=activation)
        b.output(y)
        wr = w.astype(np.float16).astype(np.float32) if fp16 else w
        br = bv.astype(np.float16).astype(np.float32) if (fp16 and bias) else bv
        return b, lambda xs: [R.depthwise(xs[0], wr, br, _pair(stride), _pair(dilation), padding,
                                          multiplier, activation)]


_dw_case("3x3-same", [1, 9, 10, 8], 3)
_dw_case("3x3-valid-relu6", [1, 9, 10, 5], 3, padding="VALID", activation="RELU6")
_dw_case("3x3-s2-same-relu", [1, 16, 15, 13], 3, stride=2, activation="RELU")
_dw_case("5x5-s2-valid", [1, 17, 17, 7], 5, stride=2, padding="VALID")
_dw_case("3x3-d2", [1, 12, 12, 6], 3, dilation=2)
_dw_case("3x3-d12-valid", [1, 12, 12, 6], 3, dilation=(1, 2), padding="VALID", activation="RELU_N1_TO_1")
_dw_case("3x3-m2", [1, 8, 8, 4], 3, multiplier=2)
_dw_case("3x3-m3-s2", [1, 9, 9, 5], 3, stride=2, multiplier=3, activation="RELU6")
_dw_case("3x3-c1-m8", [1, 10, 10, 1], 3, multiplier=8)
_dw_case("3x2-s21", [1, 9, 8, 16], (3, 2), stride=(2, 1))
_dw_case("3x3-zero-bias-batch2", [2, 7, 7, 9], 3, bias=False)
_dw_case("3x3-fp16", [1, 10, 10, 24], 3, fp16=True, activation="RELU6")


# ----------------------------------------------------------- FULLY_CONNECTED
def _fc_case(id, in_shape, units, keep_num_dims=False, bias=True, activation=None, fp16=False, seed=2):
    @case(f"fully_connected-{id}")
    def make():
        rng = _rng(seed)
        w = _w(rng, (units, in_shape[-1]), 0.2)
        bv = _w(rng, (units,)) if bias else None
        b = ModelBuilder()
        x = b.input(in_shape)
        b.output(b.fully_connected(x, b.weights(w, fp16=fp16), b.weights(bv, fp16=fp16) if bias else None,
                                   keep_num_dims=keep_num_dims, activation=activation))
        wr = w.astype(np.float16).astype(np.float32) if fp16 else w
        br = bv.astype(np.float16).astype(np.float32) if (fp16 and bias) else bv
        return b, lambda xs: [R.fully_connected(xs[0], wr, br, keep_num_dims, activation)]


_fc_case("2d", [1, 37], 19)
_fc_case("2d-batch4-relu", [4, 64], 33, activation="RELU")
_fc_case("nobias", [2, 31], 7, bias=False)
_fc_case("4d-flatten", [1, 2, 3, 8], 5)
_fc_case("3d-keep_num_dims", [2, 5, 12], 9, keep_num_dims=True, activation="RELU6")
_fc_case("4d-keep_num_dims-nobias", [1, 1, 1, 40], 24, keep_num_dims=True, bias=False)
_fc_case("fp16-relu_n1_to_1", [1, 128], 65, fp16=True, activation="RELU_N1_TO_1")


# ------------------------------------------------------- binary elementwise
def _np_binary(op):
    return {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
            "maximum": np.maximum, "minimum": np.minimum}[op]


def _binary_case(op, id, a_shape, b_shape, activation=None, b_const=False, seed=3):
    positive = op == "div"

    @case(f"{op}-{id}", positive_inputs=positive)
    def make():
        rng = _rng(seed)
        b = ModelBuilder()
        a = b.input(a_shape)
        if b_const:
            cv = (0.5 + rng.random(b_shape)).astype(np.float32) if positive else _w(rng, b_shape, 1.0)
            other = b.const(cv)
        else:
            other = b.input(b_shape)
        kw = {} if op in ("maximum", "minimum") else {"activation": activation}
        b.output(getattr(b, op)(a, other, **kw))
        f = _np_binary(op)

        def ref(xs):
            rhs = cv if b_const else xs[1]
            return [R.ACT[activation](f(xs[0].astype(np.float64), rhs.astype(np.float64)))]
        return b, ref


for _op in ("add", "sub", "mul", "div"):
    _binary_case(_op, "same", [1, 5, 6, 7], [1, 5, 6, 7])
    _binary_case(_op, "bcast-channel-const", [1, 5, 6, 7], [7], b_const=True)
    _binary_case(_op, "bcast-both", [1, 4, 1, 6], [1, 1, 5, 6], activation="RELU")
    _binary_case(_op, "bcast-scalar-const-relu6", [2, 3, 9], [1], b_const=True, activation="RELU6")
    _binary_case(_op, "bcast-lhs-small", [1, 1, 1, 8], [2, 3, 4, 8], activation="RELU_N1_TO_1")
    _binary_case(_op, "rank2", [3, 17], [3, 17])
for _op in ("maximum", "minimum"):
    _binary_case(_op, "same", [1, 5, 6, 7], [1, 5, 6, 7])
    _binary_case(_op, "bcast-const", [1, 5, 6, 7], [1, 1, 1, 7], b_const=True)
    _binary_case(_op, "bcast-both", [3, 1, 5], [1, 4, 1])


# ---------------------------------------------------------------- unary
_UNARY = {
    "relu": R.ACT["RELU"], "relu6": R.ACT["RELU6"], "relu_n1_to_1": R.ACT["RELU_N1_TO_1"],
    "logistic": R.logistic, "tanh": lambda x: np.tanh(x.astype(np.float64)), "hard_swish": R.hard_swish,
}


def _unary_case(op, shape, scale):
    @case(f"{op}-{'x'.join(map(str, shape))}", input_scale=scale)
    def make():
        b = ModelBuilder()
        b.output(getattr(b, op)(b.input(shape)))
        return b, lambda xs: [_UNARY[op](xs[0])]


for _op in _UNARY:
    _unary_case(_op, [1, 7, 5, 13], 4.0)
    _unary_case(_op, [3, 1001], 8.0)


@case("leaky_relu-0.2", input_scale=3.0)
def _leaky():
    b = ModelBuilder()
    b.output(b.leaky_relu(b.input([1, 6, 7, 9]), 0.2))
    return b, lambda xs: [R.leaky_relu(xs[0], 0.2)]


@case("leaky_relu-1.5-rank2", input_scale=3.0)
def _leaky2():
    b = ModelBuilder()
    b.output(b.leaky_relu(b.input([4, 33]), 1.5))
    return b, lambda xs: [R.leaky_relu(xs[0], 1.5)]


def _prelu_case(id, in_shape, alpha_shape, fp16=False, seed=4):
    @case(f"prelu-{id}", input_scale=2.0)
    def make():
        alpha = (0.25 + 0.2 * _rng(seed).standard_normal(alpha_shape)).astype(np.float32)
        b = ModelBuilder()
        b.output(b.prelu(b.input(in_shape), b.weights(alpha, fp16=fp16)))
        ar = alpha.astype(np.float16).astype(np.float32) if fp16 else alpha
        return b, lambda xs: [R.prelu(xs[0], ar)]


_prelu_case("channel-113", [1, 6, 7, 11], [1, 1, 11])
_prelu_case("channel-1d", [1, 6, 7, 11], [11])
_prelu_case("full", [1, 4, 5, 3], [1, 4, 5, 3])
_prelu_case("fp16-alpha", [1, 8, 8, 16], [1, 1, 16], fp16=True)


# ---------------------------------------------------------------- pooling
def _pool_case(kind, id, in_shape, filt, stride, padding, activation=None):
    @case(f"{kind}_pool_2d-{id}")
    def make():
        b = ModelBuilder()
        fn = b.average_pool_2d if kind == "average" else b.max_pool_2d
        b.output(fn(b.input(in_shape), filt, stride=stride, padding=padding, activation=activation))
        return b, lambda xs: [R.pool(xs[0], "avg" if kind == "average" else "max", _pair(filt),
                                     _pair(stride), padding, activation)]


for _kind in ("average", "max"):
    _pool_case(_kind, "2x2-s2-valid", [1, 8, 9, 5], 2, 2, "VALID")
    _pool_case(_kind, "3x3-s2-same", [1, 9, 10, 6], 3, 2, "SAME")
    _pool_case(_kind, "3x3-s1-same-relu6", [1, 7, 7, 4], 3, 1, "SAME", "RELU6")
    _pool_case(_kind, "2x3-s12-valid", [2, 8, 9, 3], (2, 3), (1, 2), "VALID")
    _pool_case(_kind, "global", [1, 7, 7, 16], 7, 1, "VALID")
    _pool_case(_kind, "5x5-s3-same-relu", [1, 11, 12, 2], 5, 3, "SAME", "RELU")


# ------------------------------------------------------------------- MEAN
def _mean_case(id, in_shape, axes, keep_dims):
    @case(f"mean-{id}")
    def make():
        b = ModelBuilder()
        b.output(b.mean(b.input(in_shape), axes, keep_dims=keep_dims))
        return b, lambda xs: [xs[0].astype(np.float64).mean(axis=tuple(axes), keepdims=keep_dims)]


_mean_case("hw", [1, 7, 6, 9], [1, 2], False)
_mean_case("hw-keep", [1, 7, 6, 9], [1, 2], True)
_mean_case("last-neg", [2, 5, 13], [-1], False)
_mean_case("channel-keep", [1, 4, 5, 12], [3], True)
_mean_case("h", [2, 6, 5, 4], [1], False)
_mean_case("hwc-keep", [1, 3, 4, 5], [1, 2, 3], True)


# ------------------------------------------------------------ shape ops
@case("reshape-flatten")
def _reshape1():
    b = ModelBuilder()
    b.output(b.reshape(b.input([1, 4, 4, 8]), [1, 128]))
    return b, lambda xs: [xs[0].reshape(1, 128)]


@case("reshape-infer-option-only")
def _reshape2():
    b = ModelBuilder()
    b.output(b.reshape(b.input([1, 6, 4, 6]), [1, -1, 6], shape_input=False))
    return b, lambda xs: [xs[0].reshape(1, -1, 6)]


@case("reshape-input-only")
def _reshape3():
    b = ModelBuilder()
    b.output(b.reshape(b.input([2, 3, 10]), [6, 5, 2], shape_option=False))
    return b, lambda xs: [xs[0].reshape(6, 5, 2)]


@case("reshape-between-convs")
def _reshape4():
    rng = _rng(5)
    w = _w(rng, (6, 3, 3, 4))
    w2 = _w(rng, (5, 1, 1, 6))
    b = ModelBuilder()
    y = b.conv_2d(b.input([1, 6, 6, 4]), b.const(w), None, activation="RELU")
    y = b.reshape(y, [1, 12, 3, 6])
    b.output(b.conv_2d(y, b.const(w2), None))
    return b, lambda xs: [R.conv2d(R.conv2d(xs[0], w, None, activation="RELU").reshape(1, 12, 3, 6), w2, None)]


@case("squeeze-dims")
def _squeeze1():
    b = ModelBuilder()
    b.output(b.squeeze(b.input([1, 1, 1, 10]), [1, 2]))
    return b, lambda xs: [xs[0].reshape(1, 10)]


@case("squeeze-all")
def _squeeze2():
    b = ModelBuilder()
    b.output(b.squeeze(b.input([1, 5, 1, 3])))
    return b, lambda xs: [xs[0].reshape(5, 3)]


@case("squeeze-neg")
def _squeeze3():
    b = ModelBuilder()
    b.output(b.squeeze(b.input([2, 7, 1]), [-1]))
    return b, lambda xs: [xs[0].reshape(2, 7)]


for _axis, _in in ((0, [3, 4]), (-1, [2, 3, 5]), (2, [1, 4, 6])):
    def _mk(axis=_axis, shape=_in):
        @case(f"expand_dims-{axis}")
        def make():
            b = ModelBuilder()
            b.output(b.expand_dims(b.input(shape), axis))
            return b, lambda xs: [np.expand_dims(xs[0], axis)]
    _mk()


def _concat_case(id, shapes, axis, activation=None, const_index=None):
    @case(f"concatenation-{id}")
    def make():
        rng = _rng(6)
        b = ModelBuilder()
        ts, consts = [], {}
        for i, s in enumerate(shapes):
            if i == const_index:
                consts[i] = _w(rng, s, 1.0)
                ts.append(b.const(consts[i]))
            else:
                ts.append(b.input(s))
        b.output(b.concatenation(ts, axis, activation=activation))

        def ref(xs):
            it = iter(xs)
            parts = [consts[i] if i in consts else next(it) for i in range(len(shapes))]
            return [R.ACT[activation](np.concatenate([p.astype(np.float64) for p in parts], axis=axis))]
        return b, ref


_concat_case("channels", [[1, 4, 5, 3], [1, 4, 5, 7]], 3)
_concat_case("axis1-three", [[1, 2, 5, 3], [1, 4, 5, 3], [1, 1, 5, 3]], 1)
_concat_case("neg-axis", [[2, 3, 4], [2, 3, 6]], -1)
_concat_case("axis0", [[1, 6], [3, 6]], 0)
_concat_case("with-const", [[1, 3, 3, 2], [1, 3, 3, 5]], 3, const_index=1)
# (TFLite's float CONCATENATION rejects a fused activation, so none is tested.)


def _pad_case(id, shape, paddings):
    @case(f"pad-{id}")
    def make():
        b = ModelBuilder()
        b.output(b.pad(b.input(shape), paddings))
        return b, lambda xs: [np.pad(xs[0], paddings)]


_pad_case("spatial", [1, 5, 6, 3], [[0, 0], [1, 2], [2, 1], [0, 0]])
_pad_case("channels", [1, 4, 4, 5], [[0, 0], [0, 0], [0, 0], [0, 11]])
_pad_case("all-dims", [2, 3, 4, 2], [[1, 0], [0, 1], [2, 2], [1, 1]])
_pad_case("rank2", [3, 7], [[2, 1], [0, 3]])


def _softmax_case(id, shape, beta, scale):
    @case(f"softmax-{id}", input_scale=scale)
    def make():
        b = ModelBuilder()
        b.output(b.softmax(b.input(shape), beta))
        return b, lambda xs: [R.softmax(xs[0], beta)]


_softmax_case("2d", [2, 10], 1.0, 3.0)
_softmax_case("beta0.5", [1, 1001], 0.5, 5.0)
_softmax_case("beta2-4d", [1, 3, 4, 17], 2.0, 2.0)
_softmax_case("large-logits", [3, 64], 1.0, 40.0)


def _resize_case(id, shape, size, align_corners=False, half_pixel_centers=False):
    @case(f"resize_bilinear-{id}")
    def make():
        b = ModelBuilder()
        b.output(b.resize_bilinear(b.input(shape), size, align_corners, half_pixel_centers))
        return b, lambda xs: [R.resize_bilinear(xs[0], size, align_corners, half_pixel_centers)]


for _ac, _hp, _tag in ((False, False, "plain"), (True, False, "align_corners"), (False, True, "half_pixel")):
    _resize_case(f"2x-{_tag}", [1, 5, 6, 3], (10, 12), _ac, _hp)
    _resize_case(f"odd-{_tag}", [2, 5, 7, 4], (7, 9), _ac, _hp)
    _resize_case(f"down-{_tag}", [1, 8, 9, 5], (3, 4), _ac, _hp)


# --------------------------------------------------- fp16 DEQUANTIZE chains
@case("dequantize-fp16-conv-dw-fc")
def _fp16_chain():
    rng = _rng(7)
    w1, b1 = _w(rng, (8, 3, 3, 3)), _w(rng, (8,))
    w2, b2 = _w(rng, (1, 3, 3, 8), 0.5), _w(rng, (8,))
    w3, b3 = _w(rng, (10, 8), 0.3), _w(rng, (10,))
    b = ModelBuilder()
    y = b.conv_2d(b.input([1, 8, 8, 3]), b.weights(w1, fp16=True), b.weights(b1, fp16=True),
                  stride=2, activation="RELU6")
    y = b.depthwise_conv_2d(y, b.weights(w2, fp16=True), b.weights(b2, fp16=True), activation="RELU")
    y = b.mean(y, [1, 2])
    b.output(b.fully_connected(y, b.weights(w3, fp16=True), b.weights(b3, fp16=True)))
    h = [a.astype(np.float16).astype(np.float32) for a in (w1, b1, w2, b2, w3, b3)]

    def ref(xs):
        t = R.conv2d(xs[0], h[0], h[1], (2, 2), activation="RELU6")
        t = R.depthwise(t, h[2], h[3], activation="RELU").mean(axis=(1, 2))
        return [R.fully_connected(t, h[4], h[5])]
    return b, ref


@case("dequantize-fp16-shared-weights")
def _fp16_shared():
    """One DEQUANTIZE feeding two convolutions."""
    rng = _rng(8)
    w = _w(rng, (4, 3, 3, 4))
    b = ModelBuilder()
    x = b.input([1, 6, 6, 4])
    wt = b.weights(w, fp16=True)
    y = b.conv_2d(x, wt, None, activation="RELU")
    b.output(b.conv_2d(y, wt, None))
    h = w.astype(np.float16).astype(np.float32)
    return b, lambda xs: [R.conv2d(R.conv2d(xs[0], h, None, activation="RELU"), h, None)]


CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS), "duplicate case ids"
