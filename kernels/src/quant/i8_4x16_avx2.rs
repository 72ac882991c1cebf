//! `i8_4x16_avx2`: the AVX2 int8 GEMM micro-kernel. Weights (packed in pairs
//! of reduction steps per column) and activations are sign-extended to int16
//! and multiplied into int32 pairs with VPMADDWD: a 4x16 tile in 8
//! accumulators, 16 reduction steps per iteration.

use super::{QTier, QUkernel};
use std::arch::x86_64::*;

pub const UKERNEL: QUkernel = QUkernel { name: "i8_4x16_avx2", tier: QTier::Avx2, mr: 4, nr: 16, kr: 2, ka: 0, kstep: 16, a_xor: 0, run: run::<4> };
/// The same for the last rows of a GEMM.
pub const UKERNEL_2X16: QUkernel = QUkernel { name: "i8_2x16_avx2", tier: QTier::Avx2, mr: 2, nr: 16, kr: 2, ka: 0, kstep: 16, a_xor: 0, run: run::<2> };
pub const UKERNEL_1X16: QUkernel = QUkernel { name: "i8_1x16_avx2", tier: QTier::Avx2, mr: 1, nr: 16, kr: 2, ka: 0, kstep: 16, a_xor: 0, run: run::<1> };

/// See [`super::QRunFn`]: `a` is `MR` rows of `kp` values; `b` holds, per
/// pair of reduction steps, 16 columns of 2 values.
///
/// # Safety
/// The [`super::QRunFn`] contract for this kernel's layouts; AVX2 is available.
#[target_feature(enable = "avx2")]
pub unsafe fn run<const MR: usize>(kp: usize, a: *const i8, b: *const i8, acc: *mut i32) {
    let mut c = [[_mm256_setzero_si256(); 2]; MR];
    let mut aw = [[0i32; 8]; MR];
    let mut p = 0;
    while p < kp {
        for (i, row) in aw.iter_mut().enumerate() {
            // SAFETY: row i of the strip has kp values; p + 16 <= kp (kp is a multiple of 16).
            let v = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(a.add(i * kp + p) as *const __m128i) });
            // SAFETY: `row` holds 8 i32 (32 bytes).
            unsafe { _mm256_storeu_si256(row.as_mut_ptr() as *mut __m256i, v) };
        }
        for t in 0..8 {
            // SAFETY: pair (p / 2 + t) of the block: 32 bytes inside it (p + 16 <= kp).
            let (b0, b1) = unsafe {
                let bp = b.add((p / 2 + t) * 32);
                (_mm256_cvtepi8_epi16(_mm_loadu_si128(bp as *const __m128i)), _mm256_cvtepi8_epi16(_mm_loadu_si128(bp.add(16) as *const __m128i)))
            };
            for (ci, row) in c.iter_mut().zip(&aw) {
                let av = _mm256_set1_epi32(row[t]);
                ci[0] = _mm256_add_epi32(ci[0], _mm256_madd_epi16(av, b0));
                ci[1] = _mm256_add_epi32(ci[1], _mm256_madd_epi16(av, b1));
            }
        }
        p += 16;
    }
    for (i, ci) in c.iter().enumerate() {
        // SAFETY: acc holds MR rows of 16 i32.
        unsafe {
            _mm256_storeu_si256(acc.add(i * 16) as *mut __m256i, ci[0]);
            _mm256_storeu_si256(acc.add(i * 16 + 8) as *mut __m256i, ci[1]);
        }
    }
}
