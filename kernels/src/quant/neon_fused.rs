//! The aarch64 int8 GEMM tiles with the output stage fused: the plain Neon
//! 8x8, dotprod 8x8 and i8mm 12x8 loops leave their accumulators in
//! registers ([`i8_8x8_neon_smlal::tile`], [`i8_8x8_neon_dot::acc_8x8`],
//! [`i8_12x8_neon_i8mm::acc`], which start them at the bias) and [`Cols8`] requantizes them there, two rows at a
//! time, into int8 rows of the output. The unfused path stores every tile's
//! accumulators, reads them back in a second pass and pays that pass's loop;
//! this one does neither.
//! For whole tiles (all `mr` rows, 8 columns) of layers whose every column
//! shifts right only, without a weight zero point; the driver runs the rest
//! on the unfused path. The dotprod tile also reads plain rows in place
//! ([`select_rows`], [`i8_8x8_neon_dot::acc_rows_8x8`]) where the layer has at
//! most 4 blocks of columns and needs no padding.

use super::output::{Cols8, OutParams};
use super::{i8_12x8_neon_i8mm, i8_8x8_neon_dot, i8_8x8_neon_smlal, QUkernel};
use std::arch::aarch64::*;

/// Strips the fused tiles ran (tests check that they do).
#[cfg(test)]
pub(super) static STRIPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A strip of whole fused tiles: the packed strip `a` by the packed blocks
/// at `b`, `bs` bytes apart (`kp` reduction steps), one per 8 values of
/// `bias` (the blocks' columns, `j0 ..`), through the stage of `q` into `mr`
/// rows of `bias.len()` int8 values at `out`, `ldo` apart.
///
/// # Safety
/// `a` is a packed strip and `b` holds `bias.len() / 8` packed blocks of the
/// tile's kernel for `kp`; `bias.len()` is a multiple of 8 and `q` has
/// columns `j0 .. j0 + bias.len()`; `out` has `mr` rows of `bias.len()`
/// writable bytes, `ldo` apart, that nothing else accesses; the kernel's CPU
/// feature is available.
pub(super) type FusedFn = unsafe fn(kp: usize, a: *const i8, b: *const i8, bs: usize, bias: &[i32], q: &OutParams, j0: usize, out: *mut i8, ldo: usize);

/// `$f::<NEG, CLAMP>` as a `$t` for the layer's negative-tie fixup and clamp.
macro_rules! stage_variant {
    ($f:ident, $t:ty, $q:expr) => {
        match ($q.neg_ties(), $q.clamps()) {
            (false, false) => $f::<false, false> as $t,
            (false, true) => $f::<false, true>,
            (true, false) => $f::<true, false>,
            (true, true) => $f::<true, true>,
        }
    };
}


/// The fused tile for `uk` and a layer's output stage, if there is one.
pub(super) fn select(uk: &QUkernel, q: &OutParams) -> Option<FusedFn> {
    if !q.right_shifts_in_registers() {
        return None;
    }
    if uk.name == i8_12x8_neon_i8mm::UKERNEL.name && uk.tier.is_available() {
        Some(stage_variant!(i8mm_12x8, FusedFn, q))
    } else if uk.name == i8_8x8_neon_dot::UKERNEL.name && uk.tier.is_available() {
        Some(stage_variant!(dot_8x8, FusedFn, q))
    } else if uk.name == i8_8x8_neon_smlal::UKERNEL.name {
        Some(stage_variant!(smlal_8x8, FusedFn, q))
    } else {
        None
    }
}

/// As [`FusedFn`] for tiles that read their rows in place: `mr` rows of `kp`
/// values at `a`, `lda` apart, instead of a packed strip.
///
/// # Safety
/// As [`FusedFn`], with `a` holding `mr` rows of `kp` readable values, `lda` apart.
pub(super) type FusedRowsFn = unsafe fn(kp: usize, a: *const i8, lda: usize, b: *const i8, bs: usize, bias: &[i32], q: &OutParams, j0: usize, out: *mut i8, ldo: usize);

