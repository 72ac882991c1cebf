//! AVX-512 (F/BW/VL) paths of the int8 elementwise kernels, computing
//! exactly the integers of the scalar code, 16 lanes per step, with masked
//! loads and stores for the tail (every function covers its whole output).
//!
//! TFLite's double-rounding `MultiplyByQuantizedMultiplier` is one 64-bit
//! step per lane (the same identity as the quant output stage): for
//! `p = (x << left)·M` (M ≥ 0) and a right shift `e`, the rounding doubling
//! high multiply `z = ⌊(p + 2^30) / 2^31⌋` followed by the rounding right
//! shift half away from zero `⌊(z + 2^(e−1) − [z < 0]) / 2^e⌋` is
//! `⌊(p + 2^30 + [e > 0]·2^(30+e) − [e > 0 ∧ p < −2^30]·2^31) / 2^(31+e)⌋`
//! (nested floors of divisions merge; `|p| < 2^62`, nothing overflows).
//! Even lanes take the low dword of that arithmetic shift; odd lanes take
//! the high dword of the value shifted by `e − 1` (or shifted left by one
//! for `e = 0`), which is the same quotient, so no permute is needed.
//!
//! Selected at run time: [`available`] checks AVX-512 F, BW and VL; the
//! callers fall back to the AVX2 / scalar code otherwise.

use super::vec::{AddSubVec, MulVec, Src, VRequant};
use crate::fixedpoint::Requant;
use std::arch::x86_64::*;

/// AVX-512 F, BW and VL are detected on this CPU.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vl")
}

/// A requantization with one multiplier and shift for every lane.
#[derive(Clone, Copy)]
struct Req {
    left: i32,
    right: i32,
    m: __m512i,
    k: __m512i,
}

impl Req {
    /// # Safety
    /// AVX-512 F is available; `r.multiplier >= 0`, `r.left < 32`, `r.right <= 31`.
    #[inline(always)]
    unsafe fn new(r: VRequant) -> Req {
        debug_assert!(r.multiplier >= 0 && r.left < 32 && (0..=31).contains(&r.right));
        // SAFETY: register-only AVX-512 F intrinsics (the caller's contract).
        unsafe {
            let k = (1i64 << 30) + if r.right > 0 { 1i64 << (30 + r.right) } else { 0 };
            Req { left: r.left, right: r.right, m: _mm512_set1_epi64(r.multiplier as i64), k: _mm512_set1_epi64(k) }
        }
    }

    /// `MultiplyByQuantizedMultiplier` per i32 lane (left shift wrapping, as in C).
    ///
    /// # Safety
    /// AVX-512 F is available.
    #[inline(always)]
    unsafe fn apply(&self, x: __m512i) -> __m512i {
        // SAFETY: as apply_known.
        unsafe {
            match (self.left > 0, self.right > 0) {
                (false, false) => self.apply_known::<false, false>(x),
                (false, true) => self.apply_known::<false, true>(x),
                (true, false) => self.apply_known::<true, false>(x),
                (true, true) => self.apply_known::<true, true>(x),
            }
        }
    }

    /// [`Req::apply`] for a known `LEFT` (`left > 0`) and `RIGHT` (`right > 0`).
    ///
    /// # Safety
    /// AVX-512 F is available.
    #[inline(always)]
    unsafe fn apply_known<const LEFT: bool, const RIGHT: bool>(&self, x: __m512i) -> __m512i {
        debug_assert!(LEFT == (self.left > 0) && RIGHT == (self.right > 0));
        // SAFETY: register-only AVX-512 F intrinsics.
        unsafe {
            let x = if LEFT { _mm512_sll_epi32(x, _mm_cvtsi32_si128(self.left)) } else { x };
            let pe = _mm512_mul_epi32(x, self.m);
            let po = _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), self.m);
            let (ve, vo) = (_mm512_add_epi64(pe, self.k), _mm512_add_epi64(po, self.k));
            if RIGHT {
                let lim = _mm512_set1_epi64(-(1 << 30));
                let b31 = _mm512_set1_epi64(1 << 31);
                let ve = _mm512_mask_sub_epi64(ve, _mm512_cmplt_epi64_mask(pe, lim), ve, b31);
                let vo = _mm512_mask_sub_epi64(vo, _mm512_cmplt_epi64_mask(po, lim), vo, b31);
                let ye = _mm512_sra_epi64(ve, _mm_cvtsi32_si128(31 + self.right));
                let yo = _mm512_sra_epi64(vo, _mm_cvtsi32_si128(self.right - 1));
                _mm512_mask_blend_epi32(0xaaaa, ye, yo)
            } else {
                let ye = _mm512_srai_epi64::<31>(ve);
                let yo = _mm512_slli_epi64::<1>(vo);
                _mm512_mask_blend_epi32(0xaaaa, ye, yo)
            }
        }
    }
}

