//! `f32_dw_8c_neon_fmla`: depthwise micro-kernel for aarch64 Neon, 8
//! channels per step in two q registers. Even and odd taps go to separate
//! accumulators (four FMLA chains) that are added at the end; the channel
//! tail is copied through a small zero-padded spill, with the same arithmetic.
//! Channel blocks are the outer loop over a row of pixels; 3x3 (9 taps) and
//! 5x5 (25 taps) get unrolled copies, and a 3x3 block keeps its weights in
//! registers for the whole row.

use super::DwUkernel;
use crate::Isa;
use std::arch::aarch64::*;

pub const CR: usize = 8;

pub const UKERNEL: DwUkernel = DwUkernel { name: "f32_dw_8c_neon_fmla", isa: Isa::Neon, cr: CR, run };

/// See [`super::DwRunFn`].
///
/// # Safety
/// The [`super::DwRunFn`] contract.
#[allow(clippy::too_many_arguments)]
pub unsafe fn run(
    pixels: usize,
    channels: usize,
    taps: usize,
    inputs: *const *const f32,
    weights: *const f32,
    out: *mut f32,
    out_pixel_stride: usize,
    out_channel_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    // SAFETY: forwarded contract; Neon is part of every aarch64 target.
    unsafe {
        run_neon(pixels, channels, taps, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max)
    }
}

/// Loads 8 channels at `x`, or (`TAIL`) the first `ct` of them, zeros beyond.
///
/// # Safety
/// `x` has 8 readable floats, or (`TAIL`) `ct`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn load8<const TAIL: bool>(x: *const f32, ct: usize) -> (float32x4_t, float32x4_t) {
    // SAFETY: a full load reads 8 floats; the tail copies only ct floats into the spill.
    unsafe {
        if TAIL {
            let mut spill = [0.0f32; CR];
            std::ptr::copy_nonoverlapping(x, spill.as_mut_ptr(), ct);
            (vld1q_f32(spill.as_ptr()), vld1q_f32(spill.as_ptr().add(4)))
        } else {
            (vld1q_f32(x), vld1q_f32(x.add(4)))
        }
    }
}

/// Weights of one 8-channel block held in registers across a row of pixels
/// (3x3 windows: 18 q registers); other windows read them from the block.
enum Weights<const T: usize> {
    Regs([[float32x4_t; 2]; T]),
    Mem(*const f32),
}

/// Accumulates one 8-channel block of one pixel over all taps, bias first,
/// even and odd taps in separate chains, then adds the chains.
///
/// # Safety
/// `Weights::Mem` points at the block's `8 * taps` tap weights; every
/// `inputs[t] + c0` has 8 readable floats, or (`TAIL`) `ct`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn pixel<const T: usize, const TAIL: bool>(
    taps: usize,
    inputs: *const *const f32,
    c0: usize,
    ct: usize,
    bias: (float32x4_t, float32x4_t),
    w: &Weights<T>,
) -> (float32x4_t, float32x4_t) {
    let taps = if T > 0 { T } else { taps };
    // SAFETY: the caller guarantees the reads.
    unsafe {
        let wt = |t: usize| match w {
            Weights::Regs(r) => (r[t][0], r[t][1]),
            Weights::Mem(p) => (vld1q_f32(p.add(CR * t)), vld1q_f32(p.add(CR * t + 4))),
        };
        let (mut a0, mut a1) = bias;
        let (mut b0, mut b1) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        let mut t = 0;
        while t + 2 <= taps {
            let (x0, x1) = load8::<TAIL>((*inputs.add(t)).add(c0), ct);
            let (y0, y1) = load8::<TAIL>((*inputs.add(t + 1)).add(c0), ct);
            let (w0, w1) = wt(t);
            let (v0, v1) = wt(t + 1);
            a0 = vfmaq_f32(a0, x0, w0);
            a1 = vfmaq_f32(a1, x1, w1);
            b0 = vfmaq_f32(b0, y0, v0);
            b1 = vfmaq_f32(b1, y1, v1);
            t += 2;
        }
        if t < taps {
            let (x0, x1) = load8::<TAIL>((*inputs.add(t)).add(c0), ct);
            let (w0, w1) = wt(t);
            a0 = vfmaq_f32(a0, x0, w0);
            a1 = vfmaq_f32(a1, x1, w1);
        }
        (vaddq_f32(a0, b0), vaddq_f32(a1, b1))
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "neon")]
unsafe fn run_neon(
    pixels: usize,
    channels: usize,
    taps: usize,
    inputs: *const *const f32,
    weights: *const f32,
    out: *mut f32,
    out_pixel_stride: usize,
    out_channel_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    // SAFETY: forwarded; 3x3 and 5x5 windows get copies with the tap loop unrolled.
    unsafe {
        match taps {
            9 => run_taps::<9>(pixels, channels, 9, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max),
            25 => run_taps::<25>(pixels, channels, 25, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max),
            _ => run_taps::<0>(pixels, channels, taps, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max),
        }
    }
}

