"""Plain numpy (float64) references for the ops, used to validate the model
builder: a model it writes must compute, on TFLite's own kernels, what the op
means. Written from the op definitions, loops kept obvious."""

from __future__ import annotations

import numpy as np


def _same_pad(size: int, k: int, stride: int, dilation: int) -> tuple[int, int, int]:
    eff = (k - 1) * dilation + 1
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + eff - size, 0)
    return out, total // 2, total - total // 2


def _geometry(size, k, stride, dilation, padding):
    if padding == "SAME":
        return _same_pad(size, k, stride, dilation)
    eff = (k - 1) * dilation + 1
    return (size - eff) // stride + 1, 0, 0


ACT = {
    None: lambda x: x,
    "NONE": lambda x: x,
    "RELU": lambda x: np.maximum(x, 0),
    "RELU6": lambda x: np.clip(x, 0, 6),
    "RELU_N1_TO_1": lambda x: np.clip(x, -1, 1),
    "TANH": np.tanh,
}


def conv2d(x, w, b, stride=(1, 1), dilation=(1, 1), padding="SAME", activation=None):
    """x [N,H,W,C], w [O,KH,KW,C], b [O] or None."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, h, wd, c = x.shape
    o, kh, kw, _ = w.shape
    oh, pt, _ = _geometry(h, kh, stride[0], dilation[0], padding)
    ow, pl, _ = _geometry(wd, kw, stride[1], dilation[1], padding)
    out = np.zeros((n, oh, ow, o))
    for i in range(kh):
        for j in range(kw):
            for y in range(oh):
                iy = y * stride[0] - pt + i * dilation[0]
                if not 0 <= iy < h:
                    continue
                for xx in range(ow):
                    ix = xx * stride[1] - pl + j * dilation[1]
                    if 0 <= ix < wd:
                        out[:, y, xx, :] += x[:, iy, ix, :] @ w[:, i, j, :].T
    if b is not None:
        out += b
    return ACT[activation](out)


def depthwise(x, w, b, stride=(1, 1), dilation=(1, 1), padding="SAME", multiplier=1, activation=None):
    """x [N,H,W,C], w [1,KH,KW,C*M]; output channel c*M+m reads input channel c."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, h, wd, c = x.shape
    _, kh, kw, oc = w.shape
    xm = np.repeat(x, multiplier, axis=3)  # channel c*M+m = x[..., c]
    oh, pt, _ = _geometry(h, kh, stride[0], dilation[0], padding)
    ow, pl, _ = _geometry(wd, kw, stride[1], dilation[1], padding)
    out = np.zeros((n, oh, ow, oc))
    for i in range(kh):
        for j in range(kw):
            for y in range(oh):
                iy = y * stride[0] - pt + i * dilation[0]
                if not 0 <= iy < h:
                    continue
                for xx in range(ow):
                    ix = xx * stride[1] - pl + j * dilation[1]
                    if 0 <= ix < wd:
                        out[:, y, xx, :] += xm[:, iy, ix, :] * w[0, i, j, :]
    if b is not None:
        out += b
    return ACT[activation](out)


def fully_connected(x, w, b, keep_num_dims=False, activation=None):
    x, w = x.astype(np.float64), w.astype(np.float64)
    flat = x.reshape(-1, w.shape[1])
    out = flat @ w.T
    if b is not None:
        out += b
    if keep_num_dims:
        out = out.reshape(x.shape[:-1] + (w.shape[0],))
    return ACT[activation](out)


def pool(x, kind, filt, stride, padding, activation=None):
    x = x.astype(np.float64)
    n, h, wd, c = x.shape
    oh, pt, _ = _geometry(h, filt[0], stride[0], 1, padding)
    ow, pl, _ = _geometry(wd, filt[1], stride[1], 1, padding)
    out = np.zeros((n, oh, ow, c))
    for y in range(oh):
        y0 = y * stride[0] - pt
        ys = slice(max(y0, 0), min(y0 + filt[0], h))
        for xx in range(ow):
            x0 = xx * stride[1] - pl
            win = x[:, ys, max(x0, 0):min(x0 + filt[1], wd), :]  # padding excluded from the average
            out[:, y, xx, :] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return ACT[activation](out)


def resize_bilinear(x, size, align_corners=False, half_pixel_centers=False):
    x = x.astype(np.float64)
    n, h, w, c = x.shape
    oh, ow = size

    def coords(out_len, in_len):
        if align_corners and out_len > 1:
            scale = (in_len - 1) / (out_len - 1)
        else:
            scale = in_len / out_len
        res = []
        for o in range(out_len):
            src = (o + 0.5) * scale - 0.5 if half_pixel_centers else o * scale
            lo = int(np.floor(src))
            frac = src - lo
            res.append((min(max(lo, 0), in_len - 1), min(max(lo + 1, 0), in_len - 1), frac))
        return res

    out = np.zeros((n, oh, ow, c))
    for y, (y0, y1, fy) in enumerate(coords(oh, h)):
        for xx, (x0, x1, fx) in enumerate(coords(ow, w)):
            top = x[:, y0, x0] * (1 - fx) + x[:, y0, x1] * fx
            bot = x[:, y1, x0] * (1 - fx) + x[:, y1, x1] * fx
            out[:, y, xx] = top * (1 - fy) + bot * fy
    return out


def softmax(x, beta=1.0):
    z = beta * x.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def hard_swish(x):
    x = x.astype(np.float64)
    return x * np.clip(x + 3, 0, 6) / 6


def logistic(x):
    return 1 / (1 + np.exp(-x.astype(np.float64)))


def prelu(x, alpha):
    x = x.astype(np.float64)
    return np.where(x >= 0, x, x * alpha)


def leaky_relu(x, alpha):
    x = x.astype(np.float64)
    return np.where(x >= 0, x, x * alpha)
