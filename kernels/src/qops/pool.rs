//! AVERAGE_POOL_2D and MAX_POOL_2D over int8 NHWC: TFLite's `pooling.cc`
//! with `reference_integer_ops::AveragePool` / `MaxPool` (int8) and
//! `reference_ops::AveragePool` / `MaxPool` (uint8).
//!
//! Both work on the raw quantized values: TFLite only DCHECKs that input and
//! output share scale and zero point, and the release kernels ignore them,
//! so they are accepted and unused here too.

use super::{check_scale, check_zp, par_chunks_mut};
use crate::{Exec, Nhwc, Window2d};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolParams {
    pub act_min: i32,
    pub act_max: i32,
    /// The model's tensors are uint8: AVERAGE_POOL rounds the sum of the
    /// uint8 values (all ≥ 0) half up, not the int8 sum half away from zero.
    pub uint8: bool,
}

impl PoolParams {
    pub fn new(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32, act_min: i32, act_max: i32, uint8: bool) -> Result<PoolParams, String> {
        check_scale("pool input", in_scale)?;
        check_scale("pool output", out_scale)?;
        check_zp("pool input", in_zp)?;
        check_zp("pool output", out_zp)?;
        if !(-128 <= act_min && act_min <= act_max && act_max <= 127) {
            return Err(format!("pool: activation range [{act_min}, {act_max}] is not an int8 range"));
        }
        Ok(PoolParams { act_min, act_max, uint8 })
    }
}

/// The taps `[lo, hi)` of one window dimension inside `[0, size)` for a
/// window starting at `origin` (TFLite's filter_*_start / filter_*_end).
#[inline]
fn taps(origin: isize, kernel: usize, size: usize) -> (usize, usize) {
    let lo = (-origin).max(0) as usize;
    let hi = (size as isize - origin).clamp(0, kernel as isize) as usize;
    (lo.min(hi), hi)
}

fn check(op: &str, win: &Window2d, in_shape: Nhwc, input: &[i8], output: &[i8]) -> Result<(usize, usize), String> {
    if win.kernel_h == 0 || win.kernel_w == 0 || win.stride_h == 0 || win.stride_w == 0 {
        return Err(format!("{op}: empty window or zero stride"));
    }
    if win.dilation_h != 1 || win.dilation_w != 1 {
        return Err(format!("{op}: pooling has no dilation"));
    }
    assert_eq!(input.len(), in_shape.len(), "{op}: input length does not match its shape");
    let (oh, ow) = (win.out_h(in_shape.h), win.out_w(in_shape.w));
    assert_eq!(output.len(), in_shape.n * oh * ow * in_shape.c, "{op}: output length does not match the window");
    // A window entirely in the padding makes TFLite's AveragePool return an error.
    for (o, k, s, p, size) in [(oh, win.kernel_h, win.stride_h, win.pad_top, in_shape.h), (ow, win.kernel_w, win.stride_w, win.pad_left, in_shape.w)] {
        for i in 0..o {
            let (lo, hi) = taps((i * s) as isize - p as isize, k, size);
            if lo >= hi {
                return Err(format!("{op}: a pooling window lies entirely in the padding"));
            }
        }
    }
    Ok((oh, ow))
}

/// Rows of output pixels per task.
fn rows_per_task(row: usize, win: &Window2d) -> usize {
    (super::ELEMENTWISE_CHUNK / (row * win.kernel_h * win.kernel_w).max(1)).max(1)
}

pub fn qavg_pool2d(exec: Exec, p: &PoolParams, win: &Window2d, in_shape: Nhwc, input: &[i8], output: &mut [i8]) -> Result<(), String> {
    let (oh, ow) = check("AVERAGE_POOL_2D", win, in_shape, input, output)?;
    let row = ow * in_shape.c;
    if row == 0 || output.is_empty() {
        return Ok(());
    }
    par_chunks_mut(exec, output, rows_per_task(row, win) * row, &|start, part| {
        let g = Geometry { win, in_shape, oh, ow, first_row: start / row };
        match exec.isa {
            #[cfg(target_arch = "x86_64")]
            crate::Isa::Avx2 | crate::Isa::Avx512 if exec.isa.is_available() => {
                // SAFETY: AVX2 was detected; the function body is safe code compiled for AVX2.
                unsafe { avg_rows_avx2(p, &g, input, part) }
            }
            _ => avg_rows(p, &g, input, part),
        }
    });
    Ok(())
}

