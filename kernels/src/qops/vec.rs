//! SIMD fast paths of the int8 kernels (AVX2 on x86-64, Neon on aarch64),
//! computing exactly the integers of the scalar code:
//!
//! - gemmlowp's SaturatingRoundingDoublingHighMul is `vqrdmulhq_s32` on
//!   Neon; on AVX2 it is two `vpmuldq` (even / odd lanes) of the 64-bit
//!   product plus 2^30, whose bits 31..62 are the floor quotient. The
//!   saturating case (both operands i32::MIN) cannot occur: multipliers
//!   here are positive.
//! - RoundingDivideByPOT (half away from zero) is `vrshlq_s32` (half up)
//!   after subtracting one from negative lanes on Neon, and remainder vs
//!   threshold on AVX2, as gemmlowp defines it.
//!
//! Each function handles the longest prefix that is a multiple of its
//! block and returns its length; callers finish the tail with the scalar
//! code.

use crate::fixedpoint::Requant;

/// One operand of a binary kernel: a contiguous run or one broadcast value.
#[derive(Clone, Copy)]
pub(crate) enum Src<'a> {
    Run(&'a [i8]),
    Splat(i8),
}

/// A requantization step split for the vector code: left shift, Q0.31
/// multiplier, right shift.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VRequant {
    pub left: i32,
    pub multiplier: i32,
    pub right: i32,
}

impl From<Requant> for VRequant {
    fn from(r: Requant) -> VRequant {
        VRequant { left: r.shift.max(0), multiplier: r.multiplier, right: (-r.shift).max(0) }
    }
}

/// ADD / SUB: everything the vector kernel needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AddSubVec<'a> {
    /// The inputs' rescaled values ([`super::binary::AddSubCore`]'s tables) as
    /// byte planes: `planes[side][p][q as u8]` is byte `p` of input `side`'s
    /// value for `q` (for the AVX-512 VBMI lookups; read on x86-64 only).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub planes: &'a [[[u8; 256]; 4]; 2],
    pub a: VRequant,
    pub b: VRequant,
    pub out: VRequant,
    pub a_zp: i32,
    pub b_zp: i32,
    pub out_zp: i32,
    pub min: i32,
    pub max: i32,
    pub sub: bool,
}

