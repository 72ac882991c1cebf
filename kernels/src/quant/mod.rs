//! int8 GEMM, FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D with TFLite's
//! requantization ([`Requant`]), on their own tiers ([`QTier`]).
//!
//! # Arithmetic
//! Every output is `clamp(zp_out + requant[j].apply(acc), min, max)` with
//! `acc = Σ_k (a − a_zp)(w − w_zp) + bias[j]`, computed exactly in (wrapping)
//! `i32` as TFLite does. The micro-kernels only ever compute raw `Σ a·w` of
//! int8 values; the rest is folded:
//! `acc = Σ a·w + bias'[j] − w_zp·Σ_k a[i][k]` with
//! `bias'[j] = bias[j] − a_zp·Σ_k w[j][k] + k·a_zp·w_zp` (packed once). The
//! per-row sum is only computed when `w_zp ≠ 0` (uint8 models). The VNNI tier
//! multiplies unsigned × signed, so it reads `a + 128` and its `bias'` also
//! carries `− 128·Σ_k w[j][k]`.
//!
//! # Structure
//! A GEMM micro-kernel ([`QUkernel`]) computes one `mr x nr` tile of raw
//! `i32` dot products from a packed left-hand strip (`mr` rows, packed per
//! task, so CONV_2D packs its rows straight from the input through the
//! window: an indirect GEMM whose padding reads a row of input zero points)
//! and one packed `nr`-column block of weights; an output stage per tier
//! family (scalar, Neon, AVX2) adds the folded bias and row correction,
//! requantizes, clamps and stores int8. Depthwise kernels
//! ([`QDwUkernel`]) accumulate `bias' + Σ_t a·w` per channel over `taps`
//! input pointers and share the output stage.
//!
//! All arithmetic is exact integer arithmetic, so results never depend on the
//! tier, the tile or the number of threads.

use std::sync::{Arc, Mutex};

use crate::fixedpoint::Requant;
use crate::gemm::TilePlan;
use crate::scratch;
use crate::{Exec, Isa, Nhwc, Window2d};

/// `$f!(.., LSH, ZP, NEG, CLAMP)` for a layer's run-time output-stage flags:
/// left shifts, late zero point ([`output::avx512::Stage16::zp_late`]),
/// negative ties ([`output::avx512::Stage16::neg_ties`]) and a clamp
/// narrower than int8 ([`output::avx512::Stage16::clamps`]). Only the common
/// case (no left shift, zero point folded) has instances without the
/// negative-tie correction or the clamp; the others keep both (`NEG` and
/// `CLAMP` true are always exact).
/// `[$pre]` are leading literal arguments of `$f` (a row count, or none).
#[cfg(target_arch = "x86_64")]
macro_rules! stage_variant {
    ($f:ident, [$($pre:literal),*], $lsh:expr, $st:expr) => {
        match ($lsh, $st.zp_late(), $st.neg_ties(), $st.clamps()) {
            (false, false, false, false) => $f!($($pre,)* false, false, false, false),
            (false, false, false, true) => $f!($($pre,)* false, false, false, true),
            (false, false, true, false) => $f!($($pre,)* false, false, true, false),
            (false, false, true, true) => $f!($($pre,)* false, false, true, true),
            (true, false, _, _) => $f!($($pre,)* true, false, true, true),
            (false, true, _, _) => $f!($($pre,)* false, true, true, true),
            (true, true, _, _) => $f!($($pre,)* true, true, true, true),
        }
    };
}

mod output;
mod pack;
mod tier;

pub mod i8_4x4_scalar;
#[cfg(target_arch = "aarch64")]
pub mod i8_8x8_neon_smlal;
#[cfg(target_arch = "aarch64")]
pub mod i8_8x8_neon_dot;
#[cfg(target_arch = "aarch64")]
pub mod i8_neon_i8mm;
#[cfg(target_arch = "aarch64")]
pub mod i8_12x8_neon_i8mm;
#[cfg(target_arch = "aarch64")]
mod neon_fused;
#[cfg(target_arch = "aarch64")]
pub mod i8_dw_neon;
#[cfg(target_arch = "aarch64")]
mod i8_dw3x3_neon_dot;
#[cfg(target_arch = "x86_64")]
pub mod i8_4x16_avx2;
#[cfg(target_arch = "x86_64")]
pub mod i8_8x32_avx512vnni;
#[cfg(target_arch = "x86_64")]
pub mod i8_dw_x86;

mod dw;
pub use dw::{qdepthwise_conv2d, qdw_ukernel, PackedQDepthwise, QDwRunFn, QDwUkernel};

pub use tier::{best_qtier, QTier};

/// Output stage: out = clamp(zero_point + requant[j].apply(acc), min, max); `requant` has 1
/// entry (per-tensor) or one per output channel; min/max already include the fused activation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantOut {
    pub requant: Vec<Requant>,
    pub zero_point: i32,
    pub min: i32,
    pub max: i32,
}

/// Which of TFLite's two `MultiplyByQuantizedMultiplier` variants the output
/// stage reproduces: `Double` (rounding doubling high multiply, then a
/// rounding shift: [`Requant::apply`]; LiteRT's reference CONV_2D and
/// DEPTHWISE_CONV_2D) or `Single` (one 64-bit rounding,
/// [`output_single_rounding`]; LiteRT 2.3's reference FULLY_CONNECTED).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Rounding {
    #[default]
    Double,
    Single,
}

/// `Requant` applied with TFLite's single rounding (see [`Rounding::Single`]).
pub fn output_single_rounding(r: Requant, x: i32) -> i32 {
    output::apply_single_rounding(r, x)
}

impl QuantOut {
    /// Per-tensor output stage without a fused activation (the int8 range).
    pub fn per_tensor(requant: Requant, zero_point: i32) -> QuantOut {
        QuantOut { requant: vec![requant], zero_point, min: -128, max: 127 }
    }

    /// The requantization of output column `j`.
    pub fn requant_for(&self, j: usize) -> Requant {
        if self.requant.len() == 1 {
            self.requant[0]
        } else {
            self.requant[j]
        }
    }

    /// The output value for accumulator `acc` of column `j` (the reference arithmetic).
    #[inline]
    pub fn apply(&self, j: usize, acc: i32) -> i8 {
        self.zero_point.wrapping_add(self.requant_for(j).apply(acc)).clamp(self.min, self.max) as i8
    }

    fn check(&self, n: usize, what: &str) {
        assert!(
            self.requant.len() == 1 || self.requant.len() == n,
            "{what}: {} requantization entries for {n} output channels (need 1 or {n})",
            self.requant.len()
        );
        assert!(
            -128 <= self.min && self.min <= self.max && self.max <= 127,
            "{what}: output clamp [{}, {}] outside the int8 range",
            self.min,
            self.max
        );
    }
}

/// Micro-kernel entry point: `run(kp, a, b, acc)`.
///
/// `acc[i * nr + j] = Σ_{p < kp} a(i, p) · b(p, j)` for `i < mr`, `j < nr`
/// (overwritten, not accumulated), over the packed layouts of the kernel's
/// [`QUkernel`] description.
///
/// # Safety
/// `a` points at a packed strip of `mr` rows for this `kp` ([`QUkernel::a_strip_len`]
/// bytes), `b` at one packed `nr`-column block (`kp * nr` bytes), `acc` at
/// `mr * nr` writable `i32`; `kp` is a multiple of the kernel's `kstep`.
pub type QRunFn = unsafe fn(kp: usize, a: *const i8, b: *const i8, acc: *mut i32);

/// One int8 GEMM micro-kernel: its tile, packing layouts and entry point.
///
/// Packed weights: blocks of `nr` columns; inside a block, for every group
/// `g` of `kr` reduction steps, `nr` columns of `kr` consecutive values
/// (`b[(g * nr + j) * kr + t] = w[j][g * kr + t]`), zero past `k` and `n`.
/// Packed left-hand strip: for every group of `ka` reduction steps, `mr` rows
/// of `ka` consecutive values (`ka == 0`: whole rows of `kp` values), each
/// value XOR-ed with `a_xor`; zero past `k` (before the XOR).
#[derive(Clone, Copy, Debug)]
pub struct QUkernel {
    /// `i8_<mr>x<nr>_<technique>`.
    pub name: &'static str,
    pub tier: QTier,
    pub mr: usize,
    pub nr: usize,
    pub kr: usize,
    pub ka: usize,
    /// The reduction length is padded to a multiple of this.
    pub kstep: usize,
    /// 0x80 when the kernel multiplies unsigned activations (`a + 128`).
    pub a_xor: u8,
    pub run: QRunFn,
}

