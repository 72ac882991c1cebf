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
