//! AVERAGE_POOL_2D and MAX_POOL_2D over NHWC (TFLite semantics: the average
//! counts only the taps inside the input; padding never wins a max).
//!
//! For each output pixel the window is first clipped to the input, so the
//! inner loops never test bounds; the channels are the vector dimension
//! (blocks of four vectors, then single vectors, then a partial tail).
//! Tasks are groups of whole output rows. A window lying entirely in the
//! padding (possible only with padding >= kernel, which TFLite's SAME never
//! produces) averages to 0 and has max -inf, both then clamped.

use crate::simd::{dispatch, par_chunks, Simd, SimdFn, TASK_WORK};
use crate::{Clamp, Exec, Nhwc, Window2d};

/// `win.dilation_*` are 1. Output shape `[n, win.out_h(h), win.out_w(w), c]`.
pub fn avg_pool2d(exec: Exec, win: &Window2d, in_shape: Nhwc, input: &[f32], output: &mut [f32], clamp: Clamp) {
    pool2d(exec, PoolKind::Avg, win, in_shape, input, output, clamp);
}

pub fn max_pool2d(exec: Exec, win: &Window2d, in_shape: Nhwc, input: &[f32], output: &mut [f32], clamp: Clamp) {
    pool2d(exec, PoolKind::Max, win, in_shape, input, output, clamp);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PoolKind {
    Avg,
    Max,
}

/// The taps `k` of one window dimension that land inside `[0, size)`:
/// position `base + k * dilation` for `k` in the returned range.
fn clip(base: isize, kernel: usize, dilation: usize, size: usize) -> (usize, usize) {
    let d = dilation.max(1) as isize;
    let lo = if base < 0 { (-base + d - 1) / d } else { 0 };
    let hi = if base >= size as isize { 0 } else { ((size as isize - base + d - 1) / d).min(kernel as isize) };
    let lo = lo.min(kernel as isize);
    (lo as usize, (hi.max(lo)) as usize)
}

fn pool2d(exec: Exec, kind: PoolKind, win: &Window2d, in_shape: Nhwc, input: &[f32], output: &mut [f32], clamp: Clamp) {
    assert!(win.kernel_h > 0 && win.kernel_w > 0 && win.stride_h > 0 && win.stride_w > 0, "pool: empty window or zero stride");
    assert_eq!(input.len(), in_shape.len(), "pool: input length does not match its shape");
    let (oh, ow) = (win.out_h(in_shape.h), win.out_w(in_shape.w));
    assert_eq!(output.len(), in_shape.n * oh * ow * in_shape.c, "pool: output length does not match the window");
    let row = ow * in_shape.c;
    if row == 0 || output.is_empty() {
        return;
    }
    let rows_per_task = (TASK_WORK / (row * win.kernel_h * win.kernel_w).max(1)).max(1);
    par_chunks(exec, output, rows_per_task * row, &|start, part| {
        dispatch(exec.isa, PoolKernel { kind, win, in_shape, input, first_row: start / row, out: part, clamp });
    });
}

struct PoolKernel<'a> {
    kind: PoolKind,
    win: &'a Window2d,
    in_shape: Nhwc,
    input: &'a [f32],
    /// Index of the output row (n * out_h + oy) `out` starts at.
    first_row: usize,
    out: &'a mut [f32],
    clamp: Clamp,
}

impl SimdFn for PoolKernel<'_> {
    type Output = ();
    #[inline(always)]
    fn call<S: Simd>(self, s: S) {
        match self.kind {
            PoolKind::Avg => pool_rows(s, AvgOp, self),
            PoolKind::Max => pool_rows(s, MaxOp, self),
        }
    }
}

trait PoolOp: Copy {
    const INIT: f32;
    fn acc<S: Simd>(self, s: S, acc: S::V, x: S::V) -> S::V;
    /// Finishes an accumulator of `count` taps (`count` splatted as f32).
    fn finish<S: Simd>(self, s: S, acc: S::V, count: S::V, empty: bool) -> S::V;
}

#[derive(Clone, Copy)]
struct AvgOp;
impl PoolOp for AvgOp {
    const INIT: f32 = 0.0;
    #[inline(always)]
    fn acc<S: Simd>(self, s: S, acc: S::V, x: S::V) -> S::V {
        s.add(acc, x)
    }
    #[inline(always)]
    fn finish<S: Simd>(self, s: S, acc: S::V, count: S::V, empty: bool) -> S::V {
        if empty {
            acc
        } else {
            s.div(acc, count)
        }
    }
}

