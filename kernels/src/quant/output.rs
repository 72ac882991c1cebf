//! The output stage shared by every int8 kernel: folded bias, row
//! correction, TFLite's requantization, output zero point, clamp, int8 store.

use super::{QTier, QuantOut, Rounding};
use crate::fixedpoint::Requant;

/// TFLite's `MultiplyByQuantizedMultiplier` built with `TFLITE_SINGLE_ROUNDING`
/// (what LiteRT 2.3's reference FULLY_CONNECTED matches): one rounding of
/// `x·M / 2^(31 − shift)`, half up, in 64 bits (saturated to `i32`).
pub fn apply_single_rounding(r: Requant, x: i32) -> i32 {
    let total_shift = (31 - r.shift).clamp(1, 62);
    let round = 1i64 << (total_shift - 1);
    let v = (x as i64 * r.multiplier as i64 + round) >> total_shift;
    v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// Values derived from a layer's [`QuantOut`] (and rounding), kept by its
/// packed weights and rebuilt only when a call brings different ones: the
/// delegate passes the same `QuantOut` on every run, and rebuilding the
/// per-column vectors was a per-node cost on every invoke.
///
/// A layer's own output stage can also be bound to its weights once
/// ([`ParamsCache::bind`]); a call that passes that bound `QuantOut` itself
/// (the same object, [`ParamsCache::bound`]) is recognised by its address and
/// skips the comparison: comparing every column's parameters on every call
/// read cold memory, ~1.7 % of an int8 MobileNetV2 invoke. The bound value
/// is owned here and never changes, so its address identifies its contents.
pub(crate) struct ParamsCache<T> {
    bound: std::sync::OnceLock<Bound<T>>,
    last: std::sync::Mutex<Option<(QuantOut, Rounding, std::sync::Arc<T>)>>,
}

/// A bound output stage, its rounding and (after the first call) what was derived from it.
type Bound<T> = (QuantOut, Rounding, std::sync::OnceLock<std::sync::Arc<T>>);

impl<T> Default for ParamsCache<T> {
    fn default() -> Self {
        ParamsCache { bound: Default::default(), last: std::sync::Mutex::new(None) }
    }
}

impl<T> ParamsCache<T> {
    /// The cached value for `(q, rounding)`, or `build()` (then cached).
    pub fn get(&self, q: &QuantOut, rounding: Rounding, build: impl FnOnce() -> T) -> std::sync::Arc<T> {
        if let Some((bq, br, v)) = self.bound.get() {
            if std::ptr::eq(bq, q) && *br == rounding {
                return v.get_or_init(|| std::sync::Arc::new(build())).clone();
            }
        }
        let mut slot = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cq, cr, v)) = &*slot {
            if *cr == rounding && same_out(cq, q) {
                return v.clone();
            }
        }
        let v = std::sync::Arc::new(build());
        *slot = Some((q.clone(), rounding, v.clone()));
        v
    }

    /// Binds `q` with `rounding` as this layer's output stage; false (and
    /// nothing changes) when one is bound already.
    pub fn bind(&self, q: QuantOut, rounding: Rounding) -> bool {
        self.bound.set((q, rounding, Default::default())).is_ok()
    }

    /// The bound output stage, if any.
    pub fn bound(&self) -> Option<&QuantOut> {
        self.bound.get().map(|(q, _, _)| q)
    }
}

/// `a == b`, without an early exit, so the per-channel comparison vectorises
/// (the element-by-element `==` on 1280 channels was ~1.5 % of an int8
/// MobileNetV2 invoke: every layer checks its cached parameters per call).
fn same_out(a: &QuantOut, b: &QuantOut) -> bool {
    a.zero_point == b.zero_point
        && a.min == b.min
        && a.max == b.max
        && a.requant.len() == b.requant.len()
        && a.requant.iter().zip(&b.requant).fold(0, |d, (x, y)| d | (x.multiplier ^ y.multiplier) | (x.shift ^ y.shift)) == 0
}

/// A [`QuantOut`] expanded to one entry per output column, in the form the
/// vector stages use.
pub(crate) struct OutParams {
    pub mult: Vec<i32>,
    /// Left shift (`max(shift, 0)`).
    pub lsh: Vec<i32>,
    /// Right shift (`max(-shift, 0)`).
    pub rsh: Vec<i32>,
    /// `-rsh` (Neon shifts right by negative amounts).
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub nrsh: Vec<i32>,
    /// Some column shifts left (the Neon stage skips the shift otherwise).
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub any_lsh: bool,
    /// Every column shifts right by at least one (a cheaper Neon rounding fixup).
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub all_rsh: bool,
    pub zp: i32,
    pub min: i32,
    pub max: i32,
    /// Every entry is in the range the vector stages implement exactly
    /// (multiplier ≥ 0, left shift < 31, right shift ≤ 31, |zero point| ≤
    /// 256); otherwise the scalar stage runs.
    pub vector_ok: bool,
    /// TFLite's single-rounding multiply (the scalar stage, and the fused
    /// AVX-512 VNNI GEMM tiles where `single_ok`).
    pub single: bool,
    /// Single rounding with every entry in the range the fused AVX-512 VNNI
    /// GEMM tiles implement exactly (multiplier ≥ 0, no left shift, so the
    /// result never leaves int32 and TFLite's saturation to int32 never
    /// applies; right shift ≤ 22 and |zero point| ≤ 256, so the zero point
    /// folds into the rounding constant and the tiles' variant without the
    /// negative-tie correction runs).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub single_ok: bool,
    /// Some column shifts right by more than 22: the AVX-512 stage adds the
    /// zero point after the shift instead of folding it into its rounding constant.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub zp_late: bool,
    /// The fused VNNI GEMM tiles' stages for every block of columns (`None`:
    /// those tiles do not apply), built by the GEMM driver on its first call
    /// with these parameters (they depend on the layer's packed bias too, and
    /// a cache of these parameters belongs to one layer): building them per
    /// call was 2–2.5 % of an int8 MobileNetV2 invoke.
    #[cfg(target_arch = "x86_64")]
    pub fused: std::sync::OnceLock<Option<Vec<[Stage16; 2]>>>,
}

impl OutParams {
    pub fn new(q: &QuantOut, n: usize) -> OutParams {
        OutParams::with_rounding(q, n, Rounding::Double)
    }

    pub fn with_rounding(q: &QuantOut, n: usize, rounding: Rounding) -> OutParams {
        let r = |j: usize| q.requant_for(j);
        let mult: Vec<i32> = (0..n).map(|j| r(j).multiplier).collect();
        let lsh: Vec<i32> = (0..n).map(|j| r(j).shift.max(0)).collect();
        let rsh: Vec<i32> = (0..n).map(|j| (-r(j).shift).max(0)).collect();
        let vector_ok = mult.iter().all(|&m| m >= 0)
            && lsh.iter().all(|&s| s < 31)
            && rsh.iter().all(|&s| s <= 31)
            && (-256..=256).contains(&q.zero_point)
            && rounding == Rounding::Double;
        let nrsh = rsh.iter().map(|&s| -s).collect();
        let any_lsh = lsh.iter().any(|&s| s != 0);
        let all_rsh = rsh.iter().all(|&s| s > 0);
        let single = rounding == Rounding::Single;
        let single_ok = single
            && mult.iter().all(|&m| m >= 0)
            && lsh.iter().all(|&s| s == 0)
            && rsh.iter().all(|&s| s <= 22)
            && (-256..=256).contains(&q.zero_point);
        let zp_late = rsh.iter().any(|&s| s > 22);
        OutParams {
            mult,
            lsh,
            rsh,
            nrsh,
            any_lsh,
            all_rsh,
            zp: q.zero_point,
            min: q.min,
            max: q.max,
            vector_ok,
            single,
            single_ok,
            zp_late,
            #[cfg(target_arch = "x86_64")]
            fused: Default::default(),
        }
    }

    /// Whether a negative result can survive the clamp (its minimum is below
    /// the zero point), so that negative ties of the final rounding must round
    /// away from zero as TFLite's RoundingDivideByPOT does. When not (RELU,
    /// RELU6), the vector stages skip that correction: such a tie then rounds
    /// up, to a value at most 0, which the clamp maps to its minimum either way.
    #[inline]
    pub fn neg_ties(&self) -> bool {
        self.min < self.zp
    }

    /// Whether the clamp is narrower than int8 (otherwise the vector stages'
    /// saturating narrowing is the whole clamp).
    #[inline]
    pub fn clamps(&self) -> bool {
        self.min > -128 || self.max < 127
    }

    /// Whether the Neon stages that run in registers apply (the fused GEMM
    /// tiles, the depthwise row kernels): vector parameters, no left shifts,
    /// every column shifting right.
    #[cfg(target_arch = "aarch64")]
    #[inline]
    pub fn right_shifts_in_registers(&self) -> bool {
        self.vector_ok && !self.any_lsh && self.all_rsh
    }

    /// The reference output stage for column `j`.
    #[inline]
    pub fn apply(&self, j: usize, acc: i32) -> i8 {
        let r = crate::fixedpoint::Requant { multiplier: self.mult[j], shift: self.lsh[j] - self.rsh[j] };
        let v = if self.single { apply_single_rounding(r, acc) } else { r.apply(acc) };
        self.zp.wrapping_add(v).clamp(self.min, self.max) as i8
    }
}

/// Where accumulator (row `i`, column `j`) of a tile lives: blocks of
/// `block_cols` columns, `block_len` values apart, rows `row_stride` apart
/// inside a block (a row-major tile is one block).
#[derive(Clone, Copy, Debug)]
pub(crate) struct AccLayout {
    pub row_stride: usize,
    pub block_cols: usize,
    pub block_len: usize,
}

impl AccLayout {
    /// Rows `row_stride` apart, one block.
    pub fn row_major(row_stride: usize) -> AccLayout {
        AccLayout { row_stride, block_cols: usize::MAX, block_len: 0 }
    }
    /// Offset of column `j` in row 0.
    #[inline(always)]
    pub fn col(&self, j: usize) -> usize {
        j / self.block_cols * self.block_len + j % self.block_cols
    }
    #[inline(always)]
    pub fn idx(&self, i: usize, j: usize) -> usize {
        self.col(j) + i * self.row_stride
    }
}

/// Stores a tile: `out[i * ldo + j] = stage(j0 + j, acc[lay.idx(i, j)] + bias[j] + row_corr[i])`
/// for `i < rows`, `j < cols`. The vector stages work on runs of 8 or 16
/// columns, which must not straddle two blocks (block widths are multiples
/// of 16, or one block).
///
/// # Safety
/// `out` points at `rows` rows of `cols` writable bytes, `ldo` apart, that
/// nothing else accesses; `acc` holds every `lay.idx(i, j)` for `i < rows`,
/// `j < cols`; `bias` holds `cols` values; `row_corr` (if any) `rows`; columns
/// `j0 .. j0 + cols` exist in `q`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn store_tile(
    tier: QTier,
    q: &OutParams,
    acc: &[i32],
    lay: AccLayout,
    rows: usize,
    cols: usize,
    bias: &[i32],
    row_corr: Option<&[i32]>,
    j0: usize,
    out: *mut i8,
    ldo: usize,
) {
    if q.vector_ok {
        match tier {
            #[cfg(target_arch = "aarch64")]
            QTier::Neon | QTier::NeonDot | QTier::NeonI8mm => {
                // SAFETY: the tier is available (its kernel ran); the caller's contract.
                return unsafe { neon::store_tile(q, acc, lay, rows, cols, bias, row_corr, j0, out, ldo) };
            }
            #[cfg(target_arch = "x86_64")]
            QTier::Avx512Vnni => {
                // SAFETY: the tier is available (its kernel ran), so AVX-512 F/BW are; the caller's contract.
                return unsafe { avx512::store_tile(q, acc, lay, rows, cols, bias, row_corr, j0, out, ldo) };
            }
            #[cfg(target_arch = "x86_64")]
            QTier::Avx2 => {
                // SAFETY: the tier is available (its kernel ran), so AVX2 is; the caller's contract.
                return unsafe { avx2::store_tile(q, acc, lay, rows, cols, bias, row_corr, j0, out, ldo) };
            }
            _ => {}
        }
    }
    let _ = tier;
    for i in 0..rows {
        let rc = row_corr.map_or(0, |c| c[i]);
        for j in 0..cols {
            let v = acc[lay.idx(i, j)].wrapping_add(bias[j]).wrapping_add(rc);
            // SAFETY: element (i, j) of the caller's output region.
            unsafe { *out.add(i * ldo + j) = q.apply(j0 + j, v) };
        }
    }
}

/// Runs `$pixel(px, [a, b, c])` for every output pixel `px < $ow` of a row
/// of a 3-wide window with horizontal stride `$s` (1 or 2), `a, b, c` being
/// input columns `x0 + px·s + 0, 1, 2` as `$column(x)` makes them: each
/// column is made once, and the three window registers rotate through an
/// unrolled cycle of three pixels instead of moving each pixel.
macro_rules! slide_columns {
    ($s:expr, $ow:expr, $x0:expr, $column:expr, $pixel:expr) => {{
        let (column, pixel, ow, x0, s) = (&$column, &$pixel, $ow, $x0, $s as isize);
        // The columns before pixel 0's new ones (the registers not yet made hold copies,
        // overwritten before they are read).
        #[allow(unused_assignments)]
        let (mut k0, mut k1, mut k2) = if s == 1 {
            let (a, b) = (column(x0), column(x0 + 1));
            (a, a, b)
        } else {
            let a = column(x0);
            (a, a, a)
        };
        let mut px = 0usize;
        // Stride 1 replaces the oldest column, stride 2 the two oldest; the window's order
        // then starts at the one kept longest.
        loop {
            slide_step!(px, ow, x0, s, column, pixel, k0; k0, k1; [k1, k2, k0]; [k2, k0, k1]);
            slide_step!(px, ow, x0, s, column, pixel, k1; k2, k0; [k2, k0, k1]; [k1, k2, k0]);
            slide_step!(px, ow, x0, s, column, pixel, k2; k1, k2; [k0, k1, k2]; [k0, k1, k2]);
        }
    }};
}