impl QUkernel {
    /// The padded reduction length for `k`.
    pub fn kp(&self, k: usize) -> usize {
        k.div_ceil(self.kstep) * self.kstep
    }
    /// Bytes of one packed left-hand strip.
    pub fn a_strip_len(&self, kp: usize) -> usize {
        self.mr * kp
    }
    /// Bytes of one packed weight block.
    pub fn b_block_len(&self, kp: usize) -> usize {
        self.nr * kp
    }
}

/// The GEMM micro-kernel of a tier (the scalar one when the tier is not built
/// for or not detected on this machine).
pub fn qgemm_ukernel(tier: QTier) -> &'static QUkernel {
    match tier {
        #[cfg(target_arch = "aarch64")]
        QTier::Neon if tier.is_available() => &i8_8x8_neon_smlal::UKERNEL,
        #[cfg(target_arch = "aarch64")]
        QTier::NeonDot if tier.is_available() => &i8_8x8_neon_dot::UKERNEL,
        #[cfg(target_arch = "aarch64")]
        // 12x8 over 8x8: fewer instructions per multiply-add (benches/README.md).
        QTier::NeonI8mm if tier.is_available() => &i8_12x8_neon_i8mm::UKERNEL,
        #[cfg(target_arch = "x86_64")]
        QTier::Avx2 if tier.is_available() => &i8_4x16_avx2::UKERNEL,
        #[cfg(target_arch = "x86_64")]
        QTier::Avx512Vnni if tier.is_available() => &i8_8x32_avx512vnni::UKERNEL,
        _ => &i8_4x4_scalar::UKERNEL,
    }
}

/// The GEMM micro-kernel a tier packs `n x k` weights for: the tier's
/// default tile, or a narrower one where the default would pad the output
/// width by more than 15% and the narrower one pads less.
pub fn qgemm_ukernel_for(tier: QTier, n: usize, _k: usize) -> &'static QUkernel {
    let uk = qgemm_ukernel(tier);
    let padded = |nr: usize| n.div_ceil(nr) * nr;
    qgemm_ukernels(tier)
        .into_iter()
        .skip(1)
        .filter(|u| u.nr < uk.nr && padded(uk.nr) * 100 > n * 115 && padded(u.nr) < padded(uk.nr))
        .min_by_key(|u| padded(u.nr))
        .unwrap_or(uk)
}

/// Every GEMM micro-kernel of a tier (its default first; only the scalar
/// one when the tier is not available here).
pub fn qgemm_ukernels(tier: QTier) -> Vec<&'static QUkernel> {
    match tier {
        #[cfg(target_arch = "aarch64")]
        QTier::NeonI8mm if tier.is_available() => vec![qgemm_ukernel(tier), &i8_neon_i8mm::UKERNEL_8X8],
        #[cfg(target_arch = "x86_64")]
        QTier::Avx512Vnni if tier.is_available() => vec![qgemm_ukernel(tier), &i8_8x32_avx512vnni::UKERNEL_12X16],
        _ => vec![qgemm_ukernel(tier)],
    }
}

/// The kernels that run the last `< mr` rows of a GEMM packed for `uk`
/// (same weight layout, fewer rows), fewest rows first, then `uk` itself.
pub fn qgemm_row_tails(uk: &'static QUkernel) -> &'static [&'static QUkernel] {
    macro_rules! tails {
        ($($t:expr),*) => {{
            const T: &[&QUkernel] = &[$(&$t),*];
            T
        }};
    }
    match uk.name {
        #[cfg(target_arch = "aarch64")]
        "i8_8x8_neon_smlal" => tails!(i8_8x8_neon_smlal::UKERNEL_1X8, i8_8x8_neon_smlal::UKERNEL_2X8, i8_8x8_neon_smlal::UKERNEL_4X8, i8_8x8_neon_smlal::UKERNEL),
        #[cfg(target_arch = "aarch64")]
        "i8_8x8_neon_dot" => tails!(i8_8x8_neon_dot::UKERNEL_1X8, i8_8x8_neon_dot::UKERNEL_2X8, i8_8x8_neon_dot::UKERNEL_4X8, i8_8x8_neon_dot::UKERNEL),
        #[cfg(target_arch = "aarch64")]
        "i8_12x8_neon_i8mm" => tails!(i8_neon_i8mm::UKERNEL_2X8, i8_neon_i8mm::UKERNEL_4X8, i8_neon_i8mm::UKERNEL_8X8, i8_12x8_neon_i8mm::UKERNEL),
        #[cfg(target_arch = "aarch64")]
        "i8_8x8_neon_i8mm" => tails!(i8_neon_i8mm::UKERNEL_2X8, i8_neon_i8mm::UKERNEL_4X8, i8_neon_i8mm::UKERNEL_8X8),
        #[cfg(target_arch = "x86_64")]
        "i8_4x16_avx2" => tails!(i8_4x16_avx2::UKERNEL_1X16, i8_4x16_avx2::UKERNEL_2X16, i8_4x16_avx2::UKERNEL),
        #[cfg(target_arch = "x86_64")]
        "i8_8x32_avx512vnni" => tails!(i8_8x32_avx512vnni::UKERNEL_1X32, i8_8x32_avx512vnni::UKERNEL_2X32, i8_8x32_avx512vnni::UKERNEL_4X32, i8_8x32_avx512vnni::UKERNEL),
        #[cfg(target_arch = "x86_64")]
        "i8_12x16_avx512vnni" => tails!(
            i8_8x32_avx512vnni::UKERNEL_1X16,
            i8_8x32_avx512vnni::UKERNEL_2X16,
            i8_8x32_avx512vnni::UKERNEL_4X16,
            i8_8x32_avx512vnni::UKERNEL_8X16,
            i8_8x32_avx512vnni::UKERNEL_12X16
        ),
        "i8_4x4_scalar" => tails!(i8_4x4_scalar::UKERNEL),
        // Every GEMM kernel is listed above; an unknown one runs its own tails.
        _ => &[],
    }
}

/// int8 weights `[n, k]` packed once for one tier's micro-kernel, with the
/// folded bias and the column sums.
pub struct PackedQGemm {
    n: usize,
    k: usize,
    kp: usize,
    ukernel: &'static QUkernel,
    w_zero_point: i32,
    input_zero_point: i32,
    /// `ceil(n / nr)` blocks (see [`QUkernel`]), from a 64-byte boundary.
    packed: pack::AlignedBytes,
    /// `bias'` per column, padded to whole blocks.
    bias: Vec<i32>,
    /// Σ_k (w − w_zp) per column.
    col_sums: Vec<i32>,
    /// The output-stage parameters of the last call (a layer's are the same every call).
    params: output::ParamsCache<output::OutParams>,
}

impl PackedQGemm {
    /// w_nk: [n, k] int8; bias: [n] i32; the input zero point and the column sums are folded
    /// into the packed bias: acc = Σ_k (a − input_zp)(w − w_zp) + bias.
    pub fn pack(isa: Isa, n: usize, k: usize, w_nk: &[i8], w_zero_point: i32, bias: Option<&[i32]>, input_zero_point: i32) -> PackedQGemm {
        PackedQGemm::pack_tier(best_qtier(isa), n, k, w_nk, w_zero_point, bias, input_zero_point)
    }

    /// As [`PackedQGemm::pack`] for a given tier (the scalar kernel when the
    /// tier is not available here).
    pub fn pack_tier(tier: QTier, n: usize, k: usize, w_nk: &[i8], w_zero_point: i32, bias: Option<&[i32]>, input_zero_point: i32) -> PackedQGemm {
        PackedQGemm::pack_ukernel(qgemm_ukernel_for(tier, n, k), n, k, w_nk, w_zero_point, bias, input_zero_point)
    }

    /// As [`PackedQGemm::pack`] for a given micro-kernel (one of
    /// [`qgemm_ukernels`] of an available tier).
    pub fn pack_ukernel(uk: &'static QUkernel, n: usize, k: usize, w_nk: &[i8], w_zero_point: i32, bias: Option<&[i32]>, input_zero_point: i32) -> PackedQGemm {
        assert!(uk.tier.is_available(), "{}: tier not available here", uk.name);
        assert!(uk.mr <= MAX_MR, "{}: mr {} > {MAX_MR}", uk.name, uk.mr);
        assert!(w_nk.len() >= n * k, "qgemm weights: {} values for n={n} k={k}", w_nk.len());
        if let Some(b) = bias {
            assert!(b.len() >= n, "qgemm bias: {} values for n={n}", b.len());
        }
        let kp = uk.kp(k);
        let (nr, kr) = (uk.nr, uk.kr);
        let blocks = n.div_ceil(nr);
        let mut packed = pack::AlignedBytes::zeroed(blocks * uk.b_block_len(kp));
        for (blk, block) in packed.as_mut_slice().chunks_exact_mut(uk.b_block_len(kp).max(1)).enumerate() {
            for j in 0..nr.min(n - blk * nr) {
                let row = &w_nk[(blk * nr + j) * k..][..k];
                for (p, &v) in row.iter().enumerate() {
                    block[((p / kr) * nr + j) * kr + p % kr] = v;
                }
            }
        }
        let mut bias_f = vec![0i32; blocks * nr];
        let mut col_sums = vec![0i32; n];
        let kk = k as i32;
        for j in 0..n {
            let raw: i32 = w_nk[j * k..][..k].iter().fold(0i32, |s, &v| s.wrapping_add(v as i32));
            col_sums[j] = raw.wrapping_sub(kk.wrapping_mul(w_zero_point));
            let mut b = bias.map_or(0, |b| b[j]);
            b = b.wrapping_sub(input_zero_point.wrapping_mul(raw));
            b = b.wrapping_add(kk.wrapping_mul(input_zero_point).wrapping_mul(w_zero_point));
            if uk.a_xor != 0 {
                b = b.wrapping_sub(raw.wrapping_mul(128));
            }
            bias_f[j] = b;
        }
        PackedQGemm { n, k, kp, ukernel: uk, w_zero_point, input_zero_point, packed, bias: bias_f, col_sums, params: Default::default() }
    }

    pub fn n(&self) -> usize {
        self.n
    }
    pub fn k(&self) -> usize {
        self.k
    }
    /// Σ_k (w[j][k] − w_zp) per output column (for callers that vary the input zero point per row).
    pub fn col_sums(&self) -> &[i32] {
        &self.col_sums
    }
    /// Binds the layer's output stage and its rounding to these weights (once;
    /// false when one is bound already): calls that pass [`PackedQGemm::output`]
    /// reuse what was derived from it without comparing it column by column.
    pub fn bind_output(&self, q: QuantOut, rounding: Rounding) -> bool {
        self.params.bind(q, rounding)
    }
    /// The output stage bound by [`PackedQGemm::bind_output`].
    pub fn output(&self) -> Option<&QuantOut> {
        self.params.bound()
    }
    /// Name of the micro-kernel tier chosen (for reports), e.g. "i8_4x16_neon_dot".
    pub fn kernel_name(&self) -> &'static str {
        self.ukernel.name
    }
    /// The tier these weights are packed for.
    pub fn tier(&self) -> QTier {
        self.ukernel.tier
    }
    /// The input zero point folded in at packing time.
    pub fn input_zero_point(&self) -> i32 {
        self.input_zero_point
    }
    /// The weight zero point.
    pub fn w_zero_point(&self) -> i32 {
        self.w_zero_point
    }
}

