//! AVX-512 GEMM micro-kernels, `kr = 1`, one body generic over the tile:
//! `MR` rows by `NV` zmm vectors of 16 columns.
//!
//! - `f32_8x32_avx512`: 16 zmm accumulators; per reduction step two 16-wide
//!   loads of packed weights, eight broadcasts, sixteen FMAs (the default);
//! - `f32_8x48_avx512`: 24 accumulators; three loads, eight broadcasts,
//!   twenty-four FMAs per step, for channel counts that are multiples of 48
//!   but not of 32 (48, 144, 240, ...: MobileNetV2's 24 -> 144 expansions),
//!   on which the 32-wide tile pads a block;
//! - `f32_12x16_avx512`: 12 accumulators of one zmm each, for outputs whose
//!   channel count is a poor multiple of 32 and of 48 (16, 80, ...), where the
//!   wide tiles would spend many of their FMAs on zero-padded columns.
//!
//! The column tail is stored through AVX-512 write masks (no scalar loop).
//! The direct kernel shares `m` rows evenly over `ceil(m / MR)` tiles of
//! exactly their rows (no repeated rows, so a one-row FULLY_CONNECTED does
//! one row's work; 49 rows run as 7 x 7, not 8 x 6 + 1); the indirect one
//! runs whole `MR`-row groups and a tail tile of exactly the rest. The
//! reduction loop is unrolled by four.

use super::{GemmUkernel, ZERO_ROW};
use crate::Isa;
use std::arch::x86_64::*;

pub const UKERNEL_8X32: GemmUkernel = tile::<8, 2>("f32_8x32_avx512");
pub const UKERNEL_8X48: GemmUkernel = tile::<8, 3>("f32_8x48_avx512");
pub const UKERNEL_12X16: GemmUkernel = tile::<12, 1>("f32_12x16_avx512");

/// The `MR x 16*NV` tile: its shape follows from the kernels' parameters.
const fn tile<const MR: usize, const NV: usize>(name: &'static str) -> GemmUkernel {
    GemmUkernel { name, isa: Isa::Avx512, mr: MR, nr: 16 * NV, kr: 1, run: run::<MR, NV>, run_indirect: run_indirect::<MR, NV> }
}

/// The AVX-512 tile for `n` output columns: the 32-wide tile unless the
/// 48-wide one pads fewer columns, and either unless its zero-padded columns
/// cost more than 15% over the 16-wide tile's.
pub fn ukernel_for(n: usize) -> &'static GemmUkernel {
    let padded = |nr: usize| n.div_ceil(nr) * nr;
    let wide = if padded(48) < padded(32) { &UKERNEL_8X48 } else { &UKERNEL_8X32 };
    if padded(wide.nr) * 100 > padded(16) * 115 { &UKERNEL_12X16 } else { wide }
}

/// Write mask of the first `cols` of 16 lanes (`cols` may exceed 16).
#[inline]
fn lane_mask(cols: usize) -> __mmask16 {
    if cols >= 16 { 0xFFFF } else { ((1u32 << cols) - 1) as __mmask16 }
}

/// Clamps and stores an `MR x 16*NV` tile; columns past `nt` are not written.
///
/// # Safety
/// Every `dr[r]` points at `nt` writable floats.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn store_tile<const MR: usize, const NV: usize>(acc: &[[__m512; NV]; MR], dr: &[*mut f32; MR], nt: usize, min: f32, max: f32) {
    let (vmin, vmax) = (_mm512_set1_ps(min), _mm512_set1_ps(max));
    if nt == 16 * NV {
        for (row, &d) in acc.iter().zip(dr) {
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: 16*NV writable floats at d (nt is the full width).
                unsafe { _mm512_storeu_ps(d.add(16 * v), _mm512_min_ps(vmax, _mm512_max_ps(vmin, x))) }
            }
        }
    } else {
        for (row, &d) in acc.iter().zip(dr) {
            for (v, &x) in row.iter().enumerate() {
                let mask = lane_mask(nt.saturating_sub(16 * v));
                // SAFETY: the mask enables only the columns below nt, which are writable;
                // disabled lanes are not accessed (the address is formed with wrapping_add).
                unsafe { _mm512_mask_storeu_ps(d.wrapping_add(16 * v), mask, _mm512_min_ps(vmax, _mm512_max_ps(vmin, x))) }
            }
        }
    }
}