/// One pixel of [`slide_columns`] (out of the loop past the last): its new
/// columns made into `$n1` (stride 1) or `$n2a, $n2b` (stride 2), then
/// `$pixel` on the window in that stride's order.
macro_rules! slide_step {
    ($px:ident, $ow:ident, $x0:ident, $s:ident, $column:ident, $pixel:ident, $n1:ident; $n2a:ident, $n2b:ident; [$a1:ident, $b1:ident, $c1:ident]; [$a2:ident, $b2:ident, $c2:ident]) => {
        if $px >= $ow {
            break;
        }
        let xs = $x0 + $px as isize * $s;
        if $s == 1 {
            $n1 = $column(xs + 2);
            $pixel($px, [&$a1, &$b1, &$c1]);
        } else {
            $n2a = $column(xs + 1);
            $n2b = $column(xs + 2);
            $pixel($px, [&$a2, &$b2, &$c2]);
        }
        $px += 1;
    };
}

/// Where one output row of a 3x3 depthwise convolution reads its input,
/// for the column row kernels (AVX-512 VNNI column pairs, dotprod column
/// quads), which read each input column once for the pixels sharing it.
pub(crate) struct ColumnRow {
    /// The three window rows' input rows (`c` values per column), or for a
    /// row in the padding `c` zero-point bytes...
    pub rows: [*const i8; 3],
    /// ...read with column step 0 (`c` otherwise).
    pub steps: [usize; 3],
    /// Input columns per row.
    pub in_w: usize,
    /// Input column of pixel 0's first window column: `-pad_left`.
    pub x0: isize,
    /// Horizontal stride, 1 or 2 (the dilation is 1).
    pub stride: usize,
    /// The input zero point, which the padding reads.
    pub zp: i8,
}

#[cfg(target_arch = "aarch64")]
pub(crate) use neon::dw_row as dw_row_neon;
#[cfg(target_arch = "aarch64")]
pub(crate) use neon::Cols8;
#[cfg(target_arch = "aarch64")]
pub(crate) use neon::{dw_row_columns as dw_row_columns_neon, dw_row_columns_dot as dw_row_columns_neon_dot, dw_row_quad_rows_dot as dw_row_quad_rows_neon_dot};

