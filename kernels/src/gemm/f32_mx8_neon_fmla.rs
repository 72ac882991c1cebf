//! The Neon FMLA-by-element GEMM micro-kernel for `MR` rows by 8 columns,
//! `kr = 1`, written once over `MR` (`f32_6x8_neon_fmla` and
//! `f32_8x8_neon_fmla` are its tiles). `2 * MR` q accumulators; the
//! reduction is unrolled by four: one 4-wide load of each left-hand row, then
//! per step two q loads of packed weights and `2 * MR` FMLA-by-element
//! (`vfmaq_laneq_f32`). The remainder steps broadcast single values; both
//! compute `acc + a * b` fused, in ascending `k`. Driver: [`super::tile_driver`].

use std::arch::aarch64::*;

pub const NR: usize = 8;
pub const KR: usize = 1;

type Acc<const MR: usize> = [[float32x4_t; 2]; MR];

/// Clamps and stores the tile: all 8 columns, or the first `nt` via a spill.
///
/// # Safety
/// Every `dr[r]` points at `nt` writable floats.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn store_tile<const MR: usize>(acc: &Acc<MR>, dr: &[*mut f32; MR], nt: usize, min: f32, max: f32) {
    let (vmin, vmax) = (vdupq_n_f32(min), vdupq_n_f32(max));
    let clamp = |v| vminq_f32(vmaxq_f32(v, vmin), vmax);
    for (row, &d) in acc.iter().zip(dr) {
        let (lo, hi) = (clamp(row[0]), clamp(row[1]));
        if nt == NR {
            // SAFETY: 8 writable floats at d (nt == NR).
            unsafe {
                vst1q_f32(d, lo);
                vst1q_f32(d.add(4), hi);
            }
        } else {
            let mut spill = [0.0f32; NR];
            // SAFETY: spill holds 8 floats; nt < 8 writable floats at d, disjoint from spill.
            unsafe {
                vst1q_f32(spill.as_mut_ptr(), lo);
                vst1q_f32(spill.as_mut_ptr().add(4), hi);
                std::ptr::copy_nonoverlapping(spill.as_ptr(), d, nt);
            }
        }
    }
}

/// Runs `kc` reduction steps reading `ar[r][0..kc]`, advancing `wp`.
///
/// # Safety
/// Every `ar[r]` points at `kc` readable floats; `*wp` at `kc * 8`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn reduce<const MR: usize>(acc: &mut Acc<MR>, ar: &[*const f32; MR], kc: usize, wp: &mut *const f32) {
    // SAFETY: all reads stay within the kc floats of each row and kc*8 packed weights.
    unsafe {
        let mut p = 0;
        while p + 4 <= kc {
            let a: [float32x4_t; MR] = std::array::from_fn(|r| vld1q_f32(ar[r].add(p)));
            macro_rules! lane {
                ($l:literal) => {{
                    let b0 = vld1q_f32(*wp);
                    let b1 = vld1q_f32(wp.add(4));
                    for (row, &va) in acc.iter_mut().zip(&a) {
                        row[0] = vfmaq_laneq_f32::<$l>(row[0], b0, va);
                        row[1] = vfmaq_laneq_f32::<$l>(row[1], b1, va);
                    }
                    *wp = wp.add(NR);
                }};
            }
            lane!(0);
            lane!(1);
            lane!(2);
            lane!(3);
            p += 4;
        }
        while p < kc {
            let b0 = vld1q_f32(*wp);
            let b1 = vld1q_f32(wp.add(4));
            for (row, &a) in acc.iter_mut().zip(ar) {
                let va = vld1q_dup_f32(a.add(p));
                row[0] = vfmaq_f32(row[0], b0, va);
                row[1] = vfmaq_f32(row[1], b1, va);
            }
            *wp = wp.add(NR);
            p += 1;
        }
    }
}

/// The bias row of a packed block, in every row's accumulators.
///
/// # Safety
/// `wp` points at 8 readable floats.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn bias_tile<const MR: usize>(wp: *const f32) -> Acc<MR> {
    // SAFETY: the caller guarantees the reads.
    let bias = unsafe { [vld1q_f32(wp), vld1q_f32(wp.add(4))] };
    [bias; MR]
}

super::tile_driver::tile_driver!([#[target_feature(enable = "neon")]] [const MR: usize]);