/// MUL: everything the vector kernel needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MulVec {
    pub out: VRequant,
    pub a_zp: i32,
    pub b_zp: i32,
    pub out_zp: i32,
    pub min: i32,
    pub max: i32,
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    /// floor((x·m + 2^30) / 2^31) per lane, `m` ≥ 0.
    #[inline(always)]
    unsafe fn srdhm(x: __m256i, m: __m256i) -> __m256i {
        // SAFETY: register-only AVX2 intrinsics; callers run with AVX2 enabled.
        unsafe {
            let nudge = _mm256_set1_epi64x(1 << 30);
            let even = _mm256_add_epi64(_mm256_mul_epi32(x, m), nudge);
            let odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), m), nudge);
            // Bits 31..62 of each 64-bit sum: shift left by one and take the high half.
            let even_hi = _mm256_srli_epi64(_mm256_slli_epi64(even, 1), 32);
            let odd_hi = _mm256_and_si256(_mm256_slli_epi64(odd, 1), _mm256_set1_epi64x(0xffff_ffff_0000_0000u64 as i64));
            _mm256_or_si256(even_hi, odd_hi)
        }
    }

    /// x / 2^e rounded half away from zero (gemmlowp's remainder/threshold form).
    #[inline(always)]
    unsafe fn rdbp(x: __m256i, e: i32) -> __m256i {
        // SAFETY: register-only AVX2 intrinsics; callers run with AVX2 enabled.
        unsafe {
            if e == 0 {
                return x;
            }
            let mask = _mm256_set1_epi32(((1i64 << e) - 1) as i32);
            let rem = _mm256_and_si256(x, mask);
            // threshold = (mask >> 1) + (x < 0): subtracting the all-ones compare adds one.
            let thr = _mm256_sub_epi32(_mm256_srli_epi32(mask, 1), _mm256_cmpgt_epi32(_mm256_setzero_si256(), x));
            let q = _mm256_sra_epi32(x, _mm_cvtsi32_si128(e));
            _mm256_sub_epi32(q, _mm256_cmpgt_epi32(rem, thr))
        }
    }

    /// MultiplyByQuantizedMultiplier per lane (left shift wrapping, as in C).
    #[inline(always)]
    unsafe fn requant(x: __m256i, r: VRequant) -> __m256i {
        // SAFETY: register-only AVX2 intrinsics; callers run with AVX2 enabled.
        unsafe {
            let x = if r.left > 0 { _mm256_sll_epi32(x, _mm_cvtsi32_si128(r.left)) } else { x };
            rdbp(srdhm(x, _mm256_set1_epi32(r.multiplier)), r.right)
        }
    }

    /// 16 int8 of `s` from element `i` as two vectors of 8 i32.
    #[inline(always)]
    unsafe fn load16(s: Src, i: usize) -> (__m256i, __m256i) {
        // SAFETY: for a run, callers pass i + 16 <= len, so the 16-byte load is in bounds.
        unsafe {
            match s {
                Src::Run(a) => {
                    let v = _mm_loadu_si128(a.as_ptr().add(i) as *const __m128i);
                    (_mm256_cvtepi8_epi32(v), _mm256_cvtepi8_epi32(_mm_srli_si128(v, 8)))
                }
                Src::Splat(x) => (_mm256_set1_epi32(x as i32), _mm256_set1_epi32(x as i32)),
            }
        }
    }

    /// Clamps two vectors of 8 i32 to [min, max] ⊂ int8 and stores them as 16 int8 at `out[i..]`.
    #[inline(always)]
    unsafe fn store16(out: &mut [i8], i: usize, v0: __m256i, v1: __m256i, min: i32, max: i32) {
        // SAFETY: callers pass i + 16 <= out.len(); the rest is register-only AVX2.
        unsafe {
            let (lo, hi) = (_mm256_set1_epi32(min), _mm256_set1_epi32(max));
            let v0 = _mm256_min_epi32(_mm256_max_epi32(v0, lo), hi);
            let v1 = _mm256_min_epi32(_mm256_max_epi32(v1, lo), hi);
            // packs interleaves 128-bit halves: [v0a, v1a, v0b, v1b] → reorder to [v0a, v0b, v1a, v1b].
            let w = _mm256_permute4x64_epi64(_mm256_packs_epi32(v0, v1), 0b11_01_10_00);
            let b = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
            _mm_storeu_si128(out.as_mut_ptr().add(i) as *mut __m128i, b);
        }
    }

    /// ADD/SUB on the prefix of `out` that is a multiple of 16; returns its length.
    ///
    /// # Safety
    /// AVX2 is available; runs are at least `out.len()` long.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn addsub(p: &AddSubVec, a: Src, b: Src, out: &mut [i8]) -> usize {
        debug_assert!(p.a.left == 0 && p.b.left == 0 && p.a.multiplier >= 0 && p.b.multiplier >= 0);
        let n = out.len() / 16 * 16;
        // SAFETY: i + 16 <= n <= every run's length; AVX2 is enabled for this function.
        unsafe {
            let (za, zb, zo) = (_mm256_set1_epi32(p.a_zp), _mm256_set1_epi32(p.b_zp), _mm256_set1_epi32(p.out_zp));
            // Input side: SRDHM(d << 20, m) = floor((d·m + 2^10) / 2^11) for |d| ≤ 255; with
            // m = mh·2^11 + ml that is d·mh + ((d·ml + 2^10) >> 11), all in i32 (|d·mh| < 2^28).
            // The input multipliers are below one, so there is no left shift (AddSubCore::new).
            let split = |r: VRequant| (_mm256_set1_epi32(r.multiplier >> 11), _mm256_set1_epi32(r.multiplier & 0x7ff), r.right);
            let (ma, mb) = (split(p.a), split(p.b));
            let side = |x: __m256i, z: __m256i, (mh, ml, e): (__m256i, __m256i, i32)| {
                let d = _mm256_sub_epi32(x, z);
                let lo = _mm256_srai_epi32::<11>(_mm256_add_epi32(_mm256_mullo_epi32(d, ml), _mm256_set1_epi32(1 << 10)));
                rdbp(_mm256_add_epi32(_mm256_mullo_epi32(d, mh), lo), e)
            };
            let mut i = 0;
            while i < n {
                let (a0, a1) = load16(a, i);
                let (b0, b1) = load16(b, i);
                let (sa0, sa1) = (side(a0, za, ma), side(a1, za, ma));
                let (sb0, sb1) = (side(b0, zb, mb), side(b1, zb, mb));
                let (r0, r1) = if p.sub { (_mm256_sub_epi32(sa0, sb0), _mm256_sub_epi32(sa1, sb1)) } else { (_mm256_add_epi32(sa0, sb0), _mm256_add_epi32(sa1, sb1)) };
                let o0 = _mm256_add_epi32(requant(r0, p.out), zo);
                let o1 = _mm256_add_epi32(requant(r1, p.out), zo);
                store16(out, i, o0, o1, p.min, p.max);
                i += 16;
            }
        }
        n
    }

    /// MUL on the prefix of `out` that is a multiple of 16; returns its length.
    ///
    /// # Safety
    /// AVX2 is available; runs are at least `out.len()` long.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn mul(p: &MulVec, a: Src, b: Src, out: &mut [i8]) -> usize {
        let n = out.len() / 16 * 16;
        // SAFETY: i + 16 <= n <= every run's length; AVX2 is enabled for this function.
        unsafe {
            let (za, zb, zo) = (_mm256_set1_epi32(p.a_zp), _mm256_set1_epi32(p.b_zp), _mm256_set1_epi32(p.out_zp));
            let mut i = 0;
            while i < n {
                let (a0, a1) = load16(a, i);
                let (b0, b1) = load16(b, i);
                let p0 = _mm256_mullo_epi32(_mm256_sub_epi32(a0, za), _mm256_sub_epi32(b0, zb));
                let p1 = _mm256_mullo_epi32(_mm256_sub_epi32(a1, za), _mm256_sub_epi32(b1, zb));
                store16(out, i, _mm256_add_epi32(requant(p0, p.out), zo), _mm256_add_epi32(requant(p1, p.out), zo), p.min, p.max);
                i += 16;
            }
        }
        n
    }

    /// QUANTIZE f32 → int8 on the prefix that is a multiple of 16: divide,
    /// round half away from zero as trunc(q + copysign(0.5 - 2^-25, q))
    /// (exact for every float), convert with cvttps2dq (i32::MIN for NaN and
    /// out-of-range, like the scalar conversion TFLite runs on x86-64), add
    /// the zero point wrapping, clamp.
    ///
    /// # Safety
    /// AVX2 is available; `input.len() >= out.len()`.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn quantize(scale: f32, zp: i32, input: &[f32], out: &mut [i8]) -> usize {
        let n = out.len() / 16 * 16;
        // SAFETY: i + 16 <= n <= both lengths; AVX2 is enabled for this function.
        unsafe {
            let (vs, vz) = (_mm256_set1_ps(scale), _mm256_set1_epi32(zp));
            let (sign, almost_half) = (_mm256_set1_ps(-0.0), _mm256_set1_ps(f32::from_bits(0x3eff_ffff)));
            let conv = |x: __m256| {
                let q = _mm256_div_ps(x, vs);
                let r = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(_mm256_add_ps(q, _mm256_or_ps(_mm256_and_ps(q, sign), almost_half)));
                _mm256_add_epi32(_mm256_cvttps_epi32(r), vz)
            };
            let mut i = 0;
            while i < n {
                let x0 = _mm256_loadu_ps(input.as_ptr().add(i));
                let x1 = _mm256_loadu_ps(input.as_ptr().add(i + 8));
                store16(out, i, conv(x0), conv(x1), -128, 127);
                i += 16;
            }
        }
        n
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon {
    use super::*;
    use std::arch::aarch64::*;

    /// gemmlowp's RoundingDivideByPOT: vrshl rounds half up, so negative
    /// lanes first lose one (saturating) to round their ties away from zero.
    #[inline(always)]
    unsafe fn rdbp(x: int32x4_t, e: i32) -> int32x4_t {
        // SAFETY: register-only Neon intrinsics (Neon is part of aarch64).
        unsafe {
            if e == 0 {
                return x;
            }
            let fixup = vshrq_n_s32::<31>(x);
            vrshlq_s32(vqaddq_s32(x, fixup), vdupq_n_s32(-e))
        }
    }

    #[inline(always)]
    unsafe fn requant(x: int32x4_t, r: VRequant) -> int32x4_t {
        // SAFETY: register-only Neon intrinsics.
        unsafe {
            let x = if r.left > 0 { vshlq_s32(x, vdupq_n_s32(r.left)) } else { x };
            rdbp(vqrdmulhq_s32(x, vdupq_n_s32(r.multiplier)), r.right)
        }
    }

    /// 16 int8 from element `i` as four vectors of 4 i32.
    #[inline(always)]
    unsafe fn load16(s: Src, i: usize) -> [int32x4_t; 4] {
        // SAFETY: for a run, callers pass i + 16 <= len.
        unsafe {
            let v = match s {
                Src::Run(a) => vld1q_s8(a.as_ptr().add(i)),
                Src::Splat(x) => vdupq_n_s8(x),
            };
            let lo = vmovl_s8(vget_low_s8(v));
            let hi = vmovl_s8(vget_high_s8(v));
            [vmovl_s16(vget_low_s16(lo)), vmovl_s16(vget_high_s16(lo)), vmovl_s16(vget_low_s16(hi)), vmovl_s16(vget_high_s16(hi))]
        }
    }

    #[inline(always)]
    unsafe fn store16(out: &mut [i8], i: usize, v: [int32x4_t; 4], min: i32, max: i32) {
        // SAFETY: callers pass i + 16 <= out.len().
        unsafe {
            let (lo, hi) = (vdupq_n_s32(min), vdupq_n_s32(max));
            let c = |x: int32x4_t| vminq_s32(vmaxq_s32(x, lo), hi);
            let h0 = vcombine_s16(vqmovn_s32(c(v[0])), vqmovn_s32(c(v[1])));
            let h1 = vcombine_s16(vqmovn_s32(c(v[2])), vqmovn_s32(c(v[3])));
            vst1q_s8(out.as_mut_ptr().add(i), vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1)));
        }
    }

    /// ADD/SUB on the prefix of `out` that is a multiple of 16; returns its length.
    ///
    /// # Safety
    /// Runs are at least `out.len()` long.
    pub(crate) unsafe fn addsub(p: &AddSubVec, a: Src, b: Src, out: &mut [i8]) -> usize {
        let n = out.len() / 16 * 16;
        // SAFETY: i + 16 <= n <= every run's length.
        unsafe {
            let (za, zb, zo) = (vdupq_n_s32(p.a_zp), vdupq_n_s32(p.b_zp), vdupq_n_s32(p.out_zp));
            let mut i = 0;
            while i < n {
                let av = load16(a, i);
                let bv = load16(b, i);
                let mut o = [vdupq_n_s32(0); 4];
                for k in 0..4 {
                    let sa = requant(vshlq_n_s32::<20>(vsubq_s32(av[k], za)), p.a);
                    let sb = requant(vshlq_n_s32::<20>(vsubq_s32(bv[k], zb)), p.b);
                    let raw = if p.sub { vsubq_s32(sa, sb) } else { vaddq_s32(sa, sb) };
                    o[k] = vaddq_s32(requant(raw, p.out), zo);
                }
                store16(out, i, o, p.min, p.max);
                i += 16;
            }
        }
        n
    }

    /// MUL on the prefix of `out` that is a multiple of 16; returns its length.
    ///
    /// # Safety
    /// Runs are at least `out.len()` long.
    pub(crate) unsafe fn mul(p: &MulVec, a: Src, b: Src, out: &mut [i8]) -> usize {
        let n = out.len() / 16 * 16;
        // SAFETY: i + 16 <= n <= every run's length.
        unsafe {
            let (za, zb, zo) = (vdupq_n_s32(p.a_zp), vdupq_n_s32(p.b_zp), vdupq_n_s32(p.out_zp));
            let mut i = 0;
            while i < n {
                let av = load16(a, i);
                let bv = load16(b, i);
                let mut o = [vdupq_n_s32(0); 4];
                for k in 0..4 {
                    let prod = vmulq_s32(vsubq_s32(av[k], za), vsubq_s32(bv[k], zb));
                    o[k] = vaddq_s32(requant(prod, p.out), zo);
                }
                store16(out, i, o, p.min, p.max);
                i += 16;
            }
        }
        n
    }

    /// QUANTIZE f32 → int8 on the prefix that is a multiple of 16: divide,
    /// then FCVTAS (round half away from zero, saturating, NaN → 0: the
    /// scalar `round() as i32` on aarch64), add the zero point, clamp.
    ///
    /// # Safety
    /// `input.len() >= out.len()`.
    pub(crate) unsafe fn quantize(scale: f32, zp: i32, input: &[f32], out: &mut [i8]) -> usize {
        let n = out.len() / 16 * 16;
        // SAFETY: i + 16 <= n <= both lengths.
        unsafe {
            let (vs, vz) = (vdupq_n_f32(scale), vdupq_n_s32(zp));
            let mut i = 0;
            while i < n {
                let mut v = [vdupq_n_s32(0); 4];
                for (k, vk) in v.iter_mut().enumerate() {
                    let x = vld1q_f32(input.as_ptr().add(i + 4 * k));
                    *vk = vaddq_s32(vcvtaq_s32_f32(vdivq_f32(x, vs)), vz);
                }
                store16(out, i, v, -128, 127);
                i += 16;
            }
        }
        n
    }

    /// 256-entry table lookup with four TBL4 lookups per 16 bytes (each
    /// covers 64 entries; out-of-range indices give 0, so OR combines them).
    ///
    /// # Safety
    /// `input.len() >= out.len()`.
    pub(crate) unsafe fn lut(table: &[i8; 256], input: &[i8], out: &mut [i8]) -> usize {
        let n = out.len() / 16 * 16;
        // SAFETY: the table has 256 bytes (four 64-byte quarters); i + 16 <= n <= both lengths.
        unsafe {
            let t = table.as_ptr() as *const u8;
            let q = [vld1q_u8_x4(t), vld1q_u8_x4(t.add(64)), vld1q_u8_x4(t.add(128)), vld1q_u8_x4(t.add(192))];
            let mut i = 0;
            while i < n {
                let idx = vld1q_u8(input.as_ptr().add(i) as *const u8);
                let r0 = vqtbl4q_u8(q[0], idx);
                let r1 = vqtbl4q_u8(q[1], veorq_u8(idx, vdupq_n_u8(0x40)));
                let r2 = vqtbl4q_u8(q[2], veorq_u8(idx, vdupq_n_u8(0x80)));
                let r3 = vqtbl4q_u8(q[3], veorq_u8(idx, vdupq_n_u8(0xc0)));
                vst1q_u8(out.as_mut_ptr().add(i) as *mut u8, vorrq_u8(vorrq_u8(r0, r1), vorrq_u8(r2, r3)));
                i += 16;
            }
        }
        n
    }
}
