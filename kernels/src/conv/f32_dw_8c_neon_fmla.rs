//! `f32_dw_8c_neon_fmla`: depthwise micro-kernel for aarch64 Neon, 8
//! channels per step in two q registers. Even and odd taps go to separate
//! accumulators (four FMLA chains) that are added at the end; the channel
//! tail is copied through a small zero-padded spill, with the same arithmetic.

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

/// Accumulates one 8-channel block over all taps, bias first, even and odd
/// taps in separate chains, then adds the chains.
///
/// # Safety
/// `wb` is the block's packed weights; every `inputs[t] + c0` has 8 readable
/// floats, or (`TAIL`) `ct`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn block<const TAIL: bool>(taps: usize, inputs: *const *const f32, c0: usize, ct: usize, wb: *const f32) -> (float32x4_t, float32x4_t) {
    // SAFETY: the caller guarantees the reads; the block holds 8 * (taps + 1) weights.
    unsafe {
        let (mut a0, mut a1) = (vld1q_f32(wb), vld1q_f32(wb.add(4)));
        let (mut b0, mut b1) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        let mut wt = wb.add(CR);
        let mut t = 0;
        while t + 2 <= taps {
            let (x0, x1) = load8::<TAIL>((*inputs.add(t)).add(c0), ct);
            let (y0, y1) = load8::<TAIL>((*inputs.add(t + 1)).add(c0), ct);
            a0 = vfmaq_f32(a0, x0, vld1q_f32(wt));
            a1 = vfmaq_f32(a1, x1, vld1q_f32(wt.add(4)));
            b0 = vfmaq_f32(b0, y0, vld1q_f32(wt.add(8)));
            b1 = vfmaq_f32(b1, y1, vld1q_f32(wt.add(12)));
            wt = wt.add(2 * CR);
            t += 2;
        }
        if t < taps {
            let (x0, x1) = load8::<TAIL>((*inputs.add(t)).add(c0), ct);
            a0 = vfmaq_f32(a0, x0, vld1q_f32(wt));
            a1 = vfmaq_f32(a1, x1, vld1q_f32(wt.add(4)));
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
    let block_len = UKERNEL.weights_block_len(taps);
    let (vmin, vmax) = (vdupq_n_f32(clamp_min), vdupq_n_f32(clamp_max));
    let clamp = |v| vminq_f32(vmaxq_f32(v, vmin), vmax);
    let full = channels / CR * CR;
    let tail = channels - full;
    for px in 0..pixels {
        // SAFETY: the DwRunFn contract: pixel px's `taps` input pointers each have `channels`
        // readable floats, so full blocks read 8 and the tail reads `tail`; the packed weights
        // hold ceil(channels/8) blocks; out + px*out_pixel_stride + c*out_channel_stride is
        // writable for c < channels.
        unsafe {
            let ptrs = inputs.add(px * taps);
            let o = out.add(px * out_pixel_stride);
            let mut c0 = 0;
            while c0 < full {
                let (r0, r1) = block::<false>(taps, ptrs, c0, CR, weights.add(c0 / CR * block_len));
                let (r0, r1) = (clamp(r0), clamp(r1));
                if out_channel_stride == 1 {
                    vst1q_f32(o.add(c0), r0);
                    vst1q_f32(o.add(c0 + 4), r1);
                } else {
                    scatter(o.add(c0 * out_channel_stride), out_channel_stride, r0, r1, CR);
                }
                c0 += CR;
            }
            if tail > 0 {
                let (r0, r1) = block::<true>(taps, ptrs, c0, tail, weights.add(c0 / CR * block_len));
                scatter(o.add(c0 * out_channel_stride), out_channel_stride, clamp(r0), clamp(r1), tail);
            }
        }
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
