//! `i8_8x8_neon_smlal`: the plain-Neon int8 GEMM micro-kernel. Values are
//! sign-extended to int16 and multiplied into int32 with SMLAL/SMLAL2 by
//! element (4 multiply-adds per instruction): an 8x8 tile, 16 accumulators,
//! 8 reduction steps per iteration (4, 2 and 1 rows for the last rows).

use super::{QTier, QUkernel};
use std::arch::aarch64::*;

pub const UKERNEL: QUkernel = QUkernel { name: "i8_8x8_neon_smlal", tier: QTier::Neon, mr: 8, nr: 8, kr: 1, ka: 0, kstep: 8, a_xor: 0, run: run::<8> };
/// The same for the last rows of a GEMM.
pub const UKERNEL_4X8: QUkernel = QUkernel { name: "i8_4x8_neon_smlal", tier: QTier::Neon, mr: 4, nr: 8, kr: 1, ka: 0, kstep: 8, a_xor: 0, run: run::<4> };
pub const UKERNEL_2X8: QUkernel = QUkernel { name: "i8_2x8_neon_smlal", tier: QTier::Neon, mr: 2, nr: 8, kr: 1, ka: 0, kstep: 8, a_xor: 0, run: run::<2> };
pub const UKERNEL_1X8: QUkernel = QUkernel { name: "i8_1x8_neon_smlal", tier: QTier::Neon, mr: 1, nr: 8, kr: 1, ka: 0, kstep: 8, a_xor: 0, run: run::<1> };

/// See [`super::QRunFn`]: `a` is `MR` rows of `kp` values, `b` `kp` rows of 8.
///
/// # Safety
/// The [`super::QRunFn`] contract for this kernel's layouts.
pub unsafe fn run<const MR: usize>(kp: usize, a: *const i8, b: *const i8, acc: *mut i32) {
    // SAFETY: the caller's contract (for `tile`); acc has 8 * MR values.
    unsafe {
        let (lo, hi) = tile::<MR>(kp, a, b, [vdupq_n_s32(0); 2]);
        for i in 0..MR {
            vst1q_s32(acc.add(i * 8), lo[i]);
            vst1q_s32(acc.add(i * 8 + 4), hi[i]);
        }
    }
}

/// The tile of [`run`] in registers: row `i`'s columns 0..4 in `lo[i]` and
/// 4..8 in `hi[i]`, starting at `init` (the bias of those columns, or zero)
/// instead of zero; for [`run`] and an output stage fused after the loop
/// (`super::neon_fused`).
///
/// # Safety
/// As [`run`], without `acc`.
#[inline(always)]
pub unsafe fn tile<const MR: usize>(kp: usize, a: *const i8, b: *const i8, init: [int32x4_t; 2]) -> ([int32x4_t; MR], [int32x4_t; MR]) {
    // SAFETY: Neon is baseline on aarch64; every load stays inside the strip (MR rows of
    // kp bytes) and the block (kp rows of 8 bytes), kp being a multiple of 8.
    unsafe {
        let mut lo = [init[0]; MR];
        let mut hi = [init[1]; MR];
        let mut p = 0;
        while p < kp {
            let mut av = [vdupq_n_s16(0); MR];
            for (i, v) in av.iter_mut().enumerate() {
                *v = vmovl_s8(vld1_s8(a.add(i * kp + p)));
            }
            let bp = b.add(p * 8);
            macro_rules! step {
                ($t:literal, $bv:expr) => {{
                    let bv = $bv;
                    let bl = vget_low_s16(bv);
                    for i in 0..MR {
                        lo[i] = vmlal_laneq_s16::<$t>(lo[i], bl, av[i]);
                        hi[i] = vmlal_high_laneq_s16::<$t>(hi[i], bv, av[i]);
                    }
                }};
            }
            let b01 = vld1q_s8(bp);
            let b23 = vld1q_s8(bp.add(16));
            let b45 = vld1q_s8(bp.add(32));
            let b67 = vld1q_s8(bp.add(48));
            step!(0, vmovl_s8(vget_low_s8(b01)));
            step!(1, vmovl_high_s8(b01));
            step!(2, vmovl_s8(vget_low_s8(b23)));
            step!(3, vmovl_high_s8(b23));
            step!(4, vmovl_s8(vget_low_s8(b45)));
            step!(5, vmovl_high_s8(b45));
            step!(6, vmovl_s8(vget_low_s8(b67)));
            step!(7, vmovl_high_s8(b67));
            p += 8;
        }
        (lo, hi)
    }
}
