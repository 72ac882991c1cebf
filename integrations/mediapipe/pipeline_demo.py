#!/usr/bin/env python3
"""MediaPipe's two-stage hand pipeline (palm detection -> hand landmarks) run
on LiteRT with armrest and with XNNPACK, on a generated image, with the pre-
and post-processing the pipeline needs done here in numpy:

  1. letterbox the image to 192x192, run palm_detection_lite, decode its 2016
     SSD anchors (sigmoid scores, boxes and 7 keypoints), keep the best palm;
  2. turn the palm into MediaPipe's hand ROI (rotation from wrist -> middle
     finger, box enlarged 2.6x and shifted towards the fingers), warp that
     rotated square to 224x224, run hand_landmark_lite, and map its 21
     landmarks back to image pixels.

Both stages run through armrest and XNNPACK; the script prints the outputs'
agreement and per-stage latency (median of interleaved runs, same process).
The image is synthetic (a drawn hand silhouette), so the detector's score is
whatever the model makes of it; the pipeline and the timing are the point.

    python integrations/mediapipe/pipeline_demo.py [--threads N] [--rounds R]
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tflite"))
from armrest_tflite import harness as h  # noqa: E402
from armrest_tflite import mediapipe_models as mm  # noqa: E402

PALM_SIZE = 192
HAND_SIZE = 224


def model_path(name: str) -> str:
    for p in mm.find_models():
        if mm.model_id(p) == name:
            return p
    raise SystemExit(f"{name}.tflite not found: install mediapipe==0.10.21 (bash scripts/setup.sh)")


def synthetic_hand(size=(360, 480)) -> np.ndarray:
    """An RGB float image in [0, 1]: a skin-toned palm and five fingers on a textured background."""
    hgt, wid = size
    yy, xx = np.mgrid[0:hgt, 0:wid].astype(np.float32)
    rng = np.random.default_rng(0)
    img = np.stack([0.25 + 0.1 * np.sin(xx / 17), 0.3 + 0.1 * np.cos(yy / 23), 0.35 + 0.05 * np.sin((xx + yy) / 31)], -1)
    img += 0.03 * rng.standard_normal(img.shape).astype(np.float32)
    cx, cy = 0.5 * wid, 0.62 * hgt
    mask = ((xx - cx) / 70) ** 2 + ((yy - cy) / 80) ** 2 <= 1.0
    for k, ang in enumerate([-0.9, -0.35, 0.0, 0.3, 0.6]):
        length = [70, 110, 120, 110, 90][k]
        bx, by = cx + 60 * math.sin(ang) * (1.2 if k == 0 else 1.0), cy - 60 * math.cos(ang)
        t = (xx - bx) * math.sin(ang) - (yy - by) * math.cos(ang)      # along the finger
        n = (xx - bx) * math.cos(ang) + (yy - by) * math.sin(ang)      # across it
        mask |= (t >= 0) & (t <= length) & (np.abs(n) <= 14)
    skin = np.array([0.87, 0.68, 0.55], np.float32)
    img[mask] = skin * (0.9 + 0.1 * np.sin(xx[mask] / 9))[:, None]
    return np.clip(img, 0, 1)


def warp(img: np.ndarray, m: np.ndarray, out: int) -> np.ndarray:
    """Bilinear samples of `img` at m @ (x, y, 1) for each output pixel centre (0 outside)."""
    ys, xs = np.mgrid[0:out, 0:out].astype(np.float64) + 0.5
    sx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2] - 0.5
    sy = m[1, 0] * xs + m[1, 1] * ys + m[1, 2] - 0.5
    hgt, wid = img.shape[:2]
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    ax, ay = (sx - x0)[..., None], (sy - y0)[..., None]

    def px(y, x):
        ok = (y >= 0) & (y < hgt) & (x >= 0) & (x < wid)
        return np.where(ok[..., None], img[np.clip(y, 0, hgt - 1), np.clip(x, 0, wid - 1)], 0.0)

    top = (1 - ax) * px(y0, x0) + ax * px(y0, x0 + 1)
    bottom = (1 - ax) * px(y0 + 1, x0) + ax * px(y0 + 1, x0 + 1)
    return ((1 - ay) * top + ay * bottom).astype(np.float32)


def palm_anchors() -> np.ndarray:
    """SSD anchor centres of palm_detection (192 input; strides 8, 16, 16, 16; 2 anchors per cell
    per layer, layers of equal stride sharing a grid): 24*24*2 + 12*12*6 = 2016."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 6)):
        g = PALM_SIZE // stride
        for y in range(g):
            for x in range(g):
                centres += [((x + 0.5) / g, (y + 0.5) / g)] * per_cell
    return np.array(centres, np.float32)


