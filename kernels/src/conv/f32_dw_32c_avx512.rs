//! `f32_dw_32c_avx512`: depthwise micro-kernel for x86-64 AVX-512, 32
//! channels per step in two zmm registers. Even and odd taps go to separate
//! accumulators (four FMA chains) that are added at the end; the channel
//! tail uses AVX-512 masked loads and stores, with the same arithmetic.
//! 3x3 (9 taps) and 5x5 (25 taps) windows, at any stride, get their own
//! fully unrolled copies of the tap loop; padding is read from the zero row
//! the indirection points at, so no tap has a branch.

use super::DwUkernel;
use crate::Isa;
use std::arch::x86_64::*;

pub const CR: usize = 32;

pub const UKERNEL: DwUkernel = DwUkernel { name: "f32_dw_32c_avx512", isa: Isa::Avx512, cr: CR, run };

/// See [`super::DwRunFn`].
///
/// # Safety
/// The [`super::DwRunFn`] contract, and AVX-512 F with AVX2+FMA available on this CPU.
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
    // SAFETY: forwarded contract; AVX-512 was detected before this kernel was selected.
    unsafe {
        match taps {
            9 => run_taps(pixels, channels, 9, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max),
            25 => run_taps(pixels, channels, 25, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max),
            _ => run_taps(pixels, channels, taps, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max),
        }
    }
}

/// Accumulates one 32-channel block over all taps, bias first, even and odd
/// taps in separate chains, then adds the chains. `m` enables the lanes read
/// (all 32 for a full block).
///
/// # Safety
/// `wb` is the block's packed weights; every `inputs[t] + c0` has as many
/// readable floats as `m` enables (disabled lanes are not accessed).
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn block(taps: usize, inputs: *const *const f32, c0: usize, wb: *const f32, m: (__mmask16, __mmask16)) -> (__m512, __m512) {
    // SAFETY: the caller guarantees the reads; the block holds 32 * (taps + 1) weights.
    unsafe {
        let load = |x: *const f32| (_mm512_maskz_loadu_ps(m.0, x), _mm512_maskz_loadu_ps(m.1, x.wrapping_add(16)));
        let (mut a0, mut a1) = (_mm512_loadu_ps(wb), _mm512_loadu_ps(wb.add(16)));
        let (mut b0, mut b1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut wt = wb.add(CR);
        let mut t = 0;
        while t + 2 <= taps {
            let (x0, x1) = load((*inputs.add(t)).add(c0));
            let (y0, y1) = load((*inputs.add(t + 1)).add(c0));
            a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(wt), a0);
            a1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(wt.add(16)), a1);
            b0 = _mm512_fmadd_ps(y0, _mm512_loadu_ps(wt.add(32)), b0);
            b1 = _mm512_fmadd_ps(y1, _mm512_loadu_ps(wt.add(48)), b1);
            wt = wt.add(2 * CR);
            t += 2;
        }
        if t < taps {
            let (x0, x1) = load((*inputs.add(t)).add(c0));
            a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(wt), a0);
            a1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(wt.add(16)), a1);
        }
        (_mm512_add_ps(a0, b0), _mm512_add_ps(a1, b1))
    }
}

/// The pixel loop; inlined into each `taps` specialisation of [`run`].
///
/// # Safety
/// As [`run`].
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_taps(
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
    let (vmin, vmax) = (_mm512_set1_ps(clamp_min), _mm512_set1_ps(clamp_max));
    let clamp = |v| _mm512_min_ps(_mm512_max_ps(v, vmin), vmax);
    let full = channels / CR * CR;
    let tail = channels - full;
    let lanes = |n: usize| if n >= 16 { 0xFFFFu16 } else { ((1u32 << n) - 1) as u16 };
    let all = (0xFFFFu16, 0xFFFFu16);
    let masks = (lanes(tail), lanes(tail.saturating_sub(16)));
    for px in 0..pixels {
        // SAFETY: the DwRunFn contract: pixel px's `taps` input pointers each have `channels`
        // readable floats, so full blocks read 32 and the tail reads `tail` (masked); the packed
        // weights hold ceil(channels/32) blocks; out + px*out_pixel_stride + c*out_channel_stride is writable for c < channels.
        unsafe {
            let ptrs = inputs.add(px * taps);
            let o = out.add(px * out_pixel_stride);
            let mut c0 = 0;
            while c0 < full {
                let (r0, r1) = block(taps, ptrs, c0, weights.add(c0 / CR * block_len), all);
                let (r0, r1) = (clamp(r0), clamp(r1));
                if out_channel_stride == 1 {
                    _mm512_storeu_ps(o.add(c0), r0);
                    _mm512_storeu_ps(o.add(c0 + 16), r1);
                } else {
                    scatter(o.add(c0 * out_channel_stride), out_channel_stride, r0, r1, CR);
                }
                c0 += CR;
            }
            if tail > 0 {
                let (r0, r1) = block(taps, ptrs, c0, weights.add(c0 / CR * block_len), masks);
                let (r0, r1) = (clamp(r0), clamp(r1));
                if out_channel_stride == 1 {
                    _mm512_mask_storeu_ps(o.add(c0), masks.0, r0);
                    _mm512_mask_storeu_ps(o.add(c0).wrapping_add(16), masks.1, r1);
                } else {
                    scatter(o.add(c0 * out_channel_stride), out_channel_stride, r0, r1, tail);
                }
            }
        }
    }
}

/// Stores the first `ct` of 32 results `stride` floats apart.
///
/// # Safety
/// `o + i * stride` is writable for `i < ct`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn scatter(o: *mut f32, stride: usize, r0: __m512, r1: __m512, ct: usize) {
    let mut spill = [0.0f32; CR];
    // SAFETY: spill holds 32 floats; the caller guarantees the ct strided destinations.
    unsafe {
        _mm512_storeu_ps(spill.as_mut_ptr(), r0);
        _mm512_storeu_ps(spill.as_mut_ptr().add(16), r1);
        for (i, &v) in spill.iter().enumerate().take(ct) {
            *o.add(i * stride) = v;
        }
    }
}
