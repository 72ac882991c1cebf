//! The core's fp32 multiply-add peak, measured: a loop of independent FMA
//! chains per tier (enough chains to cover the FMA latency on every port), so
//! benches can report kernels as a percentage of what this core does in the
//! same run rather than of a datasheet figure.

use crate::Isa;

/// Multiply-adds one call of [`fma_loop`] performs per iteration.
pub fn macs_per_iteration(isa: Isa) -> usize {
    CHAINS * lanes(isa)
}

/// Independent accumulator chains in the loop.
const CHAINS: usize = 12;

fn lanes(isa: Isa) -> usize {
    match isa {
        Isa::Scalar => 1,
        Isa::Neon => 4,
        Isa::Avx2 => 8,
        Isa::Avx512 => 16,
    }
}

/// Runs `iters` iterations of `CHAINS` independent vector FMAs on `isa`
/// (scalar when the tier is not available) and returns a value that depends
/// on all of them, so the work cannot be optimised away.
pub fn fma_loop(isa: Isa, iters: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if isa == Isa::Avx512 && isa.is_available() {
            // SAFETY: AVX-512 F was detected just above.
            return unsafe { x86::fma_avx512(iters) };
        }
        if isa == Isa::Avx2 && isa.is_available() {
            // SAFETY: AVX2+FMA were detected just above.
            return unsafe { x86::fma_avx2(iters) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if isa == Isa::Neon && isa.is_available() {
            // SAFETY: Neon was detected just above.
            return unsafe { arm::fma_neon(iters) };
        }
    }
    let mut acc = [0.0f32; CHAINS];
    let (a, b) = (std::hint::black_box(0.999_9f32), std::hint::black_box(1e-6f32));
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = x.mul_add(a, b);
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn fma_avx512(iters: usize) -> f32 {
        let a = _mm512_set1_ps(std::hint::black_box(0.999_9));
        let b = _mm512_set1_ps(std::hint::black_box(1e-6));
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        let mut lanes = [0.0f32; 16];
        let sum = acc.iter().fold(_mm512_setzero_ps(), |s, &x| _mm512_add_ps(s, x));
        // SAFETY: lanes holds 16 floats.
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), sum) };
        lanes.iter().sum()
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fma_avx2(iters: usize) -> f32 {
        let a = _mm256_set1_ps(std::hint::black_box(0.999_9));
        let b = _mm256_set1_ps(std::hint::black_box(1e-6));
        let mut acc = [_mm256_setzero_ps(); CHAINS];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut lanes = [0.0f32; 8];
        let sum = acc.iter().fold(_mm256_setzero_ps(), |s, &x| _mm256_add_ps(s, x));
        // SAFETY: lanes holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
        lanes.iter().sum()
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::CHAINS;
    use std::arch::aarch64::*;

    #[target_feature(enable = "neon")]
    pub(super) unsafe fn fma_neon(iters: usize) -> f32 {
        let a = vdupq_n_f32(std::hint::black_box(0.999_9));
        let b = vdupq_n_f32(std::hint::black_box(1e-6));
        let mut acc = [vdupq_n_f32(0.0); CHAINS];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = vfmaq_f32(b, *x, a);
            }
        }
        let sum = acc.iter().fold(vdupq_n_f32(0.0), |s, &x| vaddq_f32(s, x));
        vaddvq_f32(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tier_computes_the_same_recurrence() {
        // x_{i+1} = x_i * a + b from 0: every lane of every chain holds the same value,
        // so the tiers agree up to the order of the final sum.
        let scalar = fma_loop(Isa::Scalar, 1000) / CHAINS as f32;
        for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
            let per_lane = fma_loop(isa, 1000) / macs_per_iteration(isa) as f32;
            assert!((per_lane - scalar).abs() <= 1e-6 * scalar.abs().max(1e-3), "{isa}: {per_lane} vs {scalar}");
            assert!(per_lane > 0.0);
        }
    }
}