/// Where the rows of the left-hand side come from.
#[derive(Clone, Copy)]
enum Lhs<'a> {
    /// `m` rows of `k` values, `lda` apart.
    Rows { a: &'a [i8], lda: usize },
    /// CONV_2D: output pixel `r` reads, for every tap in turn, `c` input values or the
    /// padding value; `runs` holds them merged into runs of adjacent taps
    /// ([`Indirection`]).
    Conv { input: &'a [i8], runs: &'a Indirection, pad: i8 },
}

impl Lhs<'_> {
    /// Writes the `k` values of row `r` into `dst`, each XORed with `x`. A
    /// convolution row may also write past `k` where `dst` is longer: up to
    /// 15 bytes past the end of a run (the strip padding or a later row's
    /// place, written after). Inlined into the strips' loops over rows, which
    /// then set it up once (it was a third of the stem's instructions on Arm).
    #[inline(always)]
    fn gather_row(&self, r: usize, dst: &mut [i8], x: i8) {
        match *self {
            Lhs::Rows { a, lda } => pack::copy_xor(dst, &a[r * lda..][..dst.len()], x),
            Lhs::Conv { input, runs, pad } => {
                let own = runs.row(r);
                if runs.short[r] && input.len() >= runs.in_len && own.last().is_some_and(|l| l.pos + 16 <= dst.len()) {
                    // Every run as one unchecked 16-byte move (the bytes past a run land where
                    // the row's later runs, at ascending positions, or the padding past k go).
                    for run in own {
                        // SAFETY: short[r]: run.off + 16 ≤ in_len ≤ input.len(); the
                        // positions ascend, so run.pos + 16 ≤ the last one's + 16 ≤ dst.len().
                        unsafe {
                            let v = (input.as_ptr().add(run.off) as *const [i8; 16]).read_unaligned();
                            (dst.as_mut_ptr().add(run.pos) as *mut [i8; 16]).write_unaligned(v.map(|b| b ^ x));
                        }
                    }
                    return;
                }
                for run in own {
                    if run.off == PAD {
                        // Padding reads the input zero point.
                        dst[run.pos..run.pos + run.len].fill(pad ^ x);
                    } else {
                        pack::copy_xor(&mut dst[run.pos..run.pos + run.len], &input[run.off..run.off + run.len], x);
                    }
                }
            }
        }
    }

    /// Packs rows `m0 .. m0 + rows` (the strip's remaining rows repeat the
    /// last one) into the first `k` values of each row of `strip` (the
    /// padding past `k` is left as it is: it only ever meets zero weights),
    /// with the row sums when asked.
    /// `gather` is scratch space of `mr * kp + 16` values (convolutions in a
    /// kernel-specific layout).
    #[allow(clippy::too_many_arguments)]
    fn pack_strip(&self, uk: &QUkernel, k: usize, kp: usize, m0: usize, rows: usize, strip: &mut [i8], gather: &mut [i8], sums: Option<&mut [i32]>) {
        match *self {
            // mr whole rows stored back to back, a kernel without k-groups and no padding: the
            // strip is those bytes (XORed), one copy instead of one per row.
            Lhs::Rows { a, lda } if uk.ka == 0 && lda == k && kp == k && rows == uk.mr => {
                pack::copy_xor(&mut strip[..uk.mr * k], &a[m0 * k..][..uk.mr * k], uk.a_xor as i8);
            }
            // Plain rows in a kernel-specific layout: packed straight from the input.
            Lhs::Rows { a, lda } if uk.ka != 0 => pack::pack_rows(uk, a, lda, m0, rows, k, kp, strip),
            _ => self.gather_strip(uk, k, kp, m0, rows, strip, gather),
        }
        if let Some(sums) = sums {
            self.row_sums(uk.mr, k, m0, rows, sums);
        }
    }

    /// [`Lhs::pack_strip`] by gathering rows: into their places for a kernel
    /// without k-groups (each XORed), else `kp` apart into `gather` (what
    /// lands past k meets zero weights), then packed as whole groups. Out of
    /// line, so that the plain rows' path keeps a small frame.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn gather_strip(&self, uk: &QUkernel, k: usize, kp: usize, m0: usize, rows: usize, strip: &mut [i8], gather: &mut [i8]) {
        if uk.ka == 0 {
            // A convolution row may write past its k values into the next one's place,
            // which is written after it; plain rows copy exactly k.
            let room = if matches!(self, Lhs::Conv { .. }) { usize::MAX } else { k };
            for i in 0..uk.mr {
                let dst = &mut strip[i * kp..];
                let len = dst.len().min(room);
                self.gather_row(m0 + i.min(rows - 1), &mut dst[..len], uk.a_xor as i8);
            }
        } else {
            for i in 0..rows {
                self.gather_row(m0 + i, &mut gather[i * kp..], 0);
            }
            pack::pack_rows(uk, gather, kp, 0, rows, kp, kp, strip);
        }
    }

    /// The sums of rows `m0 .. m0 + rows` (then the last one again) into
    /// the first `mr` of `sums`.
    #[inline(never)]
    fn row_sums(&self, mr: usize, k: usize, m0: usize, rows: usize, sums: &mut [i32]) {
        let mut row = vec![0i8; k];
        for (i, s) in sums.iter_mut().enumerate().take(mr) {
            self.gather_row(m0 + i.min(rows - 1), &mut row, 0);
            *s = row.iter().map(|&v| v as i32).sum();
        }
    }
}