def decode_palm(regressors: np.ndarray, scores: np.ndarray, anchors: np.ndarray):
    """The best palm: (score, box centre/size and 7 keypoints, in the 192x192 letterbox's [0, 1] units)."""
    reg, logit = regressors[0], scores[0, :, 0]
    prob = 1 / (1 + np.exp(-np.clip(logit, -100, 100)))
    i = int(np.argmax(prob))
    r = reg[i] / PALM_SIZE
    cx, cy = r[0] + anchors[i, 0], r[1] + anchors[i, 1]
    kps = r[4:18].reshape(7, 2) + anchors[i]
    return float(prob[i]), (cx, cy, r[2], r[3]), kps


def letterbox(img: np.ndarray, size: int):
    """Scale-to-fit with centred padding: (matrix from output to image pixels, warped image)."""
    hgt, wid = img.shape[:2]
    s = max(hgt, wid) / size
    m = np.array([[s, 0, (wid - s * size) / 2], [0, s, (hgt - s * size) / 2], [0, 0, 1]])
    return m, warp(img, m, size)


def hand_roi(kps: np.ndarray, box, lb: np.ndarray):
    """MediaPipe's palm -> hand ROI, in image pixels: matrix from the 224 crop to the image."""
    to_img = lambda p: (lb @ np.array([p[0] * PALM_SIZE, p[1] * PALM_SIZE, 1.0]))[:2]  # noqa: E731
    wrist, middle = to_img(kps[0]), to_img(kps[2])
    rotation = 0.5 * math.pi - math.atan2(-(middle[1] - wrist[1]), middle[0] - wrist[0])
    rotation = (rotation + math.pi) % (2 * math.pi) - math.pi
    centre = to_img((box[0], box[1]))
    side = max(box[2], box[3]) * PALM_SIZE * lb[0, 0]
    c, s = math.cos(rotation), math.sin(rotation)
    centre = centre + np.array([-s, c]) * (-0.5 * side)          # shift towards the fingers
    side *= 2.6
    k = side / HAND_SIZE
    return np.array([[c * k, -s * k, centre[0] - k * HAND_SIZE / 2 * (c - s)],
                     [s * k, c * k, centre[1] - k * HAND_SIZE / 2 * (s + c)],
                     [0, 0, 1]]), rotation


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--runtime", default="litert", choices=["litert", "tflite_runtime"])
    args = ap.parse_args()

    stages = {}
    for name in ("palm_detection_lite", "hand_landmark_lite"):
        data = open(model_path(name), "rb").read()
        arm, report = h.armrest_with_report(data, args.runtime, args.threads)
        xnn = h.make_interpreter(data, args.runtime, h.XNNPACK, args.threads)
        arm.allocate_tensors()
        xnn.allocate_tensors()
        stages[name] = {"armrest": arm, "xnnpack": xnn, "claimed": f"{report.claimed}/{report.total}"}

    img = synthetic_hand()
    print(f"image {img.shape[1]}x{img.shape[0]} (generated), runtime {args.runtime}, {args.threads} thread(s)")

    # Stage 1: palm detection.
    lb, palm_in = letterbox(img, PALM_SIZE)
    palm_x = [palm_in[None]]
    outs = {k: h.run(stages["palm_detection_lite"][k], palm_x) for k in ("armrest", "xnnpack")}
    by_name = {d["name"]: i for i, d in enumerate(stages["palm_detection_lite"]["armrest"].get_output_details())}
    reg_i = next(i for n, i in by_name.items() if outs["armrest"][i].shape[-1] == 18)
    cls_i = next(i for n, i in by_name.items() if outs["armrest"][i].shape[-1] == 1)
    anchors = palm_anchors()
    score, box, kps = decode_palm(outs["armrest"][reg_i], outs["armrest"][cls_i], anchors)
    score_x, _, _ = decode_palm(outs["xnnpack"][reg_i], outs["xnnpack"][cls_i], anchors)
    err1 = max(h.max_rel_error(a, b) for a, b in zip(outs["armrest"], outs["xnnpack"]))
    print(f"palm detection: best palm score {score:.4f} (XNNPACK {score_x:.4f}), box centre "
          f"({box[0]:.3f}, {box[1]:.3f}) size {box[2]:.3f}x{box[3]:.3f}; armrest vs XNNPACK max rel err {err1:.2e}")

    # Stage 2: hand landmarks on the rotated ROI.
    roi, rotation = hand_roi(kps, box, lb)
    crop = warp(img, roi, HAND_SIZE)
    hand_x = [crop[None]]
    outs2 = {k: h.run(stages["hand_landmark_lite"][k], hand_x) for k in ("armrest", "xnnpack")}
    err2 = max(h.max_rel_error(a, b) for a, b in zip(outs2["armrest"], outs2["xnnpack"]))
    lm_i = next(i for i, o in enumerate(outs2["armrest"]) if o.size == 63 and "world" not in
                stages["hand_landmark_lite"]["armrest"].get_output_details()[i]["name"].lower())
    flag_i = next(i for i, o in enumerate(outs2["armrest"]) if o.size == 1)
    lms = outs2["armrest"][lm_i].reshape(21, 3)
    pts = (roi @ np.c_[lms[:, :2], np.ones(21)].T).T[:, :2]
    print(f"hand landmarks: ROI rotation {math.degrees(rotation):.1f} deg; presence/handedness output "
          f"{float(outs2['armrest'][flag_i].ravel()[0]):.4f}; wrist at ({pts[0, 0]:.1f}, {pts[0, 1]:.1f}) px, "
          f"middle fingertip at ({pts[12, 0]:.1f}, {pts[12, 1]:.1f}) px; armrest vs XNNPACK max rel err {err2:.2e}")

    # Latency, interleaved per stage.
    print(f"\n{'stage':22} {'claimed':>9} {'armrest ms':>10} {'XNNPACK ms':>10} {'arm/xnn':>7}")
    total = {"armrest": 0.0, "xnnpack": 0.0}
    for name, x in (("palm_detection_lite", palm_x), ("hand_landmark_lite", hand_x)):
        st = stages[name]
        for k in ("armrest", "xnnpack"):
            h.set_inputs(st[k], x)
        ms = h.interleaved_latency({k: st[k].invoke for k in ("armrest", "xnnpack")}, rounds=args.rounds)
        for k in total:
            total[k] += ms[k]
        print(f"{name:22} {st['claimed']:>9} {ms['armrest']:>10.2f} {ms['xnnpack']:>10.2f} {ms['armrest'] / ms['xnnpack']:>7.2f}")
    print(f"{'pipeline (sum)':22} {'':>9} {total['armrest']:>10.2f} {total['xnnpack']:>10.2f} "
          f"{total['armrest'] / total['xnnpack']:>7.2f}")
    tol = h.TOLERANCE
    if not (err1 <= tol and err2 <= tol):
        print(f"outputs differ from XNNPACK by more than {tol:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
