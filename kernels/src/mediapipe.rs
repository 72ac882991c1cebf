//! MediaPipe's custom ops, reimplemented from the semantics of MediaPipe's
//! public kernels (mediapipe/util/tflite/operations): the transposed
//! convolution with bias, the affine tensor warp and landmark transform, and
//! the landmarks → crop-matrix estimate used by face_landmark_with_attention,
//! and the max pooling that also returns argmax positions with the unpooling
//! that scatters back through them (segmentation encoder/decoders).

use crate::simd::{par_chunks, TASK_WORK};
use crate::{Clamp, Exec, Nhwc};

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

/// Options of MediaPipe's `MaxPoolingWithArgmax2D` and `MaxUnpooling2D`,
/// which both read a `TfLitePoolParams` from the node's custom data.
/// `MaxUnpooling2D` uses only `filter` and `stride`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArgmaxPool {
    /// `[height, width]`.
    pub filter: [usize; 2],
    /// `[height, width]`.
    pub stride: [usize; 2],
    /// SAME (true) or VALID padding.
    pub same: bool,
    /// The fused activation's range; MediaPipe's "none" clamps to the finite
    /// floats (`[f32::MIN, f32::MAX]`), so an infinite maximum comes out finite.
    pub clamp: Clamp,
}

/// `MaxPoolingWithArgmax2D` on one spatial axis: (output size, padding
/// before) for input size `input`, or `None` when VALID windows do not fit.
/// SAME gives `ceil(input / stride)`; VALID `(input - filter) / stride + 1`;
/// the padding before is half (rounded down) of what the last window overhangs.
pub fn argmax_pool_geometry(input: usize, filter: usize, stride: usize, same: bool) -> Option<(usize, usize)> {
    if input == 0 || filter == 0 || stride == 0 || (!same && input < filter) {
        return None;
    }
    let out = if same { input.div_ceil(stride) } else { (input - filter) / stride + 1 };
    Some((out, ((out - 1) * stride + filter).saturating_sub(input) / 2))
}

/// `MaxUnpooling2D` on one spatial axis: (output size, padding before) for
/// pooled size `input`. The output is `input * filter` whatever the stride;
/// a stride above the filter shifts the windows by `(input - 1) * (stride - filter) / 2`.
pub fn unpool_geometry(input: usize, filter: usize, stride: usize) -> (usize, usize) {
    (input * filter, input.saturating_sub(1) * stride.saturating_sub(filter) / 2)
}

/// `MaxPoolingWithArgmax2D`, one of its outputs: for every output pixel and
/// channel, the first (row-major) strict maximum of the window's in-bounds
/// inputs, starting from `f32::MIN` (NaNs never win; a window of NaNs or
/// -inf gives `f32::MIN` at position 0). `indices == false` writes the
/// clamped maxima; `true` writes their positions in the window,
/// `ky * filter_w + kx`, as MediaPipe's fp32 `position + 0.1`.
/// `out_hw` and `pad` come from [`argmax_pool_geometry`].
#[allow(clippy::too_many_arguments)]
pub fn max_pool_with_argmax(exec: Exec, p: &ArgmaxPool, xs: Nhwc, x: &[f32], out_hw: [usize; 2], pad: [usize; 2], indices: bool, out: &mut [f32]) {
    assert_eq!(x.len(), xs.len(), "max_pool_with_argmax: input length does not match its shape");
    assert_eq!(out.len(), xs.n * out_hw[0] * out_hw[1] * xs.c, "max_pool_with_argmax: output length does not match");
    assert!(p.filter[0] >= 1 && p.filter[1] >= 1 && p.stride[0] >= 1 && p.stride[1] >= 1, "max_pool_with_argmax: zero filter or stride");
    let c = xs.c;
    let row = out_hw[1] * c;
    if row == 0 {
        return;
    }
    let rows_per_task = (TASK_WORK / (row * p.filter[0] * p.filter[1]).max(1)).max(1);
    if indices {
        argmax_rows::<true>(exec, p, xs, x, out_hw, pad, rows_per_task, out);
    } else {
        argmax_rows::<false>(exec, p, xs, x, out_hw, pad, rows_per_task, out);
    }
}

