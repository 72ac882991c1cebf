//! RESIZE_BILINEAR over NHWC with TFLite's coordinate conventions.
//!
//! Source coordinates are computed in f32 exactly as TFLite's reference
//! kernel does: `scale = in / out`, or `(in - 1) / (out - 1)` with
//! `align_corners` (when `out > 1`); the source coordinate is
//! `(o + 0.5) * scale - 0.5` with `half_pixel_centers`, else `o * scale`;
//! `lower = max(floor(coord), 0)`, `upper = min(ceil(coord), in - 1)`, and the
//! interpolation weight is `coord - lower` (so a negative coordinate, which
//! half-pixel centers give near the top/left edge, reproduces the edge pixel).
//! The channels are the vector dimension; tasks are groups of output rows.

use crate::simd::{dispatch, par_chunks, Simd, SimdFn, TASK_WORK};
use crate::{Exec, Nhwc};

#[allow(clippy::too_many_arguments)]
pub fn resize_bilinear(exec: Exec, in_shape: Nhwc, input: &[f32], out_h: usize, out_w: usize, align_corners: bool, half_pixel_centers: bool, output: &mut [f32]) {
    assert_eq!(input.len(), in_shape.len(), "resize_bilinear: input length does not match its shape");
    assert_eq!(output.len(), in_shape.n * out_h * out_w * in_shape.c, "resize_bilinear: output length does not match");
    if output.is_empty() {
        return;
    }
    assert!(in_shape.h > 0 && in_shape.w > 0, "resize_bilinear: empty input with a non-empty output");
    let ys = Axis::new(in_shape.h, out_h, align_corners, half_pixel_centers);
    let xs = Axis::new(in_shape.w, out_w, align_corners, half_pixel_centers);
    let row = out_w * in_shape.c;
    let rows_per_task = (TASK_WORK / (8 * row)).max(1);
    par_chunks(exec, output, rows_per_task * row, &|start, part| {
        dispatch(exec.isa, ResizeKernel { in_shape, input, ys, xs, out_h, out_w, first_row: start / row, out: part });
    });
}

/// Source-coordinate mapping of one axis.
#[derive(Clone, Copy, Debug)]
pub struct Axis {
    scale: f32,
    half_pixel: bool,
    in_size: usize,
}

impl Axis {
    pub fn new(in_size: usize, out_size: usize, align_corners: bool, half_pixel_centers: bool) -> Axis {
        let scale = if align_corners && out_size > 1 { (in_size - 1) as f32 / (out_size - 1) as f32 } else { in_size as f32 / out_size as f32 };
        Axis { scale, half_pixel: half_pixel_centers, in_size }
    }

    /// `(lower, upper, weight of upper)` for output index `o`; the lower
    /// sample's weight is `1 - weight`.
    pub fn source(&self, o: usize) -> (usize, usize, f32) {
        let coord = if self.half_pixel { (o as f32 + 0.5) * self.scale - 0.5 } else { o as f32 * self.scale };
        let last = self.in_size as i64 - 1;
        let lower = (coord.floor() as i64).clamp(0, last);
        let upper = (coord.ceil() as i64).min(last).max(0);
        (lower as usize, upper as usize, coord - lower as f32)
    }
}

struct ResizeKernel<'a> {
    in_shape: Nhwc,
    input: &'a [f32],
    ys: Axis,
    xs: Axis,
    out_h: usize,
    out_w: usize,
    /// Index of the output row (n * out_h + oy) `out` starts at.
    first_row: usize,
    out: &'a mut [f32],
}

