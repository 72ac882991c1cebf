//! `i8_8x32_avx512vnni`: the AVX-512 VNNI int8 GEMM micro-kernel. VPDPBUSD
//! multiplies unsigned by signed bytes, 4 deep, into int32: activations are
//! packed as `a + 128` (the packed bias carries `− 128·Σ_k w`), weights in
//! 4-deep groups per column; an 8x32 tile in 16 zmm accumulators, per 4
//! reduction steps 2 weight loads, 8 broadcasts and 16 VPDPBUSDs; and a
//! 12x16 tile (12 accumulators) for outputs whose width the 32-column tile
//! would pad too much. Fewer rows for the last rows of a GEMM.

use super::output::{store16_avx512, Stage16};
use super::{QTier, QUkernel};
use std::arch::x86_64::*;

/// How far ahead (bytes) the one- and two-row tiles prefetch their weights.
/// A FULLY_CONNECTED of one row streams its weights once (1.25 MB for
/// MobileNetV2's classifier, past L2) with little arithmetic per byte: with
/// the lines 2 KiB ahead requested early, a one-op 1280->1000 layer went from
/// 1.39x to 1.16x XNNPACK's time (which prefetches too); 4 KiB was no better.
const PREFETCH_AHEAD: usize = 2048;

/// `$row!(i)` for each listed row index, written out: the tiles store their
/// rows with constant indices so that the accumulators stay in registers
/// (a loop over a run-time row count went through the stack).
macro_rules! unrolled_rows {
    ($row:ident, $($i:literal)*) => {
        $($row!($i);)*
    };
}

pub const UKERNEL: QUkernel = QUkernel { name: "i8_8x32_avx512vnni", tier: QTier::Avx512Vnni, mr: 8, nr: 32, kr: 4, ka: 0, kstep: 4, a_xor: 0x80, run: run::<8> };
/// The same for the last rows of a GEMM.
pub const UKERNEL_4X32: QUkernel = QUkernel { name: "i8_4x32_avx512vnni", tier: QTier::Avx512Vnni, mr: 4, nr: 32, kr: 4, ka: 0, kstep: 4, a_xor: 0x80, run: run::<4> };
pub const UKERNEL_2X32: QUkernel = QUkernel { name: "i8_2x32_avx512vnni", tier: QTier::Avx512Vnni, mr: 2, nr: 32, kr: 4, ka: 0, kstep: 4, a_xor: 0x80, run: run::<2> };
pub const UKERNEL_1X32: QUkernel = QUkernel { name: "i8_1x32_avx512vnni", tier: QTier::Avx512Vnni, mr: 1, nr: 32, kr: 4, ka: 0, kstep: 4, a_xor: 0x80, run: run::<1> };

/// The `MR x 32` int32 accumulators of one block, each row starting from
/// `init`: row `i` of the left-hand side is the `kp` values at `a[i]`
/// (`a + 128`, or plain int8 when `XOR`: then each group of 4 is XORed with
/// `0x80` after its broadcast); `b` holds, per 4 reduction steps, 32
/// columns of 4 values.
///
/// # Safety
/// As [`run`], with every `a[i]` readable for `kp` values.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dot32<const MR: usize, const XOR: bool>(kp: usize, a: [*const i8; MR], b: *const i8, init: [__m512i; 2]) -> [[__m512i; 2]; MR] {
    // SAFETY: the caller's contract.
    unsafe { dot32_into::<MR, 2, XOR>(kp, a, b, [init; MR]) }
}