/// The mask of the first `w ≤ 16` lanes.
#[inline(always)]
fn lanes(w: usize) -> __mmask16 {
    if w >= 16 {
        0xffff
    } else {
        (1u16 << w) - 1
    }
}

/// Elements `i .. i + w` of `s` (masked) as 16 i32 lanes.
///
/// # Safety
/// AVX-512 F/BW/VL are available; a run has `i + w` elements.
#[inline(always)]
unsafe fn load(s: Src, i: usize, m: __mmask16) -> __m512i {
    // SAFETY: the masked load touches only the first w bytes from i (the caller's contract).
    unsafe {
        match s {
            Src::Run(a) => _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a.as_ptr().add(i))),
            Src::Splat(x) => _mm512_set1_epi32(x as i32),
        }
    }
}

/// Runs `f` over `out` 64 elements at a time: `f(i, m)` gives elements
/// `i .. i + 16` (lanes `m`; the lanes past `out.len()` are masked off) as
/// i32, already offset by the output zero point; four of them narrow with
/// saturation (VPACKSSDW, VPACKSSWB), one VPERMD undoes the packs' in-lane
/// interleave, and the clamp runs on the bytes (saturation is monotone, so
/// clamping after it gives the bytes a clamp before it would). One
/// VPMOVDB per 16 outputs, as before, took a third of an ADD.
///
/// # Safety
/// AVX-512 F/BW/VL are available; `f` reads only its lanes `m`.
#[inline(always)]
unsafe fn each64(out: &mut [i8], min: i32, max: i32, f: impl Fn(usize, __mmask16) -> __m512i) {
    let n = out.len();
    // SAFETY: register-only AVX-512 F/BW intrinsics; the (masked) store touches only elements below n.
    unsafe {
        let (lo, hi) = (_mm512_set1_epi8(min.clamp(-128, 127) as i8), _mm512_set1_epi8(max.clamp(-128, 127) as i8));
        // Packed dword 4L + j holds outputs 16j + 4L .. 16j + 4L + 4: a 4x4 transpose of dwords.
        let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        let mut i = 0;
        while i < n {
            let w = (n - i).min(64);
            let part = |j: usize| f(i + 16 * j, lanes(w.saturating_sub(16 * j)));
            let (r0, r1, r2, r3) = (part(0), part(1), part(2), part(3));
            let v = _mm512_packs_epi16(_mm512_packs_epi32(r0, r1), _mm512_packs_epi32(r2, r3));
            let v = _mm512_min_epi8(_mm512_max_epi8(_mm512_permutexvar_epi32(order, v), lo), hi);
            let m: __mmask64 = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
            _mm512_mask_storeu_epi8(out.as_mut_ptr().add(i), m, v);
            i += w;
        }
    }
}

/// One input's rescaling in ADD/SUB (see [`addsub`]): `d = x − zp`, `t = d·mh
/// + ((d·ml + 2^10) >> 11)`, then for a right shift `e > 0`
/// `(t + 2^(e−1) − [d < 0]) >> e`.
#[derive(Clone, Copy)]
struct Side {
    zp: __m512i,
    mh: __m512i,
    ml: __m512i,
    /// `2^(e−1)` (0 for `e = 0`).
    round: __m512i,
    right: __m128i,
    shifts: bool,
}