impl SimdFn for ResizeKernel<'_> {
    type Output = ();
    #[inline(always)]
    fn call<S: Simd>(self, s: S) {
        let Nhwc { h, w, c, .. } = self.in_shape;
        let lanes = S::WIDTH;
        for (r, out_row) in self.out.chunks_mut(self.out_w * c).enumerate() {
            let row = self.first_row + r;
            let (n, oy) = (row / self.out_h, row % self.out_h);
            let (y0, y1, dy) = self.ys.source(oy);
            let row0 = &self.input[(n * h + y0) * w * c..(n * h + y0 + 1) * w * c];
            let row1 = &self.input[(n * h + y1) * w * c..(n * h + y1 + 1) * w * c];
            for (ox, out_px) in out_row.chunks_mut(c).enumerate() {
                let (x0, x1, dx) = self.xs.source(ox);
                let w00 = s.splat((1.0 - dy) * (1.0 - dx));
                let w10 = s.splat(dy * (1.0 - dx));
                let w01 = s.splat((1.0 - dy) * dx);
                let w11 = s.splat(dy * dx);
                let (p00, p01) = (&row0[x0 * c..x0 * c + c], &row0[x1 * c..x1 * c + c]);
                let (p10, p11) = (&row1[x0 * c..x0 * c + c], &row1[x1 * c..x1 * c + c]);
                let blend = |a: S::V, b: S::V, cc: S::V, d: S::V| s.fma(d, w11, s.fma(cc, w01, s.fma(b, w10, s.mul(a, w00))));
                let mut ch = 0;
                while ch + lanes <= c {
                    let v = blend(s.load(&p00[ch..]), s.load(&p10[ch..]), s.load(&p01[ch..]), s.load(&p11[ch..]));
                    s.store(&mut out_px[ch..], v);
                    ch += lanes;
                }
                if ch < c {
                    let v = blend(
                        s.load_partial(&p00[ch..], 0.0),
                        s.load_partial(&p10[ch..], 0.0),
                        s.load_partial(&p01[ch..], 0.0),
                        s.load_partial(&p11[ch..], 0.0),
                    );
                    s.store_partial(&mut out_px[ch..], v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::test_util::*;
    use proptest::prelude::*;

    /// TFLite's reference formula, written out per element (f32 throughout).
    #[allow(clippy::too_many_arguments)]
    fn reference(s: Nhwc, x: &[f32], oh: usize, ow: usize, align: bool, half: bool) -> Vec<f32> {
        let scale = |i: usize, o: usize| if align && o > 1 { (i - 1) as f32 / (o - 1) as f32 } else { i as f32 / o as f32 };
        let (hs, ws) = (scale(s.h, oh), scale(s.w, ow));
        let interp = |v: usize, sc: f32, size: usize| {
            let c = if half { (v as f32 + 0.5) * sc - 0.5 } else { v as f32 * sc };
            let lo = (c.floor() as i32).max(0).min(size as i32 - 1);
            let hi = (c.ceil() as i32).min(size as i32 - 1).max(0);
            (c, lo as usize, hi as usize)
        };
        let at = |n: usize, y: usize, xx: usize, ch: usize| x[((n * s.h + y) * s.w + xx) * s.c + ch];
        let mut out = Vec::new();
        for n in 0..s.n {
            for y in 0..oh {
                let (iy, y0, y1) = interp(y, hs, s.h);
                for xo in 0..ow {
                    let (ix, x0, x1) = interp(xo, ws, s.w);
                    for ch in 0..s.c {
                        let (fy, fx) = (iy - y0 as f32, ix - x0 as f32);
                        out.push(
                            at(n, y0, x0, ch) * (1.0 - fy) * (1.0 - fx)
                                + at(n, y1, x0, ch) * fy * (1.0 - fx)
                                + at(n, y0, x1, ch) * (1.0 - fy) * fx
                                + at(n, y1, x1, ch) * fy * fx,
                        );
                    }
                }
            }
        }
        out
    }

    fn check(s: Nhwc, oh: usize, ow: usize, align: bool, half: bool, seed: u64) {
        let x = Rng(seed).vec(s.len(), -3.0, 3.0);
        let want = reference(s, &x, oh, ow, align, half);
        for_each_exec_same(|exec| {
            let mut out = vec![f32::NAN; want.len()];
            resize_bilinear(exec, s, &x, oh, ow, align, half, &mut out);
            assert_close(&out, &want, 2e-6, &format!("resize {s:?} -> {oh}x{ow} align={align} half={half} {}", exec.isa));
            out
        });
    }

    const FLAGS: [(bool, bool); 3] = [(false, false), (true, false), (false, true)];

    #[test]
    fn upscale_downscale_all_flags() {
        let mut seed = 1;
        for (align, half) in FLAGS {
            for (ih, iw, oh, ow) in [(4, 4, 8, 8), (3, 5, 7, 4), (8, 8, 4, 4), (7, 9, 3, 2), (1, 1, 3, 3), (5, 5, 1, 1), (2, 3, 2, 3), (6, 4, 13, 11)] {
                for c in [1, 3, 8, 11] {
                    seed += 1;
                    check(Nhwc { n: 2, h: ih, w: iw, c }, oh, ow, align, half, seed);
                }
            }
        }
    }

    #[test]
    fn odd_channels_and_large() {
        for c in 1..=40 {
            check(Nhwc { n: 1, h: 3, w: 4, c }, 5, 7, false, true, c as u64);
        }
        check(Nhwc { n: 1, h: 20, w: 30, c: 17 }, 45, 61, false, true, 3);
        check(Nhwc { n: 2, h: 32, w: 32, c: 8 }, 64, 64, true, false, 4);
    }

    #[test]
    fn half_pixel_edges_reproduce_edge_pixels() {
        // 2x upscale with half-pixel centers: output 0 maps to input -0.25,
        // which must give exactly the first input pixel (not extrapolate).
        let s = Nhwc { n: 1, h: 1, w: 2, c: 1 };
        for_each_exec(|exec| {
            let mut out = vec![0.0; 4];
            resize_bilinear(exec, s, &[10.0, 20.0], 1, 4, false, true, &mut out);
            assert_eq!(out, [10.0, 12.5, 17.5, 20.0]);
            resize_bilinear(exec, s, &[10.0, 20.0], 1, 4, true, false, &mut out);
            let third = 10.0 + 10.0 * (1.0f32 / 3.0);
            assert_close(&out, &[10.0, third, 10.0 + 10.0 * (2.0f32 / 3.0), 20.0], 1e-6, "align corners");
            resize_bilinear(exec, s, &[10.0, 20.0], 1, 4, false, false, &mut out);
            assert_eq!(out, [10.0, 15.0, 20.0, 20.0]);
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn random_sizes(ih in 1usize..9, iw in 1usize..9, oh in 1usize..12, ow in 1usize..12, c in 1usize..12, flags in 0usize..3, seed in any::<u64>()) {
            let (align, half) = FLAGS[flags];
            check(Nhwc { n: 1, h: ih, w: iw, c }, oh, ow, align, half, seed | 1);
        }
    }
}