/// What a task needs to find its output rows.
struct Geometry<'a> {
    win: &'a Window2d,
    in_shape: Nhwc,
    oh: usize,
    ow: usize,
    /// Index (n * oh + oy) of the first output row of the task.
    first_row: usize,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avg_rows_avx2(p: &PoolParams, g: &Geometry, input: &[i8], part: &mut [i8]) {
    avg_rows(p, g, input, part)
}

/// Sums each window's taps per channel in i32, then divides: the sums and
/// the loops over channels are plain slices so that they vectorize.
#[inline(always)]
fn avg_rows(p: &PoolParams, g: &Geometry, input: &[i8], part: &mut [i8]) {
    let (win, s, c) = (g.win, g.in_shape, g.in_shape.c);
    let row = g.ow * c;
    let mut acc = vec![0i32; c];
    for (r, orow) in part.chunks_mut(row).enumerate() {
        let gr = g.first_row + r;
        let (b, oy) = (gr / g.oh, gr % g.oh);
        let (y0, y1) = taps((oy * win.stride_h) as isize - win.pad_top as isize, win.kernel_h, s.h);
        let iy0 = oy * win.stride_h + y0 - win.pad_top;
        for ox in 0..g.ow {
            let (x0, x1) = taps((ox * win.stride_w) as isize - win.pad_left as isize, win.kernel_w, s.w);
            let ix0 = ox * win.stride_w + x0 - win.pad_left;
            acc.fill(0);
            for iy in iy0..iy0 + (y1 - y0) {
                let base = ((b * s.h + iy) * s.w + ix0) * c;
                for px in input[base..base + (x1 - x0) * c].chunks_exact(c) {
                    for (a, &v) in acc.iter_mut().zip(px) {
                        *a += v as i32;
                    }
                }
            }
            // The count excludes padding: only taps inside the input (filter_count).
            let count = ((y1 - y0) * (x1 - x0)) as i32;
            let out = &mut orow[ox * c..(ox + 1) * c];
            if count <= EXACT_F32_COUNT {
                divide_f32(&acc, count, p, out);
            } else {
                for (o, &a) in out.iter_mut().zip(&acc) {
                    *o = average(a, count, p);
                }
            }
        }
    }
}

/// Up to this many taps, the truncated f32 quotient of the rounded sum is
/// the C integer quotient: |numerator| ≤ 255.5·count < 2^24 is exact, and
/// a non-integer quotient (≤ 256 in magnitude) is at least 1/count away
/// from an integer, more than f32's rounding error 256·2^-24.
const EXACT_F32_COUNT: i32 = 1 << 15;

/// One value through [`divide_f32`] (for the exactness test).
#[cfg(test)]
fn average_f32(sum: i32, count: i32, p: &PoolParams) -> i8 {
    let mut out = [0i8];
    divide_f32(&[sum], count, p, &mut out);
    out[0]
}

/// [`average`] over a row of channel sums with the division as an f32
/// divide truncated toward zero (exact for `count <= EXACT_F32_COUNT`),
/// which vectorizes; the mode is hoisted out of the loop.
#[inline(always)]
fn divide_f32(acc: &[i32], count: i32, p: &PoolParams, out: &mut [i8]) {
    let (half, cf) = (count / 2, count as f32);
    let (lo, hi) = (p.act_min, p.act_max);
    if p.uint8 {
        // The uint8 sum is the int8 one plus 128 per tap; rounded half up, then shifted back.
        let bias = 128 * count + half;
        for (o, &a) in out.iter_mut().zip(acc) {
            *o = ((((a + bias) as f32 / cf) as i32) - 128).clamp(lo, hi) as i8;
        }
    } else {
        for (o, &a) in out.iter_mut().zip(acc) {
            let num = if a > 0 { a + half } else { a - half };
            *o = ((num as f32 / cf) as i32).clamp(lo, hi) as i8;
        }
    }
}