/// The largest `mr` of any kernel.
const MAX_MR: usize = 12;

/// What the driver does with a tile of accumulators.
#[derive(Clone, Copy)]
enum Dst<'a> {
    Quant { q: &'a output::OutParams, ptr: SharedMutI8 },
    Acc { ptr: SharedMutI32 },
}

#[derive(Clone, Copy)]
struct SharedMutI8(*mut i8);
// SAFETY: every task writes a region of the output no other task touches.
unsafe impl Send for SharedMutI8 {}
// SAFETY: as above.
unsafe impl Sync for SharedMutI8 {}
impl SharedMutI8 {
    fn ptr(self) -> *mut i8 {
        self.0
    }
}
#[derive(Clone, Copy)]
struct SharedMutI32(*mut i32);
// SAFETY: every task writes a region of the output no other task touches.
unsafe impl Send for SharedMutI32 {}
// SAFETY: as above.
unsafe impl Sync for SharedMutI32 {}
impl SharedMutI32 {
    fn ptr(self) -> *mut i32 {
        self.0
    }
}

/// The driver shared by GEMM and CONV_2D: tiles the `m x n` output over the
/// pool, packs each `mr`-row strip once and runs it against every weight
/// block of the task.
fn drive(exec: Exec, m: usize, lhs: Lhs, w: &PackedQGemm, dst: Dst, ldo: usize) {
    let (n, k, kp) = (w.n, w.k, w.kp);
    if m == 0 || n == 0 {
        return;
    }
    let uk = w.ukernel;
    let (mr, nr) = (uk.mr, uk.nr);
    // TilePlan budgets fp32 weights (4 bytes per value); int8 weights are a quarter of
    // that, and a task re-packs its rows for every column chunk, so the chunks are
    // allowed twice the bytes (k / 8 "floats" of int8 weights per column).
    let plan = TilePlan::new(exec.pool.num_threads(), m, n, k.div_ceil(8), mr, nr);
    let want_sums = w.w_zero_point != 0;
    let tails = qgemm_row_tails(uk);
    // Built once per layer and output parameters.
    #[cfg(target_arch = "x86_64")]
    let fused = match dst {
        Dst::Quant { q, .. } => q.fused.get_or_init(|| fused_stages(uk, q, w)).as_deref(),
        Dst::Acc { .. } => None,
    };
    // The 8x32 fused tile reads plain rows in place (XORing them itself) when a
    // strip would meet one block of weights only (n ≤ 32: the packing copy is
    // not repaid; with more blocks the XORs repeat per block and packing wins)
    // and nothing else needs a packed strip: no row sums, whole groups of 4.
    #[cfg(target_arch = "x86_64")]
    let direct = match lhs {
        Lhs::Rows { a, lda } if fused.is_some() && nr == 32 && n <= nr && !want_sums && kp == k && uk.ka == 0 => Some((a, lda)),
        _ => None,
    };
    #[cfg(not(target_arch = "x86_64"))]
    let direct: Option<(&[i8], usize)> = None;
    // The dotprod / i8mm tiles with the output stage fused, where the layer allows it.
    #[cfg(target_arch = "aarch64")]
    let neon_fused = match dst {
        Dst::Quant { q, .. } if !want_sums => neon_fused::select(uk, q),
        _ => None,
    };
    // ... and the one that reads plain rows in place (no padding past k to pack), for
    // layers of at most 4 weight blocks: each block reloads the rows with 8 loads per 16
    // reduction steps instead of 4 LDPs of a strip, which the packing saved only up to
    // there (MobileNetV2's 1x1 layers on neoverse-n1, instructions per MAC: 0.1100
    // never in place, 0.1084 up to 32 columns, 0.1085 up to 96).
    #[cfg(target_arch = "aarch64")]
    let neon_rows = match (dst, lhs) {
        (Dst::Quant { q, .. }, Lhs::Rows { a, lda }) if !want_sums && kp == k && n <= 4 * nr => neon_fused::select_rows(uk, q).map(|f| (f, a, lda)),
        _ => None,
    };
    exec.pool.run(plan.tasks(), &|t| scratch::with(|scratch| {
        let (m0, mt, n0, nt) = plan.task(t, m, n);
        let [strip, gather] = &mut scratch.i8s;
        // The padding past k of a strip is never written: it multiplies zero weights
        // (whatever a reused buffer holds there).
        let strip = scratch::sized(strip, uk.a_strip_len(kp), 0);
        // Gathered windows, kp apart, and room for the last one's 16-byte copies.
        let gather = scratch::sized(gather, if matches!(lhs, Lhs::Conv { .. }) && uk.ka != 0 { mr * kp + 16 } else { 0 }, 0);
        let mut sums = [0i32; MAX_MR];
        let mut corr = [0i32; MAX_MR];
        // The accumulator strip of the unfused path (sized on its strips only).
        let acc = &mut scratch.i32s[0];
        // This task's column blocks: their packed weights (bs bytes each) and fused stages.
        #[cfg(target_arch = "x86_64")]
        let (bs, nb) = (uk.b_block_len(kp), nt.div_ceil(nr));
        #[cfg(target_arch = "x86_64")]
        let blocks = &w.packed.as_slice()[n0 / nr * bs..][..nb * bs];
        #[cfg(target_arch = "x86_64")]
        let fused = fused.map(|all| &all[n0 / nr..][..nb]);
        let mut i0 = m0;
        // Whole tiles of plain rows back to back, on a kernel resolved once: in the
        // narrow layers a tile is a few hundred instructions, and the general loop's
        // per-tile choices below were a fifth of it.
        #[cfg(target_arch = "x86_64")]
        if let (Some(stages), Dst::Quant { q, ptr }, Lhs::Rows { .. }, false) = (fused, dst, lhs, want_sums) {
            let full = fused_fn(mr, nr, q.any_lsh, direct.is_some(), &stages[0][0]);
            let strip = &mut strip[..uk.a_strip_len(kp)];
            for _ in 0..whole_tiles(mt, mr, nr == 32) {
                let (a, lda) = match direct {
                    Some((a, lda)) => (a[i0 * lda..].as_ptr(), lda),
                    None => {
                        lhs.pack_strip(uk, k, kp, i0, mr, strip, gather, None);
                        (strip.as_ptr(), kp)
                    }
                };
                // SAFETY: as for fused_tile below, with mr rows from i0 (whole_tiles: inside the task).
                unsafe { full(kp, a, lda, blocks.as_ptr(), bs, stages, None, mr, nt, ptr.ptr().add(i0 * ldo + n0), ldo) };
                i0 += mr;
            }
        }
        // Whole strips of the fused dotprod / i8mm tiles back to back, their blocks, bias
        // and kernel resolved once (per strip the general loop below spent about one
        // instruction per output of a 1x1 layer with 16 columns on them).
        #[cfg(target_arch = "aarch64")]
        if let (Dst::Quant { q, ptr }, true) = (dst, nt.is_multiple_of(nr)) {
            let bs = uk.b_block_len(kp);
            let blocks = &w.packed.as_slice()[n0 / nr * bs..][..nt / nr * bs];
            let bias = &w.bias[n0..n0 + nt];
            let strips = mt / mr;
            if let (Some((fused, a, lda)), true) = (neon_rows, strips > 0) {
                let a = &a[m0 * lda..];
                assert!(a.len() >= (strips * mr - 1) * lda + kp, "qgemm rows: {} values for {} rows of {kp}, {lda} apart", a.len(), strips * mr);
                for s in 0..strips {
                    #[cfg(test)]
                    neon_fused::STRIPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // SAFETY: `a` holds the rows m0..m0+strips·mr of kp == k values, lda apart
                    // (asserted), of which this strip's mr; `blocks` are the task's nt / 8
                    // packed blocks, bs bytes apart; `bias` and q have the columns n0..n0+nt
                    // (nt a multiple of nr = 8); the strip's rows, columns n0..n0+nt of the
                    // output lie inside it (checked by the entry points) and belong to this
                    // task alone; select_rows() chose the kernel for uk, whose tier is available.
                    unsafe { fused(kp, a.as_ptr().add(s * mr * lda), lda, blocks.as_ptr(), bs, bias, q, n0, ptr.ptr().add(i0 * ldo + n0), ldo) };
                    i0 += mr;
                }
            } else if let Some(fused) = neon_fused {
                let strip = &mut strip[..uk.a_strip_len(kp)];
                for _ in 0..strips {
                    lhs.pack_strip(uk, k, kp, i0, mr, strip, gather, None);
                    #[cfg(test)]
                    neon_fused::STRIPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // SAFETY: `strip` is one packed strip of uk for kp; blocks, bias, q and the
                    // output rows i0..i0+mr (inside the task: strips whole strips from m0) as
                    // above; select() chose the kernel for uk, whose tier is available.
                    unsafe { fused(kp, strip.as_ptr(), blocks.as_ptr(), bs, bias, q, n0, ptr.ptr().add(i0 * ldo + n0), ldo) };
                    i0 += mr;
                }
            }
        }
        while i0 < m0 + mt {
            #[cfg(target_arch = "x86_64")]
            let mut rows = if fused.is_some() && nr == 32 { even_rows(m0 + mt - i0, mr) } else { mr.min(m0 + mt - i0) };
            // A stem-layout convolution (8x32 fused tiles with window rows in place): the
            // strip stops where its pixels change between reading their windows in place
            // and crossing the padding, so the pixels gathered are only the latter.
            #[cfg(target_arch = "x86_64")]
            let in_place = match (fused, dst, lhs) {
                (Some(_), Dst::Quant { .. }, Lhs::Conv { runs: ind, .. }) if ind.row_k.is_some() => {
                    let (len, at) = ind.interior_prefix(i0, rows);
                    rows = len;
                    at
                }
                _ => None,
            };
            #[cfg(not(target_arch = "x86_64"))]
            let rows = mr.min(m0 + mt - i0);
            // The last rows run on the kernel with the fewest rows that covers them.
            let suk = tails.iter().copied().find(|t| t.mr >= rows).unwrap_or(uk);
            // The fused 8x32 tile also runs 6 or 7 rows exactly (from a strip packed for 8).
            #[cfg(target_arch = "x86_64")]
            let tile_mr = if matches!(rows, 6 | 7) && nr == 32 { rows } else { suk.mr };
            // A stem-layout convolution's strip of interior pixels: its window rows read in place.
            #[cfg(target_arch = "x86_64")]
            if let (Some(stages), Dst::Quant { q, ptr }, Lhs::Conv { input, runs: ind, .. }) = (fused, dst, lhs) {
                if let (Some(rk), Some((first, step))) = (ind.row_k, in_place) {
                    let kh = ind.win.kernel_h;
                    let mut bases = [std::ptr::null::<i8>(); MAX_SEGMENTS];
                    for (ky, b) in bases.iter_mut().enumerate().take(kh) {
                        *b = input[first + ky * step..].as_ptr();
                    }
                    let lda = ind.win.stride_w * ind.in_shape.c;
                    #[cfg(test)]
                    STEM_DIRECT_STRIPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // SAFETY: pixels i0..i0+rows lie in one output row with their windows
                    // inside the image (interior_prefix): row i's window row s starts at
                    // bases[s] + i * lda with row_k readable values (Indirection::new);
                    // kernel_h segments of row_k values make the block's kp; the stages,
                    // weight blocks, output region and tier as for fused_tile below.
                    unsafe { fused_tile_seg(tile_mr, q.any_lsh, &bases[..kh], rk, lda, blocks.as_ptr(), bs, stages, rows, nt, ptr.ptr().add(i0 * ldo + n0), ldo) };
                    i0 += rows;
                    continue;
                }
            }
            let strip = &mut strip[..suk.a_strip_len(kp)];
            if direct.is_none() {
                lhs.pack_strip(suk, k, kp, i0, rows, strip, gather, want_sums.then_some(&mut sums[..suk.mr]));
            }
            let row_corr = if want_sums {
                for (c, s) in corr.iter_mut().zip(&sums).take(mr) {
                    *c = w.w_zero_point.wrapping_mul(*s).wrapping_neg();
                }
                Some(&corr[..mr])
            } else {
                None
            };
            #[cfg(target_arch = "x86_64")]
            if let (Some(stages), Dst::Quant { q, ptr }) = (fused, dst) {
                // The 8x32 / 12x16 VNNI tiles with the output stage fused, over the task's blocks.
                // SAFETY: `strip` is one packed strip of suk (a tail of uk: same layouts) for
                // kp, or (direct) rows i0..i0+rows of the plain left-hand side, k == kp values
                // each, lda apart, inside it (checked by the entry points); `blocks` are the
                // task's nb packed blocks, bs bytes apart; the stages were built for columns
                // n0..n0+nt, nb blocks of them; rows i0..i0+rows, columns n0..n0+nt of the
                // output lie inside it (checked by the entry points) and belong to this task
                // alone; the tier is available (its kernel was chosen).
                unsafe {
                    match direct {
                        Some((a, lda)) => fused_tile(tile_mr, nr, q.any_lsh, kp, a[i0 * lda..].as_ptr(), lda, true, blocks.as_ptr(), bs, stages, row_corr, rows, nt, ptr.ptr().add(i0 * ldo + n0), ldo),
                        None => fused_tile(tile_mr, nr, q.any_lsh, kp, strip.as_ptr(), kp, false, blocks.as_ptr(), bs, stages, row_corr, rows, nt, ptr.ptr().add(i0 * ldo + n0), ldo),
                    }
                };
                i0 += rows;
                continue;
            }
            // Every weight block of the task into one accumulator strip (blocks of mr x nr),
            // then one output stage over the strip.
            let acc = scratch::sized(acc, mr * plan.max_task_cols().min(n.div_ceil(nr) * nr), 0);
            for (bi, j0) in (n0..n0 + nt).step_by(nr).enumerate() {
                let block = &w.packed.as_slice()[j0 / nr * uk.b_block_len(kp)..][..uk.b_block_len(kp)];
                let tile = &mut acc[bi * mr * nr..(bi + 1) * mr * nr];
                // SAFETY: `strip` is one packed strip of suk for kp (a_strip_len), `block` one
                // packed block (b_block_len: suk has uk's nr, kr and kstep), `tile` holds
                // mr * nr >= suk.mr * nr values; kp is a multiple of kstep.
                unsafe { (suk.run)(kp, strip.as_ptr(), block.as_ptr(), tile.as_mut_ptr()) };
            }
            let lay = output::AccLayout { row_stride: nr, block_cols: nr, block_len: mr * nr };
            let bias = &w.bias[n0..n0 + nt];
            match dst {
                Dst::Quant { q, ptr } => {
                    // SAFETY: rows i0..i0+rows, columns n0..n0+nt of the output lie inside it
                    // (checked by the entry points) and belong to this task alone.
                    let out = unsafe { ptr.ptr().add(i0 * ldo + n0) };
                    // SAFETY: as above: `rows` rows of `nt` values, `ldo` apart; acc holds them
                    // in `lay` (blocks of nr columns, nr a multiple of the stages' runs).
                    unsafe { output::store_tile(uk.tier, q, acc, lay, rows, nt, bias, row_corr, n0, out, ldo) };
                }
                Dst::Acc { ptr } => {
                    for i in 0..rows {
                        let rc = row_corr.map_or(0, |c| c[i]);
                        for (j, &b) in bias.iter().enumerate() {
                            // SAFETY: element (i0 + i, n0 + j) lies inside the output (checked by
                            // qgemm_acc) and belongs to this task alone.
                            unsafe { *ptr.ptr().add((i0 + i) * ldo + n0 + j) = acc[lay.idx(i, j)].wrapping_add(b).wrapping_add(rc) };
                        }
                    }
                }
            }
            i0 += rows;
        }
    }));
}