/// Where one output row of a depthwise convolution reads its input, for the
/// dotprod quad-row kernel (any window, stride and dilation).
#[cfg(target_arch = "aarch64")]
pub(crate) struct QuadRows<'a> {
    /// Per window row, its input row (`in_w` columns of `c` values, step
    /// `c`), or for a row in the padding `c` zero-point bytes (step 0).
    pub rows: &'a [(*const i8, usize)],
    /// The input zero point, which the padding columns read.
    pub zp: i8,
    /// Input columns per row.
    pub in_w: usize,
    /// Padding columns before column 0.
    pub pad_left: usize,
    /// Window columns, horizontal stride and dilation.
    pub kw: usize,
    pub stride: usize,
    pub dilation: usize,
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::super::i8_dw3x3_neon_dot;
    use super::{AccLayout, ColumnRow, OutParams, QuadRows};
    use std::arch::aarch64::*;

    /// Four columns of the stage, exact: SSHL (wrapping left shift, skipped
    /// when no column shifts left), SQRDMULH (TFLite's rounding doubling high
    /// multiply, rounding half up, saturating only for MIN·MIN), then a
    /// rounding right shift made half-away-from-zero by subtracting one from
    /// negative values first.
    ///
    /// When every column shifts right (`RSH`), the fixup is one SSRA
    /// (`y += y >> 31`): `|y| < 2^31` since the multiplier is below 2^31, so
    /// it cannot wrap. Without `NEG` (only where the clamp's minimum is at or
    /// above the zero point, `OutParams::neg_ties`) there is no fixup: a
    /// negative tie then rounds up, to a value at most 0, which the clamp maps
    /// to its minimum either way.
    #[inline(always)]
    unsafe fn requant4<const LSH: bool, const RSH: bool, const NEG: bool>(x: int32x4_t, mult: int32x4_t, lsh: int32x4_t, nrsh: int32x4_t) -> int32x4_t {
        // SAFETY: Neon is baseline on aarch64.
        unsafe {
            let x = if LSH { vshlq_s32(x, lsh) } else { x };
            let y = vqrdmulhq_s32(x, mult);
            let fixed = if !NEG {
                y
            } else if RSH {
                vsraq_n_s32::<31>(y, y)
            } else {
                vqaddq_s32(y, vshrq_n_s32::<31>(vandq_s32(y, nrsh)))
            };
            vrshlq_s32(fixed, nrsh)
        }
    }

    /// The output stage of one block of 8 columns for the GEMM tiles with
    /// the stage fused (`super::super::neon_fused`), in registers: for each of
    /// the four accumulator registers that hold a pair of rows, its columns'
    /// multipliers and right shifts (negated); the zero point and the clamp.
    /// The bias is not applied here: the tiles start their accumulators at it
    /// ([`Cols8::bias_rows`], [`Cols8::bias_blocks`]). Only for layers
    /// without left shifts whose every column shifts right (`!any_lsh &&
    /// all_rsh`, checked by the caller).
    pub(crate) struct Cols8 {
        m: [int32x4_t; 4],
        r: [int32x4_t; 4],
        zp: int16x8_t,
        lo: int8x16_t,
        hi: int8x16_t,
    }

    /// The 8 values of `v` (a chunk of 8).
    #[inline(always)]
    fn load8(v: &[i32]) -> [int32x4_t; 2] {
        let v: &[i32; 8] = v.try_into().expect("8 columns");
        // SAFETY: Neon is baseline on aarch64; `v` has 8 values.
        unsafe { [vld1q_s32(v.as_ptr()), vld1q_s32(v.as_ptr().add(4))] }
    }

    /// `[x0, x1, x0, x1]` from `x` (`half` 0) or `[x2, x3, x2, x3]` (`half` 1).
    #[inline(always)]
    fn pair(x: int32x4_t, half: usize) -> int32x4_t {
        // SAFETY: Neon is baseline on aarch64 (register operations only).
        unsafe {
            let x = vreinterpretq_s64_s32(x);
            vreinterpretq_s32_s64(if half == 0 { vdupq_laneq_s64::<0>(x) } else { vdupq_laneq_s64::<1>(x) })
        }
    }

    /// [`pair`] of each half of 8 values: `[v0 v1 v0 v1]`, `[v2 v3 ..]`, `[v4 v5 ..]`, `[v6 v7 ..]`.
    #[inline(always)]
    fn pairs(v: [int32x4_t; 2]) -> [int32x4_t; 4] {
        [pair(v[0], 0), pair(v[0], 1), pair(v[1], 0), pair(v[1], 1)]
    }

    impl Cols8 {
        fn with(q: &OutParams, m: [int32x4_t; 4], r: [int32x4_t; 4]) -> Cols8 {
            // SAFETY: Neon is baseline on aarch64 (register operations only).
            unsafe { Cols8 { m, r, zp: vdupq_n_s16(q.zp as i16), lo: vdupq_n_s8(q.min as i8), hi: vdupq_n_s8(q.max as i8) } }
        }

        /// The stage of `q` for 8 columns whose multipliers are `mult` and
        /// right shifts (negated) `nrsh` (8 values each, slices of `q`'s), for
        /// row-major tiles: a pair of rows is `[x 0..4, x 4..8, y 0..4, y 4..8]`.
        #[inline(always)]
        pub(crate) fn rows(q: &OutParams, mult: &[i32], nrsh: &[i32]) -> Cols8 {
            let ([m0, m1], [r0, r1]) = (load8(mult), load8(nrsh));
            Cols8::with(q, [m0, m1, m0, m1], [r0, r1, r0, r1])
        }

        /// As [`Cols8::rows`], for SMMLA's 2x2 blocks: a pair of rows is four
        /// blocks of two columns, `[x c, x c+1, y c, y c+1]` for c = 0, 2, 4, 6.
        #[inline(always)]
        pub(crate) fn blocks(q: &OutParams, mult: &[i32], nrsh: &[i32]) -> Cols8 {
            Cols8::with(q, pairs(load8(mult)), pairs(load8(nrsh)))
        }

        /// The bias of 8 columns as a row-major tile's accumulators start:
        /// columns 0..4 and 4..8.
        #[inline(always)]
        pub(crate) fn bias_rows(bias: &[i32]) -> [int32x4_t; 2] {
            load8(bias)
        }

        /// The bias of 8 columns as SMMLA's 2x2 blocks start: `[b c, b c+1, b c, b c+1]` for c = 0, 2, 4, 6.
        #[inline(always)]
        pub(crate) fn bias_blocks(bias: &[i32]) -> [int32x4_t; 4] {
            pairs(load8(bias))
        }

        /// The four accumulator registers of a pair of rows (bias included)
        /// through the stage as [`store_tile`] computes it, narrowed in
        /// order into 16 bytes. `NEG` and `CLAMP` as the layer needs them
        /// ([`OutParams::neg_ties`], [`OutParams::clamps`]).
        #[inline(always)]
        pub(crate) fn narrow16<const NEG: bool, const CLAMP: bool>(&self, v: [int32x4_t; 4]) -> int8x16_t {
            // SAFETY: Neon is baseline on aarch64 (register operations only).
            unsafe {
                let q = |i: usize| requant4::<false, true, NEG>(v[i], self.m[i], self.m[i], self.r[i]);
                let h0 = vqaddq_s16(vqmovn_high_s32(vqmovn_s32(q(0)), q(1)), self.zp);
                let h1 = vqaddq_s16(vqmovn_high_s32(vqmovn_s32(q(2)), q(3)), self.zp);
                let b = vqmovn_high_s16(vqmovn_s16(h0), h1);
                if CLAMP {
                    vminq_s8(vmaxq_s8(b, self.lo), self.hi)
                } else {
                    b
                }
            }
        }
    }

    /// # Safety
    /// See [`super::store_tile`].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) unsafe fn store_tile(
        q: &OutParams,
        acc: &[i32],
        lay: AccLayout,
        rows: usize,
        cols: usize,
        bias: &[i32],
        row_corr: Option<&[i32]>,
        j0: usize,
        out: *mut i8,
        ldo: usize,
    ) {
        let (lsh, rsh) = (q.any_lsh, q.all_rsh);
        let rc = row_corr.unwrap_or(&[]);
        macro_rules! t {
            ($l:literal, $r:literal, $c:literal, $n:literal, $k:literal) => {
                tile::<$l, $r, $c, $n, $k>(q, acc, lay, rows, cols, bias, rc, j0, out, ldo)
            };
        }
        // Layers with left shifts keep the negative-tie fixup and the clamp
        // (always exact); the others drop what their clamp makes redundant.
        macro_rules! flags {
            ($r:literal, $c:literal) => {
                match (q.neg_ties(), q.clamps()) {
                    (false, false) => t!(false, $r, $c, false, false),
                    (false, true) => t!(false, $r, $c, false, true),
                    (true, false) => t!(false, $r, $c, true, false),
                    (true, true) => t!(false, $r, $c, true, true),
                }
            };
        }
        // SAFETY: the caller's contract.
        unsafe {
            match (lsh, rsh, row_corr.is_some()) {
                (false, true, false) => flags!(true, false),
                (false, true, true) => flags!(true, true),
                (false, false, false) => flags!(false, false),
                (false, false, true) => flags!(false, true),
                (true, true, false) => t!(true, true, false, true, true),
                (true, true, true) => t!(true, true, true, true, true),
                (true, false, false) => t!(true, false, false, true, true),
                (true, false, true) => t!(true, false, true, true, true),
            }
        }
    }

    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)] // row_corr is empty unless RC
    #[inline(always)]
    unsafe fn tile<const LSH: bool, const RSH: bool, const RC: bool, const NEG: bool, const CLAMP: bool>(
        q: &OutParams,
        acc: &[i32],
        lay: AccLayout,
        rows: usize,
        cols: usize,
        bias: &[i32],
        row_corr: &[i32],
        j0: usize,
        out: *mut i8,
        ldo: usize,
    ) {
        // SAFETY: Neon is baseline on aarch64; every load reads inside the slices
        // (indices below `cols`/`rows`, checked by the loop bounds), every store is
        // inside the caller's output region.
        unsafe {
            // |zp| may exceed int16 only for nonsense zero points; the scalar stage runs then.
            let zp = vdupq_n_s16(q.zp as i16);
            let (lo, hi) = (vdup_n_s8(q.min as i8), vdup_n_s8(q.max as i8));
            let mut j = 0;
            while j + 8 <= cols {
                let m0 = vld1q_s32(q.mult.as_ptr().add(j0 + j));
                let m1 = vld1q_s32(q.mult.as_ptr().add(j0 + j + 4));
                let l0 = vld1q_s32(q.lsh.as_ptr().add(j0 + j));
                let l1 = vld1q_s32(q.lsh.as_ptr().add(j0 + j + 4));
                let r0 = vld1q_s32(q.nrsh.as_ptr().add(j0 + j));
                let r1 = vld1q_s32(q.nrsh.as_ptr().add(j0 + j + 4));
                let b0 = vld1q_s32(bias.as_ptr().add(j));
                let b1 = vld1q_s32(bias.as_ptr().add(j + 4));
                let cj = lay.col(j);
                for i in 0..rows {
                    let a = acc.as_ptr().add(cj + i * lay.row_stride);
                    let (mut x0, mut x1) = (vaddq_s32(vld1q_s32(a), b0), vaddq_s32(vld1q_s32(a.add(4)), b1));
                    if RC {
                        let rc = vdupq_n_s32(row_corr[i]);
                        x0 = vaddq_s32(x0, rc);
                        x1 = vaddq_s32(x1, rc);
                    }
                    let y0 = requant4::<LSH, RSH, NEG>(x0, m0, l0, r0);
                    let y1 = requant4::<LSH, RSH, NEG>(x1, m1, l1, r1);
                    // Saturating narrowing and a saturating zero-point add keep every value
                    // that lies outside int8 outside it, so the int8 clamp stays exact
                    // (and is the whole clamp when the layer's is int8's range: no `CLAMP`).
                    let h = vqaddq_s16(vcombine_s16(vqmovn_s32(y0), vqmovn_s32(y1)), zp);
                    let b = vqmovn_s16(h);
                    let b = if CLAMP { vmin_s8(vmax_s8(b, lo), hi) } else { b };
                    vst1_s8(out.add(i * ldo + j), b);
                }
                j += 8;
            }
            for i in 0..rows {
                let rc = if RC { row_corr[i] } else { 0 };
                for jj in j..cols {
                    let v = acc[lay.idx(i, jj)].wrapping_add(bias[jj]).wrapping_add(rc);
                    *out.add(i * ldo + jj) = q.apply(j0 + jj, v);
                }
            }
        }
    }

    /// One output row of a depthwise convolution with multiplier 1 and the
    /// output stage fused, for `c` a multiple of 16, no left shifts and
    /// every right shift ≥ 1 (`q.all_rsh && !q.any_lsh`): per block of 16
    /// channels and pixel, `Σ_t x·w` with SMLAL on the int16 weights of
    /// `i8_dw_16c_neon`, then SQRDMULH, SSRA, SRSHL, saturating narrows, the
    /// zero point and the clamp, one 16-byte store.
    ///
    /// # Safety
    /// `ptrs` holds `ow * taps` pointers to `c` readable bytes each; `plane`
    /// is a packed plane of `i8_dw_16c_neon` for `c` and `taps`; `bias` and
    /// `q` have `c` columns; `out` has `ow * c` writable bytes nothing else
    /// accesses; `c % 16 == 0`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn dw_row(q: &OutParams, c: usize, taps: usize, ow: usize, ptrs: *const *const i8, plane: *const i32, bias: &[i32], out: *mut i8) {
        // SAFETY: the caller's contract.
        unsafe {
            match (q.neg_ties(), q.clamps()) {
                (false, false) => dw_row_with::<false, false>(q, c, taps, ow, ptrs, plane, bias, out),
                (false, true) => dw_row_with::<false, true>(q, c, taps, ow, ptrs, plane, bias, out),
                (true, false) => dw_row_with::<true, false>(q, c, taps, ow, ptrs, plane, bias, out),
                (true, true) => dw_row_with::<true, true>(q, c, taps, ow, ptrs, plane, bias, out),
            }
        }
    }

    /// [`dw_row`] with the negative-tie fixup (`NEG`) and the clamp (`CLAMP`)
    /// as the layer needs them ([`OutParams::neg_ties`], [`OutParams::clamps`]).
    ///
    /// # Safety
    /// As [`dw_row`].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn dw_row_with<const NEG: bool, const CLAMP: bool>(q: &OutParams, c: usize, taps: usize, ow: usize, ptrs: *const *const i8, plane: *const i32, bias: &[i32], out: *mut i8) {
        debug_assert!(c.is_multiple_of(16) && q.all_rsh && !q.any_lsh);
        let w16 = plane as *const i16;
        // SAFETY: Neon is baseline; loads read columns c0..c0+16 < c of the parameter
        // slices and of every input pointer, rows t of block c0/16 of the plane; stores
        // write bytes c0..c0+16 of pixel px of the output row.
        unsafe {
            let zp = vdupq_n_s16(q.zp as i16);
            let (lo, hi) = (vdupq_n_s8(q.min as i8), vdupq_n_s8(q.max as i8));
            for c0 in (0..c).step_by(16) {
                let (m, r, b) = (lanes16(&q.mult, c0), lanes16(&q.nrsh, c0), lanes16(bias, c0));
                let wb = w16.add(c0 * taps);
                for px in 0..ow {
                    let mut s = b;
                    for t in 0..taps {
                        let x = vld1q_s8((*ptrs.add(px * taps + t)).add(c0));
                        let (l, h) = (vmovl_s8(vget_low_s8(x)), vmovl_high_s8(x));
                        let w0 = vld1q_s16(wb.add(t * 16));
                        let w1 = vld1q_s16(wb.add(t * 16 + 8));
                        s[0] = vmlal_s16(s[0], vget_low_s16(l), vget_low_s16(w0));
                        s[1] = vmlal_high_s16(s[1], l, w0);
                        s[2] = vmlal_s16(s[2], vget_low_s16(h), vget_low_s16(w1));
                        s[3] = vmlal_high_s16(s[3], h, w1);
                    }
                    row_stage16::<NEG, CLAMP>(s, &m, &r, zp, lo, hi, out.add(px * c + c0));
                }
            }
        }
    }

    /// `$f::<S, NEG, CLAMP>($args)` for a column row's stride (1, else 2) and
    /// the layer's negative-tie fixup and clamp.
    macro_rules! column_variant {
        ($f:ident, $g:expr, $q:expr, ($($arg:expr),*)) => {
            match ($g.stride == 1, $q.neg_ties(), $q.clamps()) {
                (true, false, false) => $f::<1, false, false>($($arg),*),
                (true, false, true) => $f::<1, false, true>($($arg),*),
                (true, true, false) => $f::<1, true, false>($($arg),*),
                (true, true, true) => $f::<1, true, true>($($arg),*),
                (false, false, false) => $f::<2, false, false>($($arg),*),
                (false, false, true) => $f::<2, false, true>($($arg),*),
                (false, true, false) => $f::<2, true, false>($($arg),*),
                (false, true, true) => $f::<2, true, true>($($arg),*),
            }
        };
    }

    /// The depthwise rows' output stage for 16 channels: `requant4` (no left
    /// shifts, every right shift ≥ 1) of the four accumulators, saturating
    /// narrows, the zero point, the clamp, one 16-byte store at `out`.
    ///
    /// # Safety
    /// `out` has 16 writable bytes.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn row_stage16<const NEG: bool, const CLAMP: bool>(s: [int32x4_t; 4], m: &[int32x4_t; 4], r: &[int32x4_t; 4], zp: int16x8_t, lo: int8x16_t, hi: int8x16_t, out: *mut i8) {
        // SAFETY: Neon is baseline; out has 16 writable bytes (the caller's contract).
        unsafe {
            let y: [int32x4_t; 4] = std::array::from_fn(|k| requant4::<false, true, NEG>(s[k], m[k], r[k], r[k]));
            let h0 = vqaddq_s16(vcombine_s16(vqmovn_s32(y[0]), vqmovn_s32(y[1])), zp);
            let h1 = vqaddq_s16(vcombine_s16(vqmovn_s32(y[2]), vqmovn_s32(y[3])), zp);
            let v = vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1));
            vst1q_s8(out, if CLAMP { vminq_s8(vmaxq_s8(v, lo), hi) } else { v });
        }
    }

    /// One output row of a 3x3 depthwise convolution with multiplier 1,
    /// horizontal stride 1 or 2 and dilation 1, `c` a multiple of 16, no left
    /// shifts and every right shift ≥ 1, output stage fused, on plain Neon
    /// (SMLAL on the int16 weights of `i8_dw_16c_neon`): an input column's
    /// three rows are loaded once for the pixels whose windows hold it
    /// (`stride` new columns per pixel), against nine pointers and loads per
    /// pixel in [`dw_row`]. The products and sums are the same integers, the
    /// output stage the same.
    ///
    /// # Safety
    /// Every row of `g` has `g.in_w` columns of `c` readable bytes at its
    /// step; `plane` is a packed plane of `i8_dw_16c_neon` for `c` and 9 taps;
    /// `bias` and `q` have `c` columns; `out` has `ow * c` writable bytes
    /// nothing else accesses; `c % 16 == 0`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn dw_row_columns(q: &OutParams, c: usize, ow: usize, g: &ColumnRow, plane: *const i32, bias: &[i32], out: *mut i8) {
        // SAFETY: the caller's contract.
        unsafe { column_variant!(dw_row_columns_with, g, q, (q, c, ow, g, plane, bias, out)) }
    }

    /// [`dw_row_columns`] for a known stride `S`, negative-tie fixup and clamp.
    ///
    /// # Safety
    /// As [`dw_row_columns`].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn dw_row_columns_with<const S: usize, const NEG: bool, const CLAMP: bool>(q: &OutParams, c: usize, ow: usize, g: &ColumnRow, plane: *const i32, bias: &[i32], out: *mut i8) {
        debug_assert!(c.is_multiple_of(16) && q.all_rsh && !q.any_lsh && S == g.stride);
        let in_w = g.in_w as isize;
        let w16 = plane as *const i16;
        // SAFETY: Neon is baseline; loads read columns c0..c0+16 < c of the parameter
        // slices, tap rows of block c0/16 of the plane (9 taps of 16 int16) and in-range
        // input columns; stores write bytes c0..c0+16 of pixel px of the output row.
        unsafe {
            let zp = vdupq_n_s16(q.zp as i16);
            let (lo, hi) = (vdupq_n_s8(q.min as i8), vdupq_n_s8(q.max as i8));
            let pad = vdupq_n_s8(g.zp);
            for c0 in (0..c).step_by(16) {
                let (m, r, b) = (lanes16(&q.mult, c0), lanes16(&q.nrsh, c0), lanes16(bias, c0));
                let wb = w16.add(c0 * 9);
                // Input column x of the three rows (widened at each use: 18 int16 registers
                // for the window would not leave room for the rest).
                let column = |x: isize| -> [int8x16_t; 3] {
                    if x < 0 || x >= in_w {
                        [pad; 3]
                    } else {
                        std::array::from_fn(|i| vld1q_s8(g.rows[i].add(x as usize * g.steps[i] + c0)))
                    }
                };
                let pixel = |px: usize, win: [&[int8x16_t; 3]; 3]| {
                    let mut s = b;
                    for (kx, k) in win.iter().enumerate() {
                        for ky in 0..3 {
                            let t = ky * 3 + kx;
                            let (l, h) = (vmovl_s8(vget_low_s8(k[ky])), vmovl_high_s8(k[ky]));
                            let (w0, w1) = (vld1q_s16(wb.add(t * 16)), vld1q_s16(wb.add(t * 16 + 8)));
                            s[0] = vmlal_s16(s[0], vget_low_s16(l), vget_low_s16(w0));
                            s[1] = vmlal_high_s16(s[1], l, w0);
                            s[2] = vmlal_s16(s[2], vget_low_s16(h), vget_low_s16(w1));
                            s[3] = vmlal_high_s16(s[3], h, w1);
                        }
                    }
                    row_stage16::<NEG, CLAMP>(s, &m, &r, zp, lo, hi, out.add(px * c + c0));
                };
                slide_columns!(S, ow, g.x0, column, pixel);
            }
        }
    }

    /// SDOT (dotprod) of four int8 lanes per int32 lane, in `asm!` (the
    /// intrinsic is unstable).
    ///
    /// # Safety
    /// dotprod is available.
    #[inline]
    #[target_feature(enable = "neon,dotprod")]
    unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // SAFETY: one register-only dotprod instruction (enabled in this function).
        unsafe { std::arch::asm!("sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b", acc = inout(vreg) acc, a = in(vreg) a, b = in(vreg) b, options(pure, nomem, nostack, preserves_flags)) };
        acc
    }

    /// `s[j] += x[j] · w[j]` by SDOT for the 64 bytes at `x` (a column quad)
    /// and at `w` (its weights), each loaded by one LD1 of four registers;
    /// returns `x + x_step` and `w + 64`. In `asm!` (the SDOT intrinsic is
    /// unstable, and the compiler split the 4-register loads into pairs).
    ///
    /// # Safety
    /// dotprod is available; `x` and `w` have 64 readable bytes.
    #[inline]
    #[target_feature(enable = "neon,dotprod")]
    unsafe fn sdot_quad(s: &mut [int32x4_t; 4], x: *const i8, x_step: usize, w: *const i8) -> (*const i8, *const i8) {
        let (mut x, mut w) = (x, w);
        // SAFETY: reads the caller's 64 bytes at x and at w; dotprod is enabled.
        unsafe {
            std::arch::asm!(
                "ld1 {{v0.16b, v1.16b, v2.16b, v3.16b}}, [{x}], {xs}",
                "ld1 {{v4.16b, v5.16b, v6.16b, v7.16b}}, [{w}], #64",
                "sdot {s0:v}.4s, v0.16b, v4.16b",
                "sdot {s1:v}.4s, v1.16b, v5.16b",
                "sdot {s2:v}.4s, v2.16b, v6.16b",
                "sdot {s3:v}.4s, v3.16b, v7.16b",
                x = inout(reg) x,
                w = inout(reg) w,
                xs = in(reg) x_step,
                s0 = inout(vreg) s[0],
                s1 = inout(vreg) s[1],
                s2 = inout(vreg) s[2],
                s3 = inout(vreg) s[3],
                out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _,
                options(nostack, readonly, preserves_flags),
            );
        }
        (x, w)
    }

    /// Values `c0 .. c0 + 16` of `v` (a stage parameter or the bias) as four
    /// registers, for the depthwise rows' 16-channel blocks.
    ///
    /// # Safety
    /// `v` has `c0 + 16` values.
    #[inline(always)]
    unsafe fn lanes16(v: &[i32], c0: usize) -> [int32x4_t; 4] {
        // SAFETY: the caller's contract; Neon is baseline on aarch64.
        unsafe { std::array::from_fn(|k| vld1q_s32(v.as_ptr().add(c0 + 4 * k))) }
    }

    /// Four rows' 16 channels (`x[i]`: row `i`) interleaved for SDOT: register
    /// `j` holds channels `4j .. 4j + 4`, each int32 lane the four rows' bytes
    /// of its channel in order (ZIP1/ZIP2 of bytes, then of halfwords).
    #[inline(always)]
    fn quad_lanes(x: [int8x16_t; 4]) -> [int8x16_t; 4] {
        // SAFETY: Neon is baseline on aarch64 (register operations only).
        unsafe {
            let (a0, a1) = (vreinterpretq_s16_s8(vzip1q_s8(x[0], x[1])), vreinterpretq_s16_s8(vzip2q_s8(x[0], x[1])));
            let (b0, b1) = (vreinterpretq_s16_s8(vzip1q_s8(x[2], x[3])), vreinterpretq_s16_s8(vzip2q_s8(x[2], x[3])));
            [
                vreinterpretq_s8_s16(vzip1q_s16(a0, b0)),
                vreinterpretq_s8_s16(vzip2q_s16(a0, b0)),
                vreinterpretq_s8_s16(vzip1q_s16(a1, b1)),
                vreinterpretq_s8_s16(vzip2q_s16(a1, b1)),
            ]
        }
    }

    /// The column quads of `R` window rows (`rows`: input row and column
    /// step, from the first column to interleave), channels `c0 .. c0 + 16`,
    /// for `n` columns stored 64 bytes apart from `out`; slots `R..4` (weight
    /// zero) repeat row 0.
    ///
    /// # Safety
    /// Each row has `n` columns of `c0 + 16` readable bytes at its step;
    /// `out` has `64 · n` writable bytes.
    #[inline(always)]
    unsafe fn quad_columns<const R: usize>(rows: &[(*const i8, usize)], c0: usize, n: usize, out: *mut i8) {
        if n == 0 {
            return;
        }
        let mut p: [*const i8; R] = std::array::from_fn(|i| rows[i].0.wrapping_add(c0));
        let step: [usize; R] = std::array::from_fn(|i| rows[i].1);
        // SAFETY: the caller's contract: n columns of each row at its step, 64·n bytes at out.
        unsafe {
            if R == 4 {
                // Four rows in asm: each load advances its row's pointer (the compiled loop
                // added the steps apart), one 4-register store per column.
                std::arch::asm!(
                    "2:",
                    "ld1 {{v0.16b}}, [{p0}], {s0}",
                    "ld1 {{v1.16b}}, [{p1}], {s1}",
                    "ld1 {{v2.16b}}, [{p2}], {s2}",
                    "ld1 {{v3.16b}}, [{p3}], {s3}",
                    "zip1 v4.16b, v0.16b, v1.16b",
                    "zip2 v5.16b, v0.16b, v1.16b",
                    "zip1 v6.16b, v2.16b, v3.16b",
                    "zip2 v7.16b, v2.16b, v3.16b",
                    "zip1 v0.8h, v4.8h, v6.8h",
                    "zip2 v1.8h, v4.8h, v6.8h",
                    "zip1 v2.8h, v5.8h, v7.8h",
                    "zip2 v3.8h, v5.8h, v7.8h",
                    "st1 {{v0.16b, v1.16b, v2.16b, v3.16b}}, [{o}], #64",
                    "subs {n}, {n}, #1",
                    "b.ne 2b",
                    p0 = inout(reg) p[0] => _, p1 = inout(reg) p[1 % R] => _, p2 = inout(reg) p[2 % R] => _, p3 = inout(reg) p[3 % R] => _,
                    s0 = in(reg) step[0], s1 = in(reg) step[1 % R], s2 = in(reg) step[2 % R], s3 = in(reg) step[3 % R],
                    o = inout(reg) out => _,
                    n = inout(reg) n => _,
                    out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _,
                    options(nostack),
                );
                return;
            }
            for xp in 0..n {
                let x: [int8x16_t; R] = std::array::from_fn(|i| vld1q_s8(p[i]));
                let v = quad_lanes(std::array::from_fn(|i| x[if i < R { i } else { 0 }]));
                vst1q_s8_x4(out.add(64 * xp), int8x16x4_t(v[0], v[1], v[2], v[3]));
                for i in 0..R {
                    p[i] = p[i].wrapping_add(step[i]);
                }
            }
        }
    }

    /// One output row of a depthwise convolution with multiplier 1 and the
    /// output stage fused, for any window, stride and dilation, `c` a
    /// multiple of 16, no left shifts and every right shift ≥ 1, on SDOT.
    /// Per block of 16 channels the window rows are interleaved four at a time
    /// ([`quad_lanes`]) into a row of column quads in `buf` (64 bytes per
    /// input column the row reads, padding columns included), once for all
    /// the row's pixels; then each pixel adds, per group of four window rows
    /// and window column, one column quad by four SDOTs against the column's
    /// 64 weight bytes (the plane of `dw::pack_dw_column_quads`; a last group
    /// of fewer than four rows has weight zero in the other slots), and runs
    /// the stage of [`dw_row`]. Per 5x5 window and 16 channels: 40 SDOT and
    /// 20 four-register loads, against 100 SMLAL, 25 pointers and 50
    /// widenings there, plus interleaving about `stride` new input columns
    /// per pixel; the accumulators are the same integers.
    ///
    /// # Safety
    /// dotprod is available; every row of `g` has `g.in_w` columns of `c`
    /// readable bytes at its step; `quads`
    /// is the column-quad plane for `c` and the window (`g.rows.len()` rows of
    /// `g.kw` columns); `bias` and `q` have `c` columns; `out` has `ow * c`
    /// writable bytes nothing else accesses; `c % 16 == 0`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "neon,dotprod")]
    pub(crate) unsafe fn dw_row_quad_rows_dot(q: &OutParams, c: usize, ow: usize, g: &QuadRows, quads: *const i8, bias: &[i32], buf: &mut Vec<i8>, out: *mut i8) {
        // SAFETY: the caller's contract.
        unsafe {
            match (g.kw, q.neg_ties(), q.clamps()) {
                (5, false, false) => dw_row_quad_rows_dot_with::<5, false, false>(q, c, ow, g, quads, bias, buf, out),
                (5, false, true) => dw_row_quad_rows_dot_with::<5, false, true>(q, c, ow, g, quads, bias, buf, out),
                (5, true, false) => dw_row_quad_rows_dot_with::<5, true, false>(q, c, ow, g, quads, bias, buf, out),
                (5, true, true) => dw_row_quad_rows_dot_with::<5, true, true>(q, c, ow, g, quads, bias, buf, out),
                (_, false, false) => dw_row_quad_rows_dot_with::<0, false, false>(q, c, ow, g, quads, bias, buf, out),
                (_, false, true) => dw_row_quad_rows_dot_with::<0, false, true>(q, c, ow, g, quads, bias, buf, out),
                (_, true, false) => dw_row_quad_rows_dot_with::<0, true, false>(q, c, ow, g, quads, bias, buf, out),
                (_, true, true) => dw_row_quad_rows_dot_with::<0, true, true>(q, c, ow, g, quads, bias, buf, out),
            }
        }
    }

    /// [`dw_row_quad_rows_dot`] for `KW` window columns (0: `g.kw`, not known
    /// at compile time), the negative-tie fixup and the clamp.
    ///
    /// # Safety
    /// As [`dw_row_quad_rows_dot`].
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "neon,dotprod")]
    unsafe fn dw_row_quad_rows_dot_with<const KW: usize, const NEG: bool, const CLAMP: bool>(q: &OutParams, c: usize, ow: usize, g: &QuadRows, quads: *const i8, bias: &[i32], buf: &mut Vec<i8>, out: *mut i8) {
        let kw = if KW == 0 { g.kw } else { KW };
        debug_assert!(c.is_multiple_of(16) && q.all_rsh && !q.any_lsh && kw == g.kw && ow > 0);
        let kh = g.rows.len();
        let groups = kh.div_ceil(4);
        let (s, d) = (g.stride, g.dilation);
        // The input columns the row reads, from pad_left before column 0: wp of them.
        let wp = (ow - 1) * s + (kw - 1) * d + 1;
        let buf = crate::scratch::sized(buf, groups * wp * 64, 0);
        let quad_row = buf.as_mut_ptr();
        // The image's columns among them: [left, right).
        let left = g.pad_left.min(wp);
        let right = (g.pad_left + g.in_w).min(wp).max(left);
        // SAFETY: Neon and dotprod are enabled; loads read columns c0..c0+16 < c of the
        // parameter slices and of input columns 0..in_w of the rows
        // (column xp − pad_left for xp in [left, right)), the plane's block c0/16 (its
        // groups·kw groups of 64 bytes), and the quad row's groups·wp columns of 64 bytes;
        // stores write the quad row and bytes c0..c0+16 of pixel px of the output row.
        unsafe {
            let zp = vdupq_n_s16(q.zp as i16);
            let (lo, hi) = (vdupq_n_s8(q.min as i8), vdupq_n_s8(q.max as i8));
            // The padding columns' quads (every byte the zero point, interleaved or not),
            // the same for every block of channels: written once.
            let pad = vdupq_n_s8(g.zp);
            for gi in 0..groups {
                let pad_column = |xp: usize| vst1q_s8_x4(quad_row.add((gi * wp + xp) * 64), int8x16x4_t(pad, pad, pad, pad));
                for xp in 0..left {
                    pad_column(xp);
                }
                for xp in right..wp {
                    pad_column(xp);
                }
            }
            for c0 in (0..c).step_by(16) {
                // The row of column quads: per group of four window rows, per input column of the image.
                for gi in 0..groups {
                    let at = |xp: usize| quad_row.add((gi * wp + xp) * 64);
                    // The group's window rows (the last group may have fewer than four: the
                    // slots past them have weight zero and repeat its first row, so a group of
                    // one row loads one register and interleaves it with itself).
                    let rows = &g.rows[4 * gi..kh.min(4 * gi + 4)];
                    // Column `left` is the image's column 0 (when the row reads the image at all).
                    let (n, first) = (right - left, at(left));
                    match rows.len() {
                        4 => quad_columns::<4>(rows, c0, n, first),
                        3 => quad_columns::<3>(rows, c0, n, first),
                        2 => quad_columns::<2>(rows, c0, n, first),
                        _ => quad_columns::<1>(rows, c0, n, first),
                    }
                }
                let (m, r, b) = (lanes16(&q.mult, c0), lanes16(&q.nrsh, c0), lanes16(bias, c0));
                let wb = quads.add(c0 / 16 * groups * kw * 64);
                let x_step = d * 64;
                for px in 0..ow {
                    let mut acc = b;
                    // The plane's groups follow each other: one pointer walks them all.
                    let mut w = wb;
                    for gi in 0..groups {
                        let mut x = quad_row.add((gi * wp + px * s) * 64).cast_const();
                        for _ in 0..kw {
                            (x, w) = sdot_quad(&mut acc, x, x_step, w);
                        }
                    }
                    row_stage16::<NEG, CLAMP>(acc, &m, &r, zp, lo, hi, out.add(px * c + c0));
                }
            }
        }
    }

    /// One output row of a 3x3 depthwise convolution with multiplier 1,
    /// horizontal stride 1 or 2 and dilation 1, `c` a multiple of 16, no left
    /// shifts and every right shift ≥ 1, output stage fused, on SDOT: the
    /// three window rows of an input column are interleaved bytewise with a
    /// zero (ZIP1/ZIP2 of bytes, then of halfwords), so each int32 lane holds
    /// one channel's column `(r0, r1, r2, 0)` and one SDOT adds a window
    /// column's three taps for four channels; a column is loaded and
    /// interleaved once for the pixels whose windows hold it (`stride` new
    /// columns per pixel). Per pixel and 16 channels that is 12 SDOT against
    /// 36 SMLAL, 9 pointers and 18 widenings in [`dw_row`]; the accumulators
    /// are the same integers, the output stage the same. The pixels whose new
    /// columns lie inside the image run in `asm!` (`i8_dw3x3_neon_dot`, every
    /// register placed: the intrinsics spilled), and with them the row's last
    /// pixel when only its last window column is in the padding; the other
    /// edge pixels run here.
    ///
    /// # Safety
    /// dotprod is available; every row of `g` has `g.in_w` columns of `c`
    /// readable bytes at its step; `quads` is the column-quad plane of
    /// `dw::pack_dw_column_quads` for `c`; `bias` and `q` have `c` columns;
    /// `out` has `ow * c` writable bytes nothing else accesses; `c % 16 == 0`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "neon,dotprod")]
    pub(crate) unsafe fn dw_row_columns_dot(q: &OutParams, c: usize, ow: usize, g: &ColumnRow, quads: *const i8, bias: &[i32], out: *mut i8) {
        // SAFETY: the caller's contract.
        unsafe { column_variant!(dw_row_columns_dot_with, g, q, (q, c, ow, g, quads, bias, out)) }
    }

    /// [`dw_row_columns_dot`] for a known stride `S`, negative-tie fixup and clamp.
    ///
    /// # Safety
    /// As [`dw_row_columns_dot`].
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "neon,dotprod")]
    unsafe fn dw_row_columns_dot_with<const S: usize, const NEG: bool, const CLAMP: bool>(q: &OutParams, c: usize, ow: usize, g: &ColumnRow, quads: *const i8, bias: &[i32], out: *mut i8) {
        debug_assert!(c.is_multiple_of(16) && q.all_rsh && !q.any_lsh && S == g.stride);
        let in_w = g.in_w as isize;
        // SAFETY: Neon and dotprod are enabled; loads read columns c0..c0+16 < c of the
        // parameter slices, of the quad plane's block c0/16 (192 bytes) and of in-range
        // input columns (the asm runs' too: their pixels' new columns lie in 0..in_w);
        // stores write bytes c0..c0+16 of pixel px of the output row.
        unsafe {
            let zp = vdupq_n_s16(q.zp as i16);
            let (lo, hi) = (vdupq_n_s8(q.min as i8), vdupq_n_s8(q.max as i8));
            let (pad, zero) = (vdupq_n_s8(g.zp), vdupq_n_s8(0));
            // A column in the padding, interleaved: (zp, zp, zp, 0) in every lane.
            let pad_column = vreinterpretq_s8_u32(vdupq_n_u32(g.zp as u8 as u32 * 0x01_0101));
            for c0 in (0..c).step_by(16) {
                let wb = quads.add(c0 / 16 * 192);
                // Input column x of the three rows as four registers of (r0, r1, r2, 0) per channel.
                let column = |x: isize| {
                    let (a, bb, d) = if x < 0 || x >= in_w {
                        (pad, pad, pad)
                    } else {
                        let row = |i: usize| vld1q_s8(g.rows[i].add(x as usize * g.steps[i] + c0));
                        (row(0), row(1), row(2))
                    };
                    quad_lanes([a, bb, d, zero])
                };
                // The pixels outside the asm runs (at most a few per row) load their parameters
                // and weights themselves.
                let pixel = |px: usize, win: [&[int8x16_t; 4]; 3]| {
                    let (m, r, mut s) = (lanes16(&q.mult, c0), lanes16(&q.nrsh, c0), lanes16(bias, c0));
                    for (kx, k) in win.iter().enumerate() {
                        for j in 0..4 {
                            s[j] = sdot(s[j], k[j], vld1q_s8(wb.add(kx * 64 + j * 16)));
                        }
                    }
                    row_stage16::<NEG, CLAMP>(s, &m, &r, zp, lo, hi, out.add(px * c + c0));
                };
                // Pixel px's new columns are x0 + S·px + (first_new..=2); the pixels [run_lo,
                // run_end) have them all inside the image and run in asm, the others here.
                let first_new: isize = if S == 1 { 2 } else { 1 };
                let before = -(g.x0 + first_new);
                let run_lo = if before <= 0 { 0 } else { (before as usize).div_ceil(S) };
                let last = in_w - 3 - g.x0;
                let run_end = if last < 0 { 0 } else { (last as usize / S + 1).min(ow) };
                // The columns pixel px starts with: x0 + S·px and, for stride 1, the next.
                let mut k = [column(g.x0), if S == 1 { column(g.x0 + 1) } else { [zero; 4] }];
                let mut px = 0;
                while px < ow {
                    let xs = g.x0 + (px * S) as isize;
                    if px == run_lo && run_lo < run_end {
                        let n = run_end - px;
                        let x = (xs + first_new) as usize;
                        let rows: [*const i8; 3] = std::array::from_fn(|i| g.rows[i].add(x * g.steps[i] + c0));
                        // The row's last pixel runs there too when only its last window column
                        // lies in the padding (to the right).
                        let edge = run_end + 1 == ow && g.x0 + (run_end * S) as isize + 2 == in_w;
                        let run = if S == 1 { i8_dw3x3_neon_dot::run_s1 } else { i8_dw3x3_neon_dot::run_s2 };
                        run(NEG, CLAMP, n, rows, g.steps, out.add(px * c + c0), c, wb, bias.as_ptr().add(c0), q.mult.as_ptr().add(c0), q.nrsh.as_ptr().add(c0), zp, lo, hi, edge, pad_column, &mut k);
                        px = run_end + edge as usize;
                        continue;
                    }
                    if S == 1 {
                        let new = column(xs + 2);
                        pixel(px, [&k[0], &k[1], &new]);
                        k = [k[1], new];
                    } else {
                        let (k1, k2) = (column(xs + 1), column(xs + 2));
                        pixel(px, [&k[0], &k1, &k2]);
                        k[0] = k2;
                    }
                    px += 1;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{AccLayout, OutParams};
    use std::arch::x86_64::*;

    /// Eight columns of the stage, exact: VPSLLVD (wrapping left shift), the
    /// 64-bit products of the rounding doubling high multiply (multiplier ≥ 0,
    /// so it never saturates) rounded half up, then a rounding right shift
    /// half away from zero (`(x >> e) + (x & mask > mask / 2 + (x < 0))`).
    #[inline(always)]
    unsafe fn requant8(x: __m256i, mult: __m256i, lsh: __m256i, rsh: __m256i) -> __m256i {
        // SAFETY: the caller runs with AVX2.
        unsafe {
            let x = _mm256_sllv_epi32(x, lsh);
            let nudge = _mm256_set1_epi64x(1 << 30);
            let even = _mm256_srli_epi64::<31>(_mm256_add_epi64(_mm256_mul_epi32(x, mult), nudge));
            let odd = _mm256_srli_epi64::<31>(_mm256_add_epi64(
                _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), _mm256_srli_epi64::<32>(mult)),
                nudge,
            ));
            let y = _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd));
            let one = _mm256_set1_epi32(1);
            let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, rsh), one);
            let rem = _mm256_and_si256(y, mask);
            let thr = _mm256_sub_epi32(_mm256_srai_epi32::<1>(mask), _mm256_cmpgt_epi32(_mm256_setzero_si256(), y));
            _mm256_sub_epi32(_mm256_srav_epi32(y, rsh), _mm256_cmpgt_epi32(rem, thr))
        }
    }

    /// # Safety
    /// See [`super::store_tile`]; AVX2 is available.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn store_tile(
        q: &OutParams,
        acc: &[i32],
        lay: AccLayout,
        rows: usize,
        cols: usize,
        bias: &[i32],
        row_corr: Option<&[i32]>,
        j0: usize,
        out: *mut i8,
        ldo: usize,
    ) {
        let ld = |p: *const i32| {
            // SAFETY: callers below pass pointers with 8 readable values.
            unsafe { _mm256_loadu_si256(p as *const __m256i) }
        };
        let zp = _mm256_set1_epi32(q.zp);
        let (lo, hi) = (_mm256_set1_epi32(q.min), _mm256_set1_epi32(q.max));
        let mut j = 0;
        while j + 8 <= cols {
            // SAFETY: columns j0+j .. j0+j+8 exist in q, j .. j+8 in bias (j + 8 <= cols).
            let (m, l, r, b) = unsafe {
                (ld(q.mult.as_ptr().add(j0 + j)), ld(q.lsh.as_ptr().add(j0 + j)), ld(q.rsh.as_ptr().add(j0 + j)), ld(bias.as_ptr().add(j)))
            };
            let cj = lay.col(j);
            for i in 0..rows {
                let rc = _mm256_set1_epi32(row_corr.map_or(0, |c| c[i]));
                // SAFETY: columns j..j+8 of row i are contiguous in acc (one block).
                let x = _mm256_add_epi32(_mm256_add_epi32(ld(unsafe { acc.as_ptr().add(cj + i * lay.row_stride) }), b), rc);
                // SAFETY: AVX2 is enabled in this function.
                let y = unsafe { requant8(x, m, l, r) };
                let y = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(y, zp), lo), hi);
                let h = _mm_packs_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256::<1>(y));
                // SAFETY: 8 bytes of row i of the caller's output region from column j.
                unsafe { _mm_storel_epi64(out.add(i * ldo + j) as *mut __m128i, _mm_packs_epi16(h, h)) };
            }
            j += 8;
        }
        for i in 0..rows {
            let rc = row_corr.map_or(0, |c| c[i]);
            for jj in j..cols {
                let v = acc[lay.idx(i, jj)].wrapping_add(bias[jj]).wrapping_add(rc);
                // SAFETY: element (i, jj) of the caller's output region.
                unsafe { *out.add(i * ldo + jj) = q.apply(j0 + jj, v) };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use avx512::dw_row as dw_row_avx512;
#[cfg(target_arch = "x86_64")]
pub(crate) use avx512::{store16 as store16_avx512, Stage16};
#[cfg(target_arch = "x86_64")]
pub(crate) use avx512::{dw_block_stages as dw_block_stages_avx512, dw_row_columns as dw_row_columns_avx512vnni, dw_row_pairs as dw_row_pairs_avx512vnni};
#[cfg(target_arch = "x86_64")]
pub(crate) use avx512::dw_row_quads as dw_row_quads_avx512vnni;

/// Lane order of the tap-quad depthwise kernel: position `i` of a block of 64
/// (accumulator `i / 16`, its lane `i % 16`) holds channel `16L + 4·acc + j`,
/// `L = lane / 4` (the 128-bit lane), `j = lane % 4`.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn dw_quad_channel(i: usize) -> usize {
    let (acc, lane) = (i / 16, i % 16);
    16 * (lane / 4) + 4 * acc + lane % 4
}

/// Lane order of the pair depthwise kernel: position `i` of a block of 32
/// (`i < 16`: low accumulator lane `i`, else high lane `i − 16`) holds
/// channel `8k + j` (low) or `8k + 4 + j` (high), `k = lane / 4`, `j = lane % 4`.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn dw_pair_channel(i: usize) -> usize {
    let (half, lane) = (i / 16, i % 16);
    8 * (lane / 4) + 4 * half + lane % 4
}