impl Side {
    /// # Safety
    /// AVX-512 F is available; `r` is as [`addsub`] requires.
    #[inline(always)]
    unsafe fn new(zp: i32, r: VRequant) -> Side {
        // SAFETY: register-only AVX-512 F intrinsics (the caller's contract).
        unsafe {
            Side {
                zp: _mm512_set1_epi32(zp),
                mh: _mm512_set1_epi32(r.multiplier >> 11),
                ml: _mm512_set1_epi32(r.multiplier & 0x7ff),
                round: _mm512_set1_epi32(if r.right > 0 { 1 << (r.right - 1) } else { 0 }),
                right: _mm_cvtsi32_si128(r.right),
                shifts: r.right > 0,
            }
        }
    }

    /// The rescaled inputs `x` for a known `SHIFTS` (`e > 0`).
    ///
    /// # Safety
    /// AVX-512 F is available.
    #[inline(always)]
    unsafe fn apply<const SHIFTS: bool>(&self, x: __m512i) -> __m512i {
        debug_assert_eq!(SHIFTS, self.shifts);
        // SAFETY: register-only AVX-512 F intrinsics.
        unsafe {
            let d = _mm512_sub_epi32(x, self.zp);
            let low = _mm512_srai_epi32::<11>(_mm512_add_epi32(_mm512_mullo_epi32(d, self.ml), _mm512_set1_epi32(1 << 10)));
            let t = _mm512_add_epi32(_mm512_mullo_epi32(d, self.mh), low);
            if !SHIFTS {
                return t;
            }
            let t = _mm512_add_epi32(t, self.round);
            let neg = _mm512_cmplt_epi32_mask(d, _mm512_setzero_si512());
            _mm512_sra_epi32(_mm512_mask_sub_epi32(t, neg, t, _mm512_set1_epi32(1)), self.right)
        }
    }

    /// [`Side::apply`] with the shift decided at run time.
    ///
    /// # Safety
    /// AVX-512 F is available.
    #[inline(always)]
    unsafe fn apply_dyn(&self, x: __m512i) -> __m512i {
        // SAFETY: as Side::apply.
        unsafe {
            if self.shifts {
                self.apply::<true>(x)
            } else {
                self.apply::<false>(x)
            }
        }
    }
}