/// [`dot32`] adding to the accumulators `c`: the block's first `H * 16`
/// columns (`H` 2, or 1 for a block whose columns 16 .. 32 are padding:
/// half the weight loads and VPDPBUSDs).
///
/// # Safety
/// As [`dot32`].
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dot32_into<const MR: usize, const H: usize, const XOR: bool>(kp: usize, a: [*const i8; MR], b: *const i8, c: [[__m512i; H]; MR]) -> [[__m512i; H]; MR] {
    let flip = _mm512_set1_epi8(-128);
    let step = |g: usize, c: &mut [[__m512i; H]; MR]| {
        // SAFETY: group g of the block: 128 bytes inside it (g < kp / 4), of which H * 64 are read.
        let bh: [__m512i; H] = std::array::from_fn(|h| unsafe { _mm512_loadu_si512(b.add(g * 128 + h * 64) as *const _) });
        for (ci, ai) in c.iter_mut().zip(a) {
            // SAFETY: row i has kp values; 4 of them from 4 * g.
            let mut av = _mm512_set1_epi32(unsafe { (ai.add(g * 4) as *const i32).read_unaligned() });
            if XOR {
                av = _mm512_xor_si512(av, flip);
            }
            for (cih, &bhh) in ci.iter_mut().zip(&bh) {
                *cih = _mm512_dpbusd_epi32(*cih, av, bhh);
            }
        }
    };
    let mut c = c;
    let groups = kp / 4;
    if MR <= 2 {
        // One or two rows (FULLY_CONNECTED of one row): the weights stream by with two
        // VPDPBUSD per line, so they are prefetched, and even and odd groups go to two
        // chains per accumulator rather than one waiting on its latency.
        let mut d = [[_mm512_setzero_si512(); H]; MR];
        for g in (0..groups & !1).step_by(2) {
            // The two groups' four lines, PREFETCH_AHEAD on (a hint: past the block is harmless).
            for line in 0..4 {
                _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(g * 128 + PREFETCH_AHEAD + 64 * line));
            }
            step(g, &mut c);
            step(g + 1, &mut d);
        }
        if groups % 2 == 1 {
            step(groups - 1, &mut c);
        }
        for (ci, di) in c.iter_mut().zip(&d) {
            for (x, &y) in ci.iter_mut().zip(di) {
                *x = _mm512_add_epi32(*x, y);
            }
        }
        return c;
    }
    for g in 0..groups {
        step(g, &mut c);
    }
    c
}

/// See [`super::QRunFn`]: `a` is `MR` rows of `kp` values (`a + 128`); `b`
/// holds, per 4 reduction steps, 32 columns of 4 values.
///
/// # Safety
/// The [`super::QRunFn`] contract for this kernel's layouts; AVX-512 F/BW and VNNI are available.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn run<const MR: usize>(kp: usize, a: *const i8, b: *const i8, acc: *mut i32) {
    // SAFETY: the caller's contract: MR rows of the strip, kp apart.
    let c = unsafe { dot32::<MR, false>(kp, std::array::from_fn(|i| a.add(i * kp)), b, [_mm512_setzero_si512(); 2]) };
    for (i, ci) in c.iter().enumerate() {
        // SAFETY: acc holds MR rows of 32 i32.
        unsafe {
            _mm512_storeu_si512(acc.add(i * 32) as *mut _, ci[0]);
            _mm512_storeu_si512(acc.add(i * 32 + 16) as *mut _, ci[1]);
        }
    }
}

pub const UKERNEL_12X16: QUkernel = QUkernel { name: "i8_12x16_avx512vnni", tier: QTier::Avx512Vnni, mr: 12, nr: 16, kr: 4, ka: 0, kstep: 4, a_xor: 0x80, run: run16::<12> };
pub const UKERNEL_8X16: QUkernel = QUkernel { name: "i8_8x16_avx512vnni", tier: QTier::Avx512Vnni, mr: 8, nr: 16, kr: 4, ka: 0, kstep: 4, a_xor: 0x80, run: run16::<8> };
pub const UKERNEL_4X16: QUkernel = QUkernel { name: "i8_4x16_avx512vnni", tier: QTier::Avx512Vnni, mr: 4, nr: 16, kr: 4, ka: 0, kstep: 4, a_xor: 0x80, run: run16::<4> };
pub const UKERNEL_2X16: QUkernel = QUkernel { name: "i8_2x16_avx512vnni", tier: QTier::Avx512Vnni, mr: 2, nr: 16, kr: 4, ka: 0, kstep: 4, a_xor: 0x80, run: run16::<2> };
pub const UKERNEL_1X16: QUkernel = QUkernel { name: "i8_1x16_avx512vnni", tier: QTier::Avx512Vnni, mr: 1, nr: 16, kr: 4, ka: 0, kstep: 4, a_xor: 0x80, run: run16::<1> };