#[derive(Clone, Copy)]
struct MaxOp;
impl PoolOp for MaxOp {
    const INIT: f32 = f32::NEG_INFINITY;
    #[inline(always)]
    fn acc<S: Simd>(self, s: S, acc: S::V, x: S::V) -> S::V {
        s.max(acc, x)
    }
    #[inline(always)]
    fn finish<S: Simd>(self, _s: S, acc: S::V, _count: S::V, _empty: bool) -> S::V {
        acc
    }
}

#[inline(always)]
fn pool_rows<S: Simd, O: PoolOp>(s: S, op: O, k: PoolKernel) {
    let win = k.win;
    let Nhwc { h, w, c, .. } = k.in_shape;
    let (oh, ow) = (win.out_h(h), win.out_w(w));
    let lo = s.splat(k.clamp.min);
    let hi = s.splat(k.clamp.max);
    let width = S::WIDTH;
    for (r, out_row) in k.out.chunks_mut(ow * c).enumerate() {
        let row = k.first_row + r;
        let (n, oy) = (row / oh, row % oh);
        let by = (oy * win.stride_h) as isize - win.pad_top as isize;
        let (ky0, ky1) = clip(by, win.kernel_h, win.dilation_h, h);
        for ox in 0..ow {
            let bx = (ox * win.stride_w) as isize - win.pad_left as isize;
            let (kx0, kx1) = clip(bx, win.kernel_w, win.dilation_w, w);
            let count = (ky1 - ky0) * (kx1 - kx0);
            let empty = count == 0;
            let countv = s.splat(count as f32);
            let out_px = &mut out_row[ox * c..(ox + 1) * c];
            // Offset in `input` of tap (ky, kx), channel 0.
            let tap = |ky: usize, kx: usize| {
                let iy = (by + (ky * win.dilation_h) as isize) as usize;
                let ix = (bx + (kx * win.dilation_w) as isize) as usize;
                ((n * h + iy) * w + ix) * c
            };
            let mut c0 = 0;
            // Four vectors of channels at a time.
            while c0 + 4 * width <= c {
                let mut acc = [s.splat(O::INIT); 4];
                for ky in ky0..ky1 {
                    for kx in kx0..kx1 {
                        let src = &k.input[tap(ky, kx) + c0..];
                        for (j, a) in acc.iter_mut().enumerate() {
                            *a = op.acc(s, *a, s.load(&src[j * width..]));
                        }
                    }
                }
                for (j, a) in acc.iter().enumerate() {
                    let v = op.finish(s, *a, countv, empty);
                    s.store(&mut out_px[c0 + j * width..], s.min(hi, s.max(lo, v)));
                }
                c0 += 4 * width;
            }
            while c0 < c {
                let n_lanes = (c - c0).min(width);
                let mut acc = s.splat(O::INIT);
                for ky in ky0..ky1 {
                    for kx in kx0..kx1 {
                        let off = tap(ky, kx) + c0;
                        let x = if n_lanes == width { s.load(&k.input[off..]) } else { s.load_partial(&k.input[off..off + n_lanes], 0.0) };
                        acc = op.acc(s, acc, x);
                    }
                }
                let v = s.min(hi, s.max(lo, op.finish(s, acc, countv, empty)));
                if n_lanes == width {
                    s.store(&mut out_px[c0..], v);
                } else {
                    s.store_partial(&mut out_px[c0..c0 + n_lanes], v);
                }
                c0 += n_lanes;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::test_util::*;
    use proptest::prelude::*;

    /// Direct definition: loop over the full window, skip taps outside.
    fn reference(kind: PoolKind, win: &Window2d, s: Nhwc, x: &[f32], clamp: Clamp) -> Vec<f32> {
        let (oh, ow) = (win.out_h(s.h), win.out_w(s.w));
        let mut out = Vec::with_capacity(s.n * oh * ow * s.c);
        for n in 0..s.n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ch in 0..s.c {
                        let (mut sum, mut max, mut cnt) = (0.0f32, f32::NEG_INFINITY, 0usize);
                        for ky in 0..win.kernel_h {
                            for kx in 0..win.kernel_w {
                                let iy = (oy * win.stride_h + ky * win.dilation_h) as isize - win.pad_top as isize;
                                let ix = (ox * win.stride_w + kx * win.dilation_w) as isize - win.pad_left as isize;
                                if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                                    continue;
                                }
                                let v = x[((n * s.h + iy as usize) * s.w + ix as usize) * s.c + ch];
                                sum += v;
                                max = max.max(v);
                                cnt += 1;
                            }
                        }
                        let v = match kind {
                            PoolKind::Avg if cnt == 0 => 0.0,
                            PoolKind::Avg => sum / cnt as f32,
                            PoolKind::Max => max,
                        };
                        out.push(clamp.apply(v));
                    }
                }
            }
        }
        out
    }

    fn window(k: (usize, usize), st: (usize, usize), pad: [usize; 4]) -> Window2d {
        Window2d { kernel_h: k.0, kernel_w: k.1, stride_h: st.0, stride_w: st.1, dilation_h: 1, dilation_w: 1, pad_top: pad[0], pad_left: pad[1], pad_bottom: pad[2], pad_right: pad[3] }
    }

    fn check(win: &Window2d, s: Nhwc, clamp: Clamp, seed: u64) {
        let x = Rng(seed).vec(s.len(), -5.0, 5.0);
        let n_out = s.n * win.out_h(s.h) * win.out_w(s.w) * s.c;
        for kind in [PoolKind::Avg, PoolKind::Max] {
            let want = reference(kind, win, s, &x, clamp);
            for_each_exec_same(|exec| {
                let mut out = vec![f32::NAN; n_out];
                match kind {
                    PoolKind::Avg => avg_pool2d(exec, win, s, &x, &mut out, clamp),
                    PoolKind::Max => max_pool2d(exec, win, s, &x, &mut out, clamp),
                }
                assert_close(&out, &want, 1e-6 * (win.kernel_h * win.kernel_w) as f32, &format!("{kind:?} {win:?} {s:?} {}", exec.isa));
                out
            });
        }
    }

    #[test]
    fn windows_strides_paddings() {
        let mut seed = 1;
        for k in 1..=5 {
            for st in 1..=3 {
                for pad in [[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0], [2, 0, 1, 2]] {
                    let pad = pad.map(|p| p.min(k - 1));
                    let win = window((k, k.max(2) - 1), (st, 4 - st), pad);
                    seed += 1;
                    check(&win, Nhwc { n: 1, h: 7, w: 6, c: 3 }, Clamp::NONE, seed);
                }
            }
        }
    }

    #[test]
    fn channel_counts_and_clamps() {
        let win = window((3, 3), (2, 2), [1, 1, 1, 1]);
        for c in (1..=40).chain([64, 67]) {
            check(&win, Nhwc { n: 2, h: 5, w: 5, c }, Clamp::NONE, c as u64);
        }
        check(&win, Nhwc { n: 1, h: 6, w: 6, c: 9 }, Clamp::RELU6, 3);
        check(&win, Nhwc { n: 1, h: 6, w: 6, c: 9 }, Clamp::RELU_N1_TO_1, 4);
    }

    #[test]
    fn global_pool_and_large_multi_task() {
        check(&window((7, 7), (1, 1), [0; 4]), Nhwc { n: 2, h: 7, w: 7, c: 35 }, Clamp::NONE, 5);
        check(&window((3, 3), (1, 1), [1; 4]), Nhwc { n: 2, h: 30, w: 31, c: 24 }, Clamp::NONE, 6);
        check(&window((2, 2), (2, 2), [0; 4]), Nhwc { n: 1, h: 64, w: 64, c: 16 }, Clamp::RELU, 7);
    }

    #[test]
    fn windows_entirely_in_padding() {
        check(&window((2, 2), (1, 1), [3, 3, 3, 3]), Nhwc { n: 1, h: 2, w: 2, c: 5 }, Clamp::NONE, 8);
        check(&window((2, 2), (1, 1), [3, 3, 3, 3]), Nhwc { n: 1, h: 2, w: 2, c: 5 }, Clamp::RELU6, 9);
    }

    #[test]
    fn padding_never_wins_a_max() {
        // All-negative input: a zero from padding would win if counted.
        let s = Nhwc { n: 1, h: 4, w: 4, c: 3 };
        let x: Vec<f32> = (0..s.len()).map(|i| -1.0 - i as f32).collect();
        let win = window((3, 3), (1, 1), [1; 4]);
        for_each_exec(|exec| {
            let mut out = vec![0.0; s.len()];
            max_pool2d(exec, &win, s, &x, &mut out, Clamp::NONE);
            assert!(out.iter().all(|&v| v < 0.0));
            assert_eq!(out, reference(PoolKind::Max, &win, s, &x, Clamp::NONE));
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn random_geometry(kh in 1usize..5, kw in 1usize..5, sh in 1usize..4, sw in 1usize..4,
                           pads in proptest::array::uniform4(0usize..3), h in 1usize..9, w in 1usize..9, c in 1usize..20, seed in any::<u64>()) {
            let pads = [pads[0].min(kh - 1), pads[1].min(kw - 1), pads[2].min(kh - 1), pads[3].min(kw - 1)];
            let win = window((kh, kw), (sh, sw), pads);
            check(&win, Nhwc { n: 1, h, w, c }, Clamp::NONE, seed | 1);
        }
    }
}
