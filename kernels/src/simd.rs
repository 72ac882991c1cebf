//! A small SIMD abstraction (scalar, AVX2+FMA, Neon) so that the
//! elementwise, pooling, reduction, softmax and resize kernels are written
//! once and compiled per tier.
//!
//! Design:
//! - [`Simd`] is implemented by zero-sized *tokens* ([`Scalar`], [`Avx2`],
//!   [`Neon`]). A token can only be obtained when its instruction set is
//!   present (`Avx2::try_new`), so its methods are safe to call; the only
//!   `unsafe` is inside the token implementations.
//! - A kernel is written once as a [`SimdFn`] (a struct holding its arguments
//!   whose `call::<S>` is generic over the token). [`dispatch`] picks the tier
//!   from an [`Isa`] and runs `call` inside a `#[target_feature]` function, so
//!   every `#[inline(always)]` helper it reaches is compiled for that tier.
//! - Loads and stores take slices (bounds-checked); tails shorter than the
//!   vector width use `load_partial` / `store_partial`.
//! - Transcendentals ([`exp`], [`tanh`], [`logistic`]) are generic functions
//!   of the token, so every tier computes them with the same algorithm.
//!
//! The module also holds [`par_chunks`], which splits an output slice into
//! fixed-size contiguous chunks run as thread-pool tasks.

use crate::{Exec, Isa};
use std::sync::Mutex;

