//! MediaPipe's custom ops, reimplemented from the semantics of MediaPipe's
//! public kernels (mediapipe/util/tflite/operations): the transposed
//! convolution with bias, the affine tensor warp and landmark transform, and
//! the landmarks → crop-matrix estimate used by face_landmark_with_attention.

use crate::simd::{par_chunks, TASK_WORK};
use crate::{Exec, Nhwc};

/// Geometry of `Convolution2DTransposeBias` on one spatial axis: (output size,
/// padding before) for input size `input`, kernel `k`, stride `s`. SAME pads
/// `max(0, k - (input-1) % s - 1)` in total, half of it (rounded down) before.
pub fn transpose_conv_geometry(input: usize, k: usize, s: usize, same: bool) -> (usize, usize) {
    let total = if same && input > 0 { (k as isize - ((input - 1) % s) as isize - 1).max(0) as usize } else { 0 };
    ((s * input.saturating_sub(1) + k).saturating_sub(total), total / 2)
}

/// `Convolution2DTransposeBias`: `out[n, oy, ox, o] = bias[o] + sum x[n, iy, ix, c] * w[o, ky, kx, c]`
/// over all `(iy, ix, ky, kx)` with `oy = iy*sh - pad_t + ky`, `ox = ix*sw - pad_l + kx`.
/// `w` is `[o, kh, kw, c]`; computed as a gather, one output row per task step.
#[allow(clippy::too_many_arguments)]
pub fn transpose_conv_bias(exec: Exec, x_shape: Nhwc, x: &[f32], w: &[f32], kernel: [usize; 2], bias: &[f32], stride: [usize; 2], pad: [usize; 2], out_hw: [usize; 2], out: &mut [f32]) {
    let (kh, kw) = (kernel[0], kernel[1]);
    let oc = bias.len();
    let c = x_shape.c;
    assert_eq!(x.len(), x_shape.len(), "transpose_conv_bias: input length does not match its shape");
    assert_eq!(w.len(), oc * kh * kw * c, "transpose_conv_bias: weights are not [o, kh, kw, c]");
    assert_eq!(out.len(), x_shape.n * out_hw[0] * out_hw[1] * oc, "transpose_conv_bias: output length does not match");
    assert!(stride[0] >= 1 && stride[1] >= 1, "transpose_conv_bias: zero stride");
    let row = out_hw[1] * oc;
    if row == 0 {
        return;
    }
    let rows_per_task = (TASK_WORK / (row * c * kh * kw).max(1)).max(1);
    // Input index contributing through kernel tap `k` to output `o`, if any.
    let source = |o: usize, k: usize, p: usize, s: usize, size: usize| -> Option<usize> {
        let t = (o + p).checked_sub(k)?;
        (t.is_multiple_of(s) && t / s < size).then_some(t / s)
    };
    par_chunks(exec, out, rows_per_task * row, &|start, part| {
        for (r, out_row) in part.chunks_exact_mut(row).enumerate() {
            let g = start / row + r;
            let (n, oy) = (g / out_hw[0], g % out_hw[0]);
            for (ox, px) in out_row.chunks_exact_mut(oc).enumerate() {
                px.copy_from_slice(bias);
                for ky in 0..kh {
                    let Some(iy) = source(oy, ky, pad[0], stride[0], x_shape.h) else { continue };
                    for kx in 0..kw {
                        let Some(ix) = source(ox, kx, pad[1], stride[1], x_shape.w) else { continue };
                        let xs = &x[((n * x_shape.h + iy) * x_shape.w + ix) * c..][..c];
                        for (o, acc) in px.iter_mut().enumerate() {
                            let ws = &w[((o * kh + ky) * kw + kx) * c..][..c];
                            *acc += xs.iter().zip(ws).map(|(a, b)| a * b).sum::<f32>();
                        }
                    }
                }
            }
        }
    });
}

/// `TransformTensorBilinear` (version 2): samples `x` (batch 1) at the affine
/// map of each output pixel given by the first two rows of the 4x4 `matrix`,
/// with MediaPipe's pixel-centre correction; points outside the input give 0,
/// neighbours past the edge read 0.
pub fn transform_tensor_bilinear(exec: Exec, x_shape: Nhwc, x: &[f32], matrix: &[f32], out_hw: [usize; 2], out: &mut [f32]) {
    assert_eq!(x_shape.n, 1, "transform_tensor_bilinear: batch must be 1");
    assert_eq!(x.len(), x_shape.len(), "transform_tensor_bilinear: input length does not match its shape");
    assert!(matrix.len() >= 8, "transform_tensor_bilinear: matrix needs two rows of 4");
    let c = x_shape.c;
    assert_eq!(out.len(), out_hw[0] * out_hw[1] * c, "transform_tensor_bilinear: output length does not match");
    let mut mx = [matrix[0], matrix[1], matrix[2], matrix[3]];
    let mut my = [matrix[4], matrix[5], matrix[6], matrix[7]];
    // Sample at pixel centres: T' = S(-0.5) * T * S(+0.5).
    mx[3] += mx[0] * 0.5 + mx[1] * 0.5 - 0.5;
    my[3] += my[0] * 0.5 + my[1] * 0.5 - 0.5;
    let row = out_hw[1] * c;
    if row == 0 {
        return;
    }
    let (h, w) = (x_shape.h as isize, x_shape.w as isize);
    let read = |yy: isize, xx: isize, k: usize| if yy < 0 || xx < 0 || yy >= h || xx >= w { 0.0 } else { x[(yy * w + xx) as usize * c + k] };
    let rows_per_task = (TASK_WORK / (4 * row)).max(1);
    par_chunks(exec, out, rows_per_task * row, &|start, part| {
        for (r, out_row) in part.chunks_exact_mut(row).enumerate() {
            let oy = (start / row + r) as f32;
            for (ox, px) in out_row.chunks_exact_mut(c).enumerate() {
                let ox = ox as f32;
                let tx = mx[0] * ox + mx[1] * oy + mx[2] * 0.0 + mx[3];
                let ty = my[0] * ox + my[1] * oy + my[2] * 0.0 + my[3];
                let inside = (0.0..=(w - 1) as f32).contains(&tx) && (0.0..=(h - 1) as f32).contains(&ty);
                if !inside {
                    px.fill(0.0);
                    continue;
                }
                let (fx, fy) = (tx.floor(), ty.floor());
                let (ax, ay) = (tx - fx, ty - fy);
                let (x0, y0) = (fx as isize, fy as isize);
                for (k, v) in px.iter_mut().enumerate() {
                    let upper = (1.0 - ax) * read(y0, x0, k) + ax * read(y0, x0 + 1, k);
                    let lower = (1.0 - ax) * read(y0 + 1, x0, k) + ax * read(y0 + 1, x0 + 1, k);
                    *v = ay * lower + (1.0 - ay) * upper;
                }
            }
        }
    });
}

