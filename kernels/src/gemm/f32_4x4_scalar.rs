//! `f32_4x4_scalar`: the portable GEMM micro-kernel, 4 rows by 4 columns,
//! `kr = 1`. Plain Rust (multiply, then add), the reference the SIMD tiers
//! are tested against and the fallback on every target.

use super::{GemmUkernel, ZERO_ROW};
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
unsafe fn load_bias(wp: *const f32) -> [[f32; NR]; MR] {
    // SAFETY: the caller guarantees NR readable floats at wp.
    let bias: [f32; NR] = unsafe { std::ptr::read_unaligned(wp as *const [f32; NR]) };
    [bias; MR]
}

/// See [`super::GemmRunFn`].
///
/// # Safety
/// The [`super::GemmRunFn`] contract.
#[allow(clippy::too_many_arguments)]
pub unsafe fn run(
    m: usize,
    n: usize,
    k: usize,
    lhs: *const f32,
    lhs_stride: usize,
    rhs_packed: *const f32,
    dst: *mut f32,
    dst_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    let block = UKERNEL.rhs_packed_block_len(k);
    let mut mi = 0;
    while mi < m {
        let last = (m - mi).min(MR) - 1;
        // SAFETY: rows mi..mi+last are inside the m rows of lhs and dst (GemmRunFn contract);
        // rows past the last valid one alias it.
        let (ar, dr) = unsafe {
            (
                std::array::from_fn::<_, MR, _>(|r| lhs.add((mi + r.min(last)) * lhs_stride)),
                std::array::from_fn::<_, MR, _>(|r| dst.add((mi + r.min(last)) * dst_stride)),
            )
        };
        let mut n0 = 0;
        while n0 < n {
            let nt = (n - n0).min(NR);
            // SAFETY: block n0/NR of rhs_packed exists (ceil(n/NR) blocks) and holds the
            // bias then k groups of NR weights; lhs rows hold k floats; dst rows hold n floats.
            unsafe {
                let mut wp = rhs_packed.add((n0 / NR) * block);
                let mut acc = load_bias(wp);
                wp = wp.add(NR);
                for p in 0..k {
                    let b: [f32; NR] = std::ptr::read_unaligned(wp as *const [f32; NR]);
                    for (row, &a) in acc.iter_mut().zip(&ar) {
                        let av = *a.add(p);
                        for (c, &bv) in row.iter_mut().zip(&b) {
                            *c += av * bv;
                        }
                    }
                    wp = wp.add(NR);
                }
                let dcol = dr.map(|d| d.add(n0));
                store_tile(&acc, &dcol, nt, clamp_min, clamp_max);
            }
            n0 += NR;
        }
        mi += MR;
    }
}

/// See [`super::IgemmRunFn`].
///
/// # Safety
/// The [`super::IgemmRunFn`] contract.
#[allow(clippy::too_many_arguments)]
pub unsafe fn run_indirect(
    m: usize,
    n: usize,
    kc: usize,
    ks: usize,
    indirection: *const usize,
    input: *const f32,
    zero: *const f32,
    rhs_packed: *const f32,
    dst: *mut f32,
    dst_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    let block = UKERNEL.rhs_packed_block_len(ks * kc);
    let mut mi = 0;
    while mi < m {
        let last = (m - mi).min(MR) - 1;
        // SAFETY: rows mi..mi+last are inside the m rows of dst; the tile's indirection
        // entries start at mi*ks (ceil(m/MR)*ks*MR entries in all).
        let (dr, ind) = unsafe {
            (
                std::array::from_fn::<_, MR, _>(|r| dst.add((mi + r.min(last)) * dst_stride)),
                indirection.add(mi * ks),
            )
        };
        let mut n0 = 0;
        while n0 < n {
            let nt = (n - n0).min(NR);
            // SAFETY: as in `run`, with every lhs row pointer taken from the indirection
            // buffer (kc readable floats at input+offset) or the zero row (kc floats).
            unsafe {
                let mut wp = rhs_packed.add((n0 / NR) * block);
                let mut acc = load_bias(wp);
                wp = wp.add(NR);
                for s in 0..ks {
                    let ar: [*const f32; MR] = std::array::from_fn(|r| {
                        let off = *ind.add(s * MR + r);
                        if off == ZERO_ROW { zero } else { input.add(off) }
                    });
                    for p in 0..kc {
                        let b: [f32; NR] = std::ptr::read_unaligned(wp as *const [f32; NR]);
                        for (row, &a) in acc.iter_mut().zip(&ar) {
                            let av = *a.add(p);
                            for (c, &bv) in row.iter_mut().zip(&b) {
                                *c += av * bv;
                            }
                        }
                        wp = wp.add(NR);
                    }
                }
                let dcol = dr.map(|d| d.add(n0));
                store_tile(&acc, &dcol, nt, clamp_min, clamp_max);
            }
            n0 += NR;
        }
        mi += MR;
    }
}