/// The operations the kernels need, over a vector of `WIDTH` f32 lanes.
///
/// `min` / `max`: when either input is NaN the result is one of the inputs
/// (which one is tier-specific). `fma(a, b, c) = a * b + c`; fused on the
/// SIMD tiers, two roundings on [`Scalar`].
pub trait Simd: Copy + Send + Sync + 'static {
    /// A vector of `WIDTH` f32 lanes.
    type V: Copy;
    /// A lane mask produced by comparisons and consumed by `select`.
    type M: Copy;
    const WIDTH: usize;

    fn splat(self, x: f32) -> Self::V;
    /// Loads the first `WIDTH` values of `src` (panics when shorter).
    fn load(self, src: &[f32]) -> Self::V;
    /// Stores into the first `WIDTH` values of `dst` (panics when shorter).
    fn store(self, dst: &mut [f32], v: Self::V);
    /// Loads `src.len() < WIDTH` values into the low lanes; the others are `fill`.
    fn load_partial(self, src: &[f32], fill: f32) -> Self::V;
    /// Stores the low `dst.len() < WIDTH` lanes of `v`.
    fn store_partial(self, dst: &mut [f32], v: Self::V);

    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c`.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    fn abs(self, a: Self::V) -> Self::V;
    fn neg(self, a: Self::V) -> Self::V;

    /// Lanes where `a < b` (false when either is NaN).
    fn lt(self, a: Self::V, b: Self::V) -> Self::M;
    /// Lanes where `a <= b` (false when either is NaN).
    fn le(self, a: Self::V, b: Self::V) -> Self::M;
    /// Lanes where `a == b` (false when either is NaN).
    fn eq(self, a: Self::V, b: Self::V) -> Self::M;
    /// `m ? t : f` lane by lane.
    fn select(self, m: Self::M, t: Self::V, f: Self::V) -> Self::V;

    /// Round to nearest, ties to even.
    fn round(self, a: Self::V) -> Self::V;
    fn floor(self, a: Self::V) -> Self::V;
    /// `2^n` for lanes holding integers in `[-126, 127]`.
    fn pow2i(self, n: Self::V) -> Self::V;

    /// Sum of the lanes (in a fixed, tier-specific order).
    fn reduce_add(self, v: Self::V) -> f32;
    /// Maximum of the lanes.
    fn reduce_max(self, v: Self::V) -> f32;
}

/// A kernel body written once over any [`Simd`] token.
pub trait SimdFn {
    type Output;
    fn call<S: Simd>(self, s: S) -> Self::Output;
}

/// Runs `f` on the tier `isa` names; falls back to [`Scalar`] when that tier
/// is not compiled for this target or not present on this CPU.
#[inline]
pub fn dispatch<F: SimdFn>(isa: Isa, f: F) -> F::Output {
    match isa {
        // AVX-512 CPUs run the AVX2 code of the generic kernels.
        Isa::Avx2 | Isa::Avx512 => {
            #[cfg(target_arch = "x86_64")]
            if let Some(t) = Avx2::try_new() {
                return t.vectorize(f);
            }
        }
        Isa::Neon => {
            #[cfg(target_arch = "aarch64")]
            if let Some(t) = Neon::try_new() {
                return t.vectorize(f);
            }
        }
        Isa::Scalar => {}
    }
    f.call(Scalar)
}

// ---------------------------------------------------------------------------
// Splitting work over the pool
// ---------------------------------------------------------------------------

/// Splits `out` into contiguous chunks of `chunk` elements (the last may be
/// shorter) and calls `f(start, chunk_slice)` for each, as pool tasks when the
/// pool has more than one thread. The chunking depends only on `chunk`, and
/// callers make each output element's value independent of where chunks
/// start, so results never depend on the thread count.
pub fn par_chunks(exec: Exec, out: &mut [f32], chunk: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
    let chunk = chunk.max(1);
    if out.len() <= chunk || exec.pool.num_threads() <= 1 {
        if !out.is_empty() {
            f(0, out);
        }
        return;
    }
    let parts: Vec<Mutex<&mut [f32]>> = out.chunks_mut(chunk).map(Mutex::new).collect();
    exec.pool.run(parts.len(), &|i| {
        let mut part = parts[i].lock().unwrap_or_else(|e| e.into_inner());
        f(i * chunk, &mut part);
    });
}

/// A chunk length (a multiple of 64 elements) giving each task roughly
/// `target_work` units when every output element costs `cost` units.
pub fn chunk_for(cost: usize, target_work: usize) -> usize {
    let per = (target_work / cost.max(1)).max(1);
    per.div_ceil(64) * 64
}

/// Rough amount of work (element-operations) one task should get.
pub const TASK_WORK: usize = 1 << 15;

// ---------------------------------------------------------------------------
// Transcendentals, written once over the token
// ---------------------------------------------------------------------------

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that `n * LN2_HI` is exact for |n| < 2^9 (15 significant bits).
const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
const LN2_LO: f32 = (std::f64::consts::LN_2 - 0.693_145_751_953_125) as f32;

/// `e^x`, relative error ~3e-7 over the whole range, gradual underflow to
/// subnormals and 0 below ~-103.9, `+inf` above ~88.72, NaN propagated.
#[inline(always)]
pub fn exp<S: Simd>(s: S, x: S::V) -> S::V {
    let xc = s.min(s.max(x, s.splat(-104.0)), s.splat(89.0));
    let n = s.round(s.mul(xc, s.splat(LOG2E)));
    let r = s.fma(n, s.splat(-LN2_HI), xc);
    let r = s.fma(n, s.splat(-LN2_LO), r);
    // e^r on |r| <= ln2/2: Taylor series to degree 7 (truncation < 6e-9).
    let mut p = s.splat(1.0 / 5040.0);
    p = s.fma(p, r, s.splat(1.0 / 720.0));
    p = s.fma(p, r, s.splat(1.0 / 120.0));
    p = s.fma(p, r, s.splat(1.0 / 24.0));
    p = s.fma(p, r, s.splat(1.0 / 6.0));
    p = s.fma(p, r, s.splat(0.5));
    p = s.fma(p, r, s.splat(1.0));
    p = s.fma(p, r, s.splat(1.0));
    // 2^n as 2^n1 * 2^n2 so both factors stay normal for n in [-150, 128];
    // the final product rounds once into the subnormal range or overflows.
    let n1 = s.floor(s.mul(n, s.splat(0.5)));
    let n2 = s.sub(n, n1);
    let y = s.mul(s.mul(p, s.pow2i(n1)), s.pow2i(n2));
    s.select(s.eq(x, x), y, x)
}

/// `1 / (1 + e^-x)`, relative error ~5e-7 everywhere (computed as
/// `e^x / (1 + e^x)` for negative x so tiny results keep their precision).
#[inline(always)]
pub fn logistic<S: Simd>(s: S, x: S::V) -> S::V {
    let e = exp(s, s.neg(s.abs(x)));
    let r = s.div(s.splat(1.0), s.add(s.splat(1.0), e));
    s.select(s.lt(x, s.splat(0.0)), s.mul(e, r), r)
}

/// Odd polynomial for tanh on |x| < TANH_SMALL: x + x^3 * P(x^2), least
/// squares fit of the relative error (max ~8e-8 in f32 arithmetic).
const TANH_SMALL: f32 = 0.625;
const TANH_P: [f32; 5] = [-0.333_332_8, 0.133_313_82, -0.053_735_32, 0.020_626_292, -0.005_691_985_6];

/// `tanh(x)`, relative error ~5e-7 everywhere (exact sign, ±1 saturation,
/// tanh(x) = x for tiny x, NaN propagated).
#[inline(always)]
pub fn tanh<S: Simd>(s: S, x: S::V) -> S::V {
    let ax = s.abs(x);
    // Small |x|: polynomial.
    let x2 = s.mul(x, x);
    let mut p = s.splat(TANH_P[4]);
    p = s.fma(p, x2, s.splat(TANH_P[3]));
    p = s.fma(p, x2, s.splat(TANH_P[2]));
    p = s.fma(p, x2, s.splat(TANH_P[1]));
    p = s.fma(p, x2, s.splat(TANH_P[0]));
    // x * (1 + x^2 P) keeps the sign of zero.
    let small = s.mul(x, s.fma(x2, p, s.splat(1.0)));
    // Large |x|: 1 - 2 / (e^{2|x|} + 1), with the sign of x.
    let e = exp(s, s.add(ax, ax));
    let t = s.sub(s.splat(1.0), s.div(s.splat(2.0), s.add(e, s.splat(1.0))));
    let large = s.select(s.lt(x, s.splat(0.0)), s.neg(t), t);
    s.select(s.lt(ax, s.splat(TANH_SMALL)), small, large)
}

// ---------------------------------------------------------------------------
// Scalar: width 1, plain Rust
// ---------------------------------------------------------------------------

/// The portable tier: one lane, plain f32 arithmetic.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scalar;

impl Simd for Scalar {
    type V = f32;
    type M = bool;
    const WIDTH: usize = 1;

    #[inline(always)]
    fn splat(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn load(self, src: &[f32]) -> f32 {
        src[0]
    }
    #[inline(always)]
    fn store(self, dst: &mut [f32], v: f32) {
        dst[0] = v;
    }
    #[inline(always)]
    fn load_partial(self, src: &[f32], fill: f32) -> f32 {
        debug_assert!(src.is_empty());
        fill
    }
    #[inline(always)]
    fn store_partial(self, dst: &mut [f32], _v: f32) {
        debug_assert!(dst.is_empty());
    }
    #[inline(always)]
    fn add(self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn sub(self, a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    fn mul(self, a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn div(self, a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    fn min(self, a: f32, b: f32) -> f32 {
        if a < b { a } else { b }
    }
    #[inline(always)]
    fn max(self, a: f32, b: f32) -> f32 {
        if a > b { a } else { b }
    }
    #[inline(always)]
    fn fma(self, a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    fn abs(self, a: f32) -> f32 {
        a.abs()
    }
    #[inline(always)]
    fn neg(self, a: f32) -> f32 {
        -a
    }
    #[inline(always)]
    fn lt(self, a: f32, b: f32) -> bool {
        a < b
    }
    #[inline(always)]
    fn le(self, a: f32, b: f32) -> bool {
        a <= b
    }
    #[inline(always)]
    fn eq(self, a: f32, b: f32) -> bool {
        a == b
    }
    #[inline(always)]
    fn select(self, m: bool, t: f32, f: f32) -> f32 {
        if m { t } else { f }
    }
    #[inline(always)]
    fn round(self, a: f32) -> f32 {
        a.round_ties_even()
    }
    #[inline(always)]
    fn floor(self, a: f32) -> f32 {
        a.floor()
    }
    #[inline(always)]
    fn pow2i(self, n: f32) -> f32 {
        f32::from_bits(((n as i32 + 127) as u32) << 23)
    }
    #[inline(always)]
    fn reduce_add(self, v: f32) -> f32 {
        v
    }
    #[inline(always)]
    fn reduce_max(self, v: f32) -> f32 {
        v
    }
}

// ---------------------------------------------------------------------------
// AVX2 + FMA: 8 lanes
// ---------------------------------------------------------------------------

#[cfg(target_arch = "x86_64")]
pub use avx2::Avx2;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Simd, SimdFn};
    use std::arch::x86_64::*;

    /// Proof that AVX2 and FMA are available; obtained via [`Avx2::try_new`].
    #[derive(Clone, Copy, Debug)]
    pub struct Avx2 {
        _private: (),
    }

    /// `MASK[8 - n..][..8]` enables the first `n` lanes.
    static MASK: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

    impl Avx2 {
        /// The token, when this CPU has AVX2 and FMA.
        pub fn try_new() -> Option<Avx2> {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                Some(Avx2 { _private: () })
            } else {
                None
            }
        }

        /// Runs `f` compiled with AVX2 and FMA enabled.
        #[inline]
        pub fn vectorize<F: SimdFn>(self, f: F) -> F::Output {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn inner<F: SimdFn>(t: Avx2, f: F) -> F::Output {
                f.call(t)
            }
            // SAFETY: an Avx2 token exists only after AVX2 and FMA were detected.
            unsafe { inner(self, f) }
        }

        #[inline(always)]
        fn mask(n: usize) -> __m256i {
            assert!(n <= 8);
            // SAFETY: MASK[8 - n..] holds at least 8 i32 values; unaligned load is allowed; AVX present (token).
            unsafe { _mm256_loadu_si256(MASK[8 - n..].as_ptr().cast()) }
        }
    }

    // Every method below runs AVX/AVX2/FMA instructions, which the token
    // proves present; memory accesses are bounds-checked first.
    #[allow(unused_unsafe)]
    impl Simd for Avx2 {
        type V = __m256;
        type M = __m256;
        const WIDTH: usize = 8;

        #[inline(always)]
        fn splat(self, x: f32) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        fn load(self, src: &[f32]) -> __m256 {
            let src = &src[..8];
            // SAFETY: src has 8 readable f32s; AVX present (token).
            unsafe { _mm256_loadu_ps(src.as_ptr()) }
        }
        #[inline(always)]
        fn store(self, dst: &mut [f32], v: __m256) {
            let dst = &mut dst[..8];
            // SAFETY: dst has 8 writable f32s; AVX present (token).
            unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), v) }
        }
        #[inline(always)]
        fn load_partial(self, src: &[f32], fill: f32) -> __m256 {
            let n = src.len();
            if n == 0 {
                return self.splat(fill);
            }
            let m = Self::mask(n.min(8));
            // SAFETY: only the first min(n, 8) lanes are enabled, all inside src; AVX2 present (token).
            unsafe {
                let v = _mm256_maskload_ps(src.as_ptr(), m);
                _mm256_blendv_ps(_mm256_set1_ps(fill), v, _mm256_castsi256_ps(m))
            }
        }
        #[inline(always)]
        fn store_partial(self, dst: &mut [f32], v: __m256) {
            let n = dst.len();
            if n == 0 {
                return;
            }
            let m = Self::mask(n.min(8));
            // SAFETY: only the first min(n, 8) lanes are written, all inside dst; AVX present (token).
            unsafe { _mm256_maskstore_ps(dst.as_mut_ptr(), m, v) }
        }
        #[inline(always)]
        fn add(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        fn sub(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_sub_ps(a, b) }
        }
        #[inline(always)]
        fn mul(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_mul_ps(a, b) }
        }
        #[inline(always)]
        fn div(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_div_ps(a, b) }
        }
        #[inline(always)]
        fn min(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_min_ps(a, b) }
        }
        #[inline(always)]
        fn max(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_max_ps(a, b) }
        }
        #[inline(always)]
        fn fma(self, a: __m256, b: __m256, c: __m256) -> __m256 {
            // SAFETY: FMA present (token).
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn abs(self, a: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), a) }
        }
        #[inline(always)]
        fn neg(self, a: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_xor_ps(_mm256_set1_ps(-0.0), a) }
        }
        #[inline(always)]
        fn lt(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_cmp_ps::<_CMP_LT_OQ>(a, b) }
        }
        #[inline(always)]
        fn le(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_cmp_ps::<_CMP_LE_OQ>(a, b) }
        }
        #[inline(always)]
        fn eq(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_cmp_ps::<_CMP_EQ_OQ>(a, b) }
        }
        #[inline(always)]
        fn select(self, m: __m256, t: __m256, f: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_blendv_ps(f, t, m) }
        }
        #[inline(always)]
        fn round(self, a: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a) }
        }
        #[inline(always)]
        fn floor(self, a: __m256) -> __m256 {
            // SAFETY: AVX present (token).
            unsafe { _mm256_floor_ps(a) }
        }
        #[inline(always)]
        fn pow2i(self, n: __m256) -> __m256 {
            // SAFETY: AVX2 present (token).
            unsafe {
                let e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
                _mm256_castsi256_ps(_mm256_slli_epi32::<23>(e))
            }
        }
        #[inline(always)]
        fn reduce_add(self, v: __m256) -> f32 {
            // SAFETY: AVX present (token).
            unsafe {
                let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
                _mm_cvtss_f32(s)
            }
        }
        #[inline(always)]
        fn reduce_max(self, v: __m256) -> f32 {
            // SAFETY: AVX present (token).
            unsafe {
                let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
                let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_max_ss(s, _mm_shuffle_ps::<1>(s, s));
                _mm_cvtss_f32(s)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Neon: 4 lanes
// ---------------------------------------------------------------------------

#[cfg(target_arch = "aarch64")]
pub use neon::Neon;

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::{Simd, SimdFn};
    use std::arch::aarch64::*;

    /// Proof that Neon is available; obtained via [`Neon::try_new`].
    #[derive(Clone, Copy, Debug)]
    pub struct Neon {
        _private: (),
    }

    impl Neon {
        /// The token, when this CPU has Neon (every aarch64 core does).
        pub fn try_new() -> Option<Neon> {
            if std::arch::is_aarch64_feature_detected!("neon") {
                Some(Neon { _private: () })
            } else {
                None
            }
        }

        /// Runs `f` compiled with Neon enabled.
        #[inline]
        pub fn vectorize<F: SimdFn>(self, f: F) -> F::Output {
            #[target_feature(enable = "neon")]
            unsafe fn inner<F: SimdFn>(t: Neon, f: F) -> F::Output {
                f.call(t)
            }
            // SAFETY: a Neon token exists only after Neon was detected.
            unsafe { inner(self, f) }
        }
    }

    // Every method below runs Neon instructions, which the token proves
    // present; memory accesses are bounds-checked first.
    #[allow(unused_unsafe)]
    impl Simd for Neon {
        type V = float32x4_t;
        type M = uint32x4_t;
        const WIDTH: usize = 4;

        #[inline(always)]
        fn splat(self, x: f32) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vdupq_n_f32(x) }
        }
        #[inline(always)]
        fn load(self, src: &[f32]) -> float32x4_t {
            let src = &src[..4];
            // SAFETY: src has 4 readable f32s; Neon present (token).
            unsafe { vld1q_f32(src.as_ptr()) }
        }
        #[inline(always)]
        fn store(self, dst: &mut [f32], v: float32x4_t) {
            let dst = &mut dst[..4];
            // SAFETY: dst has 4 writable f32s; Neon present (token).
            unsafe { vst1q_f32(dst.as_mut_ptr(), v) }
        }
        #[inline(always)]
        fn load_partial(self, src: &[f32], fill: f32) -> float32x4_t {
            let mut buf = [fill; 4];
            let n = src.len().min(4);
            buf[..n].copy_from_slice(&src[..n]);
            self.load(&buf)
        }
        #[inline(always)]
        fn store_partial(self, dst: &mut [f32], v: float32x4_t) {
            let mut buf = [0.0f32; 4];
            self.store(&mut buf, v);
            let n = dst.len().min(4);
            dst[..n].copy_from_slice(&buf[..n]);
        }
        #[inline(always)]
        fn add(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vaddq_f32(a, b) }
        }
        #[inline(always)]
        fn sub(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vsubq_f32(a, b) }
        }
        #[inline(always)]
        fn mul(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vmulq_f32(a, b) }
        }
        #[inline(always)]
        fn div(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vdivq_f32(a, b) }
        }
        #[inline(always)]
        fn min(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vminq_f32(a, b) }
        }
        #[inline(always)]
        fn max(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vmaxq_f32(a, b) }
        }
        #[inline(always)]
        fn fma(self, a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vfmaq_f32(c, a, b) }
        }
        #[inline(always)]
        fn abs(self, a: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vabsq_f32(a) }
        }
        #[inline(always)]
        fn neg(self, a: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vnegq_f32(a) }
        }
        #[inline(always)]
        fn lt(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vcltq_f32(a, b) }
        }
        #[inline(always)]
        fn le(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vcleq_f32(a, b) }
        }
        #[inline(always)]
        fn eq(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vceqq_f32(a, b) }
        }
        #[inline(always)]
        fn select(self, m: uint32x4_t, t: float32x4_t, f: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vbslq_f32(m, t, f) }
        }
        #[inline(always)]
        fn round(self, a: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vrndnq_f32(a) }
        }
        #[inline(always)]
        fn floor(self, a: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe { vrndmq_f32(a) }
        }
        #[inline(always)]
        fn pow2i(self, n: float32x4_t) -> float32x4_t {
            // SAFETY: Neon present (token).
            unsafe {
                let e = vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127));
                vreinterpretq_f32_s32(vshlq_n_s32::<23>(e))
            }
        }
        #[inline(always)]
        fn reduce_add(self, v: float32x4_t) -> f32 {
            // SAFETY: Neon present (token).
            unsafe { vaddvq_f32(v) }
        }
        #[inline(always)]
        fn reduce_max(self, v: float32x4_t) -> f32 {
            // SAFETY: Neon present (token).
            unsafe { vmaxvq_f32(v) }
        }
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
pub(crate) mod test_util {
    use crate::{Exec, Isa, ThreadPool};

    /// Every tier this machine runs.
    pub fn isas() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
    }

    /// Runs `f` with every available tier and thread counts 1, 2 and 3.
    pub fn for_each_exec(mut f: impl FnMut(Exec)) {
        let pools: Vec<ThreadPool> = [1, 2, 3].into_iter().map(ThreadPool::new).collect();
        for isa in isas() {
            for pool in &pools {
                f(Exec { isa, pool });
            }
        }
    }

    /// Like [`for_each_exec`] for a kernel returning its output, and checks
    /// that every thread count gives bit-identical results within a tier.
    pub fn for_each_exec_same(mut f: impl FnMut(Exec) -> Vec<f32>) {
        let pools: Vec<ThreadPool> = [1, 2, 3].into_iter().map(ThreadPool::new).collect();
        for isa in isas() {
            let outs: Vec<Vec<f32>> = pools.iter().map(|pool| f(Exec { isa, pool })).collect();
            for o in &outs[1..] {
                let same = o.len() == outs[0].len() && o.iter().zip(&outs[0]).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{isa}: thread count changed the result");
            }
        }
    }

    /// Small deterministic pseudo-random generator (xorshift) for test data.
    pub struct Rng(pub u64);
    impl Rng {
        pub fn next_u32(&mut self) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 32) as u32
        }
        /// Uniform in [lo, hi).
        pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
            lo + (hi - lo) * (self.next_u32() >> 8) as f32 / (1u32 << 24) as f32
        }
        pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
            (0..n).map(|_| self.uniform(lo, hi)).collect()
        }
    }

    /// Asserts |got - want| <= tol * max(1, |want|) element-wise (NaN must match NaN).
    #[track_caller]
    pub fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            if w.is_nan() {
                assert!(g.is_nan(), "{what}: [{i}] got {g}, want NaN");
                continue;
            }
            if g == w {
                continue;
            }
            let err = (g - w).abs();
            assert!(err <= tol * w.abs().max(1.0), "{what}: [{i}] got {g}, want {w}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    /// Applies a generic vector function over a slice, exercising full
    /// vectors and a partial tail.
    struct Map<'a, F> {
        x: &'a [f32],
        out: &'a mut [f32],
        f: F,
    }
    trait VecFn: Copy {
        fn apply<S: Simd>(self, s: S, v: S::V) -> S::V;
    }
    impl<F: VecFn> SimdFn for Map<'_, F> {
        type Output = ();
        #[inline(always)]
        fn call<S: Simd>(self, s: S) {
            let n = self.x.len();
            let mut i = 0;
            while i + S::WIDTH <= n {
                let v = self.f.apply(s, s.load(&self.x[i..]));
                s.store(&mut self.out[i..], v);
                i += S::WIDTH;
            }
            if i < n {
                let v = self.f.apply(s, s.load_partial(&self.x[i..], 0.0));
                s.store_partial(&mut self.out[i..], v);
            }
        }
    }
    #[derive(Clone, Copy)]
    struct ExpF;
    impl VecFn for ExpF {
        fn apply<S: Simd>(self, s: S, v: S::V) -> S::V {
            exp(s, v)
        }
    }
    #[derive(Clone, Copy)]
    struct TanhF;
    impl VecFn for TanhF {
        fn apply<S: Simd>(self, s: S, v: S::V) -> S::V {
            tanh(s, v)
        }
    }
    #[derive(Clone, Copy)]
    struct LogisticF;
    impl VecFn for LogisticF {
        fn apply<S: Simd>(self, s: S, v: S::V) -> S::V {
            logistic(s, v)
        }
    }
    #[derive(Clone, Copy)]
    struct ReduceF;
    impl VecFn for ReduceF {
        /// Splats the lane sum and lane max sum into every lane (tests the reductions).
        fn apply<S: Simd>(self, s: S, v: S::V) -> S::V {
            s.splat(s.reduce_add(v) + 1000.0 * s.reduce_max(v))
        }
    }

    fn map<F: VecFn>(isa: Isa, f: F, x: &[f32]) -> Vec<f32> {
        let mut out = vec![f32::NAN; x.len()];
        dispatch(isa, Map { x, out: &mut out, f });
        out
    }

    /// Inputs spanning the whole float range: a dense sweep, extremes,
    /// subnormals, signed zeros, infinities and NaN.
    fn wide_inputs(lo: f32, hi: f32) -> Vec<f32> {
        let mut v: Vec<f32> = (0..20001).map(|i| lo + (hi - lo) * i as f32 / 20000.0).collect();
        for e in -45..=38 {
            let m = 10f32.powi(e);
            if m.is_finite() {
                v.extend([m, -m, 3.7 * m, -3.7 * m]);
            }
        }
        v.extend([0.0, -0.0, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, 1e-40, -1e-40, f32::MAX, f32::MIN]);
        v.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 88.7, 88.73, -87.3, -103.0, -103.9, -104.5]);
        v
    }

    /// Max relative error of `got` against the f64 reference, counting an
    /// absolute error below 2^-149 (one subnormal step) as exact.
    fn max_rel_err(x: &[f32], got: &[f32], f: impl Fn(f64) -> f64) -> f64 {
        let mut worst = 0.0f64;
        for (&xi, &g) in x.iter().zip(got) {
            let want = f(xi as f64);
            if want.is_nan() {
                assert!(g.is_nan(), "f({xi}) = {g}, want NaN");
                continue;
            }
            let want32 = want as f32;
            if want32.is_infinite() || g.is_infinite() {
                assert_eq!(g, want32, "f({xi})");
                continue;
            }
            let abs = (g as f64 - want).abs();
            if abs <= f32::from_bits(1) as f64 {
                continue;
            }
            let rel = abs / want.abs();
            assert!(rel < 1e-6, "f({xi}) = {g}, want {want} (rel {rel:e})");
            worst = worst.max(rel);
        }
        worst
    }

    #[test]
    fn exp_accuracy_every_tier() {
        let x = wide_inputs(-110.0, 90.0);
        for isa in isas() {
            let got = map(isa, ExpF, &x);
            let err = max_rel_err(&x, &got, f64::exp);
            eprintln!("{isa}: exp max rel err {err:e}");
            assert!(err < 5e-7, "{isa}: exp max rel err {err:e}");
        }
    }

    #[test]
    fn tanh_accuracy_every_tier() {
        let x = wide_inputs(-12.0, 12.0);
        for isa in isas() {
            let got = map(isa, TanhF, &x);
            let err = max_rel_err(&x, &got, f64::tanh);
            eprintln!("{isa}: tanh max rel err {err:e}");
            assert!(err < 1e-6, "{isa}: tanh max rel err {err:e}");
            for (&xi, &g) in x.iter().zip(&got) {
                if xi == 0.0 {
                    assert_eq!(g.to_bits(), xi.to_bits(), "tanh keeps the sign of zero");
                }
                if xi.abs() > 10.0 {
                    assert_eq!(g, xi.signum(), "tanh saturates exactly");
                }
            }
        }
    }

    #[test]
    fn logistic_accuracy_every_tier() {
        let x = wide_inputs(-110.0, 110.0);
        for isa in isas() {
            let got = map(isa, LogisticF, &x);
            let err = max_rel_err(&x, &got, |v| 1.0 / (1.0 + (-v).exp()));
            eprintln!("{isa}: logistic max rel err {err:e}");
            assert!(err < 1e-6, "{isa}: logistic max rel err {err:e}");
        }
    }

    #[test]
    fn partial_loads_stores_and_reductions() {
        for isa in isas() {
            for n in 0..=40 {
                let x: Vec<f32> = (0..n).map(|i| i as f32 - 7.5).collect();
                let got = map(isa, ReduceF, &x);
                // Reference: per vector block of the tier's width, lanes past n are 0.
                let w = match isa {
                    Isa::Scalar => 1,
                    Isa::Neon => 4,
                    Isa::Avx2 | Isa::Avx512 => 8,
                };
                for (b, chunk) in x.chunks(w).enumerate() {
                    let mut lanes = chunk.to_vec();
                    lanes.resize(w, 0.0);
                    let sum: f32 = lanes.iter().sum();
                    let max = lanes.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    for j in 0..chunk.len() {
                        assert_eq!(got[b * w + j], sum + 1000.0 * max, "{isa} n={n}");
                    }
                }
            }
        }
    }

    #[test]
    fn par_chunks_covers_every_element_once() {
        for_each_exec(|exec| {
            for (len, chunk) in [(0, 64), (1, 64), (100, 64), (1000, 64), (1000, 1000), (1001, 128)] {
                let mut out = vec![0.0f32; len];
                par_chunks(exec, &mut out, chunk, &|start, part| {
                    for (j, o) in part.iter_mut().enumerate() {
                        *o += (start + j) as f32 + 1.0;
                    }
                });
                for (i, o) in out.iter().enumerate() {
                    assert_eq!(*o, i as f32 + 1.0);
                }
            }
        });
    }
}