/// `TransformLandmarks` (version 2): each landmark `(x, y[, z])` of
/// `landmarks` (`dims` = 2 or 3 values each) becomes `(m0 x + m1 y + m3,
/// m4 x + m5 y + m7[, z])` for the row-major 4x4 `matrix`.
pub fn transform_landmarks(landmarks: &[f32], dims: usize, matrix: &[f32], out: &mut [f32]) {
    assert!(dims == 2 || dims == 3, "transform_landmarks: landmarks have 2 or 3 values");
    assert!(matrix.len() >= 8, "transform_landmarks: matrix needs two rows of 4");
    assert!(landmarks.len().is_multiple_of(dims) && out.len() == landmarks.len(), "transform_landmarks: lengths do not match");
    for (src, dst) in landmarks.chunks_exact(dims).zip(out.chunks_exact_mut(dims)) {
        let (x, y) = (src[0], src[1]);
        dst[0] = matrix[0] * x + matrix[1] * y + matrix[2] * 0.0 + matrix[3];
        dst[1] = matrix[4] * x + matrix[5] * y + matrix[6] * 0.0 + matrix[7];
        if dims == 3 {
            dst[2] = src[2];
        }
    }
}

/// Parameters of `Landmarks2TransformMatrix` (version 2).
#[derive(Clone, Debug, PartialEq)]
pub struct LandmarksToMatrix {
    /// Landmark index pairs whose rotated bounding box is the crop.
    pub subset: Vec<[usize; 2]>,
    pub left_rotation_idx: usize,
    pub right_rotation_idx: usize,
    pub target_rotation_radians: f32,
    pub output_height: i32,
    pub output_width: i32,
    pub scale_x: f32,
    pub scale_y: f32,
}

/// `Landmarks2TransformMatrix` (version 2): from `landmarks` (x, y, z each),
/// the row-major 4x4 matrix mapping crop pixels to landmark space: rotate so
/// the left→right landmarks meet the target angle, take the subset's bounding
/// box in the rotated frame, and map an `output_width x output_height` crop
/// onto it (scaled by `scale_x`, `scale_y`) about its centre.
pub fn landmarks_to_transform_matrix(p: &LandmarksToMatrix, landmarks: &[f32], out: &mut [f32]) {
    assert_eq!(out.len(), 16, "landmarks_to_transform_matrix: the output is 4x4");
    let at = |i: usize| (landmarks[3 * i], landmarks[3 * i + 1]);
    assert!(!p.subset.is_empty(), "landmarks_to_transform_matrix: empty subset");
    let (l, r) = (at(p.left_rotation_idx), at(p.right_rotation_idx));
    let rotation = p.target_rotation_radians - (r.1 - l.1).atan2(r.0 - l.0);
    let (sin, cos) = rotation.sin_cos();
    let (mut min, mut max) = ((f32::INFINITY, f32::INFINITY), (f32::NEG_INFINITY, f32::NEG_INFINITY));
    for &[a, b] in &p.subset {
        for i in [a, b] {
            let (x, y) = at(i);
            let (rx, ry) = (cos * x - sin * y, sin * x + cos * y);
            min = (min.0.min(rx), min.1.min(ry));
            max = (max.0.max(rx), max.1.max(ry));
        }
    }
    let (crop_w, crop_h) = (max.0 - min.0, max.1 - min.1);
    let (mx, my) = ((min.0 + max.0) / 2.0, (min.1 + max.1) / 2.0);
    // Back to the unrotated frame: R(-rotation).
    let (sn, cs) = (-rotation).sin_cos();
    let (crop_x, crop_y) = (cs * mx - sn * my, sn * mx + cs * my);
    let sx = p.scale_x * crop_w / p.output_width as f32;
    let sy = p.scale_y * crop_h / p.output_height as f32;
    let (shift_x, shift_y) = (-(p.output_width as f32 / 2.0), -(p.output_height as f32 / 2.0));
    // shift(crop) * R(-rotation) * scale(sx, sy) * shift(-out/2), multiplied out.
    let (a, b, c, d) = (cs * sx, -sn * sy, sn * sx, cs * sy);
    out.copy_from_slice(&[
        a, b, 0.0, crop_x + a * shift_x + b * shift_y, //
        c, d, 0.0, crop_y + c * shift_x + d * shift_y, //
        0.0, 0.0, 1.0, 0.0, //
        0.0, 0.0, 0.0, 1.0,
    ]);
}