/// The output stages of a layer's `nr`-column blocks when its tiles run fused
/// (the `i8_8x32_avx512vnni` and `i8_12x16_avx512vnni` kernels into int8
/// through the vector stage): two 16-column stages per block (a 16-column
/// block uses the first), columns past `n` masked.
#[cfg(target_arch = "x86_64")]
fn fused_stages(uk: &QUkernel, q: &output::OutParams, w: &PackedQGemm) -> Option<Vec<[output::Stage16; 2]>> {
    let fusable = uk.name == i8_8x32_avx512vnni::UKERNEL.name || uk.name == i8_8x32_avx512vnni::UKERNEL_12X16.name;
    if !(q.vector_ok || q.single_ok) || !fusable || !uk.tier.is_available() {
        return None;
    }
    let stage = |c0: usize, end: usize| {
        let wd = end.saturating_sub(c0).min(16);
        let m: u16 = if wd >= 16 { 0xffff } else { (1u16 << wd) - 1 };
        // SAFETY: the tier is available (AVX-512 F/BW/VL); columns c0..c0+wd exist in q and in
        // the packed bias (padded to whole blocks); masked-off lanes are not read.
        unsafe { output::Stage16::new(q, c0.min(end), &w.bias[c0.min(w.bias.len())..], m) }
    };
    let n = w.n;
    Some((0..n).step_by(uk.nr).map(|j0| [stage(j0, n), stage(j0 + 16, n.min(j0 + uk.nr))]).collect())
}

