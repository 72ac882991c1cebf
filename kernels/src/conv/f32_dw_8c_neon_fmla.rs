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
    channels: usize,
    taps: usize,
    inputs: *const *const f32,
    weights: *const f32,
    out: *mut f32,
    out_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    // SAFETY: forwarded contract; Neon is part of every aarch64 target.
    unsafe { run_neon(channels, taps, inputs, weights, out, out_stride, clamp_min, clamp_max) }
}

/// Loads the `ct <= 8` channels at `x`, zero beyond `ct`.
///
/// # Safety
/// `x` has `ct` readable floats.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn load8(x: *const f32, ct: usize) -> (float32x4_t, float32x4_t) {
    // SAFETY: a full load when ct == 8; otherwise only ct floats are copied into the spill.
    unsafe {
        if ct == CR {
            (vld1q_f32(x), vld1q_f32(x.add(4)))
        } else {
            let mut spill = [0.0f32; CR];
            std::ptr::copy_nonoverlapping(x, spill.as_mut_ptr(), ct);
            (vld1q_f32(spill.as_ptr()), vld1q_f32(spill.as_ptr().add(4)))
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "neon")]
unsafe fn run_neon(
    channels: usize,
    taps: usize,
    inputs: *const *const f32,
    weights: *const f32,
    out: *mut f32,
    out_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    let block = UKERNEL.weights_block_len(taps);
    let (vmin, vmax) = (vdupq_n_f32(clamp_min), vdupq_n_f32(clamp_max));
    let mut c0 = 0;
    while c0 < channels {
        let ct = (channels - c0).min(CR);
        // SAFETY: block c0/CR exists (bias then taps groups of 8 weights); every input pointer
        // has `channels` floats, so the ct channels from c0 are readable and load8 reads only
        // those; out + (c0+i)*out_stride is writable for i < ct.
        unsafe {
            let wb = weights.add(c0 / CR * block);
            let (mut a0, mut a1) = (vld1q_f32(wb), vld1q_f32(wb.add(4)));
            let (mut b0, mut b1) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
            let mut t = 0;
            while t + 2 <= taps {
                let (x0, x1) = load8((*inputs.add(t)).add(c0), ct);
                let wt = wb.add(CR * (t + 1));
                a0 = vfmaq_f32(a0, x0, vld1q_f32(wt));
                a1 = vfmaq_f32(a1, x1, vld1q_f32(wt.add(4)));
                let (y0, y1) = load8((*inputs.add(t + 1)).add(c0), ct);
                let wt = wt.add(CR);
                b0 = vfmaq_f32(b0, y0, vld1q_f32(wt));
                b1 = vfmaq_f32(b1, y1, vld1q_f32(wt.add(4)));
                t += 2;
            }
            if t < taps {
                let (x0, x1) = load8((*inputs.add(t)).add(c0), ct);
                let wt = wb.add(CR * (t + 1));
                a0 = vfmaq_f32(a0, x0, vld1q_f32(wt));
                a1 = vfmaq_f32(a1, x1, vld1q_f32(wt.add(4)));
            }
            let r0 = vminq_f32(vmaxq_f32(vaddq_f32(a0, b0), vmin), vmax);
            let r1 = vminq_f32(vmaxq_f32(vaddq_f32(a1, b1), vmin), vmax);
            let o = out.add(c0 * out_stride);
            if out_stride == 1 && ct == CR {
                vst1q_f32(o, r0);
                vst1q_f32(o.add(4), r1);
            } else {
                let mut spill = [0.0f32; CR];
                vst1q_f32(spill.as_mut_ptr(), r0);
                vst1q_f32(spill.as_mut_ptr().add(4), r1);
                for (i, &v) in spill.iter().enumerate().take(ct) {
                    *o.add(i * out_stride) = v;
                }
            }
        }
        c0 += CR;
    }
}