/// ADD/SUB over the whole of `out`; returns `out.len()`.
///
/// Input side (AddSubCore): `R((x − zp) << 20)` with a multiplier `m` in
/// [2^30, 2^31) and a right shift `e ≥ 0` (the input multipliers are at most
/// one half; exactly one half, `e = 0`, for the input with the larger scale). The doubling high multiply is `t = ⌊(d·m + 2^10) / 2^11⌋` for
/// `|d| ≤ 255`; with `m = mh·2^11 + ml` that is `d·mh + ((d·ml + 2^10) >> 11)`
/// in i32 (`|d·mh| < 2^28`), and `t < 0` exactly when `d < 0` (as `m ≥ 2^30`),
/// so the rounding shift is `(t + 2^(e−1) − [d < 0]) >> e` (none for `e = 0`).
///
/// # Safety
/// AVX-512 F/BW/VL are available ([`available`]); runs are at least
/// `out.len()` long; the multipliers are as [`AddSubCore`](super::binary::AddSubCore) builds them.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn addsub(p: &AddSubVec, a: Src, b: Src, out: &mut [i8]) -> usize {
    debug_assert!(p.a.left == 0 && p.b.left == 0 && p.a.right <= 31 && p.b.right <= 31);
    debug_assert!(p.a.multiplier >= 1 << 30 && p.b.multiplier >= 1 << 30);
    let n = out.len();
    // SAFETY: every access is to elements below n (masked for the tail); AVX-512 F/BW/VL
    // are enabled in this function.
    unsafe {
        let req = Req::new(p.out);
        let zo = _mm512_set1_epi32(p.out_zp);
        // A broadcast operand's side is one constant vector.
        let const_a = match a {
            Src::Splat(_) => Some(Side::new(p.a_zp, p.a).apply_dyn(load(a, 0, 0xffff))),
            Src::Run(_) => None,
        };
        let const_b = match b {
            Src::Splat(_) => Some(Side::new(p.b_zp, p.b).apply_dyn(load(b, 0, 0xffff))),
            Src::Run(_) => None,
        };
        if let (Src::Run(x), Src::Run(y), 0) = (a, b, p.out.left) {
            if n >= LUT_MIN && vbmi_available() {
                let (la, lb) = (SideLut::load(&p.planes[0]), SideLut::load(&p.planes[1]));
                match (p.sub, p.out.right > 0) {
                    (false, false) => addsub_lut::<false, false>(p, &la, &lb, x, y, out),
                    (false, true) => addsub_lut::<false, true>(p, &la, &lb, x, y, out),
                    (true, false) => addsub_lut::<true, false>(p, &la, &lb, x, y, out),
                    (true, true) => addsub_lut::<true, true>(p, &la, &lb, x, y, out),
                }
                return n;
            }
            macro_rules! runs {
                ($($s:literal $ra:literal $rb:literal $ro:literal),*) => {
                    match (p.sub, p.a.right > 0, p.b.right > 0, p.out.right > 0) {
                        $(($s, $ra, $rb, $ro) => addsub_runs::<$s, $ra, $rb, $ro>(p, x, y, out),)*
                    }
                };
            }
            runs!(false false false false, false false false true, false false true false, false false true true,
                  false true false false, false true false true, false true true false, false true true true,
                  true false false false, true false false true, true false true false, true false true true,
                  true true false false, true true false true, true true true false, true true true true);
            return n;
        }
        let (side_a, side_b) = (Side::new(p.a_zp, p.a), Side::new(p.b_zp, p.b));
        each64(out, p.min, p.max, |i, m| {
            let sa = const_a.unwrap_or_else(|| side_a.apply_dyn(load(a, i, m)));
            let sb = const_b.unwrap_or_else(|| side_b.apply_dyn(load(b, i, m)));
            let raw = if p.sub { _mm512_sub_epi32(sa, sb) } else { _mm512_add_epi32(sa, sb) };
            _mm512_add_epi32(req.apply(raw), zo)
        });
    }
    n
}

/// [`addsub`] of two runs for known flags: `SUB`, and which of the input
/// (`RA`, `RB`) and output (`RO`) requantizations shift right (the output
/// one does not shift left); every branch out of the loop, so it keeps its
/// constants in registers.
///
/// # Safety
/// As [`addsub`]; `x` and `y` are at least `out.len()` long.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn addsub_runs<const SUB: bool, const RA: bool, const RB: bool, const RO: bool>(p: &AddSubVec, x: &[i8], y: &[i8], out: &mut [i8]) {
    // SAFETY: every load is masked to elements below out.len() (each64); AVX-512 F/BW/VL are enabled.
    unsafe {
        let req = Req::new(p.out);
        let zo = _mm512_set1_epi32(p.out_zp);
        let (side_a, side_b) = (Side::new(p.a_zp, p.a), Side::new(p.b_zp, p.b));
        each64(out, p.min, p.max, |i, m| {
            let sa = side_a.apply::<RA>(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, x.as_ptr().add(i))));
            let sb = side_b.apply::<RB>(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, y.as_ptr().add(i))));
            let raw = if SUB { _mm512_sub_epi32(sa, sb) } else { _mm512_add_epi32(sa, sb) };
            _mm512_add_epi32(req.apply_known::<false, RO>(raw), zo)
        });
    }
}

/// Runs shorter than this keep the arithmetic path: the threshold the tables
/// were measured with when each call built them (they cost about 512
/// outputs then; now they are loaded), and it keeps that path, the one for
/// AVX-512 CPUs without VBMI, under test on CPUs with it.
const LUT_MIN: usize = 1024;

/// AVX-512 VBMI (VPERMI2B) is detected on this CPU.
fn vbmi_available() -> bool {
    is_x86_feature_detected!("avx512vbmi")
}