/// The body of [`max_pool_with_argmax`]: `INDICES` writes positions, else values.
#[allow(clippy::too_many_arguments)]
fn argmax_rows<const INDICES: bool>(exec: Exec, p: &ArgmaxPool, xs: Nhwc, x: &[f32], out_hw: [usize; 2], pad: [usize; 2], rows_per_task: usize, out: &mut [f32]) {
    let c = xs.c;
    let row = out_hw[1] * c;
    par_chunks(exec, out, rows_per_task * row, &|start, part| {
        let mut best = vec![0.0f32; c];
        // Positions held as f32 (what MediaPipe's `int + 0.1f` converts them to
        // anyway), so the compare-and-select runs on one lane type and vectorizes.
        let mut at = vec![0.0f32; if INDICES { c } else { 0 }];
        for (r, out_row) in part.chunks_exact_mut(row).enumerate() {
            let g = start / row + r;
            let (n, oy) = (g / out_hw[0], g % out_hw[0]);
            // Window rows in the input: [oy * s - pad, + filter), clipped.
            let y0 = (oy * p.stride[0]) as isize - pad[0] as isize;
            let (ky0, ky1) = ((-y0).max(0) as usize, (xs.h as isize - y0).clamp(0, p.filter[0] as isize) as usize);
            for (ox, px) in out_row.chunks_exact_mut(c).enumerate() {
                let x0 = (ox * p.stride[1]) as isize - pad[1] as isize;
                let (kx0, kx1) = ((-x0).max(0) as usize, (xs.w as isize - x0).clamp(0, p.filter[1] as isize) as usize);
                best.fill(f32::MIN);
                at.fill(0.0);
                for fy in ky0..ky1 {
                    let iy = (y0 + fy as isize) as usize;
                    for fx in kx0..kx1 {
                        let ix = (x0 + fx as isize) as usize;
                        let src = &x[((n * xs.h + iy) * xs.w + ix) * c..][..c];
                        if INDICES {
                            let pos = (fy * p.filter[1] + fx) as f32;
                            let (best, at) = (&mut best[..c], &mut at[..c]);
                            for k in 0..c {
                                // Branch-free so the loop vectorizes; NaN > b is false.
                                let m = 0u32.wrapping_sub((src[k] > best[k]) as u32);
                                best[k] = f32::from_bits((src[k].to_bits() & m) | (best[k].to_bits() & !m));
                                at[k] = f32::from_bits((pos.to_bits() & m) | (at[k].to_bits() & !m));
                            }
                        } else {
                            let best = &mut best[..c];
                            for k in 0..c {
                                best[k] = if src[k] > best[k] { src[k] } else { best[k] };
                            }
                        }
                    }
                }
                if INDICES {
                    for (o, &a) in px.iter_mut().zip(&at) {
                        *o = a + 0.1;
                    }
                } else {
                    for (o, &b) in px.iter_mut().zip(&best) {
                        *o = p.clamp.apply(b);
                    }
                }
            }
        }
    });
}