/// See [`super::QRunFn`]: `a` is `MR` rows of `kp` values (`a + 128`); `b`
/// holds, per 4 reduction steps, 16 columns of 4 values.
///
/// # Safety
/// The [`super::QRunFn`] contract for this kernel's layouts; AVX-512 F/BW and VNNI are available.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn run16<const MR: usize>(kp: usize, a: *const i8, b: *const i8, acc: *mut i32) {
    let mut c = [_mm512_setzero_si512(); MR];
    for g in 0..kp / 4 {
        // SAFETY: group g of the block: 64 bytes inside it (g < kp / 4).
        let b0 = unsafe { _mm512_loadu_si512(b.add(g * 64) as *const _) };
        for (i, ci) in c.iter_mut().enumerate() {
            // SAFETY: row i of the strip has kp values; 4 of them from 4 * g.
            let av = _mm512_set1_epi32(unsafe { (a.add(i * kp + g * 4) as *const i32).read_unaligned() });
            *ci = _mm512_dpbusd_epi32(*ci, av, b0);
        }
    }
    for (i, ci) in c.iter().enumerate() {
        // SAFETY: acc holds MR rows of 16 i32.
        unsafe { _mm512_storeu_si512(acc.add(i * 16) as *mut _, *ci) };
    }
}

/// [`run`] with the output stage fused: the `MR x 32` accumulators go through
/// `st` (the stages of the block's two 16-column halves, bias included) and
/// row `i < rows` is stored as int8 at `out + i * ldo` (its first `cols`
/// values), without the round trip through an accumulator tile.
/// Row `i` of the left-hand side is at `a + min(i, rows − 1) * lda`: a
/// packed strip (`lda = kp`, values `a + 128`) or, with `XOR`, the plain
/// int8 rows of a pointwise convolution, read in place. One call runs the
/// strip against `st.len()` consecutive blocks of 32 columns (`b` the
/// first, the others `bs` bytes apart; `cols` columns in all, from `out`),
/// so the dispatch and row pointers are paid once per strip.
/// `LSH`: some column shifts left; `ZP`: the stages add the zero point
/// after the shift ([`Stage16::zp_late`]); `row_corr` (uint8 weights) is
/// added per row. The accumulators start from the stages' biases.
///
/// # Safety
/// As [`run`]; AVX-512 BW/VL are available too; `st[i]` was built for
/// block `i`'s columns, and `32 * (st.len() − 1) < cols ≤ 32 * st.len()`;
/// `b` has `st.len()` packed blocks for `kp`, `bs` bytes apart;
/// `row_corr` has `rows` values; `1 ≤ rows ≤ MR`; rows `0 .. rows` of `a`
/// (`lda` apart) have `kp` readable values; `out` has `rows` rows of `cols`
/// writable bytes, `ldo` apart, that nothing else accesses.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn run_quant<const MR: usize, const LSH: bool, const ZP: bool, const NEG: bool, const CLAMP: bool, const XOR: bool>(
    kp: usize,
    a: *const i8,
    lda: usize,
    b: *const i8,
    bs: usize,
    st: &[[Stage16; 2]],
    row_corr: Option<&[i32]>,
    rows: usize,
    cols: usize,
    out: *mut i8,
    ldo: usize,
) {
    // SAFETY: the caller's contract: rows 0..rows of a, lda apart (later rows repeat the last).
    let rp: [*const i8; MR] = std::array::from_fn(|i| unsafe { a.add(i.min(rows - 1) * lda) });
    for (bi, sb) in st.iter().enumerate() {
        // SAFETY: the caller's contract: block bi of the weights, columns 32 * bi .. of the output.
        unsafe {
            let c = dot32::<MR, XOR>(kp, rp, b.add(bi * bs), [sb[0].bias(), sb[1].bias()]);
            store_quant::<MR, LSH, ZP, NEG, CLAMP, XOR, false>(c, sb, row_corr, rows, (cols - 32 * bi).min(32), out.add(32 * bi), ldo)
        }
    }
}

