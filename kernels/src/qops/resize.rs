//! RESIZE_BILINEAR of int8 NHWC tensors: TFLite's `resize_bilinear.cc`
//! kReference path — `reference_ops::ResizeBilinearInteger` (10-bit fixed
//! point weights, 20-bit products rounded half away from zero) for int8,
//! and the float `reference_ops::ResizeBilinear<uint8_t>` (f32 weights,
//! +0.5 then truncation) for uint8 models. Values are interpolated in the
//! quantized domain: TFLite does not rescale between input and output.

use super::{check_scale, check_zp, par_chunks_mut};
use crate::{Exec, Nhwc};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResizeParams {
    pub align_corners: bool,
    pub half_pixel_centers: bool,
    /// Reproduce the uint8 float kernel instead of the int8 integer one.
    pub uint8: bool,
}

impl ResizeParams {
    pub fn new(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32, align_corners: bool, half_pixel_centers: bool, uint8: bool) -> Result<ResizeParams, String> {
        check_scale("RESIZE_BILINEAR input", in_scale)?;
        check_scale("RESIZE_BILINEAR output", out_scale)?;
        check_zp("RESIZE_BILINEAR input", in_zp)?;
        check_zp("RESIZE_BILINEAR output", out_zp)?;
        // resize_bilinear.cc Prepare: "If half_pixel_centers is True, align_corners must be False."
        if align_corners && half_pixel_centers {
            return Err("RESIZE_BILINEAR: half_pixel_centers and align_corners are exclusive".into());
        }
        Ok(ResizeParams { align_corners, half_pixel_centers, uint8 })
    }
}

/// Source taps and weights of one output coordinate.
#[derive(Clone, Copy, Debug)]
struct Taps {
    lo: usize,
    hi: usize,
    /// int8: the 10-bit fixed-point position `input_y`; uint8: unused.
    pos10: i32,
    /// uint8: the float position.
    posf: f32,
}

/// ComputeInterpolationValuesInteger per output coordinate: scale_10 =
/// round(2^10 · in / out) (align_corners: (in-1)/(out-1)), position
/// `v·scale_10 (+ scale_10/2 - 2^9)`, lo = max(pos / 2^10, 0),
/// hi = min(ceil(pos / 2^10), in - 1), C divisions truncating.
fn taps_integer(out: usize, inp: usize, p: &ResizeParams) -> Vec<Taps> {
    let (o, i) = (out as i32, inp as i32);
    let scale_10 = if p.align_corners && o > 1 { ((1 << 10) * (i - 1) + (o - 1) / 2) / (o - 1) } else { ((1 << 10) * i + o / 2) / o };
    (0..o)
        .map(|v| {
            let pos = if p.half_pixel_centers { v * scale_10 + scale_10 / 2 - (1 << 9) } else { v * scale_10 };
            // lo is also kept inside the input (TFLite would read past it only for
            // extreme upscales of a 1-pixel input, where its weight is 0 or undefined).
            let lo = (pos / (1 << 10)).max(0).min(i - 1);
            let hi = ((pos + (1 << 10) - 1) / (1 << 10)).min(i - 1);
            Taps { lo: lo as usize, hi: hi as usize, pos10: pos, posf: 0.0 }
        })
        .collect()
}

/// ComputeInterpolationValues (float): scale = in / out (align_corners:
/// (in-1)/(out-1)) in f32, position `v·scale` or `(v + 0.5)·scale - 0.5`,
/// lo = max(floor, 0), hi = min(ceil, in - 1).
fn taps_float(out: usize, inp: usize, p: &ResizeParams) -> Vec<Taps> {
    let scale = if p.align_corners && out > 1 { (inp - 1) as f32 / (out - 1) as f32 } else { inp as f32 / out as f32 };
    (0..out)
        .map(|v| {
            let pos = if p.half_pixel_centers { (v as f32 + 0.5) * scale - 0.5 } else { v as f32 * scale };
            let lo = (pos.floor() as i32).max(0).min(inp as i32 - 1);
            let hi = (pos.ceil() as i32).min(inp as i32 - 1);
            Taps { lo: lo as usize, hi: hi as usize, pos10: 0, posf: pos }
        })
        .collect()
}