/// `MaxUnpooling2D`: zeros, then every input value written where its index
/// points: index `i` (truncated toward zero, like C's float→int) at input
/// pixel `(iy, ix)` lands on `(iy * sh - pad_t + i / fw, ix * sw - pad_l + i % fw)`
/// with C's truncating division, in the input's (n, y, x, c) order, so a later
/// write to the same place wins. Targets outside the output, and indices
/// that are not finite or exceed i32 (undefined in MediaPipe), are skipped.
/// `xs` is the shape of `values` and `indices`; `out_hw`, `pad` come from [`unpool_geometry`].
#[allow(clippy::too_many_arguments)]
pub fn max_unpool(exec: Exec, p: &ArgmaxPool, xs: Nhwc, values: &[f32], indices: &[f32], out_hw: [usize; 2], pad: [usize; 2], out: &mut [f32]) {
    assert!(values.len() == xs.len() && indices.len() == xs.len(), "max_unpool: values or indices do not match their shape");
    assert_eq!(out.len(), xs.n * out_hw[0] * out_hw[1] * xs.c, "max_unpool: output length does not match");
    assert!(p.filter[0] >= 1 && p.filter[1] >= 1, "max_unpool: zero filter");
    let c = xs.c;
    let image = out_hw[0] * out_hw[1] * c;
    if image == 0 {
        return;
    }
    let (fw, (oh, ow)) = (p.filter[1] as i64, (out_hw[0] as i64, out_hw[1] as i64));
    // (i / fw, i % fw) of the in-window positions, looked up instead of divided.
    let area = p.filter[0] * p.filter[1];
    let split: Vec<(i64, i64)> = if area <= 4096 { (0..area as i64).map(|i| (i / fw, i % fw)).collect() } else { Vec::new() };
    // Each task owns whole output rows. Usually (stride = filter, every index
    // in its window) each output has exactly one candidate writer, so it is a
    // gather; otherwise a scatter that scans every input pixel of the images
    // the task overlaps and keeps the writes that land in its rows.
    let row = out_hw[1] * c;
    let rows = (xs.n * out_hw[0]).div_ceil(exec.pool.num_threads().max(1)).max(TASK_WORK.div_ceil(row));
    let tiles = p.stride == p.filter && area <= 1 << 24; // positions exact in f32
    par_chunks(exec, out, rows * row, &|start, part| {
        let end = start + part.len();
        let images = start / image..end.div_ceil(image);
        let in_image = xs.h * xs.w * c;
        // Whether every index truncates into [0, area) (false for NaN); in
        // blocks without early exit within one, so the test vectorizes.
        let regular = |block: &[f32]| block.iter().fold(true, |ok, &f| ok & (f > -1.0) & (f < area as f32));
        if tiles && indices[images.start * in_image..images.end * in_image].chunks(256).all(regular) {
            for (r, out_row) in part.chunks_exact_mut(row).enumerate() {
                let g = start / row + r;
                let (n, oy) = (g / out_hw[0], g % out_hw[0]);
                let (iy, dy) = (oy / p.filter[0], oy % p.filter[0]);
                for (ox, px) in out_row.chunks_exact_mut(c).enumerate() {
                    let (ix, dx) = (ox / p.filter[1], ox % p.filter[1]);
                    let at = ((n * xs.h + iy) * xs.w + ix) * c;
                    // trunc(f) == pos, for f in (-1, area): f in [pos, pos + 1), or (-1, 1) for 0.
                    let pos = dy * p.filter[1] + dx;
                    let (lo, hi) = (if pos == 0 { f32::MIN } else { pos as f32 }, (pos + 1) as f32);
                    for ((o, &v), &f) in px.iter_mut().zip(&values[at..at + c]).zip(&indices[at..at + c]) {
                        *o = if (f >= lo) & (f < hi) { v } else { 0.0 };
                    }
                }
            }
            return;
        }
        part.fill(0.0);
        for n in images {
            for iy in 0..xs.h {
                let base_y = (iy * p.stride[0]) as i64 - pad[0] as i64;
                for ix in 0..xs.w {
                    let base_x = (ix * p.stride[1]) as i64 - pad[1] as i64;
                    let at = ((n * xs.h + iy) * xs.w + ix) * c;
                    for (k, (&v, &f)) in values[at..at + c].iter().zip(&indices[at..at + c]).enumerate() {
                        // Skips NaN and infinities too.
                        if f.is_nan() || f.abs() >= 2147483648.0 {
                            continue;
                        }
                        let i = f as i64;
                        let (dy, dx) = match split.get(i as usize) {
                            Some(&d) => d,
                            None => (i / fw, i % fw),
                        };
                        let (oy, ox) = (base_y + dy, base_x + dx);
                        if !(0..oh).contains(&oy) || !(0..ow).contains(&ox) {
                            continue;
                        }
                        let flat = n * image + ((oy * ow + ox) as usize) * c + k;
                        if (start..end).contains(&flat) {
                            part[flat - start] = v;
                        }
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Isa, ThreadPool};

    fn vals(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1664525).wrapping_add(1013904223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{what}: [{i}] {x} vs {y}");
        }
    }

    fn isas() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_available())
    }

    /// The definition: scatter every input pixel through every tap.
    #[allow(clippy::too_many_arguments)]
    fn transpose_conv_ref(s: Nhwc, x: &[f32], w: &[f32], k: [usize; 2], bias: &[f32], st: [usize; 2], pad: [usize; 2], out_hw: [usize; 2]) -> Vec<f32> {
        let oc = bias.len();
        let mut out: Vec<f32> = (0..s.n * out_hw[0] * out_hw[1]).flat_map(|_| bias.iter().copied()).collect();
        for n in 0..s.n {
            for iy in 0..s.h {
                for ix in 0..s.w {
                    for ky in 0..k[0] {
                        for kx in 0..k[1] {
                            let oy = (iy * st[0] + ky) as isize - pad[0] as isize;
                            let ox = (ix * st[1] + kx) as isize - pad[1] as isize;
                            if oy < 0 || ox < 0 || oy >= out_hw[0] as isize || ox >= out_hw[1] as isize {
                                continue;
                            }
                            for o in 0..oc {
                                for c in 0..s.c {
                                    out[((n * out_hw[0] + oy as usize) * out_hw[1] + ox as usize) * oc + o] += x[((n * s.h + iy) * s.w + ix) * s.c + c] * w[((o * k[0] + ky) * k[1] + kx) * s.c + c];
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn transpose_conv_bias_matches_the_scatter_definition() {
        // (n, h, w, c, o, kh, kw, sh, sw, same)
        let cases = [(1, 4, 4, 16, 1, 2, 2, 2, 2, true), (2, 3, 5, 3, 4, 3, 3, 2, 1, true), (1, 5, 3, 2, 3, 3, 2, 3, 2, false), (1, 1, 1, 1, 1, 1, 1, 1, 1, true), (1, 7, 6, 5, 2, 4, 4, 2, 2, true), (1, 2, 2, 3, 2, 5, 5, 1, 1, true)];
        for (n, h, w, c, o, kh, kw, sh, sw, same) in cases {
            let s = Nhwc { n, h, w, c };
            let x = vals(s.len(), 1);
            let wt = vals(o * kh * kw * c, 2);
            let b = vals(o, 3);
            let (oh, pt) = transpose_conv_geometry(h, kh, sh, same);
            let (ow, pl) = transpose_conv_geometry(w, kw, sw, same);
            if same && kh == sh && kw == sw {
                assert_eq!((oh, ow), (h * sh, w * sw), "SAME with kernel = stride gives in * stride");
            }
            let want = transpose_conv_ref(s, &x, &wt, [kh, kw], &b, [sh, sw], [pt, pl], [oh, ow]);
            for isa in isas() {
                for threads in [1, 3] {
                    let pool = ThreadPool::new(threads);
                    let mut out = vec![f32::NAN; want.len()];
                    transpose_conv_bias(Exec { isa, pool: &pool }, s, &x, &wt, [kh, kw], &b, [sh, sw], [pt, pl], [oh, ow], &mut out);
                    close(&out, &want, 1e-5 * (c * kh * kw) as f32, &format!("{s:?} k{kh}x{kw} s{sh}x{sw} {same} {isa:?}"));
                }
            }
        }
        // VALID: (in - 1) * s + k; SAME removes max(0, k - (in - 1) % s - 1), half of it before.
        assert_eq!(transpose_conv_geometry(5, 3, 2, false), (11, 0));
        assert_eq!(transpose_conv_geometry(5, 3, 2, true), (9, 1));
        assert_eq!(transpose_conv_geometry(6, 3, 2, true), (12, 0));
        assert_eq!(transpose_conv_geometry(4, 1, 2, true), (7, 0));
    }

    fn bilinear_ref(s: Nhwc, x: &[f32], m: &[f32], out_hw: [usize; 2]) -> Vec<f32> {
        let mut out = Vec::new();
        for oy in 0..out_hw[0] {
            for ox in 0..out_hw[1] {
                // Pixel centres: sample T at (ox + 0.5, oy + 0.5), minus 0.5.
                let (cx, cy) = (ox as f64 + 0.5, oy as f64 + 0.5);
                let tx = m[0] as f64 * cx + m[1] as f64 * cy + m[3] as f64 - 0.5;
                let ty = m[4] as f64 * cx + m[5] as f64 * cy + m[7] as f64 - 0.5;
                for k in 0..s.c {
                    if tx < 0.0 || ty < 0.0 || tx > (s.w - 1) as f64 || ty > (s.h - 1) as f64 {
                        out.push(0.0);
                        continue;
                    }
                    let px = |yy: i64, xx: i64| if yy >= s.h as i64 || xx >= s.w as i64 { 0.0 } else { x[(yy as usize * s.w + xx as usize) * s.c + k] as f64 };
                    let (x0, y0) = (tx.floor(), ty.floor());
                    let (ax, ay) = (tx - x0, ty - y0);
                    let (x0, y0) = (x0 as i64, y0 as i64);
                    let v = (1.0 - ay) * ((1.0 - ax) * px(y0, x0) + ax * px(y0, x0 + 1)) + ay * ((1.0 - ax) * px(y0 + 1, x0) + ax * px(y0 + 1, x0 + 1));
                    out.push(v as f32);
                }
            }
        }
        out
    }

    #[test]
    fn transform_tensor_bilinear_matches_the_definition() {
        let s = Nhwc { n: 1, h: 9, w: 7, c: 5 };
        let x = vals(s.len(), 4);
        // Rotation + scale + shift, partly outside the input; identity; a pure shift.
        let (sn, cs) = 0.4f32.sin_cos();
        let mats: [[f32; 16]; 3] = [
            [0.6 * cs, -0.6 * sn, 0.0, 2.3, 0.6 * sn, 0.6 * cs, 0.0, -0.7, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            [1.0, 0.0, 0.0, 1.25, 0.0, 1.0, 0.0, -0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0],
        ];
        for m in mats {
            for out_hw in [[6, 6], [9, 7], [1, 3]] {
                let want = bilinear_ref(s, &x, &m, out_hw);
                for isa in isas() {
                    let pool = ThreadPool::new(2);
                    let mut out = vec![f32::NAN; want.len()];
                    transform_tensor_bilinear(Exec { isa, pool: &pool }, s, &x, &m, out_hw, &mut out);
                    close(&out, &want, 1e-5, &format!("{m:?} {out_hw:?}"));
                }
            }
        }
        // The identity warp of a same-size output reproduces the input.
        let mut out = vec![0.0; s.len()];
        let pool = ThreadPool::new(1);
        transform_tensor_bilinear(Exec { isa: Isa::Scalar, pool: &pool }, s, &x, &mats[1], [9, 7], &mut out);
        assert_eq!(out, x);
    }

    #[test]
    fn transform_landmarks_applies_the_affine_rows() {
        let m = [2.0, 0.5, 9.0, 1.0, -0.25, 3.0, 9.0, -2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        for dims in [2, 3] {
            let lm = vals(7 * dims, 5);
            let mut out = vec![0.0; lm.len()];
            transform_landmarks(&lm, dims, &m, &mut out);
            for (p, q) in lm.chunks(dims).zip(out.chunks(dims)) {
                assert!((q[0] - (2.0 * p[0] + 0.5 * p[1] + 1.0)).abs() < 1e-6);
                assert!((q[1] - (-0.25 * p[0] + 3.0 * p[1] - 2.0)).abs() < 1e-6);
                if dims == 3 {
                    assert_eq!(q[2], p[2]);
                }
            }
        }
    }

    fn mat4_mul(a: &[f64; 16], b: &[f64; 16]) -> [f64; 16] {
        let mut r = [0.0; 16];
        for i in 0..4 {
            for j in 0..4 {
                r[i * 4 + j] = (0..4).map(|k| a[i * 4 + k] * b[k * 4 + j]).sum();
            }
        }
        r
    }

    #[test]
    fn landmarks_to_transform_matrix_matches_the_matrix_chain() {
        let n = 12;
        let lm: Vec<f32> = vals(n * 3, 6).iter().map(|v| v * 50.0 + 100.0).collect();
        let p = LandmarksToMatrix {
            subset: vec![[0, 3], [5, 7], [9, 9], [11, 2]],
            left_rotation_idx: 1,
            right_rotation_idx: 4,
            target_rotation_radians: 0.3,
            output_height: 16,
            output_width: 24,
            scale_x: 1.5,
            scale_y: 1.25,
        };
        let mut out = [0.0f32; 16];
        landmarks_to_transform_matrix(&p, &lm, &mut out);
        // Reference in f64 as the explicit chain shift(crop) * R(-r) * scale * shift(-out/2).
        let at = |i: usize| (lm[3 * i] as f64, lm[3 * i + 1] as f64);
        let (l, r) = (at(1), at(4));
        let rot = 0.3f64 - (r.1 - l.1).atan2(r.0 - l.0);
        let pts: Vec<(f64, f64)> = p.subset.iter().flatten().map(|&i| at(i)).map(|(x, y)| (rot.cos() * x - rot.sin() * y, rot.sin() * x + rot.cos() * y)).collect();
        let fold = |f: fn(f64, f64) -> f64, init: f64, sel: fn(&(f64, f64)) -> f64| pts.iter().map(sel).fold(init, f);
        let (minx, maxx) = (fold(f64::min, f64::INFINITY, |p| p.0), fold(f64::max, f64::NEG_INFINITY, |p| p.0));
        let (miny, maxy) = (fold(f64::min, f64::INFINITY, |p| p.1), fold(f64::max, f64::NEG_INFINITY, |p| p.1));
        let (cx, cy) = ((minx + maxx) / 2.0, (miny + maxy) / 2.0);
        let (cx, cy) = ((-rot).cos() * cx - (-rot).sin() * cy, (-rot).sin() * cx + (-rot).cos() * cy);
        let shift = |x: f64, y: f64| [1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, y, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let rr = -rot;
        let rotm = [rr.cos(), -rr.sin(), 0.0, 0.0, rr.sin(), rr.cos(), 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let (sx, sy) = (1.5 * (maxx - minx) / 24.0, 1.25 * (maxy - miny) / 16.0);
        let scale = [sx, 0.0, 0.0, 0.0, 0.0, sy, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let t = mat4_mul(&mat4_mul(&mat4_mul(&shift(cx, cy), &rotm), &scale), &shift(-12.0, -8.0));
        let want: Vec<f32> = t.iter().map(|&v| v as f32).collect();
        close(&out, &want, 2e-5, "matrix");
    }
    /// MaxPoolingWithArgmax2D as the definition reads: every output pixel
    /// and channel visits its window in row-major order over the padded
    /// coordinates, skipping positions outside the input.
    fn argmax_pool_ref(p: &ArgmaxPool, s: Nhwc, x: &[f32]) -> (Vec<f32>, Vec<f32>, [usize; 2]) {
        let (oh, pt) = argmax_pool_geometry(s.h, p.filter[0], p.stride[0], p.same).unwrap();
        let (ow, pl) = argmax_pool_geometry(s.w, p.filter[1], p.stride[1], p.same).unwrap();
        let (mut vals, mut idx) = (Vec::new(), Vec::new());
        for n in 0..s.n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for k in 0..s.c {
                        let (mut m, mut at) = (f32::MIN, 0usize);
                        for fy in 0..p.filter[0] {
                            for fx in 0..p.filter[1] {
                                let iy = (oy * p.stride[0] + fy) as i64 - pt as i64;
                                let ix = (ox * p.stride[1] + fx) as i64 - pl as i64;
                                if iy < 0 || ix < 0 || iy >= s.h as i64 || ix >= s.w as i64 {
                                    continue;
                                }
                                let v = x[((n * s.h + iy as usize) * s.w + ix as usize) * s.c + k];
                                if v > m {
                                    (m, at) = (v, fy * p.filter[1] + fx);
                                }
                            }
                        }
                        vals.push(m.max(p.clamp.min).min(p.clamp.max));
                        idx.push(at as f32 + 0.1);
                    }
                }
            }
        }
        (vals, idx, [oh, ow])
    }

    /// MaxUnpooling2D as the definition reads: zeros, then one sequential
    /// scatter in input order, dropping targets outside the output.
    fn unpool_ref(p: &ArgmaxPool, s: Nhwc, v: &[f32], idx: &[f32]) -> (Vec<f32>, [usize; 2]) {
        let (oh, pt) = unpool_geometry(s.h, p.filter[0], p.stride[0]);
        let (ow, pl) = unpool_geometry(s.w, p.filter[1], p.stride[1]);
        let mut out = vec![0.0; s.n * oh * ow * s.c];
        for n in 0..s.n {
            for iy in 0..s.h {
                for ix in 0..s.w {
                    for k in 0..s.c {
                        let at = ((n * s.h + iy) * s.w + ix) * s.c + k;
                        let i = idx[at].trunc();
                        if !i.is_finite() {
                            continue;
                        }
                        let i = i as i64;
                        let oy = (iy * p.stride[0]) as i64 - pt as i64 + i / p.filter[1] as i64;
                        let ox = (ix * p.stride[1]) as i64 - pl as i64 + i % p.filter[1] as i64;
                        if (0..oh as i64).contains(&oy) && (0..ow as i64).contains(&ox) {
                            out[((n * oh + oy as usize) * ow + ox as usize) * s.c + k] = v[at];
                        }
                    }
                }
            }
        }
        (out, [oh, ow])
    }

    fn run_argmax(p: &ArgmaxPool, s: Nhwc, x: &[f32], threads: usize) -> (Vec<f32>, Vec<f32>) {
        let (oh, pt) = argmax_pool_geometry(s.h, p.filter[0], p.stride[0], p.same).unwrap();
        let (ow, pl) = argmax_pool_geometry(s.w, p.filter[1], p.stride[1], p.same).unwrap();
        let pool = ThreadPool::new(threads);
        let exec = Exec { isa: Isa::Scalar, pool: &pool };
        let mut v = vec![f32::NAN; s.n * oh * ow * s.c];
        let mut i = v.clone();
        max_pool_with_argmax(exec, p, s, x, [oh, ow], [pt, pl], false, &mut v);
        max_pool_with_argmax(exec, p, s, x, [oh, ow], [pt, pl], true, &mut i);
        (v, i)
    }

    fn run_unpool(p: &ArgmaxPool, s: Nhwc, v: &[f32], idx: &[f32], threads: usize) -> Vec<f32> {
        let (oh, pt) = unpool_geometry(s.h, p.filter[0], p.stride[0]);
        let (ow, pl) = unpool_geometry(s.w, p.filter[1], p.stride[1]);
        let pool = ThreadPool::new(threads);
        let mut out = vec![f32::NAN; s.n * oh * ow * s.c];
        max_unpool(Exec { isa: Isa::Scalar, pool: &pool }, p, s, v, idx, [oh, ow], [pt, pl], &mut out);
        out
    }

    const MP_NONE: Clamp = Clamp { min: f32::MIN, max: f32::MAX };

    #[test]
    fn max_pool_with_argmax_matches_the_definition() {
        // (n, h, w, c, fh, fw, sh, sw, same)
        let cases = [
            (1, 8, 8, 16, 2, 2, 2, 2, true),
            (2, 5, 7, 3, 2, 2, 2, 2, true),
            (1, 5, 5, 4, 3, 3, 2, 2, true),
            (1, 7, 6, 5, 3, 2, 1, 2, false),
            (1, 9, 4, 1, 4, 3, 3, 1, true),
            (3, 6, 6, 2, 2, 3, 3, 2, false),
            (1, 1, 1, 7, 2, 2, 2, 2, true),
            (1, 4, 9, 33, 1, 1, 1, 1, true),
            (1, 3, 8, 3, 3, 3, 4, 4, true),
            (1, 40, 40, 24, 2, 2, 2, 2, true),
        ];
        for (n, h, w, c, fh, fw, sh, sw, same) in cases {
            let s = Nhwc { n, h, w, c };
            // Coarse values make ties common: the first row-major maximum must win.
            let x: Vec<f32> = vals(s.len(), 9).iter().map(|v| (v * 4.0).round()).collect();
            for clamp in [MP_NONE, Clamp::RELU, Clamp::RELU_N1_TO_1] {
                let p = ArgmaxPool { filter: [fh, fw], stride: [sh, sw], same, clamp };
                let (want_v, want_i, _) = argmax_pool_ref(&p, s, &x);
                for threads in [1, 3] {
                    let (v, i) = run_argmax(&p, s, &x, threads);
                    assert_eq!(v, want_v, "values {s:?} {p:?} threads {threads}");
                    assert_eq!(i, want_i, "indices {s:?} {p:?} threads {threads}");
                }
            }
        }
        // Geometry: SAME ceil(in / s) padded half (down) before; VALID fits whole windows.
        assert_eq!(argmax_pool_geometry(5, 2, 2, true), Some((3, 0)));
        assert_eq!(argmax_pool_geometry(5, 3, 2, true), Some((3, 1)));
        assert_eq!(argmax_pool_geometry(6, 4, 2, true), Some((3, 1)));
        assert_eq!(argmax_pool_geometry(7, 3, 2, false), Some((3, 0)));
        assert_eq!(argmax_pool_geometry(2, 3, 1, false), None);
        assert_eq!(argmax_pool_geometry(0, 2, 2, true), None);
    }

    #[test]
    fn max_pool_with_argmax_edge_values_follow_mediapipe() {
        // One 2x2 window per channel: NaNs never win, -inf alone gives f32::MIN at
        // position 0, +inf is clamped to f32::MAX by the "none" activation, ties keep the first.
        let s = Nhwc { n: 1, h: 2, w: 2, c: 4 };
        let (nan, inf) = (f32::NAN, f32::INFINITY);
        #[rustfmt::skip]
        let x = [
            nan, -inf, 1.0, 2.0, //
            3.0, -inf, inf, 2.0, //
            nan, -inf, 0.0, 5.0, //
            nan, -inf, 7.0, 5.0,
        ];
        let p = ArgmaxPool { filter: [2, 2], stride: [2, 2], same: false, clamp: MP_NONE };
        let (v, i) = run_argmax(&p, s, &x, 1);
        assert_eq!(v, [3.0, f32::MIN, f32::MAX, 5.0]);
        assert_eq!(i, [1.1, 0.1, 1.1, 2.1]);
        assert_eq!(i.iter().map(|&f| f as i32).collect::<Vec<_>>(), [1, 0, 1, 2]);
    }

    #[test]
    fn max_unpool_matches_the_definition() {
        // (n, h, w, c, fh, fw, sh, sw): stride = filter (the usual), overlapping
        // windows (later writes win), stride > filter (shifted windows).
        let cases = [(1, 4, 4, 16, 2, 2, 2, 2), (2, 3, 5, 3, 2, 2, 2, 2), (1, 3, 3, 4, 3, 3, 2, 2), (1, 4, 3, 2, 2, 3, 3, 4), (1, 1, 1, 5, 2, 2, 2, 2), (1, 20, 20, 32, 2, 2, 2, 2), (3, 10, 10, 32, 2, 2, 2, 2)];
        for (n, h, w, c, fh, fw, sh, sw) in cases {
            let s = Nhwc { n, h, w, c };
            let v = vals(s.len(), 11);
            let p = ArgmaxPool { filter: [fh, fw], stride: [sh, sw], same: true, clamp: MP_NONE };
            // In-window positions as MediaPipe writes them, then irregular ones:
            // past the window, negative (C truncation), out of the output, NaN, huge.
            // Fractions truncate: 2.9 is 2, -0.5 is 0.
            let regular: Vec<f32> = vals(s.len(), 12)
                .iter()
                .enumerate()
                .map(|(j, r)| {
                    let pos = ((r + 1.0) / 2.0 * (fh * fw) as f32).floor().min((fh * fw - 1) as f32);
                    pos + [0.1, 0.9, if pos == 0.0 { -0.5 } else { 0.5 }][j % 3]
                })
                .collect();
            let mut irregular = regular.clone();
            for (j, f) in irregular.iter_mut().enumerate() {
                *f = match j % 7 {
                    1 => (fh * fw + 1) as f32 + 0.1,
                    2 => -1.7,
                    3 => -((fw + 1) as f32),
                    4 => 1e6,
                    5 => f32::NAN,
                    6 => 3e9,
                    _ => *f,
                };
            }
            for idx in [&regular, &irregular] {
                let (want, _) = unpool_ref(&p, s, &v, idx);
                for threads in [1, 2, 3] {
                    assert_eq!(run_unpool(&p, s, &v, idx, threads), want, "{s:?} {p:?} threads {threads}");
                }
            }
        }
        assert_eq!(unpool_geometry(3, 2, 2), (6, 0));
        assert_eq!(unpool_geometry(3, 3, 2), (9, 0));
        assert_eq!(unpool_geometry(4, 2, 3), (8, 1));
        assert_eq!(unpool_geometry(5, 2, 5), (10, 6));
    }

    #[test]
    fn unpooling_the_argmax_puts_each_maximum_back() {
        // Stride = filter, even sizes: pool → unpool keeps each window's maximum
        // where it was and zeroes the rest.
        let s = Nhwc { n: 2, h: 6, w: 8, c: 5 };
        let x = vals(s.len(), 13);
        let p = ArgmaxPool { filter: [2, 2], stride: [2, 2], same: true, clamp: MP_NONE };
        let (v, i) = run_argmax(&p, s, &x, 2);
        let back = run_unpool(&p, Nhwc { n: 2, h: 3, w: 4, c: 5 }, &v, &i, 2);
        for (j, (&b, &xv)) in back.iter().zip(&x).enumerate() {
            let (k, px) = (j % s.c, j / s.c);
            let (ix, iy, n) = (px % s.w, (px / s.w) % s.h, px / (s.w * s.h));
            let window = (0..2).flat_map(|dy| (0..2).map(move |dx| ((iy / 2 * 2 + dy), (ix / 2 * 2 + dx))));
            let max = window.map(|(y, xx)| x[((n * s.h + y) * s.w + xx) * s.c + k]).fold(f32::MIN, f32::max);
            assert_eq!(b, if xv == max { xv } else { 0.0 }, "{j}");
        }
    }
}