/// [`run_quant`] for a left-hand side in segments (a convolution's window
/// rows): row `i`'s values are, for every segment `s` in turn, the `kseg`
/// values at `seg[s] + min(i, rows − 1) * lda` (plain int8, XORed here);
/// the weights' reduction runs through the segments in that order
/// (`seg.len() * kseg` values, `kseg` a multiple of 4).
///
/// # Safety
/// As [`run_quant`], with every segment's rows readable for `kseg` values.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn run_quant_seg<const MR: usize, const LSH: bool, const ZP: bool, const NEG: bool, const CLAMP: bool>(
    seg: &[*const i8],
    kseg: usize,
    lda: usize,
    b: *const i8,
    bs: usize,
    st: &[[Stage16; 2]],
    row_corr: Option<&[i32]>,
    rows: usize,
    cols: usize,
    out: *mut i8,
    ldo: usize,
) {
    if cols <= 16 {
        // One block with at most 16 real columns (a stem of few output channels): the
        // padding columns get neither products nor an output stage.
        let sb = &st[0];
        let mut c = [[sb[0].bias()]; MR];
        for (s, &base) in seg.iter().enumerate() {
            // SAFETY: as below, for block 0 (its first 16 columns).
            c = unsafe { dot32_into::<MR, 1, true>(kseg, std::array::from_fn(|i| base.add(i.min(rows - 1) * lda)), b.add(s * kseg * 32), c) };
        }
        let m: __mmask16 = if cols >= 16 { 0xffff } else { (1u16 << cols) - 1 };
        // The rows by hand, with constant indices, so the accumulators stay in registers.
        macro_rules! row {
            ($i:expr) => {
                if let Some(&[x]) = c.get($i).filter(|_| $i < rows) {
                    let i: usize = $i;
                    // SAFETY: row i of the caller's output region: its first cols <= 16 bytes.
                    unsafe { store16_avx512(out.add(i * ldo), cols, m, sb[0].clamp16::<CLAMP>(sb[0].requant32::<LSH, ZP, NEG>(x))) };
                }
            };
        }
        unrolled_rows!(row, 0 1 2 3 4 5 6 7);
        const { assert!(MR <= 8) };
        return;
    }
    for (bi, sb) in st.iter().enumerate() {
        let mut c = [[sb[0].bias(), sb[1].bias()]; MR];
        for (s, &base) in seg.iter().enumerate() {
            // SAFETY: the caller's contract: segment s's rows, lda apart (later rows repeat the
            // last); its weights are groups s * kseg / 4 .. of block bi (128 bytes per group).
            c = unsafe { dot32_into::<MR, 2, true>(kseg, std::array::from_fn(|i| base.add(i.min(rows - 1) * lda)), b.add(bi * bs + s * kseg * 32), c) };
        }
        // SAFETY: the caller's contract: columns 32 * bi .. of the output.
        unsafe { store_quant::<MR, LSH, ZP, NEG, CLAMP, true, true>(c, sb, row_corr, rows, (cols - 32 * bi).min(32), out.add(32 * bi), ldo) }
    }
}

/// The output stage and int8 stores of [`run_quant`] for accumulators `c`.
/// `CALLER` and `SEG` only make one instance per caller: LLVM inlines a
/// function with a single call site, and this one must be inlined (out of
/// line, the 16 accumulators went through the stack: ~10% slower models).
///
/// # Safety
/// As [`run_quant`].
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn store_quant<const MR: usize, const LSH: bool, const ZP: bool, const NEG: bool, const CLAMP: bool, const CALLER: bool, const SEG: bool>(
    c: [[__m512i; 2]; MR],
    st: &[Stage16; 2],
    row_corr: Option<&[i32]>,
    rows: usize,
    cols: usize,
    out: *mut i8,
    ldo: usize,
) {
    let w0 = cols.min(16);
    let w1 = cols.saturating_sub(16);
    let mask = |w: usize| -> __mmask16 { if w >= 16 { 0xffff } else { (1u16 << w) - 1 } };
    let m0 = mask(w0);
    // The rows by hand, with constant indices, so the accumulators stay in
    // registers (a loop over a run-time row count went through the stack).
    macro_rules! row {
        ($i:expr) => {
            if let Some(ci) = c.get($i).filter(|_| $i < rows) {
                let i: usize = $i;
                let (mut x0, mut x1) = (ci[0], ci[1]);
                if let Some(rc) = row_corr {
                    let r = _mm512_set1_epi32(rc[i]);
                    x0 = _mm512_add_epi32(x0, r);
                    x1 = _mm512_add_epi32(x1, r);
                }
                // SAFETY: row i of the caller's output region: its first cols <= 32 bytes (masked below 32).
                unsafe {
                    if w1 > 0 {
                        // Both halves at once: VPACKSSDW + VPMOVSWB give columns in 4-column groups
                        // [0-3, 16-19, 4-7, 20-23, ...]; one VPERMD restores the order.
                        let v = st[0].clamp32::<CLAMP>(st[0].requant32::<LSH, ZP, NEG>(x0), st[1].requant32::<LSH, ZP, NEG>(x1));
                        let v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
                        if cols >= 32 {
                            _mm256_storeu_si256(out.add(i * ldo) as *mut __m256i, v);
                        } else {
                            _mm256_mask_storeu_epi8(out.add(i * ldo), (1u32 << cols) - 1, v);
                        }
                    } else {
                        store16_avx512(out.add(i * ldo), w0, m0, st[0].clamp16::<CLAMP>(st[0].requant32::<LSH, ZP, NEG>(x0)));
                    }
                }
            }
        };
    }
    unrolled_rows!(row, 0 1 2 3 4 5 6 7);
    const { assert!(MR <= 8) };
}