pub fn qresize_bilinear(exec: Exec, p: &ResizeParams, in_shape: Nhwc, input: &[i8], out_h: usize, out_w: usize, output: &mut [i8]) {
    assert_eq!(input.len(), in_shape.len(), "RESIZE_BILINEAR: input length does not match its shape");
    assert_eq!(output.len(), in_shape.n * out_h * out_w * in_shape.c, "RESIZE_BILINEAR: output length does not match");
    let c = in_shape.c;
    let row = out_w * c;
    if output.is_empty() || row == 0 {
        return;
    }
    assert!(in_shape.h > 0 && in_shape.w > 0, "RESIZE_BILINEAR: empty input");
    let taps = if p.uint8 { taps_float } else { taps_integer };
    let (ty, tx) = (taps(out_h, in_shape.h, p), taps(out_w, in_shape.w, p));
    let rows_per_task = (super::ELEMENTWISE_CHUNK / 4 / row).max(1);
    par_chunks_mut(exec, output, rows_per_task * row, &|start, part| {
        let g = Plan { p, in_shape, input, out_h, out_w, ty: &ty, tx: &tx, first_row: start / row };
        match exec.isa {
            #[cfg(target_arch = "x86_64")]
            crate::Isa::Avx2 | crate::Isa::Avx512 if exec.isa.is_available() => {
                // SAFETY: AVX2 was detected; the function body is safe code compiled for AVX2.
                unsafe { rows_avx2(&g, part) }
            }
            _ => rows(&g, part),
        }
    });
}

struct Plan<'a> {
    p: &'a ResizeParams,
    in_shape: Nhwc,
    input: &'a [i8],
    out_h: usize,
    out_w: usize,
    ty: &'a [Taps],
    tx: &'a [Taps],
    first_row: usize,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn rows_avx2(g: &Plan, part: &mut [i8]) {
    rows(g, part)
}

