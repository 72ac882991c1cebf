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
    pixels: usize,
    channels: usize,
    taps: usize,
    inputs: *const *const f32,
    weights: *const f32,
    out: *mut f32,
    out_pixel_stride: usize,
    out_channel_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    // SAFETY: forwarded contract; AVX2+FMA were detected before this kernel was selected.
    // 3x3 and 5x5 windows get their own copies with the tap loop unrolled.
    unsafe {
        match taps {
            9 => run_avx2(pixels, channels, 9, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max),
            25 => run_avx2(pixels, channels, 25, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max),
            _ => run_avx2(pixels, channels, taps, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max),
        }
    }
}

/// Loads 16 channels at `x`: all of them, or (`MASKED`) the lanes `m` enables.
///
/// # Safety
/// `x` has 16 readable floats, or as many as the masks enable (the second
/// half is addressed with `wrapping_add`, so it may lie past the end).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn load16<const MASKED: bool>(x: *const f32, m: (__m256i, __m256i)) -> (__m256, __m256) {
    // SAFETY: the caller guarantees the enabled lanes are readable; masked lanes are not accessed.
    unsafe {
        if MASKED {
            (_mm256_maskload_ps(x, m.0), _mm256_maskload_ps(x.wrapping_add(8), m.1))
        } else {
            (_mm256_loadu_ps(x), _mm256_loadu_ps(x.add(8)))
        }
    }
}

/// Accumulates one 16-channel block over all taps, bias first, even and odd
/// taps in separate chains, then adds the chains.
///
/// # Safety
/// `wb` is the block's packed weights; every `inputs[t] + c0` has 16 readable
/// floats, or (`MASKED`) as many as the masks enable.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn block<const MASKED: bool>(
    taps: usize,
    inputs: *const *const f32,
    c0: usize,
    wb: *const f32,
    m: (__m256i, __m256i),
) -> (__m256, __m256) {
    // SAFETY: the caller guarantees the reads; the block holds 16 * (taps + 1) weights.
    unsafe {
        let (mut a0, mut a1) = (_mm256_loadu_ps(wb), _mm256_loadu_ps(wb.add(8)));
        let (mut b0, mut b1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut wt = wb.add(CR);
        let mut t = 0;
        while t + 2 <= taps {
            let (x0, x1) = load16::<MASKED>((*inputs.add(t)).add(c0), m);
            let (y0, y1) = load16::<MASKED>((*inputs.add(t + 1)).add(c0), m);
            a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(wt), a0);
            a1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(wt.add(8)), a1);
            b0 = _mm256_fmadd_ps(y0, _mm256_loadu_ps(wt.add(16)), b0);
            b1 = _mm256_fmadd_ps(y1, _mm256_loadu_ps(wt.add(24)), b1);
            wt = wt.add(2 * CR);
            t += 2;
        }
        if t < taps {
            let (x0, x1) = load16::<MASKED>((*inputs.add(t)).add(c0), m);
            a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(wt), a0);
            a1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(wt.add(8)), a1);
        }
        (_mm256_add_ps(a0, b0), _mm256_add_ps(a1, b1))
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(
    pixels: usize,
    channels: usize,
    taps: usize,
    inputs: *const *const f32,
    weights: *const f32,
    out: *mut f32,
    out_pixel_stride: usize,
    out_channel_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    let block_len = UKERNEL.weights_block_len(taps);
    let (vmin, vmax) = (_mm256_set1_ps(clamp_min), _mm256_set1_ps(clamp_max));
    let clamp = |v| _mm256_min_ps(vmax, _mm256_max_ps(vmin, v));
    let full = channels / CR * CR;
    let tail = channels - full;
    let nt = _mm256_set1_epi32(tail as i32);
    let masks = (
        _mm256_cmpgt_epi32(nt, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
        _mm256_cmpgt_epi32(nt, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15)),
    );
    for px in 0..pixels {
        // SAFETY: the DwRunFn contract: pixel px's `taps` input pointers each have `channels`
        // readable floats, so full blocks read 16 and the tail reads `tail` (masked); the packed
        // weights hold ceil(channels/16) blocks; out + px*out_pixel_stride + c*out_channel_stride
        // is writable for c < channels.
        unsafe {
            let ptrs = inputs.add(px * taps);
            let o = out.add(px * out_pixel_stride);
            let mut c0 = 0;
            while c0 < full {
                let (r0, r1) = block::<false>(taps, ptrs, c0, weights.add(c0 / CR * block_len), masks);
                let (r0, r1) = (clamp(r0), clamp(r1));
                if out_channel_stride == 1 {
                    _mm256_storeu_ps(o.add(c0), r0);
                    _mm256_storeu_ps(o.add(c0 + 8), r1);
                } else {
                    scatter(o.add(c0 * out_channel_stride), out_channel_stride, r0, r1, CR);
                }
                c0 += CR;
            }
            if tail > 0 {
                let (r0, r1) = block::<true>(taps, ptrs, c0, weights.add(c0 / CR * block_len), masks);
                let (r0, r1) = (clamp(r0), clamp(r1));
                if out_channel_stride == 1 {
                    _mm256_maskstore_ps(o.add(c0), masks.0, r0);
                    _mm256_maskstore_ps(o.add(c0).wrapping_add(8), masks.1, r1);
                } else {
                    scatter(o.add(c0 * out_channel_stride), out_channel_stride, r0, r1, tail);
                }
            }
        }
    }
}

/// Stores the first `ct` of 16 results `stride` floats apart.
///
/// # Safety
/// `o + i * stride` is writable for `i < ct`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn scatter(o: *mut f32, stride: usize, r0: __m256, r1: __m256, ct: usize) {
    let mut spill = [0.0f32; CR];
    // SAFETY: spill holds 16 floats; the caller guarantees the ct strided destinations.
    unsafe {
        _mm256_storeu_ps(spill.as_mut_ptr(), r0);
        _mm256_storeu_ps(spill.as_mut_ptr().add(8), r1);
        for (i, &v) in spill.iter().enumerate().take(ct) {
            *o.add(i * stride) = v;
        }
    }
}