#[cfg(target_arch = "x86_64")]
impl OutParams {
    /// These parameters (and `bias`) for `c` channels in the lane order of the
    /// pair depthwise kernel ([`dw_pair_channel`]), padded to whole blocks of 32
    /// with multiplier 0 and bias 0.
    pub(crate) fn dw_pair_order(&self, c: usize, bias: &[i32]) -> (OutParams, Vec<i32>) {
        self.dw_block_order(c, bias, 32, dw_pair_channel)
    }

    /// The same in the lane order of the tap-quad kernel ([`dw_quad_channel`],
    /// whole blocks of 64).
    pub(crate) fn dw_quad_order(&self, c: usize, bias: &[i32]) -> (OutParams, Vec<i32>) {
        self.dw_block_order(c, bias, 64, dw_quad_channel)
    }

    /// These parameters (and `bias`) for `c` channels with position `i` of
    /// every block of `block` taking channel `channel(i % block)` of that
    /// block, padded to whole blocks with multiplier 0 and bias 0.
    fn dw_block_order(&self, c: usize, bias: &[i32], block: usize, channel: fn(usize) -> usize) -> (OutParams, Vec<i32>) {
        let len = c.div_ceil(block) * block;
        let src = |i: usize| i / block * block + channel(i % block);
        let pick = |v: &[i32]| (0..len).map(|i| if src(i) < c { v[src(i)] } else { 0 }).collect::<Vec<i32>>();
        let p = OutParams {
            mult: pick(&self.mult),
            lsh: pick(&self.lsh),
            rsh: pick(&self.rsh),
            nrsh: pick(&self.nrsh),
            any_lsh: self.any_lsh,
            all_rsh: self.all_rsh,
            zp: self.zp,
            min: self.min,
            max: self.max,
            vector_ok: self.vector_ok,
            single: self.single,
            single_ok: self.single_ok,
            zp_late: self.zp_late,
            fused: Default::default(),
        };
        (p, pick(bias))
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{AccLayout, ColumnRow, OutParams};
    use std::arch::x86_64::*;

    /// The output stage for one block of 16 columns (the last one masked),
    /// exact, with both of TFLite's roundings done in one 64-bit step: for
    /// `p = x·M` (x after the left shift, M ≥ 0) and a right shift `e`, the
    /// rounding doubling high multiply is `z = ⌊(p + 2^30) / 2^31⌋` and the
    /// rounding right shift (half away from zero) `⌊(z + 2^(e−1) − [z < 0]) / 2^e⌋`
    /// (`z` for `e = 0`); nested floors of divisions merge, so the result is
    /// `(p + K_e − [e > 0 ∧ p < −2^30]·2^31) >> (31 + e)` with
    /// `K_e = 2^30 + [e > 0]·2^(30+e)` (`|p| < 2^62`, so nothing overflows).
    /// Per 16 values: two VPMULDQ, per half an add, a masked compare, a masked
    /// subtract and VPSRAVQ, one VPERMT2D, VPMOVSDB; the zero point rides in
    /// `K_e` (`+ zp·2^(31+e)`, exact while every `e ≤ 22`: `|zp| ≤ 256` keeps the
    /// sum below 2^63) and the clamp runs on the saturated bytes (xmm
    /// VPMAXSB/VPMINSB; saturation is monotone, so clamping before or after it
    /// gives the same bytes). TFLite's single rounding (`OutParams::single_ok`)
    /// is `(p + 2^(30+e)) >> (31 + e)`: the same step with `K_e = 2^(30+e)` and
    /// never the negative-tie correction.
    pub(crate) struct Stage16 {
        mult: __m512i,
        mult_odd: __m512i,
        lsh: __m512i,
        k_even: __m512i,
        k_odd: __m512i,
        sh_even: __m512i,
        sh_odd: __m512i,
        /// Lanes (64-bit) whose column shifts right by at least one.
        nz_even: __mmask8,
        nz_odd: __mmask8,
        bias: __m512i,
        zp: __m512i,
        /// The zero point is not in `k_even`/`k_odd` (some `e > 22`) and is added to the result.
        add_zp: bool,
        /// A negative result can survive the clamp (`min < zp`), so negative
        /// ties of the final rounding must round away from zero (`NEG` of requant32).
        neg: bool,
        /// The clamp is narrower than int8 (`CLAMP` of clamp16/clamp32).
        clamps: bool,
        lo: __m128i,
        hi: __m128i,
    }

    impl Stage16 {
        /// Columns `c0 .. c0 + w` (of `q`) with their `bias` (from `bias[0]`); `m` masks the first `w` lanes.
        ///
        /// # Safety
        /// AVX-512 F/BW/VL are available; `q` has columns `c0 .. c0 + w`, `bias` has `w` values.
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
        pub(crate) unsafe fn new(q: &OutParams, c0: usize, bias: &[i32], m: __mmask16) -> Stage16 {
            // SAFETY: the first w values of every slice are readable; masked-off lanes are not accessed.
            unsafe {
                let ld = |p: *const i32| _mm512_maskz_loadu_epi32(m, p);
                let (mult, lsh, rsh) = (ld(q.mult[c0..].as_ptr()), ld(q.lsh[c0..].as_ptr()), ld(q.rsh[c0..].as_ptr()));
                let low = _mm512_set1_epi64(0xffff_ffff);
                let (e_even, e_odd) = (_mm512_and_si512(rsh, low), _mm512_srli_epi64::<32>(rsh));
                let zero = _mm512_setzero_si512();
                let (nz_even, nz_odd) = (_mm512_cmpneq_epi64_mask(e_even, zero), _mm512_cmpneq_epi64_mask(e_odd, zero));
                let b30 = _mm512_set1_epi64(1 << 30);
                let s31 = _mm512_set1_epi64(31);
                // One decision per layer, so every stage of a kernel agrees (`ZP` of requant32).
                let add_zp = q.zp_late;
                let zp64 = _mm512_set1_epi64(if add_zp { 0 } else { q.zp as i64 });
                // K_e (+ zp·2^(31+e) when folded; a left shift of a negative i64 multiplies it).
                // Single rounding (`single_ok`): one rounding constant, 2^(30+e).
                let single = q.single;
                let k = |e: __m512i, nz: __mmask8| {
                    let round = if single { _mm512_sllv_epi64(b30, e) } else { _mm512_add_epi64(b30, _mm512_maskz_sllv_epi64(nz, b30, e)) };
                    _mm512_add_epi64(round, _mm512_sllv_epi64(zp64, _mm512_add_epi64(e, s31)))
                };
                let b8 = |v: i32| _mm_set1_epi8(v.clamp(-128, 127) as i8);
                Stage16 {
                    mult,
                    mult_odd: _mm512_srli_epi64::<32>(mult),
                    lsh,
                    k_even: k(e_even, nz_even),
                    k_odd: k(e_odd, nz_odd),
                    sh_even: _mm512_add_epi64(e_even, s31),
                    sh_odd: _mm512_add_epi64(e_odd, s31),
                    nz_even,
                    nz_odd,
                    bias: ld(bias.as_ptr()),
                    zp: _mm512_set1_epi32(q.zp),
                    add_zp,
                    // Single rounding rounds every tie up (an arithmetic shift): never the correction.
                    neg: q.neg_ties() && !single,
                    clamps: q.clamps(),
                    lo: b8(q.min),
                    hi: b8(q.max),
                }
            }
        }

        /// `clamp(zp + requant(x + bias (+ rc)), min, max)` per lane as 16 int8;
        /// `LSH`: some column shifts left.
        ///
        /// # Safety
        /// AVX-512 F/BW/VL are available.
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
        pub(crate) unsafe fn apply<const LSH: bool>(&self, x: __m512i) -> __m128i {
            // SAFETY: AVX-512 F/BW/VL are enabled in this function.
            let y = unsafe { self.apply32::<LSH>(x) };
            _mm_min_epi8(_mm_max_epi8(_mm512_cvtsepi32_epi8(y), self.lo), self.hi)
        }

        /// One [`Stage16::requant32`] result as 16 clamped int8 (the end of [`Stage16::apply`]).
        ///
        /// # Safety
        /// AVX-512 F/BW/VL are available.
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
        pub(crate) unsafe fn clamp16<const CLAMP: bool>(&self, y: __m512i) -> __m128i {
            debug_assert!(CLAMP || !self.clamps);
            let v = _mm512_cvtsepi32_epi8(y);
            if CLAMP {
                _mm_min_epi8(_mm_max_epi8(v, self.lo), self.hi)
            } else {
                v
            }
        }

        /// [`Stage16::apply`] before the narrowing and the clamp: `zp + requant(x + bias)`
        /// per i32 lane (wrapping); [`Stage16::clamp32`] finishes two of them.
        ///
        /// # Safety
        /// AVX-512 F/BW/VL are available.
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
        pub(crate) unsafe fn apply32<const LSH: bool>(&self, x: __m512i) -> __m512i {
            let x = _mm512_add_epi32(x, self.bias);
            // SAFETY: AVX-512 F/BW/VL are enabled in this function.
            unsafe {
                if self.add_zp {
                    self.requant32::<LSH, true, true>(x)
                } else {
                    self.requant32::<LSH, false, true>(x)
                }
            }
        }

        /// This stage with its lanes 8 .. 16 replaced by copies of lanes 0 .. 8
        /// (two pixels of at most 16 channels side by side, [`dw_row_pairs`]).
        ///
        /// # Safety
        /// AVX-512 F is available.
        #[target_feature(enable = "avx512f")]
        pub(crate) unsafe fn low_half_twice(&self) -> Stage16 {
            let d = |v: __m512i| _mm512_shuffle_i64x2::<0b01_00_01_00>(v, v);
            let m = |k: __mmask8| (k & 0xf) | (k << 4);
            Stage16 {
                mult: d(self.mult),
                mult_odd: d(self.mult_odd),
                lsh: d(self.lsh),
                k_even: d(self.k_even),
                k_odd: d(self.k_odd),
                sh_even: d(self.sh_even),
                sh_odd: d(self.sh_odd),
                nz_even: m(self.nz_even),
                nz_odd: m(self.nz_odd),
                bias: d(self.bias),
                zp: self.zp,
                add_zp: self.add_zp,
                neg: self.neg,
                clamps: self.clamps,
                lo: self.lo,
                hi: self.hi,
            }
        }

        /// This stage's bias (kernels that start their accumulators from it
        /// call [`Stage16::requant32`] instead of [`Stage16::apply32`]).
        #[inline]
        pub(crate) fn bias(&self) -> __m512i {
            self.bias
        }

        /// Whether the zero point is added after the shift (`ZP` of [`Stage16::requant32`]).
        #[inline]
        pub(crate) fn zp_late(&self) -> bool {
            self.add_zp
        }

        /// Whether negative ties need their own rounding (`NEG` of
        /// [`Stage16::requant32`]): false when the clamp's minimum is at or
        /// above the zero point (RELU, RELU6), the same for every stage of a layer.
        #[inline]
        pub(crate) fn neg_ties(&self) -> bool {
            self.neg
        }

        /// Whether the clamp bounds are narrower than int8's (`CLAMP` of
        /// [`Stage16::clamp16`] and [`Stage16::clamp32`]; the same for every stage of a layer).
        #[inline]
        pub(crate) fn clamps(&self) -> bool {
            self.clamps
        }

        /// [`Stage16::apply32`] of an `x` that already includes the bias:
        /// `zp + requant(x)` per lane. `ZP` must be [`Stage16::zp_late`]
        /// (a constant, so the loops carry no zero-point add when it is folded).
        /// `NEG` false (allowed only when [`Stage16::neg_ties`] is false) drops the
        /// correction that makes negative ties of the final rounding go away
        /// from zero: a compare and a masked subtract per 8 lanes. Without it such
        /// a tie rounds up, to a value at most the zero point, which the clamp
        /// (minimum at or above the zero point) maps to its minimum either way.
        ///
        /// # Safety
        /// AVX-512 F/BW/VL are available.
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
        pub(crate) unsafe fn requant32<const LSH: bool, const ZP: bool, const NEG: bool>(&self, x: __m512i) -> __m512i {
            debug_assert_eq!(ZP, self.add_zp);
            debug_assert!(NEG || !self.neg);
            let mut x = x;
            if LSH {
                x = _mm512_sllv_epi32(x, self.lsh);
            }
            let lim = _mm512_set1_epi64(-(1 << 30));
            let b31 = _mm512_set1_epi64(1 << 31);
            let half = |p: __m512i, k: __m512i, nz: __mmask8, sh: __m512i| {
                let v = _mm512_add_epi64(p, k);
                if NEG {
                    let neg = _mm512_mask_cmplt_epi64_mask(nz, p, lim);
                    _mm512_srav_epi64(_mm512_mask_sub_epi64(v, neg, v, b31), sh)
                } else {
                    _mm512_srav_epi64(v, sh)
                }
            };
            let even = half(_mm512_mul_epi32(x, self.mult), self.k_even, self.nz_even, self.sh_even);
            // SAFETY: AVX-512 F is enabled in this function.
            let odd = half(unsafe { mul_epi32_asm(_mm512_srli_epi64::<32>(x), self.mult_odd) }, self.k_odd, self.nz_odd, self.sh_odd);
            // Low dword of every 64-bit result: even lanes from `even`, odd lanes from `odd`.
            let idx = _mm512_set_epi32(30, 14, 28, 12, 26, 10, 24, 8, 22, 6, 20, 4, 18, 2, 16, 0);
            let y = _mm512_permutex2var_epi32(even, idx, odd);
            if ZP {
                _mm512_add_epi32(y, self.zp)
            } else {
                y
            }
        }

        /// Two [`Stage16::apply32`] results (this stage's clamp bounds) as 32
        /// clamped int8: VPACKSSDW (per 128-bit lane: four of `a`, four of
        /// `b`), VPMOVSWB, the byte clamp (one narrowing to a register per 32
        /// values instead of two VPMOVSDB and two byte unpacks). Both narrowings saturate, so this is
        /// the int8 saturation of each value, then the clamp.
        ///
        /// # Safety
        /// AVX-512 F/BW/VL are available.
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
        pub(crate) unsafe fn clamp32<const CLAMP: bool>(&self, a: __m512i, b: __m512i) -> __m256i {
            debug_assert!(CLAMP || !self.clamps);
            let v = _mm512_cvtsepi16_epi8(_mm512_packs_epi32(a, b));
            if CLAMP {
                let (lo, hi) = (_mm256_broadcastb_epi8(self.lo), _mm256_broadcastb_epi8(self.hi));
                _mm256_min_epi8(_mm256_max_epi8(v, lo), hi)
            } else {
                v
            }
        }
    }

    /// VPMULDQ (the signed products of the low dwords) as an `asm!` block.
    /// Where the stage is built in the same function as its loop (the
    /// depthwise rows), LLVM rewrote `_mm512_mul_epi32` of the shifted odd
    /// dwords into a generic 64-bit multiply and lowered that to three
    /// VPMULUDQ and five more instructions.
    ///
    /// # Safety
    /// AVX-512 F is available.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn mul_epi32_asm(a: __m512i, b: __m512i) -> __m512i {
        let r: __m512i;
        // SAFETY: one register-only instruction of AVX-512 F (enabled in this function).
        unsafe {
            std::arch::asm!("vpmuldq {r}, {a}, {b}", r = lateout(zmm_reg) r, a = in(zmm_reg) a, b = in(zmm_reg) b, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    /// Stores the first `w` of 16 bytes (`m` = their mask) from a register:
    /// a plain or masked 16-byte store (VPMOVSDB, in [`Stage16::apply`], goes
    /// into a register: with a memory operand it is far slower on some CPUs;
    /// it dominated both output stages on Zen 4).
    ///
    /// # Safety
    /// AVX-512 F/BW/VL are available; `out` has `w` writable bytes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(crate) unsafe fn store16(out: *mut i8, w: usize, m: __mmask16, v: __m128i) {
        // SAFETY: the caller's contract; the masked store touches only the first w bytes.
        unsafe {
            if w == 16 {
                _mm_storeu_si128(out as *mut __m128i, v);
            } else {
                _mm_mask_storeu_epi8(out, m, v);
            }
        }
    }

    /// # Safety
    /// See [`super::store_tile`]; AVX-512 F, BW and VL are available.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn store_tile(
        q: &OutParams,
        acc: &[i32],
        lay: AccLayout,
        rows: usize,
        cols: usize,
        bias: &[i32],
        row_corr: Option<&[i32]>,
        j0: usize,
        out: *mut i8,
        ldo: usize,
    ) {
        // SAFETY: the caller's contract (AVX-512 F/BW/VL are enabled in this function).
        unsafe {
            match (q.any_lsh, row_corr) {
                (false, None) => tile::<false, false>(q, acc, lay, rows, cols, bias, &[], j0, out, ldo),
                (false, Some(rc)) => tile::<false, true>(q, acc, lay, rows, cols, bias, rc, j0, out, ldo),
                (true, None) => tile::<true, false>(q, acc, lay, rows, cols, bias, &[], j0, out, ldo),
                (true, Some(rc)) => tile::<true, true>(q, acc, lay, rows, cols, bias, rc, j0, out, ldo),
            }
        }
    }

    /// [`store_tile`] for known left shifts (`LSH`) and row correction (`RC`).
    ///
    /// # Safety
    /// As [`store_tile`]; `row_corr` has `rows` values when `RC`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn tile<const LSH: bool, const RC: bool>(
        q: &OutParams,
        acc: &[i32],
        lay: AccLayout,
        rows: usize,
        cols: usize,
        bias: &[i32],
        row_corr: &[i32],
        j0: usize,
        out: *mut i8,
        ldo: usize,
    ) {
        let mut j = 0;
        while j < cols {
            let w = (cols - j).min(16);
            let m: __mmask16 = if w == 16 { 0xffff } else { (1u16 << w) - 1 };
            // SAFETY: columns j0+j .. j0+j+w exist in q, j .. j+w in bias (the caller's contract).
            let st = unsafe { Stage16::new(q, j0 + j, &bias[j..], m) };
            let cj = lay.col(j);
            for i in 0..rows {
                // SAFETY: the first w values of row i from column j are one run of acc (one
                // block); masked-off lanes are not accessed.
                let mut x = unsafe { _mm512_maskz_loadu_epi32(m, acc[cj + i * lay.row_stride..].as_ptr()) };
                if RC {
                    x = _mm512_add_epi32(x, _mm512_set1_epi32(row_corr[i]));
                }
                // SAFETY: AVX-512 F/BW/VL are enabled in this function; the first w bytes of
                // row i of the caller's output region from column j.
                unsafe { store16(out.add(i * ldo + j), w, m, st.apply::<LSH>(x)) };
            }
            j += w;
        }
    }

