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
            9 => run_taps::<9>(pixels, channels, 9, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max),
            25 => run_taps::<25>(pixels, channels, 25, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max),
            _ => run_taps::<0>(pixels, channels, taps, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max),
        }
    }
}

/// Weights of one 32-channel block held in registers across a row of pixels
/// (3x3 windows: 18 zmm); other windows read them from the packed block.
enum Weights<const T: usize> {
    Regs([[__m512; 2]; T]),
    Mem(*const f32),
}

/// Accumulates one 32-channel block of one pixel over all taps, bias first,
/// even and odd taps in separate chains, then adds the chains. `m` enables
/// the lanes read (all 32 for a full block).
///
/// # Safety
/// `Weights::Mem` points at the block's `32 * taps` tap weights; every
/// `inputs[t] + c0` has as many readable floats as `m` enables (disabled
/// lanes are not accessed).
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn pixel<const T: usize, const MASKED: bool>(
    taps: usize,
    inputs: *const *const f32,
    c0: usize,
    bias: (__m512, __m512),
    w: &Weights<T>,
    m: (__mmask16, __mmask16),
) -> (__m512, __m512) {
    let taps = if T > 0 { T } else { taps };
    // SAFETY: the caller guarantees the reads.
    unsafe {
        let load = |x: *const f32| {
            if MASKED {
                (_mm512_maskz_loadu_ps(m.0, x), _mm512_maskz_loadu_ps(m.1, x.wrapping_add(16)))
            } else {
                (_mm512_loadu_ps(x), _mm512_loadu_ps(x.add(16)))
            }
        };
        let wt = |t: usize| match w {
            Weights::Regs(r) => (r[t][0], r[t][1]),
            Weights::Mem(p) => (_mm512_loadu_ps(p.add(CR * t)), _mm512_loadu_ps(p.add(CR * t + 16))),
        };
        let (mut a0, mut a1) = bias;
        let (mut b0, mut b1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut t = 0;
        while t + 2 <= taps {
            let (x0, x1) = load((*inputs.add(t)).add(c0));
            let (y0, y1) = load((*inputs.add(t + 1)).add(c0));
            let (w0, w1) = wt(t);
            let (v0, v1) = wt(t + 1);
            a0 = _mm512_fmadd_ps(x0, w0, a0);
            a1 = _mm512_fmadd_ps(x1, w1, a1);
            b0 = _mm512_fmadd_ps(y0, v0, b0);
            b1 = _mm512_fmadd_ps(y1, v1, b1);
            t += 2;
        }
        if t < taps {
            let (x0, x1) = load((*inputs.add(t)).add(c0));
            let (w0, w1) = wt(t);
            a0 = _mm512_fmadd_ps(x0, w0, a0);
            a1 = _mm512_fmadd_ps(x1, w1, a1);
        }
        (_mm512_add_ps(a0, b0), _mm512_add_ps(a1, b1))
    }
}

/// The kernel body, `T` taps (0: `taps` at run time). Channel blocks are the
/// outer loop and the row's pixels the inner one, so a block's weights stay
/// in registers (or L1) and the input rows it reads stay in L1.
///
/// # Safety
/// As [`run`].
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_taps<const T: usize>(
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
    let taps = if T > 0 { T } else { taps };
    let block_len = UKERNEL.weights_block_len(taps);
    let (vmin, vmax) = (_mm512_set1_ps(clamp_min), _mm512_set1_ps(clamp_max));
    let clamp = |v| _mm512_min_ps(vmax, _mm512_max_ps(vmin, v));
    let lanes = |n: usize| if n >= 16 { 0xFFFFu16 } else { ((1u32 << n) - 1) as u16 };
    let mut c0 = 0;
    while c0 < channels {
        let ct = (channels - c0).min(CR);
        let masks = (lanes(ct), lanes(ct.saturating_sub(16)));
        // SAFETY: the DwRunFn contract: the packed weights hold ceil(channels/32) blocks of
        // 32 * (taps + 1) floats; every pixel's `taps` input pointers have `channels` readable
        // floats, of which the masks enable the ct from c0; out + px*out_pixel_stride +
        // c*out_channel_stride is writable for c < channels.
        unsafe {
            let wb = weights.add(c0 / CR * block_len);
            let bias = (_mm512_loadu_ps(wb), _mm512_loadu_ps(wb.add(16)));
            let w: Weights<T> = if T > 0 && T <= 9 {
                Weights::Regs(std::array::from_fn(|t| [_mm512_loadu_ps(wb.add(CR * (t + 1))), _mm512_loadu_ps(wb.add(CR * (t + 1) + 16))]))
            } else {
                Weights::Mem(wb.add(CR))
            };
            // Full blocks use plain loads and stores (masked stores are slow on some cores).
            if ct == CR && out_channel_stride == 1 {
                for px in 0..pixels {
                    let (r0, r1) = pixel::<T, false>(taps, inputs.add(px * taps), c0, bias, &w, masks);
                    let o = out.add(px * out_pixel_stride + c0);
                    _mm512_storeu_ps(o, clamp(r0));
                    _mm512_storeu_ps(o.add(16), clamp(r1));
                }
            } else {
                for px in 0..pixels {
                    let (r0, r1) = pixel::<T, true>(taps, inputs.add(px * taps), c0, bias, &w, masks);
                    let (r0, r1) = (clamp(r0), clamp(r1));
                    let o = out.add(px * out_pixel_stride + c0 * out_channel_stride);
                    if out_channel_stride == 1 {
                        _mm512_mask_storeu_ps(o, masks.0, r0);
                        _mm512_mask_storeu_ps(o.wrapping_add(16), masks.1, r1);
                    } else {
                        scatter(o, out_channel_stride, r0, r1, ct);
                    }
                }
            }
        }
        c0 += CR;
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
