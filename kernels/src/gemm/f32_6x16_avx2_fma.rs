//! `f32_6x16_avx2_fma`: 6 rows by 16 columns, `kr = 1`, for x86-64 AVX2+FMA.
//! Twelve ymm accumulators; per reduction step two 8-wide loads of packed
//! weights and six broadcasts of the left-hand side, twelve FMAs.

use super::{GemmUkernel, ZERO_ROW};
use crate::Isa;
use std::arch::x86_64::*;

pub const MR: usize = 6;
pub const NR: usize = 16;
pub const KR: usize = 1;

pub const UKERNEL: GemmUkernel = GemmUkernel {
    name: "f32_6x16_avx2_fma",
    isa: Isa::Avx2,
    mr: MR,
    nr: NR,
    kr: KR,
    run,
    run_indirect,
};

/// Lane masks for storing the first `nt` of 16 columns.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn column_masks(nt: usize) -> (__m256i, __m256i) {
    let nt = _mm256_set1_epi32(nt as i32);
    let lo = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let hi = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
    (_mm256_cmpgt_epi32(nt, lo), _mm256_cmpgt_epi32(nt, hi))
}

/// Clamps and stores the tile: all 16 columns, or the first `nt` through masks.
///
/// # Safety
/// Every `dr[r]` points at `nt` writable floats.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store_tile(acc: &[[__m256; 2]; MR], dr: &[*mut f32; MR], nt: usize, min: f32, max: f32) {
    let (vmin, vmax) = (_mm256_set1_ps(min), _mm256_set1_ps(max));
    let clamp = |v| _mm256_min_ps(vmax, _mm256_max_ps(vmin, v));
    if nt == NR {
        for (row, &d) in acc.iter().zip(dr) {
            // SAFETY: 16 writable floats at d (nt == NR).
            unsafe {
                _mm256_storeu_ps(d, clamp(row[0]));
                _mm256_storeu_ps(d.add(8), clamp(row[1]));
            }
        }
    } else {
        let (m0, m1) = column_masks(nt);
        for (row, &d) in acc.iter().zip(dr) {
            // SAFETY: masked stores touch only the first nt floats at d (d + 8 is formed
            // with wrapping_add since it may lie past the end when nt <= 8).
            unsafe {
                _mm256_maskstore_ps(d, m0, clamp(row[0]));
                _mm256_maskstore_ps(d.wrapping_add(8), m1, clamp(row[1]));
            }
        }
    }
}

/// One reduction step: `acc[r] += a[r][p] * b[p][0..16]`.
///
/// # Safety
/// `wp` points at 16 readable floats; every `ar[r] + p` at one readable float.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn step(acc: &mut [[__m256; 2]; MR], ar: &[*const f32; MR], p: usize, wp: *const f32) {
    // SAFETY: the caller guarantees the reads.
    unsafe {
        let b0 = _mm256_loadu_ps(wp);
        let b1 = _mm256_loadu_ps(wp.add(8));
        for (row, &a) in acc.iter_mut().zip(ar) {
            let va = _mm256_broadcast_ss(&*a.add(p));
            row[0] = _mm256_fmadd_ps(va, b0, row[0]);
            row[1] = _mm256_fmadd_ps(va, b1, row[1]);
        }
    }
}

/// See [`super::GemmRunFn`].
///
/// # Safety
/// The [`super::GemmRunFn`] contract, and AVX2+FMA available on this CPU.
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
    // SAFETY: forwarded contract; AVX2+FMA were detected before this kernel was selected.
    unsafe { run_avx2(m, n, k, lhs, lhs_stride, rhs_packed, dst, dst_stride, clamp_min, clamp_max) }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(
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
        // SAFETY: rows mi..=mi+last are inside the m rows of lhs and dst; later rows alias the last.
        let (ar0, dr) = unsafe {
            (
                std::array::from_fn::<_, MR, _>(|r| lhs.add((mi + r.min(last)) * lhs_stride)),
                std::array::from_fn::<_, MR, _>(|r| dst.add((mi + r.min(last)) * dst_stride)),
            )
        };
        let mut n0 = 0;
        while n0 < n {
            let nt = (n - n0).min(NR);
            // SAFETY: block n0/NR exists and holds the bias then k groups of 16 weights;
            // lhs rows hold k floats; dst rows hold n floats from column 0.
            unsafe {
                let mut wp = rhs_packed.add((n0 / NR) * block);
                let bias = [_mm256_loadu_ps(wp), _mm256_loadu_ps(wp.add(8))];
                let mut acc = [bias; MR];
                wp = wp.add(NR);
                let mut p = 0;
                while p + 4 <= k {
                    step(&mut acc, &ar0, p, wp);
                    step(&mut acc, &ar0, p + 1, wp.add(NR));
                    step(&mut acc, &ar0, p + 2, wp.add(2 * NR));
                    step(&mut acc, &ar0, p + 3, wp.add(3 * NR));
                    wp = wp.add(4 * NR);
                    p += 4;
                }
                while p < k {
                    step(&mut acc, &ar0, p, wp);
                    wp = wp.add(NR);
                    p += 1;
                }
                store_tile(&acc, &dr.map(|d| d.add(n0)), nt, clamp_min, clamp_max);
            }
            n0 += NR;
        }
        mi += MR;
    }
}

/// See [`super::IgemmRunFn`].
///
/// # Safety
/// The [`super::IgemmRunFn`] contract, and AVX2+FMA available on this CPU.
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
    // SAFETY: forwarded contract; AVX2+FMA were detected before this kernel was selected.
    unsafe {
        run_indirect_avx2(m, n, kc, ks, indirection, input, zero, rhs_packed, dst, dst_stride, clamp_min, clamp_max)
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_indirect_avx2(
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
        // SAFETY: rows mi..=mi+last are inside dst; this tile's indirection starts at mi*ks.
        let (dr, ind) = unsafe {
            (
                std::array::from_fn::<_, MR, _>(|r| dst.add((mi + r.min(last)) * dst_stride)),
                indirection.add(mi * ks),
            )
        };
        let mut n0 = 0;
        while n0 < n {
            let nt = (n - n0).min(NR);
            // SAFETY: as in `run_avx2`, every row pointer coming from the indirection buffer
            // (kc floats at input+offset) or the zero row (kc floats).
            unsafe {
                let mut wp = rhs_packed.add((n0 / NR) * block);
                let bias = [_mm256_loadu_ps(wp), _mm256_loadu_ps(wp.add(8))];
                let mut acc = [bias; MR];
                wp = wp.add(NR);
                for s in 0..ks {
                    let ar: [*const f32; MR] = std::array::from_fn(|r| {
                        let off = *ind.add(s * MR + r);
                        if off == ZERO_ROW { zero } else { input.add(off) }
                    });
                    let mut p = 0;
                    while p + 4 <= kc {
                        step(&mut acc, &ar, p, wp);
                        step(&mut acc, &ar, p + 1, wp.add(NR));
                        step(&mut acc, &ar, p + 2, wp.add(2 * NR));
                        step(&mut acc, &ar, p + 3, wp.add(3 * NR));
                        wp = wp.add(4 * NR);
                        p += 4;
                    }
                    while p < kc {
                        step(&mut acc, &ar, p, wp);
                        wp = wp.add(NR);
                        p += 1;
                    }
                }
                store_tile(&acc, &dr.map(|d| d.add(n0)), nt, clamp_min, clamp_max);
            }
            n0 += NR;
        }
        mi += MR;
    }
}