/// [`run16`] with the output stage fused (as [`run_quant`] for the 16-column
/// tile): the `MR x 16` accumulators start from the stage's bias, go through
/// `st` and row `i < rows` is stored as int8 at `out + i * ldo` (its first
/// `cols` values).
///
/// # Safety
/// As [`run16`]; AVX-512 BW/VL are available too; `st` was built for the
/// block's columns (`cols` ≤ 16 of them) and `ZP` is its
/// [`Stage16::zp_late`]; `row_corr` has `rows` values; `rows ≤ MR ≤ 12`;
/// `out` has `rows` rows of `cols` writable bytes, `ldo` apart, that nothing
/// else accesses.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn run16_quant<const MR: usize, const LSH: bool, const ZP: bool, const NEG: bool, const CLAMP: bool>(
    kp: usize,
    a: *const i8,
    b: *const i8,
    st: &Stage16,
    row_corr: Option<&[i32]>,
    rows: usize,
    cols: usize,
    out: *mut i8,
    ldo: usize,
) {
    let mut c = [st.bias(); MR];
    for g in 0..kp / 4 {
        // SAFETY: group g of the block: 64 bytes inside it (g < kp / 4).
        let b0 = unsafe { _mm512_loadu_si512(b.add(g * 64) as *const _) };
        for (i, ci) in c.iter_mut().enumerate() {
            // SAFETY: row i of the strip has kp values; 4 of them from 4 * g.
            let av = _mm512_set1_epi32(unsafe { (a.add(i * kp + g * 4) as *const i32).read_unaligned() });
            *ci = _mm512_dpbusd_epi32(*ci, av, b0);
        }
    }
    let w = cols.min(16);
    let m: __mmask16 = if w >= 16 { 0xffff } else { (1u16 << w) - 1 };
    // The rows by hand, with constant indices (see run_quant).
    macro_rules! row {
        ($i:expr) => {
            if let Some(ci) = c.get($i).filter(|_| $i < rows) {
                let i: usize = $i;
                let mut x = *ci;
                if let Some(rc) = row_corr {
                    x = _mm512_add_epi32(x, _mm512_set1_epi32(rc[i]));
                }
                // SAFETY: row i of the caller's output region: its first w <= 16 bytes.
                unsafe { store16_avx512(out.add(i * ldo), w, m, st.clamp16::<CLAMP>(st.requant32::<LSH, ZP, NEG>(x))) };
            }
        };
    }
    unrolled_rows!(row, 0 1 2 3 4 5 6 7 8 9 10 11);
    const { assert!(MR <= 12) };
}

/// [`run16_quant`] over `st.len()` consecutive blocks of 16 columns (the
/// first stage of each; `b` the first block, the others `bs` bytes apart,
/// `cols` columns in all from `out`), in [`run_quant`]'s argument order so
/// both resolve to one function type (`_lda` is `kp`: a packed strip).
///
/// # Safety
/// As [`run16_quant`] for every block and its columns.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn run16_blocks<const MR: usize, const LSH: bool, const ZP: bool, const NEG: bool, const CLAMP: bool>(
    kp: usize,
    a: *const i8,
    _lda: usize,
    b: *const i8,
    bs: usize,
    st: &[[Stage16; 2]],
    row_corr: Option<&[i32]>,
    rows: usize,
    cols: usize,
    out: *mut i8,
    ldo: usize,
) {
    for (bi, sb) in st.iter().enumerate() {
        // SAFETY: the caller's contract, for block bi and its columns 16 * bi ...
        unsafe { run16_quant::<MR, LSH, ZP, NEG, CLAMP>(kp, a, b.add(bi * bs), &sb[0], row_corr, rows, (cols - 16 * bi).min(16), out.add(16 * bi), ldo) }
    }
}