/// `$f!(MR, LSH, ZP, NEG, CLAMP)` for the run-time row count (1, 2, 4, 6, 7 or 8) and
/// output-stage flags ([`stage_variant`]) of an 8x32 VNNI tile call.
#[cfg(target_arch = "x86_64")]
macro_rules! dispatch_8x32 {
    ($f:ident, $mr:expr, $lsh:expr, $st:expr) => {
        match $mr {
            8 => stage_variant!($f, [8], $lsh, $st),
            7 => stage_variant!($f, [7], $lsh, $st),
            6 => stage_variant!($f, [6], $lsh, $st),
            4 => stage_variant!($f, [4], $lsh, $st),
            2 => stage_variant!($f, [2], $lsh, $st),
            1 => stage_variant!($f, [1], $lsh, $st),
            _ => unreachable!("the 8x32 VNNI kernel has 1, 2, 4, 6, 7 and 8 row variants"),
        }
    };
}

/// One strip of fused 8x32 or 12x16 VNNI tiles (`nr` 32 or 16), or of one
/// of their row tails, over `st.len()` blocks of weights (`b` the first,
/// `bs` bytes apart) and `cols` columns of the output from `out`. `a` is a
/// packed strip (`lda = kp`) or, when `direct` (`nr` 32 only), the tile's
/// first plain int8 row, the others `lda` apart.
///
/// # Safety
/// See `i8_8x32_avx512vnni::run_quant` (`nr` 32: `mr` is 1, 2, 4, 6, 7 or 8) and
/// `run16_quant` (`nr` 16: `mr` is 1, 2, 4, 8 or 12).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn fused_tile(mr: usize, nr: usize, lsh: bool, kp: usize, a: *const i8, lda: usize, direct: bool, b: *const i8, bs: usize, st: &[[output::Stage16; 2]], rc: Option<&[i32]>, rows: usize, cols: usize, out: *mut i8, ldo: usize) {
    // SAFETY: the caller's contract, which is the resolved kernel's.
    unsafe { fused_fn(mr, nr, lsh, direct, &st[0][0])(kp, a, lda, b, bs, st, rc, rows, cols, out, ldo) }
}

/// A fused tile call (`fused_tile`'s arguments after `direct`) resolved to
/// one instance of `run_quant` (8x32) or `run16_blocks` (12x16).
#[cfg(target_arch = "x86_64")]
type FusedFn = unsafe fn(usize, *const i8, usize, *const i8, usize, &[[output::Stage16; 2]], Option<&[i32]>, usize, usize, *mut i8, usize);

/// The kernel instance for `mr` rows of an `nr`-column fused tile, the
/// layer's output-stage flags (`lsh` and `st`'s, which every stage of a
/// layer shares) and a packed or (`direct`, `nr` 32) in-place left-hand
/// side, resolved once so that a run of whole tiles pays no dispatch.
#[cfg(target_arch = "x86_64")]
fn fused_fn(mr: usize, nr: usize, lsh: bool, direct: bool, st: &output::Stage16) -> FusedFn {
    debug_assert!(!direct || nr == 32);
    macro_rules! in_place {
        ($mr:literal, $l:literal, $z:literal, $n:literal, $c:literal) => {
            i8_8x32_avx512vnni::run_quant::<$mr, $l, $z, $n, $c, true> as FusedFn
        };
    }
    macro_rules! packed {
        ($mr:literal, $l:literal, $z:literal, $n:literal, $c:literal) => {
            i8_8x32_avx512vnni::run_quant::<$mr, $l, $z, $n, $c, false> as FusedFn
        };
    }
    macro_rules! g16 {
        ($mr:literal, $l:literal, $z:literal, $n:literal, $c:literal) => {
            i8_8x32_avx512vnni::run16_blocks::<$mr, $l, $z, $n, $c> as FusedFn
        };
    }
    match (nr, direct) {
        (16, _) => match mr {
            12 => stage_variant!(g16, [12], lsh, st),
            8 => stage_variant!(g16, [8], lsh, st),
            4 => stage_variant!(g16, [4], lsh, st),
            2 => stage_variant!(g16, [2], lsh, st),
            1 => stage_variant!(g16, [1], lsh, st),
            _ => unreachable!("the 12x16 VNNI kernel has 1, 2, 4, 8 and 12 row variants"),
        },
        (_, true) => dispatch_8x32!(in_place, mr, lsh, st),
        (_, false) => dispatch_8x32!(packed, mr, lsh, st),
    }
}

/// How many whole `mr`-row tiles lead the fused tiles of `remaining` rows:
/// all of them with `even` off (whole tiles, then a tail); with `even`, the
/// tiles [`even_rows`] would give `mr` rows before it shares the rest
/// evenly. For `remaining = mr·q + s` (0 < s < mr) there are q + 1 tiles,
/// and `even_rows` keeps giving `mr` while the rows left exceed
/// `(mr − 1)` times the tiles left, which holds for the first
/// `q + s + 1 − mr` of them; after those the general loop takes over.
#[cfg(target_arch = "x86_64")]
fn whole_tiles(remaining: usize, mr: usize, even: bool) -> usize {
    if !even || remaining.is_multiple_of(mr) {
        return remaining / mr;
    }
    (remaining / mr + remaining % mr + 1).saturating_sub(mr)
}

/// The rows of the next fused 8x32 tile when `remaining` rows are left:
/// shared evenly over the fewest `mr`-row tiles when that makes every tile
/// 6 to 8 rows (49 as 7 x 7, 25 as 7 + 6 + 6 + 6), else a whole tile and a
/// short tail. A lone tail row would run two dependent VPDPBUSD chains, bound
/// by their latency: 7x7 layers took 10–20% more than XNNPACK's 7-row tiles.
#[cfg(target_arch = "x86_64")]
fn even_rows(remaining: usize, mr: usize) -> usize {
    let tiles = remaining.div_ceil(mr);
    if remaining >= 6 * tiles {
        remaining.div_ceil(tiles)
    } else {
        mr.min(remaining)
    }
}

/// One fused 8x32 VNNI tile (or a row tail: `mr` 1, 2, 4, 6, 7 or 8) over a
/// left-hand side in segments (`i8_8x32_avx512vnni::run_quant_seg`).
///
/// # Safety
/// See `i8_8x32_avx512vnni::run_quant_seg`.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn fused_tile_seg(mr: usize, lsh: bool, seg: &[*const i8], kseg: usize, lda: usize, b: *const i8, bs: usize, st: &[[output::Stage16; 2]], rows: usize, cols: usize, out: *mut i8, ldo: usize) {
    macro_rules! f {
        ($mr:literal, $l:literal, $z:literal, $n:literal, $c:literal) => {
            i8_8x32_avx512vnni::run_quant_seg::<$mr, $l, $z, $n, $c>(seg, kseg, lda, b, bs, st, None, rows, cols, out, ldo)
        };
    }
    // SAFETY: the caller's contract.
    unsafe {
        dispatch_8x32!(f, mr, lsh, st[0][0])
    }
}

fn check_rows(what: &str, m: usize, a: &[i8], lda: usize, k: usize) {
    if m > 0 {
        assert!(lda >= k, "{what}: lda={lda} < k={k}");
        assert!(a.len() >= (m - 1) * lda + k, "{what}: lhs has {} values, needs {}", a.len(), (m - 1) * lda + k);
    }
}