/// One ADD/SUB input side as a table of its 256 values: an int8 input has
/// 256 values, so its rescaled value is looked up rather than computed (two
/// multiplies and eight other instructions per 16 values). The table is
/// [`AddSubCore`](super::binary::AddSubCore)'s, made at Prepare, indexed by
/// `x as u8` and held as the four bytes of each value, each byte plane in
/// four registers of 64 entries; VPERMI2B looks up 64 indices in two of them
/// at a time.
struct SideLut {
    planes: [[__m512i; 4]; 4],
}

impl SideLut {
    /// # Safety
    /// AVX-512 F is available.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(planes: &[[u8; 256]; 4]) -> SideLut {
        // SAFETY: 64-byte loads at 0, 64, 128 and 192 of each 256-byte plane.
        SideLut { planes: std::array::from_fn(|p| std::array::from_fn(|q| unsafe { _mm512_loadu_si512(planes[p].as_ptr().add(64 * q) as *const _) })) }
    }

    /// The values of the 64 inputs `x` as four vectors of 16 i32: vector `j`
    /// holds, in each 128-bit lane `L`, inputs `16L + 4j .. 16L + 4j + 4`
    /// (the order VPACKSSDW + VPACKSSWB undo).
    ///
    /// # Safety
    /// AVX-512 F/BW/VBMI are available.
    #[inline(always)]
    unsafe fn lookup(&self, x: __m512i) -> [__m512i; 4] {
        // SAFETY: register-only AVX-512 F/BW/VBMI intrinsics.
        unsafe {
            // Entries 128..256 (the negative inputs) are the sign-bit lanes.
            let upper = _mm512_movepi8_mask(x);
            let b: [__m512i; 4] = std::array::from_fn(|p| {
                let t = &self.planes[p];
                _mm512_mask_blend_epi8(upper, _mm512_permutex2var_epi8(t[0], x, t[1]), _mm512_permutex2var_epi8(t[2], x, t[3]))
            });
            let (w01l, w01h) = (_mm512_unpacklo_epi8(b[0], b[1]), _mm512_unpackhi_epi8(b[0], b[1]));
            let (w23l, w23h) = (_mm512_unpacklo_epi8(b[2], b[3]), _mm512_unpackhi_epi8(b[2], b[3]));
            [_mm512_unpacklo_epi16(w01l, w23l), _mm512_unpackhi_epi16(w01l, w23l), _mm512_unpacklo_epi16(w01h, w23h), _mm512_unpackhi_epi16(w01h, w23h)]
        }
    }
}

/// [`addsub`] of two runs through the sides' tables, 64 outputs at a time,
/// for known flags: `SUB`, and whether the output requantization shifts
/// right (`RO`; it does not shift left).
///
/// # Safety
/// AVX-512 F/BW/VL/VBMI are available; `x` and `y` are at least `out.len()` long.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
unsafe fn addsub_lut<const SUB: bool, const RO: bool>(p: &AddSubVec, la: &SideLut, lb: &SideLut, x: &[i8], y: &[i8], out: &mut [i8]) {
    let n = out.len();
    // SAFETY: every load and store is masked to elements below n; AVX-512 F/BW/VL/VBMI are enabled.
    unsafe {
        let req = Req::new(p.out);
        let zo = _mm512_set1_epi32(p.out_zp);
        let (lo, hi) = (_mm512_set1_epi8(p.min.clamp(-128, 127) as i8), _mm512_set1_epi8(p.max.clamp(-128, 127) as i8));
        let mut i = 0;
        while i < n {
            let w = (n - i).min(64);
            let m: __mmask64 = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
            let sa = la.lookup(_mm512_maskz_loadu_epi8(m, x.as_ptr().add(i)));
            let sb = lb.lookup(_mm512_maskz_loadu_epi8(m, y.as_ptr().add(i)));
            let r: [__m512i; 4] = std::array::from_fn(|j| {
                let raw = if SUB { _mm512_sub_epi32(sa[j], sb[j]) } else { _mm512_add_epi32(sa[j], sb[j]) };
                _mm512_add_epi32(req.apply_known::<false, RO>(raw), zo)
            });
            // The packs restore the order lookup gave (each lane's 16 outputs in turn).
            let v = _mm512_packs_epi16(_mm512_packs_epi32(r[0], r[1]), _mm512_packs_epi32(r[2], r[3]));
            _mm512_mask_storeu_epi8(out.as_mut_ptr().add(i), m, _mm512_min_epi8(_mm512_max_epi8(v, lo), hi));
            i += w;
        }
    }
}