#[inline(always)]
fn rows(g: &Plan, part: &mut [i8]) {
    let (s, c) = (g.in_shape, g.in_shape.c);
    let row = g.out_w * c;
    for (r, orow) in part.chunks_mut(row).enumerate() {
        let gr = g.first_row + r;
        let (b, y) = (gr / g.out_h, gr % g.out_h);
        let ty = g.ty[y];
        let line = |yy: usize| &g.input[(b * s.h + yy) * s.w * c..(b * s.h + yy + 1) * s.w * c];
        let (l0, l1) = (line(ty.lo), line(ty.hi));
        for (x, out) in orow.chunks_exact_mut(c).enumerate() {
            let tx = g.tx[x];
            let (p00, p10) = (&l0[tx.lo * c..(tx.lo + 1) * c], &l1[tx.lo * c..(tx.lo + 1) * c]);
            let (p01, p11) = (&l0[tx.hi * c..(tx.hi + 1) * c], &l1[tx.hi * c..(tx.hi + 1) * c]);
            if g.p.uint8 {
                // The four products in the reference's order, in f32, + 0.5, truncated (all values ≥ 0).
                let dy = ty.posf - ty.lo as f32;
                let dx = tx.posf - tx.lo as f32;
                let u = |v: i8| (v as i32 + 128) as f32;
                for ((((o, &a), &bb), &cc), &dd) in out.iter_mut().zip(p00).zip(p10).zip(p01).zip(p11) {
                    let v = u(a) * (1.0 - dy) * (1.0 - dx) + u(bb) * dy * (1.0 - dx) + u(cc) * (1.0 - dy) * dx + u(dd) * dy * dx + 0.5;
                    *o = ((v as i32).clamp(0, 255) - 128) as i8;
                }
            } else {
                // Weights in units of 2^-10 (they may exceed 2^10 or be negative at the edges
                // with half_pixel_centers, as in TFLite). TFLite sums in int64; every product
                // and the sum fit in i32 (|w| ≤ 1536·1536, |v| ≤ 128, four terms < 2^31).
                let wy1 = ty.pos10 - (1 << 10) * ty.lo as i32;
                let wy0 = (1 << 10) - wy1;
                let wx1 = tx.pos10 - (1 << 10) * tx.lo as i32;
                let wx0 = (1 << 10) - wx1;
                let (w00, w10, w01, w11) = (wy0 * wx0, wy1 * wx0, wy0 * wx1, wy1 * wx1);
                for ((((o, &a), &bb), &cc), &dd) in out.iter_mut().zip(p00).zip(p10).zip(p01).zip(p11) {
                    let acc = a as i32 * w00 + bb as i32 * w10 + cc as i32 * w01 + dd as i32 * w11;
                    // Double-rounding build: (acc ± 2^19) / 2^20, truncating; then static_cast<int8_t>.
                    let round = if acc > 0 { 1 << 19 } else { -(1 << 19) };
                    *o = ((acc + round) / (1 << 20)) as i8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qops::testutil::*;

    /// The reference loops per output element, straight from the two TFLite kernels.
    fn reference(p: &ResizeParams, s: Nhwc, input: &[i8], oh: usize, ow: usize) -> Vec<i8> {
        let at = |b: usize, y: usize, x: usize, ch: usize| input[((b * s.h + y) * s.w + x) * s.c + ch] as i64;
        let mut out = vec![];
        for b in 0..s.n {
            for y in 0..oh {
                for x in 0..ow {
                    for ch in 0..s.c {
                        if p.uint8 {
                            let sc = |i: usize, o: usize| if p.align_corners && o > 1 { (i - 1) as f32 / (o - 1) as f32 } else { i as f32 / o as f32 };
                            let pos = |v: usize, sc: f32| if p.half_pixel_centers { (v as f32 + 0.5) * sc - 0.5 } else { v as f32 * sc };
                            let (iy, ix) = (pos(y, sc(s.h, oh)), pos(x, sc(s.w, ow)));
                            let (y0, y1) = ((iy.floor() as i64).max(0) as usize, (iy.ceil() as i64).min(s.h as i64 - 1) as usize);
                            let (x0, x1) = ((ix.floor() as i64).max(0) as usize, (ix.ceil() as i64).min(s.w as i64 - 1) as usize);
                            let u = |v: i64| (v + 128) as f32;
                            let (dy, dx) = (iy - y0 as f32, ix - x0 as f32);
                            let v = u(at(b, y0, x0, ch)) * (1.0 - dy) * (1.0 - dx) + u(at(b, y1, x0, ch)) * dy * (1.0 - dx) + u(at(b, y0, x1, ch)) * (1.0 - dy) * dx + u(at(b, y1, x1, ch)) * dy * dx + 0.5;
                            out.push((v as i64 - 128) as i8);
                        } else {
                            let sc = |i: i64, o: i64| if p.align_corners && o > 1 { (1024 * (i - 1) + (o - 1) / 2) / (o - 1) } else { (1024 * i + o / 2) / o };
                            let pos = |v: i64, sc: i64| if p.half_pixel_centers { v * sc + sc / 2 - 512 } else { v * sc };
                            let (iy, ix) = (pos(y as i64, sc(s.h as i64, oh as i64)), pos(x as i64, sc(s.w as i64, ow as i64)));
                            let lo = |v: i64| (v / 1024).max(0);
                            let hi = |v: i64, n: usize| ((v + 1023) / 1024).min(n as i64 - 1);
                            let (y0, y1, x0, x1) = (lo(iy), hi(iy, s.h), lo(ix), hi(ix, s.w));
                            let acc = at(b, y0 as usize, x0 as usize, ch) * (1024 - (iy - 1024 * y0)) * (1024 - (ix - 1024 * x0))
                                + at(b, y1 as usize, x0 as usize, ch) * (iy - 1024 * y0) * (1024 - (ix - 1024 * x0))
                                + at(b, y0 as usize, x1 as usize, ch) * (1024 - (iy - 1024 * y0)) * (ix - 1024 * x0)
                                + at(b, y1 as usize, x1 as usize, ch) * (iy - 1024 * y0) * (ix - 1024 * x0);
                            // Nearest with ties away from zero.
                            let v = acc.signum() * ((acc.abs() + (1 << 19)) >> 20);
                            out.push(v as i8);
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn resize_matches_reference() {
        let mut rng = Rng(0xb111);
        let sizes = [(Nhwc { n: 1, h: 4, w: 4, c: 3 }, 8, 8), (Nhwc { n: 2, h: 3, w: 5, c: 17 }, 7, 4), (Nhwc { n: 1, h: 7, w: 7, c: 1 }, 3, 2), (Nhwc { n: 1, h: 1, w: 1, c: 2 }, 3, 3), (Nhwc { n: 1, h: 5, w: 2, c: 4 }, 1, 9), (Nhwc { n: 1, h: 10, w: 12, c: 8 }, 33, 29)];
        for &(s, oh, ow) in &sizes {
            let input = rng.i8s(s.len());
            for (ac, hp) in [(false, false), (true, false), (false, true)] {
                for uint8 in [false, true] {
                    let p = ResizeParams::new(0.1, 0, 0.1, 0, ac, hp, uint8).unwrap();
                    let want = reference(&p, s, &input, oh, ow);
                    for_each_exec(&mut |exec| {
                        let mut out = vec![0i8; s.n * oh * ow * s.c];
                        qresize_bilinear(exec, &p, s, &input, oh, ow, &mut out);
                        assert_eq!(out, want, "{s:?} -> {oh}x{ow} align={ac} half={hp} uint8={uint8}");
                    });
                }
            }
        }
        assert!(ResizeParams::new(0.1, 0, 0.1, 0, true, true, false).is_err());
    }
}
