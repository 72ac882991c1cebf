//! `i8_dw_16c_neon`: the Neon int8 depthwise micro-kernel, 16 channels per
//! step: inputs sign-extended to int32 (SXTL), multiplied by the int32
//! weights (`w − w_zp`) with MLA; scalar tail for the last channels.

use super::dw::QDwUkernel;
use super::QTier;
use std::arch::aarch64::*;

pub const CR: usize = 16;

pub const UKERNEL: QDwUkernel = QDwUkernel { name: "i8_dw_16c_neon", tier: QTier::Neon, cr: CR, run };

/// See [`super::QDwRunFn`].
///
/// # Safety
/// The [`super::QDwRunFn`] contract.
pub unsafe fn run(channels: usize, taps: usize, inputs: *const *const i8, weights: *const i32, acc: *mut i32) {
    // SAFETY: Neon is baseline on aarch64; the QDwRunFn contract: `taps` input pointers
    // with `channels` bytes each (full 16-channel blocks are read only while c + 16 <=
    // channels), a plane of ceil(channels/16)*16*taps weights, `channels` accumulators.
    unsafe {
        let mut c = 0;
        while c + CR <= channels {
            let wb = weights.add(c * taps);
            let mut s = [vdupq_n_s32(0); 4];
            for t in 0..taps {
                let x = vld1q_s8((*inputs.add(t)).add(c));
                let (l, h) = (vmovl_s8(vget_low_s8(x)), vmovl_high_s8(x));
                let w = wb.add(t * CR);
                s[0] = vmlaq_s32(s[0], vmovl_s16(vget_low_s16(l)), vld1q_s32(w));
                s[1] = vmlaq_s32(s[1], vmovl_high_s16(l), vld1q_s32(w.add(4)));
                s[2] = vmlaq_s32(s[2], vmovl_s16(vget_low_s16(h)), vld1q_s32(w.add(8)));
                s[3] = vmlaq_s32(s[3], vmovl_high_s16(h), vld1q_s32(w.add(12)));
            }
            for (q, v) in s.iter().enumerate() {
                vst1q_s32(acc.add(c + 4 * q), *v);
            }
            c += CR;
        }
        for cc in c..channels {
            let wb = weights.add(cc / CR * CR * taps + cc % CR);
            let mut s = 0i32;
            for t in 0..taps {
                s = s.wrapping_add((*(*inputs.add(t)).add(cc) as i32).wrapping_mul(*wb.add(t * CR)));
            }
            *acc.add(cc) = s;
        }
    }
}