/// MUL over the whole of `out`; returns `out.len()`.
///
/// # Safety
/// AVX-512 F/BW/VL are available ([`available`]); runs are at least
/// `out.len()` long; `p.out` has a multiplier ≥ 0 and a left shift below 32.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn mul(p: &MulVec, a: Src, b: Src, out: &mut [i8]) -> usize {
    let n = out.len();
    // SAFETY: every access is to elements below n (masked for the tail); AVX-512 F/BW/VL
    // are enabled in this function.
    unsafe {
        let req = Req::new(p.out);
        let (za, zb) = (_mm512_set1_epi32(p.a_zp), _mm512_set1_epi32(p.b_zp));
        let zo = _mm512_set1_epi32(p.out_zp);
        each64(out, p.min, p.max, |i, m| {
            let prod = _mm512_mullo_epi32(_mm512_sub_epi32(load(a, i, m), za), _mm512_sub_epi32(load(b, i, m), zb));
            _mm512_add_epi32(req.apply(prod), zo)
        });
    }
    n
}

/// QUANTIZE f32 → int8 over the whole of `out` (returns `out.len()`), exactly as
/// [`super::QuantizeParams::quantize`] (`round(x / scale)`, half away from
/// zero, on the f32 quotient), mostly without dividing: `t = x · (1/scale)`
/// is within 2^-22·|t| of the quotient `x / scale` rounded to f32 (when
/// `1/scale` is a normal float), so where `t` is further than 2^-20·|t| from
/// a half-integer both round to the same integer, the nearest to `t`. A
/// vector with a lane closer to a tie, or with |t| ≥ 2^20, NaN or
/// infinite, is divided as the AVX2 code does (every float handled as
/// there: cvttps2dq's i32::MIN for NaN and out-of-range, zero point added
/// wrapping); the saturating narrow is the clamp.
///
/// # Safety
/// AVX-512 F/BW/VL are available; `input.len() >= out.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn quantize(scale: f32, zp: i32, input: &[f32], out: &mut [i8]) -> usize {
    let n = out.len();
    let recip = 1.0 / scale;
    let fast = recip.is_normal();
    // SAFETY: every load and store is masked to elements below n <= both lengths; AVX-512
    // F/BW/VL are enabled for this function.
    unsafe {
        let (vs, vr, vz) = (_mm512_set1_ps(scale), _mm512_set1_ps(recip), _mm512_set1_epi32(zp));
        let (sign, almost_half) = (_mm512_set1_epi32(i32::MIN), _mm512_set1_epi32(0x3eff_ffff));
        let (half, margin, wide) = (_mm512_set1_ps(0.5), _mm512_set1_ps(1.0 / (1 << 20) as f32), _mm512_set1_ps((1 << 20) as f32));
        let abs = |v: __m512| _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(v)));
        let divided = |x: __m512| {
            let q = _mm512_div_ps(x, vs);
            let h = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(_mm512_castps_si512(q), sign), almost_half));
            let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(_mm512_add_ps(q, h));
            _mm512_add_epi32(_mm512_cvttps_epi32(r), vz)
        };
        let mut i = 0;
        while i < n {
            let w = (n - i).min(16);
            let m = lanes(w);
            // Masked-off lanes are 0.0: quotient 0, on the fast path.
            let x = _mm512_maskz_loadu_ps(m, input.as_ptr().add(i));
            let v = if fast {
                let t = _mm512_mul_ps(x, vr);
                let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t);
                let at = abs(t);
                // Near a tie: |t − r| + 2^-20·|t| ≥ 1/2 (rounding cannot take a sum at or above
                // 1/2 below it); out of the fast range: not |t| < 2^20 (true for NaN).
                let near = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(_mm512_fmadd_ps(at, margin, abs(_mm512_sub_ps(t, r))), half);
                let far = _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(at, wide);
                if near | far == 0 {
                    _mm512_add_epi32(_mm512_cvttps_epi32(r), vz)
                } else {
                    divided(x)
                }
            } else {
                divided(x)
            };
            _mm_mask_storeu_epi8(out.as_mut_ptr().add(i), m, _mm512_cvtsepi32_epi8(v));
            i += w;
        }
    }
    n
}