/// One reduction step: `acc[r] += a[r][p] * b[p][..]`.
///
/// # Safety
/// `wp` points at `16 * NV` readable floats; every `ar[r] + p` at one readable float.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn step<const MR: usize, const NV: usize>(acc: &mut [[__m512; NV]; MR], ar: &[*const f32; MR], p: usize, wp: *const f32) {
    // SAFETY: the caller guarantees the reads.
    unsafe {
        let b: [__m512; NV] = std::array::from_fn(|v| _mm512_loadu_ps(wp.add(16 * v)));
        for (row, &a) in acc.iter_mut().zip(ar) {
            let va = _mm512_set1_ps(*a.add(p));
            for (x, &bv) in row.iter_mut().zip(&b) {
                *x = _mm512_fmadd_ps(va, bv, *x);
            }
        }
    }
}

/// `kc` reduction steps reading `ar[r][0..kc]`, advancing `wp`; unrolled by four.
///
/// # Safety
/// Every `ar[r]` points at `kc` readable floats; `*wp` at `kc * 16 * NV`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn reduce<const MR: usize, const NV: usize>(acc: &mut [[__m512; NV]; MR], ar: &[*const f32; MR], kc: usize, wp: &mut *const f32) {
    // SAFETY: all reads stay within the kc floats of each row and kc*16*NV packed weights.
    unsafe { super::tile_driver::reduce_by_steps!(step(acc, ar), kc, wp, 16 * NV) }
}

/// The block's bias, broadcast to every row of the tile.
///
/// # Safety
/// `wp` points at `16 * NV` readable floats.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn bias_tile<const MR: usize, const NV: usize>(wp: *const f32) -> [[__m512; NV]; MR] {
    // SAFETY: the caller guarantees the reads.
    let bias: [__m512; NV] = std::array::from_fn(|v| unsafe { _mm512_loadu_ps(wp.add(16 * v)) });
    [bias; MR]
}

/// Calls `$f::<R, NV>` with `R` the row count `$rows` (1..=12) of a tail tile.
macro_rules! with_rows {
    ($rows:expr, $f:ident, $nv:ident, ($($arg:expr),*)) => {
        match $rows {
            1 => $f::<1, $nv>($($arg),*),
            2 => $f::<2, $nv>($($arg),*),
            3 => $f::<3, $nv>($($arg),*),
            4 => $f::<4, $nv>($($arg),*),
            5 => $f::<5, $nv>($($arg),*),
            6 => $f::<6, $nv>($($arg),*),
            7 => $f::<7, $nv>($($arg),*),
            8 => $f::<8, $nv>($($arg),*),
            9 => $f::<9, $nv>($($arg),*),
            10 => $f::<10, $nv>($($arg),*),
            11 => $f::<11, $nv>($($arg),*),
            _ => $f::<12, $nv>($($arg),*),
        }
    };
}

/// See [`super::GemmRunFn`].
///
/// # Safety
/// The [`super::GemmRunFn`] contract, and AVX-512 F with AVX2+FMA available on this CPU.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn run<const MR: usize, const NV: usize>(
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
    // The rows are shared out evenly over the fewest tiles (each of exactly its rows, none
    // repeated): a lone tail row would run one FMA chain per column vector, bound by FMA
    // latency (49 rows as 8 x 6 + 1 took 6% more than as 7 x 7).
    let tiles = m.div_ceil(MR);
    let mut mi = 0;
    for t in 0..tiles {
        let r = (m - mi).div_ceil(tiles - t);
        // SAFETY: rows mi..mi+r are inside the m rows of lhs and dst (GemmRunFn contract; r <= m - mi).
        unsafe {
            let (a, d) = (lhs.add(mi * lhs_stride), dst.add(mi * dst_stride));
            if r == MR {
                rows::<MR, NV>(n, k, a, lhs_stride, rhs_packed, d, dst_stride, clamp_min, clamp_max)
            } else {
                with_rows!(r, rows, NV, (n, k, a, lhs_stride, rhs_packed, d, dst_stride, clamp_min, clamp_max))
            }
        };
        mi += r;
    }
}