/// The rounded average of `count` values summing to `sum`, clamped.
#[inline(always)]
fn average(sum: i32, count: i32, p: &PoolParams) -> i8 {
    let avg = if p.uint8 {
        // reference_ops::AveragePool (uint8): (acc + count/2) / count on the non-negative uint8 sum.
        let su = sum + 128 * count;
        (su + count / 2) / count - 128
    } else if sum > 0 {
        // reference_integer_ops::AveragePool: half away from zero, C division truncating toward zero.
        (sum + count / 2) / count
    } else {
        (sum - count / 2) / count
    };
    avg.clamp(p.act_min, p.act_max) as i8
}

pub fn qmax_pool2d(exec: Exec, p: &PoolParams, win: &Window2d, in_shape: Nhwc, input: &[i8], output: &mut [i8]) -> Result<(), String> {
    let (oh, ow) = check("MAX_POOL_2D", win, in_shape, input, output)?;
    let row = ow * in_shape.c;
    if row == 0 || output.is_empty() {
        return Ok(());
    }
    par_chunks_mut(exec, output, rows_per_task(row, win) * row, &|start, part| {
        let g = Geometry { win, in_shape, oh, ow, first_row: start / row };
        match exec.isa {
            #[cfg(target_arch = "x86_64")]
            crate::Isa::Avx2 | crate::Isa::Avx512 if exec.isa.is_available() => {
                // SAFETY: AVX2 was detected; the function body is safe code compiled for AVX2.
                unsafe { max_rows_avx2(p, &g, input, part) }
            }
            _ => max_rows(p, &g, input, part),
        }
    });
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_rows_avx2(p: &PoolParams, g: &Geometry, input: &[i8], part: &mut [i8]) {
    max_rows(p, g, input, part)
}

/// Channel-wise maxima over each window's taps (slices, so they vectorize).
#[inline(always)]
fn max_rows(p: &PoolParams, g: &Geometry, input: &[i8], part: &mut [i8]) {
    let (win, s, c) = (g.win, g.in_shape, g.in_shape.c);
    let row = g.ow * c;
    let (lo, hi) = (p.act_min as i8, p.act_max as i8);
    for (r, orow) in part.chunks_mut(row).enumerate() {
        let gr = g.first_row + r;
        let (b, oy) = (gr / g.oh, gr % g.oh);
        let (y0, y1) = taps((oy * win.stride_h) as isize - win.pad_top as isize, win.kernel_h, s.h);
        let iy0 = oy * win.stride_h + y0 - win.pad_top;
        for ox in 0..g.ow {
            let (x0, x1) = taps((ox * win.stride_w) as isize - win.pad_left as isize, win.kernel_w, s.w);
            let ix0 = ox * win.stride_w + x0 - win.pad_left;
            let out = &mut orow[ox * c..(ox + 1) * c];
            // MaxPool starts from the type's lowest value; padding never takes part.
            out.fill(i8::MIN);
            for iy in iy0..iy0 + (y1 - y0) {
                let base = ((b * s.h + iy) * s.w + ix0) * c;
                for px in input[base..base + (x1 - x0) * c].chunks_exact(c) {
                    for (o, &v) in out.iter_mut().zip(px) {
                        *o = (*o).max(v);
                    }
                }
            }
            for o in out.iter_mut() {
                *o = (*o).clamp(lo, hi);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qops::testutil::*;

    /// The reference loops as TFLite writes them, per output element.
    fn ref_pool(max: bool, uint8: bool, win: &Window2d, s: Nhwc, input: &[i8], act: (i32, i32)) -> Vec<i8> {
        let (oh, ow) = (win.out_h(s.h), win.out_w(s.w));
        let mut out = vec![];
        for b in 0..s.n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ch in 0..s.c {
                        let (mut acc, mut cnt, mut mx) = (0i64, 0i64, -128i64);
                        for ky in 0..win.kernel_h as i64 {
                            for kx in 0..win.kernel_w as i64 {
                                let iy = (oy * win.stride_h) as i64 - win.pad_top as i64 + ky;
                                let ix = (ox * win.stride_w) as i64 - win.pad_left as i64 + kx;
                                if iy < 0 || ix < 0 || iy >= s.h as i64 || ix >= s.w as i64 {
                                    continue;
                                }
                                let v = input[((b * s.h + iy as usize) * s.w + ix as usize) * s.c + ch] as i64;
                                let v = if uint8 { v + 128 } else { v };
                                acc += v;
                                cnt += 1;
                                mx = mx.max(v);
                            }
                        }
                        let v = if max {
                            if uint8 { mx - 128 } else { mx }
                        } else if uint8 {
                            // uint8: floor((acc + cnt/2) / cnt) on non-negative values.
                            (acc + cnt / 2) / cnt - 128
                        } else {
                            // Nearest, ties away from zero: sign(acc) * floor((|acc| + cnt/2) / cnt).
                            acc.signum() * ((acc.abs() + cnt / 2) / cnt)
                        };
                        out.push(v.clamp(act.0 as i64, act.1 as i64) as i8);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn pools_match_reference() {
        let mut rng = Rng(0x9001);
        let cases = [
            // (n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr)
            (1, 7, 7, 3, 3, 3, 2, 2, 1, 1, 1, 1),
            (2, 5, 6, 17, 2, 2, 2, 2, 0, 0, 0, 0),
            (1, 4, 4, 1, 4, 4, 1, 1, 0, 0, 0, 0),
            (1, 8, 5, 33, 3, 2, 1, 2, 1, 0, 1, 1),
            (1, 7, 7, 64, 7, 7, 1, 1, 0, 0, 0, 0),
            (1, 3, 9, 5, 3, 5, 3, 1, 2, 4, 2, 4),
            (1, 1, 1, 2, 1, 1, 1, 1, 0, 0, 0, 0),
        ];
        for &(n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr) in &cases {
            let win = Window2d { kernel_h: kh, kernel_w: kw, stride_h: sh, stride_w: sw, dilation_h: 1, dilation_w: 1, pad_top: pt, pad_left: pl, pad_bottom: pb, pad_right: pr };
            let s = Nhwc { n, h, w, c };
            for trial in 0..4 {
                let mut input = rng.i8s(s.len());
                if trial == 3 {
                    // Values at the extremes: sums far from zero both ways, exact .5 ties.
                    for (i, v) in input.iter_mut().enumerate() {
                        *v = if i % 3 == 0 { -128 } else if i % 3 == 1 { 127 } else { -1 };
                    }
                }
                let act = if trial == 1 { (-20, 60) } else { (-128, 127) };
                let olen = n * win.out_h(h) * win.out_w(w) * c;
                for uint8 in [false, true] {
                    let p = PoolParams::new(0.1, 0, 0.1, 0, act.0, act.1, uint8).unwrap();
                    let want_avg = ref_pool(false, uint8, &win, s, &input, act);
                    let want_max = ref_pool(true, uint8, &win, s, &input, act);
                    for_each_exec(&mut |exec| {
                        let mut out = vec![0i8; olen];
                        qavg_pool2d(exec, &p, &win, s, &input, &mut out).unwrap();
                        assert_eq!(out, want_avg, "avg {s:?} {win:?} uint8={uint8}");
                        qmax_pool2d(exec, &p, &win, s, &input, &mut out).unwrap();
                        assert_eq!(out, want_max, "max {s:?} {win:?} uint8={uint8}");
                    });
                }
            }
        }
    }

    /// The f32 division equals the C integer division wherever it is used.
    #[test]
    fn f32_average_is_exact() {
        let mut rng = Rng(3);
        let mut counts: Vec<i32> = (1..=80).collect();
        counts.extend([81, 100, 121, 196, 225, 3136, 12544, 32767, EXACT_F32_COUNT]);
        for &count in &counts {
            for uint8 in [false, true] {
                let p = PoolParams::new(1.0, 0, 1.0, 0, -128, 127, uint8).unwrap();
                let (lo, hi) = (-128 * count, 127 * count);
                let mut check = |sum: i32| assert_eq!(average_f32(sum, count, &p), average(sum, count, &p), "sum={sum} count={count} uint8={uint8}");
                if count <= 80 {
                    (lo..=hi).for_each(&mut check);
                } else {
                    for _ in 0..20000 {
                        check(lo + (rng.next() % (hi - lo + 1) as u64) as i32);
                    }
                    // Every multiple of count ± the rounding half, where truncation is decided.
                    for k in -128..=127 {
                        for d in [-count / 2 - 1, -count / 2, -count / 2 + 1, -1, 0, 1, count / 2 - 1, count / 2, count / 2 + 1] {
                            check((k * count + d).clamp(lo, hi));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn large_window_uses_integer_division() {
        // 200 x 200 = 40000 taps, beyond the f32 path.
        let s = Nhwc { n: 1, h: 200, w: 200, c: 2 };
        let win = Window2d { kernel_h: 200, kernel_w: 200, stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1, pad_top: 0, pad_left: 0, pad_bottom: 0, pad_right: 0 };
        let input = Rng(8).i8s(s.len());
        for uint8 in [false, true] {
            let p = PoolParams::new(0.1, 0, 0.1, 0, -128, 127, uint8).unwrap();
            let want = ref_pool(false, uint8, &win, s, &input, (-128, 127));
            for_each_exec(&mut |exec| {
                let mut out = vec![0i8; 2];
                qavg_pool2d(exec, &p, &win, s, &input, &mut out).unwrap();
                assert_eq!(out, want);
            });
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn random_pool_geometry(
            n in 1usize..3, h in 1usize..10, w in 1usize..10, c in 1usize..40,
            kh in 1usize..5, kw in 1usize..5, sh in 1usize..4, sw in 1usize..4,
            pads in proptest::array::uniform4(0usize..3),
            uint8 in any::<bool>(), lo in -128i32..0, hi in 0i32..128, seed in any::<u64>(),
        ) {
            // Padding below the kernel size, so that no window lies entirely in it.
            let win = Window2d { kernel_h: kh, kernel_w: kw, stride_h: sh, stride_w: sw, dilation_h: 1, dilation_w: 1,
                pad_top: pads[0].min(kh - 1), pad_left: pads[1].min(kw - 1), pad_bottom: pads[2].min(kh - 1), pad_right: pads[3].min(kw - 1) };
            let s = Nhwc { n, h, w, c };
            let (oh, ow) = (win.out_h(h), win.out_w(w));
            let input = Rng(seed | 1).i8s(s.len());
            let p = PoolParams::new(0.1, 0, 0.1, 0, lo, hi, uint8).unwrap();
            let want_avg = ref_pool(false, uint8, &win, s, &input, (lo, hi));
            let want_max = ref_pool(true, uint8, &win, s, &input, (lo, hi));
            for_each_exec(&mut |exec| {
                let mut out = vec![0i8; n * oh * ow * c];
                qavg_pool2d(exec, &p, &win, s, &input, &mut out).unwrap();
                assert_eq!(&out, &want_avg);
                qmax_pool2d(exec, &p, &win, s, &input, &mut out).unwrap();
                assert_eq!(&out, &want_max);
            });
        }
    }

    #[test]
    fn uint8_rounding_differs_from_int8() {
        // Two values -1 and 0 (uint8 127 and 128): int8 rounds -0.5 to -1, uint8 rounds 127.5 up to 128.
        let win = Window2d { kernel_h: 1, kernel_w: 2, stride_h: 1, stride_w: 2, dilation_h: 1, dilation_w: 1, pad_top: 0, pad_left: 0, pad_bottom: 0, pad_right: 0 };
        let pool = crate::ThreadPool::new(1);
        let exec = Exec { isa: crate::Isa::Scalar, pool: &pool };
        let mut out = [0i8];
        qavg_pool2d(exec, &PoolParams::new(1.0, 0, 1.0, 0, -128, 127, false).unwrap(), &win, Nhwc { n: 1, h: 1, w: 2, c: 1 }, &[-1, 0], &mut out).unwrap();
        assert_eq!(out[0], -1);
        qavg_pool2d(exec, &PoolParams::new(1.0, 0, 1.0, 0, -128, 127, true).unwrap(), &win, Nhwc { n: 1, h: 1, w: 2, c: 1 }, &[-1, 0], &mut out).unwrap();
        assert_eq!(out[0], 0);
    }

    #[test]
    fn window_in_padding_is_an_error() {
        let win = Window2d { kernel_h: 2, kernel_w: 2, stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1, pad_top: 2, pad_left: 0, pad_bottom: 0, pad_right: 0 };
        let pool = crate::ThreadPool::new(1);
        let exec = Exec { isa: crate::Isa::Scalar, pool: &pool };
        let s = Nhwc { n: 1, h: 2, w: 2, c: 1 };
        let mut out = vec![0i8; win.out_h(2) * win.out_w(2)];
        let p = PoolParams::new(1.0, 0, 1.0, 0, -128, 127, false).unwrap();
        assert!(qavg_pool2d(exec, &p, &win, s, &[1, 2, 3, 4], &mut out).is_err());
    }
}