/// MEAN's accumulation of one run into the sums of its outputs:
/// `sums[j] = sums[j].wrapping_add(run[j])`.
///
/// # Safety
/// AVX-512 F/BW/VL are available; `run.len() >= sums.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn accumulate(sums: &mut [i32], run: &[i8]) {
    let n = sums.len();
    debug_assert!(run.len() >= n);
    // SAFETY: every access is to elements below n (masked for the tail).
    unsafe {
        let mut i = 0;
        while i + 32 <= n {
            let x = _mm256_loadu_si256(run.as_ptr().add(i) as *const __m256i);
            let s = sums.as_mut_ptr().add(i);
            let x0 = _mm512_cvtepi8_epi32(_mm256_castsi256_si128(x));
            let x1 = _mm512_cvtepi8_epi32(_mm256_extracti128_si256::<1>(x));
            _mm512_storeu_si512(s as *mut _, _mm512_add_epi32(_mm512_loadu_si512(s as *const _), x0));
            _mm512_storeu_si512(s.add(16) as *mut _, _mm512_add_epi32(_mm512_loadu_si512(s.add(16) as *const _), x1));
            i += 32;
        }
        while i < n {
            let w = (n - i).min(16);
            let m = lanes(w);
            let s = sums.as_mut_ptr().add(i);
            let x = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, run.as_ptr().add(i)));
            _mm512_mask_storeu_epi32(s, m, _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, s), x));
            i += w;
        }
    }
}

/// The sum of a run of int8 values, wrapped to i32 (the exact sum mod
/// 2^32, which is what adding the values one by one with wrap-around gives):
/// VPSADBW of `x ^ 0x80` against zero gives sums of eight `x + 128`.
///
/// # Safety
/// AVX-512 F/BW/VL are available.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn sum_run(run: &[i8]) -> i32 {
    let n = run.len();
    // SAFETY: every access is to elements below n (masked for the tail).
    unsafe {
        let flip = _mm512_set1_epi8(-128);
        let zero = _mm512_setzero_si512();
        let mut acc = _mm512_setzero_si512();
        let mut i = 0;
        while i < n {
            let w = (n - i).min(64);
            let m: __mmask64 = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
            // Masked-off bytes load as 0 and flip to 0x80 = 128 each; masking the XOR keeps them 0.
            let x = _mm512_maskz_xor_si512_epi8(m, _mm512_maskz_loadu_epi8(m, run.as_ptr().add(i)), flip);
            acc = _mm512_add_epi64(acc, _mm512_sad_epu8(x, zero));
            i += w;
        }
        let total = _mm512_reduce_add_epi64(acc) - 128 * n as i64;
        total as i32
    }
}

/// `_mm512_maskz_mov_epi8(m, _mm512_xor_si512(x, y))`.
#[inline(always)]
fn _mm512_maskz_xor_si512_epi8(m: __mmask64, x: __m512i, y: __m512i) -> __m512i {
    // SAFETY: only called from functions with AVX-512 F/BW enabled (register-only).
    unsafe { _mm512_maskz_mov_epi8(m, _mm512_xor_si512(x, y)) }
}

