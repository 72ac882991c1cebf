"""Composite fp32 models made with the builder (fixed-seed weights): a
MobileNetV2 classifier and SSDLite detector, a MobileNetV3-like classifier (hard-swish, squeeze-excite) and a
BlazeFace-like detector (fp16 weights, PRELU, channel-padding residuals, two
heads, an upsampling branch, two inputs and two outputs)."""

from __future__ import annotations

import numpy as np

from .tflite_builder import ModelBuilder, Tensor, he_init


class _Net:
    """Conv helpers with fixed-seed weights on top of a ModelBuilder."""

    def __init__(self, b: ModelBuilder, seed: int, fp16: bool):
        self.b = b
        self.rng = np.random.default_rng(seed)
        self.fp16 = fp16

    def w(self, array: np.ndarray) -> Tensor:
        return self.b.weights(array, fp16=self.fp16)

    def bias(self, n: int) -> Tensor:
        return self.b.const((0.1 * self.rng.standard_normal(n)).astype(np.float32))

    def conv(self, x: Tensor, out_ch: int, k: int = 1, stride=1, activation=None, padding="SAME",
             dilation=1, gain: float = 1.0) -> Tensor:
        in_ch = x.shape[3]
        filt = self.w(gain * he_init(self.rng, (out_ch, k, k, in_ch), k * k * in_ch))
        return self.b.conv_2d(x, filt, self.bias(out_ch), stride=stride, dilation=dilation,
                              padding=padding, activation=activation)

    def dw(self, x: Tensor, k: int = 3, stride=1, activation=None, multiplier=1, padding="SAME",
           gain: float = 1.0) -> Tensor:
        ch = x.shape[3] * multiplier
        filt = self.w(gain * he_init(self.rng, (1, k, k, ch), k * k))
        return self.b.depthwise_conv_2d(x, filt, self.bias(ch), stride=stride, padding=padding,
                                        depth_multiplier=multiplier, activation=activation)

    def fc(self, x: Tensor, units: int, activation=None, keep_num_dims=False) -> Tensor:
        depth = x.shape[-1]
        return self.b.fully_connected(x, self.w(he_init(self.rng, (units, depth), depth)),
                                      self.bias(units), keep_num_dims=keep_num_dims,
                                      activation=activation)


def _make_divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


MOBILENET_V2_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _mobilenet_v2_backbone(b: ModelBuilder, n: _Net, x: Tensor, width: float) -> tuple[Tensor, Tensor]:
    """Stem, the 17 inverted-residual blocks and the 1280-wide 1x1 conv; returns
    (the expansion output of the first stride-2 160-channel block, i.e. the
    SSDLite 1/16 tap, and the final 1/32 feature map)."""
    x = n.conv(x, _make_divisible(32 * width), 3, stride=2, activation="RELU6")
    tap = None
    for t, c, reps, s in MOBILENET_V2_BLOCKS:
        out_ch = _make_divisible(c * width)
        for i in range(reps):
            stride = s if i == 0 else 1
            inp = x
            h = x
            if t != 1:
                h = n.conv(h, x.shape[3] * t, 1, activation="RELU6")
                if c == 160 and i == 0:
                    tap = h
            h = n.dw(h, 3, stride=stride, activation="RELU6")
            h = n.conv(h, out_ch, 1)
            x = b.add(inp, h) if stride == 1 and inp.shape[3] == out_ch else h
    x = n.conv(x, max(1280, _make_divisible(1280 * width)), 1, activation="RELU6")
    return tap, x


def mobilenet_v2(input_size: int = 224, width: float = 1.0, num_classes: int = 1000, seed: int = 0,
                 fp16_weights: bool = False, dynamic_batch: bool = False) -> ModelBuilder:
    """MobileNetV2 classifier (inverted residuals, linear bottlenecks, fused
    RELU6), global MEAN, FULLY_CONNECTED and SOFTMAX: 65 nodes."""
    b = ModelBuilder(f"mobilenet_v2 {input_size} x{width}")
    n = _Net(b, seed, fp16_weights)
    sig = [-1, input_size, input_size, 3] if dynamic_batch else None
    x = b.input([1, input_size, input_size, 3], name="image", signature=sig)
    _, x = _mobilenet_v2_backbone(b, n, x, width)
    x = b.mean(x, [1, 2], keep_dims=False)
    x = n.fc(x, num_classes)
    b.output(b.softmax(x))
    return b