/// out[i][j] (int8) = QuantOut(Σ_k (a[i][k] − input_zp)(w[j][k] − w_zp) + bias[j]).
pub fn qgemm(exec: Exec, m: usize, a: &[i8], lda: usize, w: &PackedQGemm, out: &mut [i8], ldo: usize, q: &QuantOut) {
    let n = w.n;
    if m == 0 || n == 0 {
        return;
    }
    check_rows("qgemm", m, a, lda, w.k);
    assert!(ldo >= n, "qgemm: ldo={ldo} < n={n}");
    assert!(out.len() >= (m - 1) * ldo + n, "qgemm: out has {} values, needs {}", out.len(), (m - 1) * ldo + n);
    q.check(n, "qgemm");
    let params = w.params.get(q, Rounding::Double, || output::OutParams::new(q, n));
    drive(exec, m, Lhs::Rows { a, lda }, w, Dst::Quant { q: &params, ptr: SharedMutI8(out.as_mut_ptr()) }, ldo);
}

/// Raw accumulators: out[i][j] (i32) = Σ_k a[i][k](w[j][k] − w_zp) + bias[j] − input_zp·col_sum[j]
/// i.e. the same acc as qgemm without the output stage (dynamic-range / hybrid kernels use
/// this with input_zero_point 0 at pack time and correct per row themselves).
pub fn qgemm_acc(exec: Exec, m: usize, a: &[i8], lda: usize, w: &PackedQGemm, out: &mut [i32], ldo: usize) {
    let n = w.n;
    if m == 0 || n == 0 {
        return;
    }
    check_rows("qgemm_acc", m, a, lda, w.k);
    assert!(ldo >= n, "qgemm_acc: ldo={ldo} < n={n}");
    assert!(out.len() >= (m - 1) * ldo + n, "qgemm_acc: out has {} values, needs {}", out.len(), (m - 1) * ldo + n);
    drive(exec, m, Lhs::Rows { a, lda }, w, Dst::Acc { ptr: SharedMutI32(out.as_mut_ptr()) }, ldo);
}

/// As [`qgemm`], with the output stage's rounding chosen (`qgemm` is `Rounding::Double`).
pub fn qgemm_rounding(exec: Exec, m: usize, a: &[i8], lda: usize, w: &PackedQGemm, out: &mut [i8], ldo: usize, q: &QuantOut, rounding: Rounding) {
    let n = w.n;
    if m == 0 || n == 0 {
        return;
    }
    check_rows("qgemm", m, a, lda, w.k);
    assert!(ldo >= n, "qgemm: ldo={ldo} < n={n}");
    assert!(out.len() >= (m - 1) * ldo + n, "qgemm: out has {} values, needs {}", out.len(), (m - 1) * ldo + n);
    q.check(n, "qgemm");
    let params = w.params.get(q, rounding, || output::OutParams::with_rounding(q, n, rounding));
    drive(exec, m, Lhs::Rows { a, lda }, w, Dst::Quant { q: &params, ptr: SharedMutI8(out.as_mut_ptr()) }, ldo);
}

/// FULLY_CONNECTED with the output stage's rounding chosen: LiteRT 2.3.0's
/// reference FULLY_CONNECTED rounds once ([`Rounding::Single`]).
pub fn qfully_connected_rounding(exec: Exec, rows: usize, input: &[i8], w: &PackedQGemm, out: &mut [i8], q: &QuantOut, rounding: Rounding) {
    qgemm_rounding(exec, rows, input, w.k, w, out, w.n, q, rounding)
}

/// FULLY_CONNECTED over `rows` rows of k values (double rounding, as
/// [`qgemm`]; see [`qfully_connected_rounding`] for LiteRT's reference FC).
pub fn qfully_connected(exec: Exec, rows: usize, input: &[i8], w: &PackedQGemm, out: &mut [i8], q: &QuantOut) {
    qgemm(exec, rows, input, w.k, w, out, w.n, q)
}

/// The offset entry meaning "this tap reads the padding".
const PAD: usize = usize::MAX;

/// `len` values of one output pixel's window, at reduction position `pos`:
/// from input offset `off`, or the padding value when `off` is [`PAD`].
#[derive(Clone, Copy, Debug, PartialEq)]
struct TapRun {
    off: usize,
    len: usize,
    pos: usize,
}

/// Where every tap of every output pixel reads (an indirection buffer), for
/// one input shape and geometry: per pixel, its taps in order (`c` values
/// each), adjacent ones merged into runs, so a window row inside the image
/// (`kw * c` contiguous values when `dilation_w == 1`) is one copy, and a
/// run of padding one fill.
struct Indirection {
    in_shape: Nhwc,
    win: Window2d,
    runs: Vec<TapRun>,
    /// Pixel `r`'s runs are `runs[starts[r]..starts[r + 1]]`.
    starts: Vec<usize>,
    /// With window rows padded in the reduction ([`PackedQConv2d`]'s `row_k`)
    /// and `dilation_w == 1`, per pixel: where its first window row starts
    /// when it reads its whole window inside the image, each window row one
    /// run of `row_k` readable values (the padding values past `kw * c` read
    /// whatever follows: they meet zero weights); [`NOT_INTERIOR`] otherwise.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    interior: Vec<usize>,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    row_k: Option<usize>,
    /// Per pixel: every run reads the input, at most 16 values, with 16
    /// values of the input from its start (`off + 16 ≤ in_shape.len()`), so
    /// that [`Lhs::gather_row`] copies each as one 16-byte move.
    short: Vec<bool>,
    /// `in_shape.len()`.
    in_len: usize,
}

impl Indirection {
    /// `row_k`: the reduction places window row `ky` at `ky * row_k`
    /// (`row_k ≥ kw * c`); `None`: at `ky * kw * c`.
    fn new(in_shape: Nhwc, win: &Window2d, row_k: Option<usize>) -> Indirection {
        let (oh, ow) = (win.out_h(in_shape.h), win.out_w(in_shape.w));
        let (kh, kw, c) = (win.kernel_h, win.kernel_w, in_shape.c);
        let rs = row_k.unwrap_or(kw * c);
        let pixels = in_shape.n * oh * ow;
        let direct = row_k.is_some() && win.dilation_w == 1;
        let mut interior = Vec::with_capacity(if direct { pixels } else { 0 });
        let mut runs: Vec<TapRun> = Vec::with_capacity(pixels * kh);
        let mut starts = Vec::with_capacity(pixels + 1);
        let mut short = Vec::with_capacity(pixels);
        for b in 0..in_shape.n {
            for oy in 0..oh {
                for ox in 0..ow {
                    starts.push(runs.len());
                    let first = runs.len();
                    for ky in 0..kh {
                        let iy = (oy * win.stride_h + ky * win.dilation_h).checked_sub(win.pad_top).filter(|&y| y < in_shape.h);
                        for kx in 0..kw {
                            let ix = (ox * win.stride_w + kx * win.dilation_w).checked_sub(win.pad_left).filter(|&x| x < in_shape.w);
                            let off = match (iy, ix) {
                                (Some(iy), Some(ix)) => ((b * in_shape.h + iy) * in_shape.w + ix) * c,
                                _ => PAD,
                            };
                            let pos = ky * rs + kx * c;
                            // Merged with the pixel's last run when it continues it, in the input
                            // and in the reduction.
                            match runs[first..].last_mut() {
                                Some(last) if last.pos + last.len == pos && ((off == PAD && last.off == PAD) || (off != PAD && last.off != PAD && last.off + last.len == off)) => last.len += c,
                                _ => runs.push(TapRun { off, len: c, pos }),
                            }
                        }
                    }
                    short.push(runs[first..].iter().all(|r| r.off != PAD && r.len <= 16 && r.off + 16 <= in_shape.len()));
                    if direct {
                        let own = &runs[first..];
                        let inside = own.len() == kh && own.iter().all(|r| r.off != PAD && r.len == kw * c && r.off + rs <= in_shape.len());
                        interior.push(if inside { own[0].off } else { NOT_INTERIOR });
                    }
                }
            }
        }
        starts.push(runs.len());
        runs.shrink_to_fit();
        Indirection { in_shape, win: *win, runs, starts, interior, row_k, short, in_len: in_shape.len() }
    }

