//! `i8_dw_16c_neon`: the Neon int8 depthwise micro-kernel, 16 channels per
//! step: inputs sign-extended to int16 (SXTL), multiplied by the weights
//! (`w − w_zp`, which fits int16) into int32 with SMLAL/SMLAL2; scalar tail
//! for the last channels. Its plane holds int16 weights (two per `i32` slot,
//! see [`pack_plane_i16`]).

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
    let w16 = weights as *const i16;
    // SAFETY: Neon is baseline on aarch64; the QDwRunFn contract: `taps` input pointers
    // with `channels` bytes each (full 16-channel blocks are read only while c + 16 <=
    // channels), a plane of ceil(channels/16)*16*taps i32 slots holding half as many
    // bytes of int16 weights, `channels` accumulators.
    unsafe {
        let mut c = 0;
        while c + CR <= channels {
            let wb = w16.add(c * taps);
            let mut s = [vdupq_n_s32(0); 4];
            for t in 0..taps {
                let x = vld1q_s8((*inputs.add(t)).add(c));
                let (l, h) = (vmovl_s8(vget_low_s8(x)), vmovl_high_s8(x));
                let w0 = vld1q_s16(wb.add(t * CR));
                let w1 = vld1q_s16(wb.add(t * CR + 8));
                s[0] = vmlal_s16(s[0], vget_low_s16(l), vget_low_s16(w0));
                s[1] = vmlal_high_s16(s[1], l, w0);
                s[2] = vmlal_s16(s[2], vget_low_s16(h), vget_low_s16(w1));
                s[3] = vmlal_high_s16(s[3], h, w1);
            }
            for (q, v) in s.iter().enumerate() {
                vst1q_s32(acc.add(c + 4 * q), *v);
            }
            c += CR;
        }
        for cc in c..channels {
            let wb = w16.add(cc / CR * CR * taps + cc % CR);
            let mut s = 0i32;
            for t in 0..taps {
                s = s.wrapping_add((*(*inputs.add(t)).add(cc) as i32) * (*wb.add(t * CR) as i32));
            }
            *acc.add(cc) = s;
        }
    }
}

/// Re-packs a plane of `i32` weights (each in int16 range) as int16 values,
/// two per `i32` slot in memory order, in place: the layout [`run`] reads.
pub fn pack_plane_i16(plane: &mut [i32]) {
    let vals: Vec<i16> = plane.iter().map(|&w| i16::try_from(w).expect("depthwise weight fits int16")).collect();
    plane.fill(0);
    for (slot, pair) in plane.iter_mut().zip(vals.chunks(2)) {
        let lo = pair[0] as u16 as u32;
        let hi = pair.get(1).map_or(0, |&v| v as u16 as u32);
        // Little-endian: the low half comes first in memory.
        *slot = (lo | hi << 16) as i32;
    }
}
