//! `f32_4x4_scalar`: the portable GEMM micro-kernel, 4 rows by 4 columns,
//! `kr = 1`. Plain Rust (multiply, then add), the reference the SIMD tiers
//! are tested against and the fallback on every target.
//! Driver: [`super::tile_driver`].

use super::GemmUkernel;
use crate::Isa;

pub const MR: usize = 4;
pub const NR: usize = 4;
pub const KR: usize = 1;

pub const UKERNEL: GemmUkernel = GemmUkernel {
    name: "f32_4x4_scalar",
    isa: Isa::Scalar,
    mr: MR,
    nr: NR,
    kr: KR,
    run,
    run_indirect,
};

/// Stores one clamped tile, `nt <= NR` columns of every row (aliased rows
/// write the same values to the same place).
///
/// # Safety
/// Every `dr[r]` points at `nt` writable floats.
#[inline(always)]
unsafe fn store_tile(acc: &[[f32; NR]; MR], dr: &[*mut f32; MR], nt: usize, min: f32, max: f32) {
    for (row, &d) in acc.iter().zip(dr) {
        for (j, &v) in row.iter().enumerate().take(nt) {
            // SAFETY: j < nt and the caller guarantees nt writable floats at d.
            unsafe { *d.add(j) = crate::Clamp { min, max }.apply(v) };
        }
    }
}

/// Loads the bias of one packed block into every row of the accumulators.
///
/// # Safety
/// `wp` points at `NR` readable floats.
#[inline(always)]
unsafe fn bias_tile(wp: *const f32) -> [[f32; NR]; MR] {
    // SAFETY: the caller guarantees NR readable floats at wp.
    let bias: [f32; NR] = unsafe { std::ptr::read_unaligned(wp as *const [f32; NR]) };
    [bias; MR]
}

/// `kc` reduction steps reading `ar[r][0..kc]`, advancing `wp`.
///
/// # Safety
/// Every `ar[r]` points at `kc` readable floats; `*wp` at `kc * NR`.
#[inline(always)]
unsafe fn reduce(acc: &mut [[f32; NR]; MR], ar: &[*const f32; MR], kc: usize, wp: &mut *const f32) {
    // SAFETY: all reads stay within the kc floats of each row and kc*NR packed weights.
    unsafe {
        for p in 0..kc {
            let b: [f32; NR] = std::ptr::read_unaligned(*wp as *const [f32; NR]);
            for (row, &a) in acc.iter_mut().zip(ar) {
                let av = *a.add(p);
                for (c, &bv) in row.iter_mut().zip(&b) {
                    *c += av * bv;
                }
            }
            *wp = wp.add(NR);
        }
    }
}

super::tile_driver::tile_driver!([] []);
