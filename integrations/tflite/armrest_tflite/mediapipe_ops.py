"""MediaPipe's custom ops: numpy references (written from the semantics of
MediaPipe's public kernels, mediapipe/util/tflite/operations) and one-op
.tflite models to test armrest's implementations against them."""

from __future__ import annotations

import numpy as np
from flatbuffers import flexbuffers

from .tflite_builder import ModelBuilder


def transpose_conv_geometry(size: int, k: int, s: int, same: bool) -> tuple[int, int]:
    """(output size, padding before) of Convolution2DTransposeBias on one axis."""
    total = max(0, k - (size - 1) % s - 1) if same else 0
    return s * (size - 1) + k - total, total // 2


def transpose_conv_bias_ref(x, w, b, stride, same: bool) -> np.ndarray:
    """Scatter every input pixel through every filter tap (w is [o, kh, kw, c])."""
    x, w, b = (np.asarray(a, np.float64) for a in (x, w, b))
    n, h, wd, _ = x.shape
    o, kh, kw, _ = w.shape
    oh, pt = transpose_conv_geometry(h, kh, stride[0], same)
    ow, pl = transpose_conv_geometry(wd, kw, stride[1], same)
    out = np.broadcast_to(b, (n, oh, ow, o)).copy()
    for ky in range(kh):
        for kx in range(kw):
            contrib = np.einsum("nhwc,oc->nhwo", x, w[:, ky, kx, :])
            for iy in range(h):
                oy = iy * stride[0] - pt + ky
                if not 0 <= oy < oh:
                    continue
                for ix in range(wd):
                    ox = ix * stride[1] - pl + kx
                    if 0 <= ox < ow:
                        out[:, oy, ox, :] += contrib[:, iy, ix, :]
    return out.astype(np.float32)


def transform_tensor_bilinear_ref(x, m, out_hw) -> np.ndarray:
    """TransformTensorBilinear v2: bilinear samples at the affine map of pixel centres; 0 outside."""
    x = np.asarray(x, np.float64)[0]
    m = np.asarray(m, np.float64).reshape(-1)
    h, w, c = x.shape
    out = np.zeros((1, out_hw[0], out_hw[1], c))
    padded = np.zeros((h + 1, w + 1, c))
    padded[:h, :w] = x
    for oy in range(out_hw[0]):
        for ox in range(out_hw[1]):
            cx, cy = ox + 0.5, oy + 0.5
            tx = m[0] * cx + m[1] * cy + m[3] - 0.5
            ty = m[4] * cx + m[5] * cy + m[7] - 0.5
            if tx < 0 or ty < 0 or tx > w - 1 or ty > h - 1:
                continue
            x0, y0 = int(np.floor(tx)), int(np.floor(ty))
            ax, ay = tx - x0, ty - y0
            top = (1 - ax) * padded[y0, x0] + ax * padded[y0, x0 + 1]
            bottom = (1 - ax) * padded[y0 + 1, x0] + ax * padded[y0 + 1, x0 + 1]
            out[0, oy, ox] = (1 - ay) * top + ay * bottom
    return out.astype(np.float32)


def transform_landmarks_ref(lm, m) -> np.ndarray:
    """TransformLandmarks v2: (x, y[, z]) -> (m0 x + m1 y + m3, m4 x + m5 y + m7[, z])."""
    lm = np.asarray(lm, np.float64)
    m = np.asarray(m, np.float64).reshape(-1)
    out = lm.copy()
    out[..., 0] = m[0] * lm[..., 0] + m[1] * lm[..., 1] + m[3]
    out[..., 1] = m[4] * lm[..., 0] + m[5] * lm[..., 1] + m[7]
    return out.astype(np.float32)


def _rot(r):
    c, s = np.cos(r), np.sin(r)
    return np.array([[c, -s], [s, c]])


def landmarks_to_transform_matrix_ref(lm, subset_idxs, left_rotation_idx, right_rotation_idx, target_rotation_radians,
                                      output_height, output_width, scale_x, scale_y):
    """Landmarks2TransformMatrix v2 as the explicit matrix chain, in float64."""
    pts = np.asarray(lm, np.float64)[0][:, :2]
    flat = list(subset_idxs)
    if len(flat) % 2:
        flat.append(flat[-1])
    idx = np.array(flat)
    d = pts[right_rotation_idx] - pts[left_rotation_idx]
    rot = target_rotation_radians - np.arctan2(d[1], d[0])
    out_h, out_w = output_height, output_width
    p = pts[idx] @ _rot(rot).T
    lo, hi = p.min(axis=0), p.max(axis=0)
    centre = _rot(-rot) @ ((lo + hi) / 2)

    def affine(a2=np.eye(2), t=(0.0, 0.0)):
        m = np.eye(4)
        m[:2, :2] = a2
        m[:2, 3] = t
        return m

    size = hi - lo
    t = affine(t=centre) @ affine(_rot(-rot)) @ affine(np.diag([scale_x * size[0] / out_w, scale_y * size[1] / out_h])) \
        @ affine(t=(-out_w / 2, -out_h / 2))
    return t.astype(np.float32).reshape(1, 4, 4)