    /// How pixels `r0 .. r0 + rows` split for the in-place stem tile: when
    /// pixel `r0` reads its whole window inside the image, the number of
    /// pixels from it that do too, each `stride_w * c` values after the
    /// previous one (consecutive pixels of one output row, or of rows that
    /// continue each other in memory), with where the first one's first
    /// window row starts and how far apart its window rows are (`row_k`
    /// values each); otherwise the number of pixels from `r0` whose windows
    /// cross the padding (all `rows` without a stem layout), and `None`. Compared, not computed: locating a pixel
    /// took six divisions per strip, as long as the 16-column stem tile's
    /// own work.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn interior_prefix(&self, r0: usize, rows: usize) -> (usize, Option<(usize, usize)>) {
        // No interior offsets (not a stem layout): every pixel is gathered.
        let Some(offs) = self.interior.get(r0..r0 + rows) else { return (rows, None) };
        let (s, win) = (self.in_shape, &self.win);
        let (first, step) = (offs[0], win.stride_w * s.c);
        if first == NOT_INTERIOR {
            return (offs.iter().take_while(|&&o| o == NOT_INTERIOR).count(), None);
        }
        let linear = offs.iter().enumerate().take_while(|&(i, &o)| o != NOT_INTERIOR && o == first.wrapping_add(i * step)).count();
        (linear, Some((first, win.dilation_h * s.w * s.c)))
    }

    /// Pixel `r`'s runs.
    fn row(&self, r: usize) -> &[TapRun] {
        &self.runs[self.starts[r]..self.starts[r + 1]]
    }
}

/// CONV_2D weights (`[out_c, kh, kw, in_c]`, OHWI) packed once as a GEMM
/// right-hand side with `k = kh * kw * in_c`, tap-major, with the
/// indirection buffer of the last input shape seen.
pub struct PackedQConv2d {
    pub out_c: usize,
    pub in_c: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    weights: PackedQGemm,
    indirection: Mutex<Option<Arc<Indirection>>>,
    /// The stem layout: each window row's `kernel_w * in_c` weights padded
    /// with zeros to `row_k` (a multiple of 4), so that the fused 8x32 VNNI
    /// tile reads the window rows of interior pixels in place, 4-value
    /// groups never straddling two rows (no im2col copy); the reduction has
    /// `kernel_h * row_k` values. Layers with at most 4 input channels, wider
    /// than one tap, on that tile, without a weight zero point.
    row_k: Option<usize>,
}

/// Input channels up to which a CONV_2D takes the stem layout.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const STEM_MAX_IN_C: usize = 4;
/// [`Indirection`]'s mark of a pixel whose window is not wholly inside the image.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const NOT_INTERIOR: usize = usize::MAX;
/// The most window rows of a layer in the stem layout.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const MAX_SEGMENTS: usize = 16;

/// Strips the stem layout's in-place path ran (tests check that it does).
#[cfg(test)]
static STEM_DIRECT_STRIPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl PackedQConv2d {
    pub fn pack(isa: Isa, out_c: usize, kernel_h: usize, kernel_w: usize, in_c: usize, w_ohwi: &[i8], w_zero_point: i32, bias: Option<&[i32]>, input_zero_point: i32) -> PackedQConv2d {
        PackedQConv2d::pack_tier(best_qtier(isa), out_c, kernel_h, kernel_w, in_c, w_ohwi, w_zero_point, bias, input_zero_point)
    }
    /// As [`PackedQConv2d::pack`] for a given tier.
    pub fn pack_tier(tier: QTier, out_c: usize, kernel_h: usize, kernel_w: usize, in_c: usize, w_ohwi: &[i8], w_zero_point: i32, bias: Option<&[i32]>, input_zero_point: i32) -> PackedQConv2d {
        let row = kernel_w * in_c;
        let row_k = row.next_multiple_of(4);
        // The stem layout runs on the tier's default tile whatever the column
        // count (its in-place rows spare the im2col copy, which costs more
        // than the 12x16 tile saves on 16 or fewer columns).
        let stem_uk = qgemm_ukernel(tier);
        #[cfg(target_arch = "x86_64")]
        let stem = stem_uk.name == i8_8x32_avx512vnni::UKERNEL.name && in_c <= STEM_MAX_IN_C && kernel_w > 1 && kernel_h <= MAX_SEGMENTS && w_zero_point == 0;
        #[cfg(not(target_arch = "x86_64"))]
        let stem = false;
        if stem {
            assert_eq!(w_ohwi.len(), out_c * kernel_h * row, "qconv2d: weights for {out_c}x{kernel_h}x{kernel_w}x{in_c}");
            let mut padded = vec![0i8; out_c * kernel_h * row_k];
            for (dst, src) in padded.chunks_exact_mut(row_k).zip(w_ohwi.chunks_exact(row)) {
                dst[..row].copy_from_slice(src);
            }
            let weights = PackedQGemm::pack_ukernel(stem_uk, out_c, kernel_h * row_k, &padded, w_zero_point, bias, input_zero_point);
            return PackedQConv2d { out_c, in_c, kernel_h, kernel_w, weights, indirection: Mutex::new(None), row_k: Some(row_k) };
        }
        let weights = PackedQGemm::pack_tier(tier, out_c, kernel_h * row, w_ohwi, w_zero_point, bias, input_zero_point);
        PackedQConv2d { out_c, in_c, kernel_h, kernel_w, weights, indirection: Mutex::new(None), row_k: None }
    }

    fn indirection_for(&self, in_shape: Nhwc, win: &Window2d) -> Arc<Indirection> {
        let mut cached = self.indirection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*cached {
            Some(ind) if ind.in_shape == in_shape && ind.win == *win => ind.clone(),
            _ => {
                let ind = Arc::new(Indirection::new(in_shape, win, self.row_k));
                *cached = Some(ind.clone());
                ind
            }
        }
    }
    /// As [`PackedQGemm::bind_output`] (convolutions round twice).
    pub fn bind_output(&self, q: QuantOut) -> bool {
        self.weights.bind_output(q, Rounding::Double)
    }
    /// The output stage bound by [`PackedQConv2d::bind_output`].
    pub fn output(&self) -> Option<&QuantOut> {
        self.weights.output()
    }
    pub fn kernel_name(&self) -> &'static str {
        self.weights.kernel_name()
    }
    /// The packed weights as a GEMM right-hand side.
    pub fn gemm_weights(&self) -> &PackedQGemm {
        &self.weights
    }
}

pub(crate) fn check_window(what: &str, win: &Window2d, kernel_h: usize, kernel_w: usize) {
    assert!(
        win.kernel_h == kernel_h && win.kernel_w == kernel_w,
        "{what}: window kernel {}x{} differs from the weights' {kernel_h}x{kernel_w}",
        win.kernel_h,
        win.kernel_w
    );
    assert!(
        win.stride_h > 0 && win.stride_w > 0 && win.dilation_h > 0 && win.dilation_w > 0,
        "{what}: strides and dilations must be positive: {win:?}"
    );
}

/// CONV_2D; padding reads the input zero point (so it contributes 0).
pub fn qconv2d(exec: Exec, win: &Window2d, in_shape: Nhwc, input: &[i8], w: &PackedQConv2d, output: &mut [i8], q: &QuantOut) {
    check_window("qconv2d", win, w.kernel_h, w.kernel_w);
    assert_eq!(in_shape.c, w.in_c, "qconv2d: input channels");
    assert!(input.len() >= in_shape.len(), "qconv2d: input has {} values for {in_shape:?}", input.len());
    let (oh, ow) = (win.out_h(in_shape.h), win.out_w(in_shape.w));
    let m = in_shape.n * oh * ow;
    let n = w.out_c;
    assert!(output.len() >= m * n, "qconv2d: output has {} values, needs {}", output.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    q.check(n, "qconv2d");
    let pointwise = win.kernel_h == 1
        && win.kernel_w == 1
        && win.stride_h == 1
        && win.stride_w == 1
        && win.pad_top + win.pad_left + win.pad_bottom + win.pad_right == 0;
    if pointwise {
        qgemm(exec, m, input, w.in_c, &w.weights, output, n, q);
        return;
    }
    let zp = w.weights.input_zero_point;
    assert!((-128..=127).contains(&zp), "qconv2d: input zero point {zp} outside int8");
    let params = w.weights.params.get(q, Rounding::Double, || output::OutParams::new(q, n));
    let ind = w.indirection_for(in_shape, win);
    let lhs = Lhs::Conv { input, runs: &ind, pad: zp as i8 };
    drive(exec, m, lhs, &w.weights, Dst::Quant { q: &params, ptr: SharedMutI8(output.as_mut_ptr()) }, n);
}

#[cfg(test)]
mod tests;