/// `R` rows by all `n` columns.
///
/// # Safety
/// `R` rows of `k` readable floats at `lhs` and of `n` writable floats at
/// `dst`; `rhs_packed` as for [`super::GemmRunFn`].
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn rows<const R: usize, const NV: usize>(
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
    let nr = 16 * NV;
    let block = nr * (k + 1);
    // SAFETY: the R rows exist (caller).
    let (ar, dr) = unsafe {
        (
            std::array::from_fn::<_, R, _>(|r| lhs.add(r * lhs_stride)),
            std::array::from_fn::<_, R, _>(|r| dst.add(r * dst_stride)),
        )
    };
    let mut n0 = 0;
    while n0 < n {
        let nt = (n - n0).min(nr);
        // SAFETY: block n0/nr exists and holds the bias then k groups of nr weights;
        // lhs rows hold k floats; dst rows hold n floats from column 0.
        unsafe {
            let mut wp = rhs_packed.add((n0 / nr) * block);
            let mut acc = bias_tile::<R, NV>(wp);
            wp = wp.add(nr);
            reduce(&mut acc, &ar, k, &mut wp);
            store_tile(&acc, &dr.map(|d| d.add(n0)), nt, clamp_min, clamp_max);
        }
        n0 += nr;
    }
}

/// See [`super::IgemmRunFn`].
///
/// # Safety
/// The [`super::IgemmRunFn`] contract, and AVX-512 F with AVX2+FMA available on this CPU.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn run_indirect<const MR: usize, const NV: usize>(
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
    let mut mi = 0;
    while m - mi >= MR {
        // SAFETY: rows mi..mi+MR are inside dst; this group's indirection starts at mi*ks (IgemmRunFn).
        unsafe {
            rows_indirect::<MR, NV>(n, kc, ks, MR, indirection.add(mi * ks), input, zero, rhs_packed, dst.add(mi * dst_stride), dst_stride, clamp_min, clamp_max)
        };
        mi += MR;
    }
    if mi < m {
        // SAFETY: rows mi..m are inside dst; the last group's indirection starts at mi*ks (IgemmRunFn).
        unsafe {
            with_rows!(
                m - mi,
                rows_indirect,
                NV,
                (n, kc, ks, MR, indirection.add(mi * ks), input, zero, rhs_packed, dst.add(mi * dst_stride), dst_stride, clamp_min, clamp_max)
            )
        };
    }
}

/// `R` rows (the first `R` of a group of `mr` indirection rows) by all `n` columns.
///
/// # Safety
/// `ind` holds `ks * mr` entries valid as in [`super::IgemmRunFn`]; `R` rows
/// of `n` writable floats at `dst`; `rhs_packed` as for [`super::IgemmRunFn`].
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn rows_indirect<const R: usize, const NV: usize>(
    n: usize,
    kc: usize,
    ks: usize,
    mr: usize,
    ind: *const usize,
    input: *const f32,
    zero: *const f32,
    rhs_packed: *const f32,
    dst: *mut f32,
    dst_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    let nr = 16 * NV;
    let block = nr * (ks * kc + 1);
    // SAFETY: the R rows of dst exist (caller).
    let dr = unsafe { std::array::from_fn::<_, R, _>(|r| dst.add(r * dst_stride)) };
    let mut n0 = 0;
    while n0 < n {
        let nt = (n - n0).min(nr);
        // SAFETY: as in `rows`, every row pointer coming from the indirection buffer
        // (kc floats at input+offset) or the zero row (kc floats).
        unsafe {
            let mut wp = rhs_packed.add((n0 / nr) * block);
            let mut acc = bias_tile::<R, NV>(wp);
            wp = wp.add(nr);
            for s in 0..ks {
                let ar: [*const f32; R] = std::array::from_fn(|r| {
                    let off = *ind.add(s * mr + r);
                    if off == ZERO_ROW { zero } else { input.add(off) }
                });
                reduce(&mut acc, &ar, kc, &mut wp);
            }
            store_tile(&acc, &dr.map(|d| d.add(n0)), nt, clamp_min, clamp_max);
        }
        n0 += nr;
    }
}