/// The fused tile that reads plain rows in place for `uk` and a layer's
/// output stage, if there is one: the dotprod 8x8 (SDOT by element takes a
/// row's 16 values as they lie, so its strip is the rows themselves). The
/// caller checks that the rows need no padding (`kp == k`).
pub(super) fn select_rows(uk: &QUkernel, q: &OutParams) -> Option<FusedRowsFn> {
    (q.right_shifts_in_registers() && uk.name == i8_8x8_neon_dot::UKERNEL.name && uk.tier.is_available()).then(|| stage_variant!(dot_rows_8x8, FusedRowsFn, q))
}

/// Stores two output rows: the low 8 bytes of `v` at `out`, the high 8 one row on.
///
/// # Safety
/// Both rows have 8 writable bytes.
#[inline(always)]
unsafe fn store2(v: int8x16_t, out: *mut i8, ldo: usize) {
    // SAFETY: the caller's contract. ST1 of one 64-bit lane has no alignment requirement;
    // it saves the move of the high half to a register of its own before a plain store.
    unsafe {
        vst1_s8(out, vget_low_s8(v));
        std::arch::asm!("st1 {{{v:v}.d}}[1], [{p}]", v = in(vreg) v, p = in(reg) out.add(ldo), options(nostack, preserves_flags));
    }
}

/// The blocks of a strip ([`FusedFn`]): each block's bias, multipliers
/// and right shifts (8 values each) with the block's index.
fn columns<'a>(bias: &'a [i32], q: &'a OutParams, j0: usize) -> impl Iterator<Item = (usize, [&'a [i32]; 3])> {
    let cols = bias.len();
    let (mult, nrsh) = (&q.mult[j0..j0 + cols], &q.nrsh[j0..j0 + cols]);
    bias.chunks_exact(8).zip(mult.chunks_exact(8).zip(nrsh.chunks_exact(8))).map(|(b, (m, r))| [b, m, r]).enumerate()
}

/// The i8mm 12x8 tiles with the stage fused: a row pair's four 2x2 blocks
/// narrow to 16 bytes with the two rows' columns interleaved in pairs, which
/// one TBL puts in order (row `2p` in the low 8 bytes).
///
/// # Safety
/// See [`FusedFn`]; i8mm is available.
#[target_feature(enable = "neon,i8mm")]
#[allow(clippy::too_many_arguments)]
unsafe fn i8mm_12x8<const NEG: bool, const CLAMP: bool>(kp: usize, a: *const i8, b: *const i8, bs: usize, bias: &[i32], q: &OutParams, j0: usize, out: *mut i8, ldo: usize) {
    const ROWS: [u8; 16] = [0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15];
    for (blk, [bias, mult, nrsh]) in columns(bias, q, j0) {
        // SAFETY: the caller's contract (block blk of the kernel's layout; 12 rows of 8
        // bytes at out + 8·blk).
        unsafe {
            let c = i8_12x8_neon_i8mm::acc(kp, a, b.add(blk * bs), Cols8::bias_blocks(bias));
            let st = Cols8::blocks(q, mult, nrsh);
            let (order, out) = (vld1q_u8(ROWS.as_ptr()), out.add(8 * blk));
            // Called with constants, so that the accumulators stay in registers (a loop
            // over the pairs kept them on the stack).
            let pair = |p: usize| {
                let v = st.narrow16::<NEG, CLAMP>([c[4 * p], c[4 * p + 1], c[4 * p + 2], c[4 * p + 3]]);
                store2(vqtbl1q_s8(v, order), out.add(2 * p * ldo), ldo);
            };
            pair(0);
            pair(1);
            pair(2);
            pair(3);
            pair(4);
            pair(5);
        }
    }
}

