//! `f32_dw_16c_avx2_fma`: depthwise micro-kernel for x86-64 AVX2+FMA, 16
//! channels per step in two ymm registers. Even and odd taps go to separate
//! accumulators (four FMA chains) that are added at the end; the channel
//! tail uses masked loads and stores, with the same arithmetic.

use super::DwUkernel;
use crate::Isa;
use std::arch::x86_64::*;

pub const CR: usize = 16;

pub const UKERNEL: DwUkernel = DwUkernel { name: "f32_dw_16c_avx2_fma", isa: Isa::Avx2, cr: CR, run };

/// See [`super::DwRunFn`].
///
/// # Safety
/// The [`super::DwRunFn`] contract, and AVX2+FMA available on this CPU.
#[allow(clippy::too_many_arguments)]
pub unsafe fn run(
    channels: usize,
    taps: usize,
    inputs: *const *const f32,
    weights: *const f32,
    out: *mut f32,
    out_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    // SAFETY: forwarded contract; AVX2+FMA were detected before this kernel was selected.
    unsafe { run_avx2(channels, taps, inputs, weights, out, out_stride, clamp_min, clamp_max) }
}

/// Loads 16 channels at `x`: all of them, or through lane masks.
///
/// # Safety
/// `x` has 16 readable floats, or as many as the masks enable (the second
/// half is addressed with `wrapping_add`, so it may lie past the end).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn load16(x: *const f32, masks: Option<(__m256i, __m256i)>) -> (__m256, __m256) {
    // SAFETY: the caller guarantees the enabled lanes are readable; masked lanes are not accessed.
    unsafe {
        match masks {
            None => (_mm256_loadu_ps(x), _mm256_loadu_ps(x.add(8))),
            Some((m0, m1)) => (_mm256_maskload_ps(x, m0), _mm256_maskload_ps(x.wrapping_add(8), m1)),
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(
    channels: usize,
    taps: usize,
    inputs: *const *const f32,
    weights: *const f32,
    out: *mut f32,
    out_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    let block = UKERNEL.weights_block_len(taps);
    let (vmin, vmax) = (_mm256_set1_ps(clamp_min), _mm256_set1_ps(clamp_max));
    let lanes_lo = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let lanes_hi = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
    let mut c0 = 0;
    while c0 < channels {
        let ct = (channels - c0).min(CR);
        let masks = (ct < CR).then(|| {
            let n = _mm256_set1_epi32(ct as i32);
            (_mm256_cmpgt_epi32(n, lanes_lo), _mm256_cmpgt_epi32(n, lanes_hi))
        });
        // SAFETY: block c0/CR exists (bias then taps groups of 16 weights); every input pointer
        // has `channels` floats, so the ct channels from c0 are readable and load16 reads only
        // those; out + (c0+i)*out_stride is writable for i < ct.
        unsafe {
            let wb = weights.add(c0 / CR * block);
            let (mut a0, mut a1) = (_mm256_loadu_ps(wb), _mm256_loadu_ps(wb.add(8)));
            let (mut b0, mut b1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut t = 0;
            while t + 2 <= taps {
                let (x0, x1) = load16((*inputs.add(t)).add(c0), masks);
                let wt = wb.add(CR * (t + 1));
                a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(wt), a0);
                a1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(wt.add(8)), a1);
                let (y0, y1) = load16((*inputs.add(t + 1)).add(c0), masks);
                let wt = wt.add(CR);
                b0 = _mm256_fmadd_ps(y0, _mm256_loadu_ps(wt), b0);
                b1 = _mm256_fmadd_ps(y1, _mm256_loadu_ps(wt.add(8)), b1);
                t += 2;
            }
            if t < taps {
                let (x0, x1) = load16((*inputs.add(t)).add(c0), masks);
                let wt = wb.add(CR * (t + 1));
                a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(wt), a0);
                a1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(wt.add(8)), a1);
            }
            let r0 = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(a0, b0), vmin), vmax);
            let r1 = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(a1, b1), vmin), vmax);
            let o = out.add(c0 * out_stride);
            match (out_stride, masks) {
                (1, None) => {
                    _mm256_storeu_ps(o, r0);
                    _mm256_storeu_ps(o.add(8), r1);
                }
                (1, Some((m0, m1))) => {
                    _mm256_maskstore_ps(o, m0, r0);
                    _mm256_maskstore_ps(o.wrapping_add(8), m1, r1);
                }
                _ => {
                    let mut spill = [0.0f32; CR];
                    _mm256_storeu_ps(spill.as_mut_ptr(), r0);
                    _mm256_storeu_ps(spill.as_mut_ptr().add(8), r1);
                    for (i, &v) in spill.iter().enumerate().take(ct) {
                        *o.add(i * out_stride) = v;
                    }
                }
            }
        }
        c0 += CR;
    }
}
