//! x86-64 int8 depthwise micro-kernels, 16 channels per step: inputs
//! sign-extended to int32 (VPMOVSXBD) times the int32 weights (`w − w_zp`,
//! VPMULLD), summed over the taps; scalar tail for the last channels.
//! `i8_dw_16c_avx2` uses two ymm per step, `i8_dw_16c_avx512` one zmm.

use super::dw::QDwUkernel;
use super::QTier;
use std::arch::x86_64::*;

pub const CR: usize = 16;

pub const UKERNEL_AVX2: QDwUkernel = QDwUkernel { name: "i8_dw_16c_avx2", tier: QTier::Avx2, cr: CR, run: run_avx2 };
pub const UKERNEL_AVX512: QDwUkernel = QDwUkernel { name: "i8_dw_16c_avx512", tier: QTier::Avx512Vnni, cr: CR, run: run_avx512 };

/// The last `channels % 16` channels, plain Rust.
///
/// # Safety
/// The [`super::QDwRunFn`] contract.
unsafe fn tail(c0: usize, channels: usize, taps: usize, inputs: *const *const i8, weights: *const i32, acc: *mut i32) {
    for cc in c0..channels {
        // SAFETY: the QDwRunFn contract: channel cc < channels of every input, its packed
        // weights in block cc / 16, its accumulator.
        unsafe {
            let wb = weights.add(cc / CR * CR * taps + cc % CR);
            let mut s = 0i32;
            for t in 0..taps {
                s = s.wrapping_add((*(*inputs.add(t)).add(cc) as i32).wrapping_mul(*wb.add(t * CR)));
            }
            *acc.add(cc) = s;
        }
    }
}

/// See [`super::QDwRunFn`].
///
/// # Safety
/// The [`super::QDwRunFn`] contract; AVX2 is available.
#[target_feature(enable = "avx2")]
pub unsafe fn run_avx2(channels: usize, taps: usize, inputs: *const *const i8, weights: *const i32, acc: *mut i32) {
    let mut c = 0;
    while c + CR <= channels {
        let (mut s0, mut s1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for t in 0..taps {
            // SAFETY: channels c..c+16 of input t exist (c + 16 <= channels); the block's
            // weights for tap t are 16 values at (c * taps + t * 16).
            unsafe {
                let x = (*inputs.add(t)).add(c);
                let w = weights.add(c * taps + t * CR);
                let x0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(x as *const __m128i));
                let x1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(x.add(8) as *const __m128i));
                s0 = _mm256_add_epi32(s0, _mm256_mullo_epi32(x0, _mm256_loadu_si256(w as *const __m256i)));
                s1 = _mm256_add_epi32(s1, _mm256_mullo_epi32(x1, _mm256_loadu_si256(w.add(8) as *const __m256i)));
            }
        }
        // SAFETY: accumulators c..c+16 exist.
        unsafe {
            _mm256_storeu_si256(acc.add(c) as *mut __m256i, s0);
            _mm256_storeu_si256(acc.add(c + 8) as *mut __m256i, s1);
        }
        c += CR;
    }
    // SAFETY: the caller's contract.
    unsafe { tail(c, channels, taps, inputs, weights, acc) }
}

/// See [`super::QDwRunFn`].
///
/// # Safety
/// The [`super::QDwRunFn`] contract; AVX-512 F is available.
#[target_feature(enable = "avx512f")]
pub unsafe fn run_avx512(channels: usize, taps: usize, inputs: *const *const i8, weights: *const i32, acc: *mut i32) {
    let mut c = 0;
    while c + CR <= channels {
        let mut s = _mm512_setzero_si512();
        for t in 0..taps {
            // SAFETY: channels c..c+16 of input t exist (c + 16 <= channels); the block's
            // weights for tap t are 16 values at (c * taps + t * 16).
            unsafe {
                let x = _mm512_cvtepi8_epi32(_mm_loadu_si128((*inputs.add(t)).add(c) as *const __m128i));
                s = _mm512_add_epi32(s, _mm512_mullo_epi32(x, _mm512_loadu_si512(weights.add(c * taps + t * CR) as *const _)));
            }
        }
        // SAFETY: accumulators c..c+16 exist.
        unsafe { _mm512_storeu_si512(acc.add(c) as *mut _, s) };
        c += CR;
    }
    // SAFETY: the caller's contract.
    unsafe { tail(c, channels, taps, inputs, weights, acc) }
}