def argmax_pool_geometry(size: int, f: int, s: int, same: bool) -> tuple[int, int]:
    """(output size, padding before) of MaxPoolingWithArgmax2D on one axis."""
    out = -(-size // s) if same else (size - f) // s + 1
    return out, max(0, (out - 1) * s + f - size) // 2


#: MediaPipe's activation ranges (TfLiteFusedActivation → [lo, hi]); "none"
#: and the activations it does not apply clamp to the finite floats.
_F32 = np.finfo(np.float32)
ACTIVATION_RANGE = {0: (_F32.min, _F32.max), 1: (0.0, _F32.max), 2: (-1.0, 1.0), 3: (0.0, 6.0),
                    4: (_F32.min, _F32.max), 5: (_F32.min, _F32.max), 6: (_F32.min, _F32.max)}


def max_pool_with_argmax_ref(x, filt, stride, same: bool, activation: int = 0):
    """MaxPoolingWithArgmax2D: per window the first row-major strict maximum
    (from float32 lowest), clamped; and its window position ky*fw + kx as
    float32 position + 0.1."""
    x = np.asarray(x, np.float32)
    n, h, w, c = x.shape
    oh, pt = argmax_pool_geometry(h, filt[0], stride[0], same)
    ow, pl = argmax_pool_geometry(w, filt[1], stride[1], same)
    best = np.full((n, oh, ow, c), _F32.min, np.float32)
    pos = np.zeros((n, oh, ow, c), np.int64)
    for ky in range(filt[0]):
        for kx in range(filt[1]):
            iy = np.arange(oh) * stride[0] - pt + ky
            ix = np.arange(ow) * stride[1] - pl + kx
            vy, vx = (iy >= 0) & (iy < h), (ix >= 0) & (ix < w)
            v = np.full((n, oh, ow, c), -np.inf, np.float32)
            v[:, vy[:, None] & vx[None, :]] = x[:, iy[vy]][:, :, ix[vx]].reshape(n, -1, c)
            better = v > best
            best = np.where(better, v, best)
            pos = np.where(better, ky * filt[1] + kx, pos)
    lo, hi = ACTIVATION_RANGE[activation]
    return np.clip(best, lo, hi).astype(np.float32), (pos.astype(np.float32) + np.float32(0.1)).astype(np.float32)


def max_unpool_ref(v, idx, filt, stride) -> np.ndarray:
    """MaxUnpooling2D: zeros of [n, h*fh, w*fw, c], each value written at
    (iy*sh - pt + i // fw, ix*sw - pl + i % fw), i = int(index); later writes win."""
    v, idx = np.asarray(v, np.float32), np.asarray(idx, np.float32)
    n, h, w, c = v.shape
    oh, ow = h * filt[0], w * filt[1]
    pt = max(0, (h - 1) * (stride[0] - filt[0])) // 2
    pl = max(0, (w - 1) * (stride[1] - filt[1])) // 2
    out = np.zeros((n, oh, ow, c), np.float32)
    for b in range(n):
        for iy in range(h):
            for ix in range(w):
                for k in range(c):
                    i = int(np.trunc(idx[b, iy, ix, k]))
                    q, r = int(i / filt[1]), int(np.fmod(i, filt[1]))  # C's truncating / and %
                    oy, ox = iy * stride[0] - pt + q, ix * stride[1] - pl + r
                    if 0 <= oy < oh and 0 <= ox < ow:
                        out[b, oy, ox, k] = v[b, iy, ix, k]
    return out


# --- one-op models


def transpose_conv_bias_model(x_shape, w, b, stride, same: bool) -> bytes:
    mb = ModelBuilder("Convolution2DTransposeBias")
    x = mb.input(x_shape)
    oh, _ = transpose_conv_geometry(x_shape[1], w.shape[1], stride[0], same)
    ow, _ = transpose_conv_geometry(x_shape[2], w.shape[2], stride[1], same)
    opts = np.array([1 if same else 2, stride[1], stride[0]], np.int32).tobytes()
    (y,) = mb.op("custom:Convolution2DTransposeBias", [x, mb.const(w), mb.const(b)],
                 [(x_shape[0], oh, ow, w.shape[0])], custom_options=opts)
    mb.output(y)
    return mb.build()


def transform_tensor_bilinear_model(x_shape, out_hw) -> bytes:
    mb = ModelBuilder("TransformTensorBilinear")
    x, m = mb.input(x_shape), mb.input((1, 4, 4))
    opts = bytes(flexbuffers.Dumps({"output_height": out_hw[0], "output_width": out_hw[1]}))
    (y,) = mb.op("custom:TransformTensorBilinear", [x, m], [(1, out_hw[0], out_hw[1], x_shape[3])],
                 custom_options=opts, version=2)
    mb.output(y)
    return mb.build()


def transform_landmarks_model(lm_shape) -> bytes:
    mb = ModelBuilder("TransformLandmarks")
    lm, m = mb.input(lm_shape), mb.input((1, 4, 4))
    (y,) = mb.op("custom:TransformLandmarks", [lm, m], [tuple(lm_shape)], custom_options=b"", version=2)
    mb.output(y)
    return mb.build()


def landmarks_to_transform_matrix_model(n, **params) -> bytes:
    mb = ModelBuilder("Landmarks2TransformMatrix")
    lm = mb.input((1, n, 3))
    opts = bytes(flexbuffers.Dumps(params))
    (y,) = mb.op("custom:Landmarks2TransformMatrix", [lm], [(1, 4, 4)], custom_options=opts, version=2)
    mb.output(y)
    return mb.build()


def pool_params(same: bool, stride, filt, activation: int = 0) -> bytes:
    """The TfLitePoolParams MediaPipe's pooling ops read from the custom data:
    padding, stride w/h, filter w/h, activation, then the computed padding."""
    return np.array([1 if same else 2, stride[1], stride[0], filt[1], filt[0], activation, 0, 0, 0, 0], np.int32).tobytes()


def max_pool_argmax_model(x_shape, filt, stride, same: bool, activation: int = 0) -> bytes:
    """x → MaxPoolingWithArgmax2D → (values, indices), both model outputs."""
    mb = ModelBuilder("MaxPoolingWithArgmax2D")
    x = mb.input(x_shape)
    oh, _ = argmax_pool_geometry(x_shape[1], filt[0], stride[0], same)
    ow, _ = argmax_pool_geometry(x_shape[2], filt[1], stride[1], same)
    v, i = mb.op("custom:MaxPoolingWithArgmax2D", [x], [(x_shape[0], oh, ow, x_shape[3])] * 2,
                 custom_options=pool_params(same, stride, filt, activation))
    mb.output(v, i)
    return mb.build()


def max_unpool_model(shape, filt, stride) -> bytes:
    """(values, indices) inputs → MaxUnpooling2D. Its padding option is unused
    by MediaPipe; VALID, which XNNPACK requires."""
    mb = ModelBuilder("MaxUnpooling2D")
    v, i = mb.input(shape), mb.input(shape)
    (y,) = mb.op("custom:MaxUnpooling2D", [v, i], [(shape[0], shape[1] * filt[0], shape[2] * filt[1], shape[3])],
                 custom_options=pool_params(False, stride, filt))
    mb.output(y)
    return mb.build()


def segmentation_model(rng, x_shape=(1, 32, 32, 3), width=8, classes=2) -> bytes:
    """A SegNet-style encoder/decoder: conv → argmax pool → conv → argmax pool
    → conv → unpool (inner indices) → conv → unpool (outer indices) → conv,
    all 2x2 stride-2 pools (the unpools' VALID padding option, as XNNPACK requires)."""
    from .tflite_builder import he_init
    mb = ModelBuilder("argmax pool encoder/decoder")
    x = mb.input(x_shape)

    def conv(t, o):
        w = he_init(rng, (o, 3, 3, t.shape[3]), 9 * t.shape[3]).astype(np.float32)
        return mb.conv_2d(t, mb.const(w), mb.const(rng.standard_normal(o).astype(np.float32) * 0.1), activation="RELU")

    def pool(t):
        n, h, w, c = t.shape
        return mb.op("custom:MaxPoolingWithArgmax2D", [t], [(n, h // 2, w // 2, c)] * 2,
                     custom_options=pool_params(True, (2, 2), (2, 2)))

    def unpool(t, idx):
        n, h, w, c = t.shape
        (y,) = mb.op("custom:MaxUnpooling2D", [t, idx], [(n, 2 * h, 2 * w, c)], custom_options=pool_params(False, (2, 2), (2, 2)))
        return y

    e1 = conv(x, width)
    p1, i1 = pool(e1)
    e2 = conv(p1, 2 * width)
    p2, i2 = pool(e2)
    d2 = conv(p2, 2 * width)
    u2 = unpool(d2, i2)
    d1 = conv(u2, width)
    u1 = unpool(d1, i1)
    w = he_init(rng, (classes, 1, 1, width), width).astype(np.float32)
    y = mb.conv_2d(u1, mb.const(w), mb.const(np.zeros(classes, np.float32)))
    mb.output(y)
    return mb.build()