/// The kernel body, `T` taps (0: `taps` at run time). Channel blocks are the
/// outer loop and the row's pixels the inner one, so a 3x3 block's weights
/// stay in registers and the input rows it reads stay in L1.
///
/// # Safety
/// As [`run`].
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "neon")]
unsafe fn run_taps<const T: usize>(
    pixels: usize,
    channels: usize,
    taps: usize,
    inputs: *const *const f32,
    weights: *const f32,
    out: *mut f32,
    out_pixel_stride: usize,
    out_channel_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    let taps = if T > 0 { T } else { taps };
    let block_len = UKERNEL.weights_block_len(taps);
    let (vmin, vmax) = (vdupq_n_f32(clamp_min), vdupq_n_f32(clamp_max));
    let clamp = |v| vminq_f32(vmaxq_f32(v, vmin), vmax);
    let mut c0 = 0;
    while c0 < channels {
        let ct = (channels - c0).min(CR);
        // SAFETY: the DwRunFn contract: the packed weights hold ceil(channels/8) blocks of
        // 8 * (taps + 1) floats; every pixel's `taps` input pointers have `channels` readable
        // floats, so a full block reads 8 from c0 and the tail reads ct; out +
        // px*out_pixel_stride + c*out_channel_stride is writable for c < channels.
        unsafe {
            let wb = weights.add(c0 / CR * block_len);
            let bias = (vld1q_f32(wb), vld1q_f32(wb.add(4)));
            let w: Weights<T> = if T > 0 && T <= 9 {
                Weights::Regs(std::array::from_fn(|t| [vld1q_f32(wb.add(CR * (t + 1))), vld1q_f32(wb.add(CR * (t + 1) + 4))]))
            } else {
                Weights::Mem(wb.add(CR))
            };
            if ct == CR && out_channel_stride == 1 {
                for px in 0..pixels {
                    let (r0, r1) = pixel::<T, false>(taps, inputs.add(px * taps), c0, CR, bias, &w);
                    let o = out.add(px * out_pixel_stride + c0);
                    vst1q_f32(o, clamp(r0));
                    vst1q_f32(o.add(4), clamp(r1));
                }
            } else {
                for px in 0..pixels {
                    let (r0, r1) = if ct == CR {
                        pixel::<T, false>(taps, inputs.add(px * taps), c0, CR, bias, &w)
                    } else {
                        pixel::<T, true>(taps, inputs.add(px * taps), c0, ct, bias, &w)
                    };
                    let o = out.add(px * out_pixel_stride + c0 * out_channel_stride);
                    scatter(o, out_channel_stride, clamp(r0), clamp(r1), ct);
                }
            }
        }
        c0 += CR;
    }
}

/// Stores the first `ct` of 8 results `stride` floats apart.
///
/// # Safety
/// `o + i * stride` is writable for `i < ct`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn scatter(o: *mut f32, stride: usize, r0: float32x4_t, r1: float32x4_t, ct: usize) {
    let mut spill = [0.0f32; CR];
    // SAFETY: spill holds 8 floats; the caller guarantees the ct strided destinations.
    unsafe {
        vst1q_f32(spill.as_mut_ptr(), r0);
        vst1q_f32(spill.as_mut_ptr().add(4), r1);
        for (i, &v) in spill.iter().enumerate().take(ct) {
            *o.add(i * stride) = v;
        }
    }
}