def mobilenet_v2_ssdlite(input_size: int = 224, width: float = 1.0, num_classes: int = 91, seed: int = 0,
                         fp16_weights: bool = False) -> ModelBuilder:
    """MobileNetV2-SSDLite detector: the MobileNetV2 backbone, four extra
    feature layers, and on six feature maps separable box and class heads
    (DEPTHWISE_CONV_2D + CONV_2D), RESHAPEd, CONCATENATED and (scores)
    LOGISTIC: 113 nodes. Outputs boxes [1, N, 4] and scores [1, N, classes]."""
    b = ModelBuilder(f"mobilenet_v2_ssdlite {input_size} x{width}")
    n = _Net(b, seed, fp16_weights)
    x = b.input([1, input_size, input_size, 3], name="image")
    tap, x = _mobilenet_v2_backbone(b, n, x, width)
    features = [tap, x]
    for ch in (512, 256, 256, 128):
        h = n.conv(features[-1], ch // 2, 1, activation="RELU6")
        h = n.dw(h, 3, stride=2, activation="RELU6")
        features.append(n.conv(h, ch, 1, activation="RELU6"))
    boxes, scores = [], []
    for i, f in enumerate(features):
        anchors = 3 if i == 0 else 6
        box = n.conv(n.dw(f, 3, activation="RELU6"), anchors * 4, 1, gain=0.3)
        cls = n.conv(n.dw(f, 3, activation="RELU6"), anchors * num_classes, 1, gain=0.3)
        boxes.append(b.reshape(box, [1, -1, 4]))
        scores.append(b.reshape(cls, [1, -1, num_classes]))
    b.output(b.concatenation(boxes, axis=1), b.logistic(b.concatenation(scores, axis=1)))
    return b


def mobilenet_v3_like(input_size: int = 96, seed: int = 1, num_classes: int = 16) -> ModelBuilder:
    """MobileNetV3-small-like: HARD_SWISH, squeeze-excite (MEAN keep_dims,
    FULLY_CONNECTED keep_num_dims, hard-sigmoid as ADD/RELU6/MUL, broadcast
    MUL), AVERAGE_POOL_2D head, LEAKY_RELU, LOGISTIC, SUB, DIV, SQUEEZE."""
    b = ModelBuilder("mobilenet_v3_like")
    n = _Net(b, seed, False)
    x = b.input([1, input_size, input_size, 3], name="image")
    x = b.hard_swish(n.conv(x, 16, 3, stride=2))
    three = b.const(np.array([3.0], dtype=np.float32))
    sixth = b.const(np.array([1.0 / 6.0], dtype=np.float32))

    def se(h: Tensor) -> Tensor:
        ch = h.shape[3]
        s = b.mean(h, [1, 2], keep_dims=True)                     # [1,1,1,C]
        s = n.fc(s, max(8, ch // 4), activation="RELU", keep_num_dims=True)
        s = n.fc(s, ch, keep_num_dims=True)
        s = b.mul(b.relu6(b.add(s, three)), sixth)                # hard sigmoid
        return b.mul(h, s)

    cfg = [(3, 16, 16, True, "RELU", 2), (3, 72, 24, False, "RELU", 2), (3, 88, 24, False, "RELU", 1),
           (5, 96, 40, True, "HS", 2), (5, 240, 40, True, "HS", 1), (5, 120, 48, True, "HS", 1)]
    for k, exp, out_ch, use_se, act, stride in cfg:
        inp = x
        h = n.conv(x, exp, 1)
        h = b.relu(h) if act == "RELU" else b.hard_swish(h)
        h = n.dw(h, k, stride=stride)
        h = b.relu(h) if act == "RELU" else b.hard_swish(h)
        if use_se:
            h = se(h)
        h = n.conv(h, out_ch, 1)
        x = b.add(inp, h) if stride == 1 and inp.shape[3] == out_ch else h
    x = b.hard_swish(n.conv(x, 288, 1))
    x = b.average_pool_2d(x, (x.shape[1], x.shape[2]), stride=1, padding="VALID")  # [1,1,1,288]
    x = b.squeeze(x, [1, 2])
    x = b.leaky_relu(n.fc(x, 128), 0.1)
    logits = n.fc(x, num_classes)
    # a normalised score head: (sigmoid(l) - 0.5) / (1 + |..|) via SUB and DIV
    sig = b.logistic(logits)
    centred = b.sub(sig, b.const(np.array([0.5], dtype=np.float32)))
    denom = b.add(b.maximum(centred, b.const(np.array([0.0], dtype=np.float32))),
                  b.const(np.full(num_classes, 1.5, dtype=np.float32)))
    b.output(b.softmax(logits, beta=0.5), b.div(centred, denom))
    return b


def blaze_like(input_size: int = 64, seed: int = 2, fp16_weights: bool = True) -> ModelBuilder:
    """BlazeFace/palm-detector-like: fp16 weights behind DEQUANTIZE, PRELU,
    channel PAD residuals, MAX_POOL_2D, an upsampled (RESIZE_BILINEAR) branch
    added back, TANH, MINIMUM, RELU_N1_TO_1, EXPAND_DIMS, two heads RESHAPEd
    and CONCATENATED; a second input (an anchor-scale vector) scales the boxes."""
    b = ModelBuilder("blaze_like")
    n = _Net(b, seed, fp16_weights)
    x = b.input([1, input_size, input_size, 3], name="image")
    scale = b.input([1, 1, 4], name="box_scale")

    def prelu(h: Tensor) -> Tensor:
        alpha = b.const((0.25 + 0.05 * n.rng.standard_normal((1, 1, h.shape[3]))).astype(np.float32))
        return b.prelu(h, alpha)

    def blaze_block(h: Tensor, out_ch: int, stride: int) -> Tensor:
        y = n.dw(h, 5, stride=stride, gain=0.7)   # linear branch scaled so that
        y = n.conv(y, out_ch, 1, gain=0.4)        # activations stay of order 1
        skip = h
        if stride == 2:
            skip = b.max_pool_2d(h, 2, stride=2, padding="VALID")
        if out_ch > h.shape[3]:
            skip = b.pad(skip, [[0, 0], [0, 0], [0, 0], [0, out_ch - h.shape[3]]])
        return prelu(b.add(y, skip))

    x = prelu(n.conv(x, 24, 5, stride=2))
    for ch, s in [(24, 1), (28, 1), (32, 2), (36, 1), (42, 1)]:
        x = blaze_block(x, ch, s)
    mid = x                                             # input/4
    for ch, s in [(48, 2), (56, 1), (64, 1)]:
        x = blaze_block(x, ch, s)
    low = x                                             # input/8
    up = b.resize_bilinear(n.conv(low, mid.shape[3], 1, activation="RELU"),
                           (mid.shape[1], mid.shape[2]), half_pixel_centers=True)
    fused = b.add(mid, up, activation="RELU6")
    heads_cls, heads_box = [], []
    for feat, anchors in [(fused, 2), (low, 6)]:
        cls = n.conv(feat, anchors, 3, gain=0.3)
        box = n.conv(feat, anchors * 4, 3, gain=0.3)
        heads_cls.append(b.reshape(cls, [1, -1, 1]))
        heads_box.append(b.reshape(box, [1, -1, 4]))
    scores = b.concatenation(heads_cls, axis=1)
    boxes = b.concatenation(heads_box, axis=-2)
    boxes = b.mul(b.tanh(boxes), scale)
    scores = b.relu_n1_to_1(b.minimum(scores, b.const(np.array([[[2.0]]], dtype=np.float32))))
    scores = b.expand_dims(b.squeeze(scores, [2]), -1)
    b.output(scores, boxes)
    return b


COMPOSITES = {
    "mobilenet_v2_small": lambda: mobilenet_v2(input_size=64, width=0.35, num_classes=10, seed=3),
    "mobilenet_v2_ssdlite_small": lambda: mobilenet_v2_ssdlite(input_size=96, width=0.35, num_classes=5, seed=6),
    "mobilenet_v3_like": mobilenet_v3_like,
    "blaze_like": blaze_like,
}