    /// One output row of a depthwise convolution with multiplier 1, the
    /// output stage fused: for every block of 16 channels (the last one
    /// masked) and every pixel `px < ow`, `Σ_t x·w` over the taps
    /// (VPMOVSXBD, VPMULLD, VPADDD), then the stage, stored as int8.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL are available; `q.vector_ok`; `ptrs` holds `ow * taps`
    /// pointers to `c` readable bytes each; `plane` is a packed plane of
    /// `i8_dw_16c_avx512` for `c` and `taps`; `bias` and `q` have `c`
    /// columns; `out` has `ow * c` writable bytes nothing else accesses.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(crate) unsafe fn dw_row(q: &OutParams, c: usize, taps: usize, ow: usize, ptrs: *const *const i8, plane: *const i32, bias: &[i32], out: *mut i8) {
        // SAFETY: the caller's contract (AVX-512 F/BW/VL are enabled in this function).
        unsafe {
            if q.any_lsh {
                dw_row_with::<true>(q, c, taps, ow, ptrs, plane, bias, out)
            } else {
                dw_row_with::<false>(q, c, taps, ow, ptrs, plane, bias, out)
            }
        }
    }

    /// [`dw_row`] for known left shifts (`LSH`).
    ///
    /// # Safety
    /// As [`dw_row`].
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn dw_row_with<const LSH: bool>(q: &OutParams, c: usize, taps: usize, ow: usize, ptrs: *const *const i8, plane: *const i32, bias: &[i32], out: *mut i8) {
        let mut c0 = 0;
        // 32 channels per step: two accumulators share every input pointer; whole
        // blocks load with VPMOVSXBD from memory.
        while c0 + 32 <= c {
            // SAFETY: columns c0 .. c0 + 32 exist in q and bias.
            let (st0, st1) = unsafe { (Stage16::new(q, c0, &bias[c0..], 0xffff), Stage16::new(q, c0 + 16, &bias[c0 + 16..], 0xffff)) };
            // SAFETY: blocks c0 / 16 and c0 / 16 + 1 of the plane: taps rows of 16 values each.
            let (wb0, wb1) = unsafe { (plane.add(c0 * taps), plane.add((c0 + 16) * taps)) };
            for px in 0..ow {
                let (mut s0, mut s1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
                for t in 0..taps {
                    // SAFETY: pointer (px, t) has c readable bytes, of which the 32 from c0 are
                    // read; each block's row t has 16 values.
                    unsafe {
                        let p = (*ptrs.add(px * taps + t)).add(c0);
                        let x0 = _mm512_cvtepi8_epi32(_mm_loadu_si128(p as *const __m128i));
                        let x1 = _mm512_cvtepi8_epi32(_mm_loadu_si128(p.add(16) as *const __m128i));
                        s0 = _mm512_add_epi32(s0, _mm512_mullo_epi32(x0, _mm512_loadu_si512(wb0.add(t * 16) as *const _)));
                        s1 = _mm512_add_epi32(s1, _mm512_mullo_epi32(x1, _mm512_loadu_si512(wb1.add(t * 16) as *const _)));
                    }
                }
                // SAFETY: AVX-512 F/BW/VL are available; bytes c0..c0+32 of pixel px of the output row.
                unsafe {
                    store16(out.add(px * c + c0), 16, 0xffff, st0.apply::<LSH>(s0));
                    store16(out.add(px * c + c0 + 16), 16, 0xffff, st1.apply::<LSH>(s1));
                }
            }
            c0 += 32;
        }
        while c0 < c {
            let w = (c - c0).min(16);
            let m: __mmask16 = if w == 16 { 0xffff } else { (1u16 << w) - 1 };
            // SAFETY: columns c0 .. c0 + w exist in q and bias.
            let st = unsafe { Stage16::new(q, c0, &bias[c0..], m) };
            // SAFETY: block c0 / 16 of the plane: taps rows of 16 values.
            let wb = unsafe { plane.add(c0 * taps) };
            for px in 0..ow {
                let mut s = _mm512_setzero_si512();
                for t in 0..taps {
                    // SAFETY: pointer (px, t) has c readable bytes, of which the w from c0 are read
                    // (masked); the block's row t has 16 values.
                    unsafe {
                        let x = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, (*ptrs.add(px * taps + t)).add(c0)));
                        s = _mm512_add_epi32(s, _mm512_mullo_epi32(x, _mm512_loadu_si512(wb.add(t * 16) as *const _)));
                    }
                }
                // SAFETY: AVX-512 F/BW/VL are available; bytes c0..c0+w of pixel px of the output row.
                unsafe { store16(out.add(px * c + c0), w, m, st.apply::<LSH>(s)) };
            }
            c0 += w;
        }
    }

    /// One output row of a depthwise convolution with multiplier 1 and the
    /// output stage fused, on tap pairs with VPDPWSSD (AVX-512 VNNI): per
    /// block of 32 channels (the last one masked) and pixel, the inputs of
    /// taps `2p` and `2p + 1` are sign-extended to int16 (VPMOVSXBW) and
    /// interleaved (VPUNPCKLWD / VPUNPCKHWD, within 128-bit lanes), so one
    /// VPDPWSSD adds `x_2p·w_2p + x_2p+1·w_2p+1` to each of 16 channels; an
    /// odd last tap pairs with itself against a zero weight. The
    /// interleave puts channels `8k + j` (`k < 4`, `j < 4`) in the lanes of
    /// the low accumulator and `8k + 4 + j` in the high one; the weights,
    /// the bias and the stage parameters are packed in that order
    /// ([`super::OutParams::dw_pair_order`], [`dw_block_stages`]) and the in-lane VPACKSSDW of the two results
    /// restores the channel order. Products are at most 128·255 and the sum
    /// wraps like the scalar kernel's, so the accumulators are identical.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/VNNI are available; `stages` come from [`dw_block_stages`]
    /// for `c` and parameters with `vector_ok`; `lsh`: some column shifts left;
    /// `ptrs` holds `ow * taps` pointers to `c` readable bytes each, tap-major
    /// (pixel `px`'s tap `t` at `t * ow + px`); `pairs`
    /// is the pair plane of `dw::pack_dw_pairs` for `c` and `taps`; `out` has
    /// `ow * c` writable bytes nothing else accesses.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(crate) unsafe fn dw_row_pairs(stages: &[Stage16], lsh: bool, c: usize, taps: usize, ow: usize, ptrs: *const *const i8, pairs: *const i16, out: *mut i8) {
        // SAFETY: the caller's contract (AVX-512 F/BW/VL/VNNI are enabled in this function).
        unsafe {
            macro_rules! f {
                ($l:literal, $z:literal, $n:literal, $c:literal) => {
                    dw_row_pairs_with::<$l, $z, $n, $c>(stages, c, taps, ow, ptrs, pairs, out)
                };
            }
            let Some(s0) = stages.first() else { return };
            stage_variant!(f, [], lsh, s0)
        }
    }

    /// The stages of [`dw_row_pairs`] and [`dw_row_quads`]: one per 16
    /// columns of parameters in a depthwise block order (two per block of 32
    /// for the pair kernel's low and high accumulator lanes, four per block
    /// of 64 for the quad kernel's accumulators), built once per layer
    /// (cached with its parameters).
    ///
    /// # Safety
    /// AVX-512 F/BW/VL are available; `q` and `bias` come from
    /// [`super::OutParams::dw_pair_order`] or [`super::OutParams::dw_quad_order`]
    /// (whole blocks, so `bias.len()` is a multiple of 16 that `q` has too).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(crate) unsafe fn dw_block_stages(q: &OutParams, bias: &[i32]) -> Vec<Stage16> {
        // SAFETY: q and bias have bias.len() columns, whole groups of 16 (the caller's contract).
        (0..bias.len() / 16).map(|h| unsafe { Stage16::new(q, h * 16, &bias[h * 16..], 0xffff) }).collect()
    }

    /// [`dw_row_pairs`] for known left shifts (`LSH`) and zero-point placement
    /// (`ZP`: [`Stage16::zp_late`]); the accumulators start from the bias.
    ///
    /// # Safety
    /// As [`dw_row_pairs`].
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn dw_row_pairs_with<const LSH: bool, const ZP: bool, const NEG: bool, const CLAMP: bool>(stages: &[Stage16], c: usize, taps: usize, ow: usize, ptrs: *const *const i8, pairs: *const i16, out: *mut i8) {
        let np = taps.div_ceil(2);
        if c <= 16 && np <= MAX_PIXEL_PAIR_TAPS {
            // SAFETY: the caller's contract.
            unsafe { dw_row_pixel_pairs::<LSH, ZP, NEG, CLAMP>(stages, c, taps, ow, ptrs, pairs, out) };
            return;
        }
        let mut c0 = 0;
        while c0 < c {
            let w = (c - c0).min(32);
            let m: __mmask32 = if w == 32 { u32::MAX } else { (1u32 << w) - 1 };
            let (st_lo, st_hi) = (&stages[c0 / 16], &stages[c0 / 16 + 1]);
            // SAFETY: block c0 / 32 of the pair plane: np pairs of 64 values.
            let wb = unsafe { pairs.add(c0 / 32 * np * 64) };
            for px in 0..ow {
                // SAFETY: pointers (px, 0 .. taps) exist (tap-major); each has c readable bytes, of which the
                // w from c0 are read (masked); pair p of the block has 64 values; AVX-512
                // F/BW/VL/VNNI are enabled; bytes c0 .. c0 + w of pixel px of the output row.
                unsafe {
                    let pp = ptrs.add(px);
                    let ld = |t: usize| _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, (*pp.add(t * ow)).add(c0)));
                    let wp = |p: usize| (_mm512_loadu_si512(wb.add(p * 64) as *const _), _mm512_loadu_si512(wb.add(p * 64 + 32) as *const _));
                    let (lo, hi) = tap_pairs(taps, (st_lo.bias(), st_hi.bias()), ld, wp);
                    store_pair_block::<LSH, ZP, NEG, CLAMP>((st_lo, st_hi), (lo, hi), m, out.add(px * c + c0));
                }
            }
            c0 += 32;
        }
    }

    /// The output of one pixel's block of 32 channels in tap-pair lane order
    /// (the low and high accumulators, with their stages): requantized,
    /// clamped (both stages have the layer's bounds; VPACKSSDW's in-lane
    /// interleave of four low and four high lanes undoes the pair
    /// interleave) and stored to the channels `m` selects.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL are available; `o` has the bytes `m` selects writable.
    #[inline(always)]
    unsafe fn store_pair_block<const LSH: bool, const ZP: bool, const NEG: bool, const CLAMP: bool>(st: (&Stage16, &Stage16), acc: (__m512i, __m512i), m: __mmask32, o: *mut i8) {
        // SAFETY: the caller's contract.
        unsafe {
            let v = st.0.clamp32::<CLAMP>(st.0.requant32::<LSH, ZP, NEG>(acc.0), st.1.requant32::<LSH, ZP, NEG>(acc.1));
            if m == u32::MAX {
                _mm256_storeu_si256(o as *mut __m256i, v);
            } else {
                _mm256_mask_storeu_epi8(o, m, v);
            }
        }
    }

    /// The tap-pair accumulation of [`dw_row_pairs`] and [`dw_row_pixel_pairs`]:
    /// `ld(t)` is tap `t`'s inputs as int16, `w(p)` pair `p`'s weights for the
    /// low and high accumulator; taps `2p, 2p + 1` are interleaved within
    /// 128-bit lanes (VPUNPCKL/HWD) and added by one VPDPWSSD per
    /// accumulator, an odd last tap paired with itself against weight 0.
    ///
    /// # Safety
    /// AVX-512 F/BW/VNNI are available (the callers enable them; this inlines into them).
    #[inline(always)]
    unsafe fn tap_pairs(taps: usize, acc: (__m512i, __m512i), ld: impl Fn(usize) -> __m512i, w: impl Fn(usize) -> (__m512i, __m512i)) -> (__m512i, __m512i) {
        let (mut lo, mut hi) = acc;
        let full = taps / 2;
        // SAFETY: register-only AVX-512 BW/VNNI intrinsics (the caller's contract).
        unsafe {
            let mut add = |p: usize, x0: __m512i, x1: __m512i| {
                let (w0, w1) = w(p);
                lo = _mm512_dpwssd_epi32(lo, _mm512_unpacklo_epi16(x0, x1), w0);
                hi = _mm512_dpwssd_epi32(hi, _mm512_unpackhi_epi16(x0, x1), w1);
            };
            for p in 0..full {
                add(p, ld(2 * p), ld(2 * p + 1));
            }
            if taps % 2 == 1 {
                let x = ld(2 * full);
                add(full, x, x);
            }
        }
        (lo, hi)
    }

    /// Tap pairs up to which [`dw_row_pixel_pairs`] keeps its weights in an array.
    const MAX_PIXEL_PAIR_TAPS: usize = 13;

    /// [`dw_row_pairs_with`] for at most 16 channels: a 32-channel block
    /// would leave half its lanes idle, so two pixels share the registers
    /// (pixel `px` in the low 256 bits, `px + 1` in the high ones). The lanes
    /// of each 128-bit half hold the same channels as in the one-pixel
    /// kernel, so its weights and stages serve both halves with their low
    /// halves copied into the high ones ([`Stage16::low_half_twice`]); the
    /// in-lane VPACKSSDW then leaves pixel `px`'s 16 channels in bytes
    /// 0 .. 16 and pixel `px + 1`'s in bytes 16 .. 32. Every value goes
    /// through the same operations as in the one-pixel kernel.
    ///
    /// # Safety
    /// As [`dw_row_pairs`], with `c ≤ 16` and `taps.div_ceil(2) ≤ MAX_PIXEL_PAIR_TAPS`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn dw_row_pixel_pairs<const LSH: bool, const ZP: bool, const NEG: bool, const CLAMP: bool>(stages: &[Stage16], c: usize, taps: usize, ow: usize, ptrs: *const *const i8, pairs: *const i16, out: *mut i8) {
        let np = taps.div_ceil(2);
        let dup = |v: __m512i| _mm512_shuffle_i64x2::<0b01_00_01_00>(v, v);
        // SAFETY: block 0 of the pair plane (np pairs of 64 values); AVX-512 F is enabled here.
        let (st_lo, st_hi) = unsafe { (stages[0].low_half_twice(), stages[1].low_half_twice()) };
        let mut wl = [_mm512_setzero_si512(); MAX_PIXEL_PAIR_TAPS];
        let mut wh = [_mm512_setzero_si512(); MAX_PIXEL_PAIR_TAPS];
        for p in 0..np {
            // SAFETY: pair p of block 0: 64 values.
            unsafe {
                wl[p] = dup(_mm512_loadu_si512(pairs.add(p * 64) as *const _));
                wh[p] = dup(_mm512_loadu_si512(pairs.add(p * 64 + 32) as *const _));
            }
        }
        let m: __mmask16 = if c == 16 { 0xffff } else { (1u16 << c) - 1 };
        let mut px = 0;
        while px < ow {
            // The last pixel of an odd row runs alone (its copy in the high half is not stored).
            let px1 = if px + 1 < ow { px + 1 } else { px };
            // SAFETY: pointers (px, 0 .. taps) and (px1, 0 .. taps) exist (tap-major), each to c
            // readable bytes (masked loads); AVX-512 F/BW/VL/VNNI are enabled; bytes px * c ..
            // (px + 1) * c and px1 * c .. (px1 + 1) * c of the output row.
            unsafe {
                let ld = |t: usize| {
                    let a = _mm_maskz_loadu_epi8(m, *ptrs.add(t * ow + px));
                    let b = _mm_maskz_loadu_epi8(m, *ptrs.add(t * ow + px1));
                    _mm512_cvtepi8_epi16(_mm256_inserti128_si256::<1>(_mm256_castsi128_si256(a), b))
                };
                let (lo, hi) = tap_pairs(taps, (st_lo.bias(), st_hi.bias()), ld, |p| (wl[p], wh[p]));
                let v = st_lo.clamp32::<CLAMP>(st_lo.requant32::<LSH, ZP, NEG>(lo), st_hi.requant32::<LSH, ZP, NEG>(hi));
                _mm_mask_storeu_epi8(out.add(px * c), m, _mm256_castsi256_si128(v));
                if px1 != px {
                    _mm_mask_storeu_epi8(out.add(px1 * c), m, _mm256_extracti128_si256::<1>(v));
                }
            }
            px += 2;
        }
    }

    /// One output row of a 3x3 depthwise convolution with multiplier 1,
    /// horizontal stride 1 or 2 and dilation 1, more than 16 channels, output
    /// stage fused (AVX-512 VNNI): the taps are paired down each window
    /// column (rows 0 and 1, then row 2 with itself against weight 0), so the
    /// interleaved pairs of an input column, made once, serve every pixel
    /// whose window holds that column. Per pixel and 32 channels that is
    /// `stride` new columns (three masked loads each) and six VPDPWSSD per
    /// accumulator, against nine pointers, loads and extensions and five
    /// VPDPWSSD for [`dw_row_pairs`]. The lanes hold the channels as there,
    /// so the same stages (with their bias) serve; the products and sums are
    /// the same integers, so the results are identical.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/VNNI are available; `stages` come from [`dw_block_stages`]
    /// for `c` in pair order with parameters that have `vector_ok`; `lsh`:
    /// some column shifts left; every row of `g` has `g.in_w` columns of `c`
    /// readable bytes at its step; `pairs` is the column-pair plane of
    /// `dw::pack_dw_column_pairs` for `c`; `out` has `ow * c` writable bytes
    /// nothing else accesses.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(crate) unsafe fn dw_row_columns(stages: &[Stage16], lsh: bool, c: usize, ow: usize, g: &ColumnRow, pairs: *const i16, out: *mut i8) {
        // SAFETY: the caller's contract (AVX-512 F/BW/VL/VNNI are enabled in this function).
        unsafe {
            macro_rules! f {
                ($s:literal, $l:literal, $z:literal, $n:literal, $c:literal) => {
                    dw_row_columns_with::<$s, $l, $z, $n, $c>(stages, c, ow, g, pairs, out)
                };
            }
            let Some(s0) = stages.first() else { return };
            if g.stride == 1 {
                stage_variant!(f, [1], lsh, s0)
            } else {
                debug_assert_eq!(g.stride, 2);
                stage_variant!(f, [2], lsh, s0)
            }
        }
    }

    /// [`dw_row_columns`] for a known stride `S`, left shifts (`LSH`) and
    /// zero-point placement (`ZP`); the accumulators start from the bias.
    ///
    /// # Safety
    /// As [`dw_row_columns`].
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn dw_row_columns_with<const S: usize, const LSH: bool, const ZP: bool, const NEG: bool, const CLAMP: bool>(stages: &[Stage16], c: usize, ow: usize, g: &ColumnRow, pairs: *const i16, out: *mut i8) {
        let zp = _mm512_set1_epi16(g.zp as i16);
        let in_w = g.in_w as isize;
        let mut c0 = 0;
        while c0 < c {
            let w = (c - c0).min(32);
            let m: __mmask32 = if w == 32 { u32::MAX } else { (1u32 << w) - 1 };
            let (st_lo, st_hi) = (&stages[c0 / 16], &stages[c0 / 16 + 1]);
            // SAFETY: block c0 / 32 of the column-pair plane: 6 pairs of 64 values.
            let wb = unsafe { pairs.add(c0 / 32 * 6 * 64) };
            // Input column x of the three rows as pairs: rows 0/1 (low, high accumulator lanes), row 2 twice.
            let column = |x: isize| {
                let (a, b, d) = if x < 0 || x >= in_w {
                    (zp, zp, zp)
                } else {
                    // SAFETY: row r has in_w columns of c bytes read with step c, or is c bytes read
                    // with step 0, and 0 <= x < in_w; the w bytes from c0 are read (masked); AVX-512
                    // BW is enabled here.
                    let ld = |r: usize| unsafe { _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, g.rows[r].add(x as usize * g.steps[r] + c0))) };
                    (ld(0), ld(1), ld(2))
                };
                [_mm512_unpacklo_epi16(a, b), _mm512_unpackhi_epi16(a, b), _mm512_unpacklo_epi16(d, d), _mm512_unpackhi_epi16(d, d)]
            };
            // SAFETY: pair p of the block has 64 values (low accumulator's 32, then the high one's).
            let wp = |p: usize| unsafe { (_mm512_loadu_si512(wb.add(p * 64) as *const _), _mm512_loadu_si512(wb.add(p * 64 + 32) as *const _)) };
            let pixel = |px: usize, win: [&[__m512i; 4]; 3]| {
                let (mut lo, mut hi) = (st_lo.bias(), st_hi.bias());
                for (kx, k) in win.iter().enumerate() {
                    let (w01l, w01h) = wp(kx);
                    let (w2l, w2h) = wp(3 + kx);
                    lo = _mm512_dpwssd_epi32(lo, k[0], w01l);
                    hi = _mm512_dpwssd_epi32(hi, k[1], w01h);
                    lo = _mm512_dpwssd_epi32(lo, k[2], w2l);
                    hi = _mm512_dpwssd_epi32(hi, k[3], w2h);
                }
                // SAFETY: AVX-512 F/BW/VL are enabled; bytes c0 .. c0 + w of pixel px of the output row.
                unsafe { store_pair_block::<LSH, ZP, NEG, CLAMP>((st_lo, st_hi), (lo, hi), m, out.add(px * c + c0)) };
            };
            slide_columns!(S, ow, g.x0, column, pixel);
            c0 += 32;
        }
    }

    /// One output row of a depthwise convolution with multiplier 1 and the
    /// output stage fused, on tap quads with VPDPBUSD (AVX-512 VNNI): per
    /// block of 64 channels (the last one masked) and pixel, the inputs of
    /// taps `4g .. 4g + 4` are read as unsigned (`a + 128`, one XOR) and
    /// interleaved bytewise (VPUNPCKL/HBW, then VPUNPCKL/HWD, within 128-bit
    /// lanes), so one VPDPBUSD adds four taps' products to each of 16
    /// channels; missing taps of the last quad meet zero weights. The
    /// interleave puts channel `16L + 4·acc + j` in lane `4L + j` of
    /// accumulator `acc` ([`super::dw_quad_channel`]); the weights, the bias
    /// (which carries `− 128·Σ_t w`) and the stage parameters are packed in
    /// that order, and the in-lane VPACKSSDW / VPACKSSWB of the four results
    /// restore the channel order. The accumulators wrap like the scalar
    /// kernel's (`Σ (a + 128)·w − 128·Σ w = Σ a·w` modulo 2^32), so they are identical.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/VNNI are available; `stages` come from [`dw_block_stages`]
    /// for `c` and parameters with `vector_ok`; `lsh`: some column shifts left;
    /// `ptrs` holds `ow * taps` pointers to `c` readable bytes each, tap-major
    /// (pixel `px`'s tap `t` at `t * ow + px`); `quads`
    /// is the quad plane of `dw::pack_dw_quads` for `c` and `taps`; `out` has
    /// `ow * c` writable bytes nothing else accesses.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(crate) unsafe fn dw_row_quads(stages: &[Stage16], lsh: bool, c: usize, taps: usize, ow: usize, ptrs: *const *const i8, quads: *const i8, out: *mut i8) {
        // SAFETY: the caller's contract (AVX-512 F/BW/VL/VNNI are enabled in this function).
        unsafe {
            macro_rules! f {
                ($l:literal, $z:literal, $n:literal, $c:literal) => {
                    dw_row_quads_with::<$l, $z, $n, $c>(stages, c, taps, ow, ptrs, quads, out)
                };
            }
            let Some(s0) = stages.first() else { return };
            stage_variant!(f, [], lsh, s0)
        }
    }

    /// [`dw_row_quads`] for known left shifts (`LSH`) and zero-point placement
    /// (`ZP`: [`Stage16::zp_late`], the same for every stage of a layer); the
    /// accumulators start from the bias.
    ///
    /// # Safety
    /// As [`dw_row_quads`].
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn dw_row_quads_with<const LSH: bool, const ZP: bool, const NEG: bool, const CLAMP: bool>(stages: &[Stage16], c: usize, taps: usize, ow: usize, ptrs: *const *const i8, quads: *const i8, out: *mut i8) {
        let nq = taps.div_ceil(4);
        let full = taps / 4;
        let rest = taps % 4;
        let flip = _mm512_set1_epi8(-128);
        let mut c0 = 0;
        while c0 < c {
            let w = (c - c0).min(64);
            let m: __mmask64 = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
            let st = &stages[c0 / 16..c0 / 16 + 4];
            // Every stage has the layer's clamp bounds.
            let (lo, hi) = (_mm512_broadcastb_epi8(st[0].lo), _mm512_broadcastb_epi8(st[0].hi));
            // SAFETY: block c0 / 64 of the quad plane: nq quads of 256 bytes.
            let wb = unsafe { quads.add(c0 / 64 * nq * 256) };
            for px in 0..ow {
                // SAFETY: pointers (px, 0 .. taps) exist (tap-major); each has c readable bytes, of which the
                // w from c0 are read (masked); quad g of the block has 256 bytes; AVX-512
                // F/BW/VL/VNNI are enabled; bytes c0 .. c0 + w of pixel px of the output row.
                unsafe {
                    let pp = ptrs.add(px);
                    let ld = |t: usize| _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, (*pp.add(t * ow)).add(c0)), flip);
                    let mut acc = [st[0].bias(), st[1].bias(), st[2].bias(), st[3].bias()];
                    let mut dot = |x: [__m512i; 4], wq: *const i8| {
                        let (a, b) = (_mm512_unpacklo_epi8(x[0], x[1]), _mm512_unpackhi_epi8(x[0], x[1]));
                        let (cc, d) = (_mm512_unpacklo_epi8(x[2], x[3]), _mm512_unpackhi_epi8(x[2], x[3]));
                        let v = [_mm512_unpacklo_epi16(a, cc), _mm512_unpackhi_epi16(a, cc), _mm512_unpacklo_epi16(b, d), _mm512_unpackhi_epi16(b, d)];
                        for (j, (s, vj)) in acc.iter_mut().zip(v).enumerate() {
                            *s = _mm512_dpbusd_epi32(*s, vj, _mm512_loadu_si512(wq.add(64 * j) as *const _));
                        }
                    };
                    for g in 0..full {
                        dot([ld(4 * g), ld(4 * g + 1), ld(4 * g + 2), ld(4 * g + 3)], wb.add(g * 256));
                    }
                    if rest > 0 {
                        // The missing taps meet zero weights: any bytes do.
                        let t0 = 4 * full;
                        let x0 = ld(t0);
                        let x1 = if rest > 1 { ld(t0 + 1) } else { x0 };
                        let x2 = if rest > 2 { ld(t0 + 2) } else { x0 };
                        dot([x0, x1, x2, x0], wb.add(full * 256));
                    }
                    let y01 = _mm512_packs_epi32(st[0].requant32::<LSH, ZP, NEG>(acc[0]), st[1].requant32::<LSH, ZP, NEG>(acc[1]));
                    let y23 = _mm512_packs_epi32(st[2].requant32::<LSH, ZP, NEG>(acc[2]), st[3].requant32::<LSH, ZP, NEG>(acc[3]));
                    let v = _mm512_packs_epi16(y01, y23);
                    let v = if CLAMP { _mm512_min_epi8(_mm512_max_epi8(v, lo), hi) } else { v };
                    let o = out.add(px * c + c0);
                    if w == 64 {
                        _mm512_storeu_si512(o as *mut _, v);
                    } else {
                        _mm512_mask_storeu_epi8(o, m, v);
                    }
                }
            }
            c0 += 64;
        }
    }
}