/// The dotprod 8x8 tiles with the stage fused (their accumulators are rows already).
///
/// # Safety
/// See [`FusedFn`]; dotprod is available.
#[target_feature(enable = "neon,dotprod")]
#[allow(clippy::too_many_arguments)]
unsafe fn dot_8x8<const NEG: bool, const CLAMP: bool>(kp: usize, a: *const i8, b: *const i8, bs: usize, bias: &[i32], q: &OutParams, j0: usize, out: *mut i8, ldo: usize) {
    for (blk, [bias, mult, nrsh]) in columns(bias, q, j0) {
        // SAFETY: the caller's contract (block blk of the kernel's layout; 8 rows of 8
        // bytes at out + 8·blk).
        unsafe {
            let c = i8_8x8_neon_dot::acc_8x8(kp, a, b.add(blk * bs), Cols8::bias_rows(bias));
            store_rows8::<NEG, CLAMP>(c, q, mult, nrsh, out.add(8 * blk), ldo);
        }
    }
}

/// [`dot_8x8`] on rows read in place ([`FusedRowsFn`]).
///
/// # Safety
/// See [`FusedRowsFn`]; dotprod is available.
#[target_feature(enable = "neon,dotprod")]
#[allow(clippy::too_many_arguments)]
unsafe fn dot_rows_8x8<const NEG: bool, const CLAMP: bool>(kp: usize, a: *const i8, lda: usize, b: *const i8, bs: usize, bias: &[i32], q: &OutParams, j0: usize, out: *mut i8, ldo: usize) {
    for (blk, [bias, mult, nrsh]) in columns(bias, q, j0) {
        // SAFETY: the caller's contract (8 rows of kp values at a, lda apart; block blk of
        // the kernel's layout; 8 rows of 8 bytes at out + 8·blk).
        unsafe {
            let c = i8_8x8_neon_dot::acc_rows_8x8(kp, a, lda, b.add(blk * bs), Cols8::bias_rows(bias));
            store_rows8::<NEG, CLAMP>(c, q, mult, nrsh, out.add(8 * blk), ldo);
        }
    }
}

/// The stage of one block of 8 columns on the dotprod 8x8 accumulators `c`
/// (accumulator `2·i + h`: row `i`, columns `4·h ..`), into 8 rows of 8
/// bytes at `out`, `ldo` apart.
///
/// # Safety
/// The 8 rows at `out` have 8 writable bytes each.
#[inline(always)]
unsafe fn store_rows8<const NEG: bool, const CLAMP: bool>(c: [int32x4_t; 16], q: &OutParams, mult: &[i32], nrsh: &[i32], out: *mut i8, ldo: usize) {
    let st = Cols8::rows(q, mult, nrsh);
    // Called with constants, as in i8mm_12x8.
    // SAFETY: the caller's contract.
    let pair = |p: usize| unsafe { store2(st.narrow16::<NEG, CLAMP>([c[4 * p], c[4 * p + 1], c[4 * p + 2], c[4 * p + 3]]), out.add(2 * p * ldo), ldo) };
    pair(0);
    pair(1);
    pair(2);
    pair(3);
}

/// The plain Neon (SMLAL) 8x8 tiles with the stage fused (row-major, as dotprod's).
///
/// # Safety
/// See [`FusedFn`].
#[allow(clippy::too_many_arguments)]
unsafe fn smlal_8x8<const NEG: bool, const CLAMP: bool>(kp: usize, a: *const i8, b: *const i8, bs: usize, bias: &[i32], q: &OutParams, j0: usize, out: *mut i8, ldo: usize) {
    for (blk, [bias, mult, nrsh]) in columns(bias, q, j0) {
        // SAFETY: the caller's contract (block blk of the kernel's layout; 8 rows of 8
        // bytes at out + 8·blk).
        unsafe {
            let (lo, hi) = i8_8x8_neon_smlal::tile::<8>(kp, a, b.add(blk * bs), Cols8::bias_rows(bias));
            let st = Cols8::rows(q, mult, nrsh);
            let out = out.add(8 * blk);
            // Called with constants, as in i8mm_12x8.
            let pair = |p: usize| store2(st.narrow16::<NEG, CLAMP>([lo[2 * p], hi[2 * p], lo[2 * p + 1], hi[2 * p + 1]]), out.add(2 * p * ldo), ldo);
            pair(0);
            pair(1);
            pair(2);
            pair(3);
        }
    }
}
