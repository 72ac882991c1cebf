//! `f32_6x16_avx2_fma`: 6 rows by 16 columns, `kr = 1`, for x86-64 AVX2+FMA.
//! Twelve ymm accumulators; per reduction step two 8-wide loads of packed
//! weights and six broadcasts of the left-hand side, twelve FMAs.
//! Driver: [`super::tile_driver`].

use super::GemmUkernel;
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

/// `kc` reduction steps reading `ar[r][0..kc]`, advancing `wp`; unrolled by four.
///
/// # Safety
/// Every `ar[r]` points at `kc` readable floats; `*wp` at `kc * 16`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn reduce(acc: &mut [[__m256; 2]; MR], ar: &[*const f32; MR], kc: usize, wp: &mut *const f32) {
    // SAFETY: all reads stay within the kc floats of each row and kc*16 packed weights.
    unsafe { super::tile_driver::reduce_by_steps!(step(acc, ar), kc, wp, NR) }
}

/// The block's bias in every row's accumulators.
///
/// # Safety
/// `wp` points at 16 readable floats.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn bias_tile(wp: *const f32) -> [[__m256; 2]; MR] {
    // SAFETY: the caller guarantees the reads.
    let bias = unsafe { [_mm256_loadu_ps(wp), _mm256_loadu_ps(wp.add(8))] };
    [bias; MR]
}

super::tile_driver::tile_driver!([#[target_feature(enable = "avx2,fma")]] []);