/// MEAN's output stage over every sum: `clamp(r.apply(sum − zpn) + out_zp, −128, 127)`
/// with wrapping arithmetic, as [`MeanParams::finish`](super::mean::MeanParams::finish).
///
/// # Safety
/// AVX-512 F/BW/VL are available; `out.len() >= sums.len()`; `r.multiplier >= 0`,
/// `-31 <= r.shift < 32`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn mean_finish(sums: &[i32], zpn: i32, r: Requant, out_zp: i32, out: &mut [i8]) {
    let n = sums.len();
    // SAFETY: every access is to elements below n (masked for the tail).
    unsafe {
        let req = Req::new(r.into());
        let (z, zo) = (_mm512_set1_epi32(zpn), _mm512_set1_epi32(out_zp));
        each64(&mut out[..n], -128, 127, |i, m| {
            let x = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, sums.as_ptr().add(i)), z);
            _mm512_add_epi32(req.apply(x), zo)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qops::testutil::{ref_mbqm, Rng};

    /// `Req::apply` against the i64 model on random values, rounding ties, and
    /// extreme multipliers and shifts.
    #[test]
    fn requant_matches_reference() {
        if !available() {
            return;
        }
        let mut rng = Rng(0x512);
        let mut xs: Vec<i32> = vec![0, 1, -1, i32::MAX, i32::MIN, i32::MIN + 1, 1 << 30, -(1 << 30), (1 << 30) + 1, -(1 << 30) - 1];
        for _ in 0..2000 {
            xs.push((rng.next() as i32) >> rng.below(31));
        }
        // Rounding ties of both steps: small values (with M = 2^30 the high multiply halves)
        // and signed multiples of powers of two.
        xs.extend(-600..600);
        for j in 0..31 {
            xs.extend((-3i64..=3).map(|k| (k << j).clamp(i32::MIN as i64, i32::MAX as i64) as i32));
        }
        let mults = [0, 1, 1 << 30, (1 << 30) + 1, i32::MAX, 1_518_500_250, 1_073_741_825, 2_000_000_000];
        for &mult in &mults {
            for shift in -31..=31 {
                let r = Requant { multiplier: mult, shift };
                let v: VRequant = r.into();
                let mut got = vec![0i32; xs.len()];
                // SAFETY: AVX-512 F/BW/VL were detected; lanes stay inside `got`/`xs` (masked).
                unsafe { check(v, &xs, &mut got) };
                for (i, &x) in xs.iter().enumerate() {
                    // The left shift wraps in i32, as in C on the targets TFLite runs on.
                    let want = ref_mbqm(x.wrapping_shl(shift.max(0) as u32) as i64, mult, shift.min(0));
                    assert_eq!(got[i] as i64, want, "x={x} m={mult} shift={shift}");
                }
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn check(v: VRequant, xs: &[i32], got: &mut [i32]) {
        // SAFETY: AVX-512 F is enabled; 16 lanes from i stay inside both (masked).
        unsafe {
            let req = Req::new(v);
            for i in (0..xs.len()).step_by(16) {
                let m = lanes(xs.len() - i);
                let y = req.apply(_mm512_maskz_loadu_epi32(m, xs.as_ptr().add(i)));
                _mm512_mask_storeu_epi32(got.as_mut_ptr().add(i), m, y);
            }
        }
    }

    #[test]
    fn sums_match_scalar() {
        if !available() {
            return;
        }
        let mut rng = Rng(0x5a5);
        for n in (0..140).chain([255, 256, 1000, 4097]) {
            let mut run = rng.i8s(n);
            if n % 7 == 3 {
                run.fill(-128);
            } else if n % 7 == 4 {
                run.fill(127);
            }
            let want = run.iter().fold(0i32, |a, &v| a.wrapping_add(v as i32));
            // SAFETY: AVX-512 F/BW/VL were detected.
            assert_eq!(unsafe { sum_run(&run) }, want, "n={n}");
            let base: Vec<i32> = (0..n).map(|_| rng.next() as i32).collect();
            let mut sums = base.clone();
            // SAFETY: AVX-512 F/BW/VL were detected; run has n values.
            unsafe { accumulate(&mut sums, &run) };
            let want: Vec<i32> = base.iter().zip(&run).map(|(&s, &v)| s.wrapping_add(v as i32)).collect();
            assert_eq!(sums, want, "n={n}");
        }
    }
}
